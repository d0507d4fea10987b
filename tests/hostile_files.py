"""Small files built to cost a reader a lot: a huge page, a content stream that takes long to
parse or to paint, a form drawn thousands of times, a Word file that unpacks a thousandfold."""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Sequence

from reportlab.pdfgen import canvas


def page_of_size(width_in: float, height_in: float, text: str = "A very large page") -> bytes:
    """A one-page PDF, ``width_in`` x ``height_in`` inches, with a line of text."""
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=(width_in * 72, height_in * 72))
    c.setFont("Helvetica", 24)
    c.drawString(72, 72, text)
    c.showPage()
    c.save()
    return buffer.getvalue()


def pdf_of_objects(objects: Sequence[bytes]) -> bytes:
    """A PDF of numbered objects (1 is the catalog) with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def flate_stream(data: bytes, entries: bytes = b"") -> bytes:
    packed = zlib.compress(data, 9)
    return (
        b"<< /Length %d /Filter /FlateDecode %s >>\nstream\n" % (len(packed), entries)
        + packed
        + b"\nendstream"
    )


HELVETICA = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
TEXT_OPERATOR = b"BT /F1 12 Tf 72 720 Td (Hello world) Tj ET\n"
FULL_PAGE_FILL = b"0 0 612 792 re f\n"  # paints every pixel of a letter page


def content_pdf(content: bytes, *, pages: int = 1) -> bytes:
    """Letter pages that all draw ``content`` (one shared, compressed content stream)."""
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 3 0 R >>"
    return pdf_of_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
            flate_stream(content),
            HELVETICA,
            *[page] * pages,
        ]
    )


def repeated_content_pdf(megabytes: float, operator: bytes = TEXT_OPERATOR) -> bytes:
    """One page whose content stream is ``operator`` repeated to ``megabytes`` (decoded)."""
    return content_pdf(operator * (int(megabytes * 1024 * 1024) // len(operator) + 1))


def form_drawn_pdf(draws: int, form_kb: int, *, name: bytes = b"/Fm") -> bytes:
    """One page that draws one form XObject ``draws`` times; the form shows text for
    ``form_kb`` KB. ``name`` is how the page's content writes the form's name."""
    form = TEXT_OPERATOR * (form_kb * 1024 // len(TEXT_OPERATOR))
    return pdf_of_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> /XObject << /Fm 6 0 R >> >> /Contents 4 0 R >>",
            flate_stream((name + b" Do\n") * draws),
            HELVETICA,
            flate_stream(
                form,
                b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >>",
            ),
        ]
    )


def docx_with_xml(megabytes: float) -> bytes:
    """A valid Word file whose body is padded with ``megabytes`` of XML that compresses
    about a thousandfold (an XML comment of spaces, written a megabyte at a time)."""
    import docx

    document = docx.Document()
    document.add_paragraph("A short memo.")
    plain = io.BytesIO()
    document.save(plain)
    source = zipfile.ZipFile(io.BytesIO(plain.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename != "word/document.xml":
                archive.writestr(info.filename, data)
                continue
            head, body = data.split(b"<w:body>", 1)
            with archive.open(info.filename, "w", force_zip64=True) as member:
                member.write(head + b"<w:body><!--")
                left = int(megabytes * 1024 * 1024)
                while left > 0:
                    member.write(b" " * min(left, 1024 * 1024))
                    left -= 1024 * 1024
                member.write(b"-->" + body)
    return out.getvalue()
