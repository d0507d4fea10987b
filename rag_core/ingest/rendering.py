"""Render PDF pages once to a JPEG image and a thumbnail, for the UI and the vision index."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class PageImages:
    """Where a document's page images live: ``<root>/<doc_id>/<page>.jpg`` and ``.thumb.jpg``."""

    root: Path

    def image(self, doc_id: str, page: int) -> Path:
        return self.root / doc_id / f"{page:05d}.jpg"

    def thumbnail(self, doc_id: str, page: int) -> Path:
        return self.root / doc_id / f"{page:05d}.thumb.jpg"

    def folder(self, doc_id: str) -> Path:
        return self.root / doc_id


def render_pdf(
    data: bytes,
    doc_id: str,
    images: PageImages,
    *,
    dpi: int,
    thumb_width: int,
    on_page: Callable[[int, int], None] | None = None,
) -> int:
    """Render every page; returns the number rendered. Existing images are kept (idempotent).

    pdfium renders on this thread (it is not thread-safe); one worker thread encodes the
    JPEGs and thumbnails meanwhile (PIL releases the GIL), so a second core does that half.
    """
    import pypdfium2 as pdfium

    folder = images.folder(doc_id)
    folder.mkdir(parents=True, exist_ok=True)
    pdf = pdfium.PdfDocument(data, password="")
    pending: deque[Future[None]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="folio-jpeg") as encoder:
        try:
            total = len(pdf)
            for index in range(total):
                full, thumb = images.image(doc_id, index), images.thumbnail(doc_id, index)
                if not (full.exists() and thumb.exists()):
                    image = _render_page(pdf, index, dpi)
                    pending.append(encoder.submit(_save_page, image, full, thumb, thumb_width))
                while pending and (pending[0].done() or len(pending) > 2):  # bounded memory
                    pending.popleft().result()
                if on_page is not None:
                    on_page(index + 1, total)
            while pending:
                pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            pdf.close()
    return total


def _render_page(pdf: object, index: int, dpi: int) -> Any:
    """The page as a PIL image that owns its pixels (it outlives pdfium's bitmap, in the
    encoder thread: pypdfium2 shares the bitmap's memory for L, RGBA and RGBX images)."""
    page = pdf[index]  # type: ignore[index]
    try:
        bitmap = page.render(scale=dpi / 72)
        image = bitmap.to_pil()
        if image.mode != "RGB":
            image = image.copy() if image.mode == "L" else image.convert("RGB")
        bitmap.close()
    finally:
        page.close()
    return image


def _save_page(image: Any, full: Path, thumb: Path, thumb_width: int) -> None:
    _save_atomically(image, full, quality=85)
    # A box reduction to just above the thumbnail's width first: the resampling left is
    # cheap (7.5 ms a page to 3 ms at 150 dpi, 240 px).
    factor = max(1, image.width // thumb_width)
    base = image.reduce(factor) if factor > 1 else image
    ratio = thumb_width / image.width
    small = base.resize((thumb_width, max(1, round(image.height * ratio))))
    _save_atomically(small, thumb, quality=80)


def _save_atomically(image: object, path: Path, quality: int) -> None:
    tmp = path.with_suffix(".tmp")
    image.save(tmp, format="JPEG", quality=quality)  # type: ignore[attr-defined]
    os.replace(tmp, path)
