"""Render PDF pages once to a JPEG image and a thumbnail, for the UI and the vision index.

What a page may cost is decided before pdfium draws it: a page is drawn at ``dpi``, or at
the lower resolution that keeps it within ``max_page_pixels`` (a 200 x 200-inch page at
150 dpi would be 900 megapixels, 2.7 GB); a document whose pages come to more than
``max_document_pixels`` is refused. pdfium draws progressively and stops at a deadline in
CPU time: half a megabyte of content can paint for minutes.
"""

from __future__ import annotations

import ctypes
import math
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag_core.errors import DocumentError
from rag_core.ingest.pdfium_lock import PDFIUM

MAX_JPEG_SIDE = 65_500  # a JPEG holds at most 65,535 pixels a side


@dataclass(frozen=True, slots=True)
class RenderLimits:
    dpi: int
    thumb_width: int
    max_page_pixels: int
    max_document_pixels: int
    max_page_seconds: float  # CPU time pdfium may spend drawing one page ...
    max_document_seconds: float  # ... and all of a document's pages


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


def page_pixels(width: float, height: float, scale: float) -> tuple[int, int]:
    """The image size of a page of ``width`` x ``height`` points drawn at ``scale``."""
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def page_scale(width: float, height: float, dpi: int, max_pixels: int) -> float:
    """Pixels per point for a page: ``dpi / 72``, or less where that would pass
    ``max_pixels`` or JPEG's side limit."""
    scale = dpi / 72
    area = max(width * height, 1e-9) * scale * scale
    if area > max_pixels:
        scale *= math.sqrt(max_pixels / area)
    longest = max(width, height, 1e-9) * scale
    if longest > MAX_JPEG_SIDE:
        scale *= MAX_JPEG_SIDE / longest
    while True:  # pixels are whole: rounding up may pass a limit by one
        pixels = page_pixels(width, height, scale)
        if math.prod(pixels) <= max_pixels and max(pixels) <= MAX_JPEG_SIDE:
            return scale
        scale *= 0.999


def check_pixels(name: str, sizes: Sequence[tuple[float, float]], limits: RenderLimits) -> None:
    """A ``DocumentError`` when the pages' images come to more than the document's budget."""
    total = sum(
        math.prod(page_pixels(w, h, page_scale(w, h, limits.dpi, limits.max_page_pixels)))
        for w, h in sizes
    )
    if total > limits.max_document_pixels:
        raise DocumentError(
            name,
            f"its {len(sizes)} pages come to {total / 1e6:,.0f} megapixels at up to "
            f"{limits.dpi} dpi, over the limit of {limits.max_document_pixels / 1e6:,.0f} "
            "(FOLIO_MAX_DOCUMENT_PIXELS)",
        )


def render_pdf(
    name: str,
    data: bytes,
    doc_id: str,
    images: PageImages,
    limits: RenderLimits,
    on_page: Callable[[int, int], None] | None = None,
) -> int:
    """Render every page; returns the number rendered. Existing images are kept (idempotent).

    A ``DocumentError`` names the page and the limit when the document is over a budget.
    pdfium renders on this thread (it is not thread-safe); one worker thread encodes the
    JPEGs and thumbnails meanwhile (PIL releases the GIL), so a second core does that half.
    """
    import pypdfium2 as pdfium

    folder = images.folder(doc_id)
    folder.mkdir(parents=True, exist_ok=True)
    with PDFIUM:
        pdf = pdfium.PdfDocument(data, password="")
    pending: deque[tuple[Future[None], int]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="folio-jpeg") as encoder:
        try:
            with PDFIUM:  # sizes from the page tree: no page's content is parsed yet
                total = len(pdf)
                sizes: list[tuple[float, float]] = [pdf.get_page_size(i) for i in range(total)]
            check_pixels(name, sizes, limits)
            document_deadline = time.thread_time() + limits.max_document_seconds
            for index in range(total):
                full, thumb = images.image(doc_id, index), images.thumbnail(doc_id, index)
                if not (full.exists() and thumb.exists()):
                    width, height = sizes[index]
                    scale = page_scale(width, height, limits.dpi, limits.max_page_pixels)
                    deadline = min(time.thread_time() + limits.max_page_seconds, document_deadline)
                    with PDFIUM:  # page by page: a question's boxes wait one page at most
                        image = _render_page(pdf, index, scale, deadline)
                    if image is None:
                        reason = _too_slow(index, limits, deadline < document_deadline)
                        raise DocumentError(name, reason)
                    saved = encoder.submit(_save_page, image, full, thumb, limits.thumb_width)
                    pending.append((saved, image.width * image.height))
                # Bounded memory: at most two pages, or one page's pixels, wait to be encoded.
                while pending and (
                    pending[0][0].done()
                    or len(pending) > 2
                    or sum(px for _, px in pending) > limits.max_page_pixels
                ):
                    pending.popleft()[0].result()
                if on_page is not None:
                    on_page(index + 1, total)
            while pending:
                pending.popleft()[0].result()
        finally:
            for future, _ in pending:
                future.cancel()
            with PDFIUM:
                pdf.close()
    return total


def _too_slow(index: int, limits: RenderLimits, page_deadline_first: bool) -> str:
    if page_deadline_first:
        return (
            f"page {index + 1} takes more than {limits.max_page_seconds:g} s to draw, the "
            "limit for one page (FOLIO_MAX_PAGE_RENDER_SECONDS)"
        )
    return (
        f"its pages take more than {limits.max_document_seconds:g} s to draw (by page "
        f"{index + 1}), the limit for one document (FOLIO_MAX_DOCUMENT_RENDER_SECONDS)"
    )


def _render_page(pdf: Any, index: int, scale: float, deadline: float) -> Any | None:
    """The page as a PIL image that owns its pixels (it outlives pdfium's bitmap, in the
    encoder thread), or ``None`` when pdfium is still drawing at ``deadline`` (CPU time of
    this thread)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    page = pdf[index]
    try:
        points: tuple[float, float] = page.get_size()
        width, height = page_pixels(points[0], points[1], scale)
        bitmap = pdfium.PdfBitmap.new_native(width, height, format=pdfium_c.FPDFBitmap_BGR)
        try:
            bitmap.fill_rect((255, 255, 255, 255), 0, 0, width, height)
            if not _draw(page, bitmap, width, height, deadline):
                return None
            image = bitmap.to_pil()  # BGR becomes an RGB copy
            if image.mode != "RGB":
                image = image.convert("RGB")
        finally:
            bitmap.close()
    finally:
        page.close()
    return image


def _draw(page: Any, bitmap: Any, width: int, height: int, deadline: float) -> bool:
    """pdfium draws the page (and its annotations, as ``PdfPage.render`` does), pausing
    every hundred objects or so to look at the clock; False when it passes ``deadline``."""
    import pypdfium2.raw as pdfium_c

    def past_deadline(_: Any) -> bool:
        return time.thread_time() > deadline

    pause = pdfium_c.IFSDK_PAUSE(version=1)
    callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(pdfium_c.IFSDK_PAUSE))
    pause.NeedToPauseNow = callback(past_deadline)  # alive as long as ``pause``
    status = pdfium_c.FPDF_RenderPageBitmap_Start(
        bitmap, page, 0, 0, width, height, 0, pdfium_c.FPDF_ANNOT, ctypes.byref(pause)
    )
    try:
        while status == pdfium_c.FPDF_RENDER_TOBECONTINUED:
            if past_deadline(None):
                return False
            status = pdfium_c.FPDF_RenderPage_Continue(page, ctypes.byref(pause))
    finally:
        pdfium_c.FPDF_RenderPage_Close(page)
    if status != pdfium_c.FPDF_RENDER_DONE:
        raise RuntimeError(f"pdfium could not draw the page (status {status})")
    return True


def _save_page(image: Any, full: Path, thumb: Path, thumb_width: int) -> None:
    _save_atomically(image, full, quality=85)
    # A box reduction to just above the thumbnail's width first: the resampling left is
    # cheap (7.5 ms a page to 3 ms at 150 dpi, 240 px).
    factor = max(1, image.width // thumb_width)
    base = image.reduce(factor) if factor > 1 else image
    ratio = min(1.0, thumb_width / image.width)  # never larger: a very tall, narrow page
    small = base.resize((round(image.width * ratio), max(1, round(image.height * ratio))))
    _save_atomically(small, thumb, quality=80)


def _save_atomically(image: object, path: Path, quality: int) -> None:
    tmp = path.with_suffix(".tmp")
    image.save(tmp, format="JPEG", quality=quality)  # type: ignore[attr-defined]
    os.replace(tmp, path)
