"""Real PDFs generated for tests: English, Chinese, image-only pages, encrypted, corrupt."""

from __future__ import annotations

import io
from collections.abc import Sequence

from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

IMAGE_ONLY = "<image-only>"  # a page with a drawing and no text layer


def _cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _wrap(text: str, font: str, size: int, width: float) -> list[str]:
    if not _cjk(text):
        return simpleSplit(text, font, size, width)
    per_line = int(width // size)
    return [text[i : i + per_line] for i in range(0, len(text), per_line)]


def make_pdf(
    pages: Sequence[str],
    *,
    title: str | None = None,
    user_password: str | None = None,
    owner_password: str = "owner",
) -> bytes:
    """A PDF whose page i shows ``pages[i]`` (paragraphs split on blank lines)."""
    buffer = io.BytesIO()
    encrypt = None
    if user_password is not None:
        from reportlab.lib.pdfencrypt import StandardEncryption

        encrypt = StandardEncryption(user_password, ownerPassword=owner_password)
    c = canvas.Canvas(buffer, pagesize=A4, encrypt=encrypt)
    if title:
        c.setTitle(title)
    width, height = A4
    for text in pages:
        if text == IMAGE_ONLY:
            c.setFillColorRGB(0.2, 0.4, 0.8)
            c.rect(100, 300, 300, 300, fill=1)
            c.showPage()
            continue
        font = "STSong-Light" if _cjk(text) else "Helvetica"
        if font not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(font))
        y = height - 72
        for paragraph in text.split("\n\n"):
            for raw_line in paragraph.split("\n"):
                for line in _wrap(raw_line, font, 11, width - 144):
                    c.setFont(font, 11)
                    c.drawString(72, y, line)
                    y -= 15
            y -= 10
        c.showPage()
    c.save()
    return buffer.getvalue()


def corrupt(pdf: bytes) -> bytes:
    """Keeps the %PDF header, destroys the body and the cross-reference table."""
    return pdf[:20] + b"\x00garbage" * 50


def scanned(pdf: bytes, dpi: int = 150) -> bytes:
    """``pdf`` as a scan: each page drawn at ``dpi`` and put back as an image, no text layer."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        images = [doc[i].render(scale=dpi / 72).to_pil().convert("RGB") for i in range(len(doc))]
    finally:
        doc.close()
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return buffer.getvalue()
