"""Where a cited span is on its page: boxes relative to the page (0..1, origin top left).

A text-layer PDF page gives pdfium's character boxes (PDF points, origin bottom left, before
the page's ``/Rotate``); an OCR'd page gives its lines' boxes (already relative). The pure
functions here turn either into the boxes of a span of the page text as Folio stores it:

- ``display_rect``/``relative``: a PDF rectangle to the page as shown (rotation, crop box);
- ``align``: stored (normalised) page text to pdfium's character array, which differ by the
  characters normalisation drops and the line breaks pdfium generates;
- ``merge_lines``: a span's character boxes into one rectangle per line;
- ``line_span_boxes``: a span to the boxes of the lines it touches (OCR).

``CitationBoxes`` computes boxes when a citation is made, not at ingest: reading a cited
page's characters and the cited ones' boxes costs milliseconds (``bench/citation_boxes.py``),
where reading every character box of every page at ingest costs several times that per page
and storing them would grow the registry by tens of bytes a character for pages nobody
cites. Pages' alignments are cached.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from rag_core.ingest.pdfium_lock import PDFIUM
from rag_core.types import Box, Citation

log = logging.getLogger(__name__)

LINE_GAP = 1.5  # a horizontal gap wider than this many line heights starts a new box
ALIGN_WINDOW = 200  # how far ``align`` looks ahead to find its place again
ALIGN_ANCHOR = 4  # how many characters must agree to take a place as found again
NEAR = 12  # shifts of both sides ``align`` tries together


class SpanLine(Protocol):
    """A line of a page's text with its box: what an OCR line provider returns."""

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def box(self) -> Box: ...


# (doc id, page) -> the page's OCR lines, spans in the stored page text; empty where the
# page's text came from its text layer.
LineProvider = Callable[[str, int], Sequence[SpanLine]]


def display_rect(
    rect: tuple[float, float, float, float],
    bbox: tuple[float, float, float, float],
    rotation: int,
) -> Box:
    """A PDF rectangle ``(left, bottom, right, top)`` in points as it shows on the page:
    ``(x0, y0, x1, y1)`` in points from the top-left corner of the page as displayed
    (``bbox``, the visible box in PDF points, turned clockwise by ``rotation`` degrees)."""
    left, bottom, right, top = rect
    bx0, by0, bx1, by1 = bbox
    width, height = bx1 - bx0, by1 - by0
    # Unrotated, from the top left: x right, y down.
    x0, x1 = left - bx0, right - bx0
    y0, y1 = by1 - top, by1 - bottom
    turn = rotation % 360
    if turn == 90:
        return (height - y1, x0, height - y0, x1)
    if turn == 180:
        return (width - x1, height - y1, width - x0, height - y0)
    if turn == 270:
        return (y0, width - x1, y1, width - x0)
    return (x0, y0, x1, y1)


def shown_size(bbox: tuple[float, float, float, float], rotation: int) -> tuple[float, float]:
    """The displayed page's (width, height) in points."""
    width, height = bbox[2] - bbox[0], bbox[3] - bbox[1]
    return (height, width) if rotation % 180 == 90 else (width, height)


def relative(box: Box, width: float, height: float) -> Box:
    """A box in displayed points as fractions of the page, clamped to 0..1."""

    def clamp(value: float) -> float:
        return min(1.0, max(0.0, value))

    x0, y0, x1, y1 = box
    return (clamp(x0 / width), clamp(y0 / height), clamp(x1 / width), clamp(y1 / height))


def merge_lines(boxes: Sequence[Box], gap: float = LINE_GAP) -> tuple[Box, ...]:
    """Character boxes in reading order (one unit on both axes) merged into one box per line.

    A box joins the line before it when they share at least half the smaller height and
    the horizontal gap between them is at most ``gap`` line heights; else it starts a box.
    """
    lines: list[Box] = []
    for box in boxes:
        if lines:
            x0, y0, x1, y1 = lines[-1]
            height = min(y1 - y0, box[3] - box[1])
            shared = min(y1, box[3]) - max(y0, box[1])
            apart = max(box[0] - x1, x0 - box[2], 0.0)
            if shared >= 0.5 * height and apart <= gap * max(y1 - y0, box[3] - box[1]):
                lines[-1] = (min(x0, box[0]), min(y0, box[1]), max(x1, box[2]), max(y1, box[3]))
                continue
        lines.append(box)
    return tuple(lines)


def line_span_boxes(lines: Sequence[SpanLine], start: int, end: int) -> tuple[Box, ...]:
    """The boxes of the lines that share a character with ``[start, end)``, in order."""
    return tuple(line.box for line in lines if line.start < end and start < line.end)


def align(
    text: str, raw: str, window: int = ALIGN_WINDOW, anchor: int = ALIGN_ANCHOR
) -> tuple[int, ...]:
    """For each character of ``text``, the index of the same character in ``raw``, or -1.

    Only characters other than white space are matched (white space has no box). Where the
    two disagree, the place is found again as the nearest shifts after which ``anchor``
    characters agree (``_resync``); failing that, the characters are taken as changed and
    left unmatched.
    """
    a_at = [i for i, ch in enumerate(text) if not ch.isspace()]
    b_at = [k for k, ch in enumerate(raw) if not ch.isspace()]
    a = "".join(text[i] for i in a_at)
    b = "".join(raw[k] for k in b_at)
    found = [-1] * len(text)
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            found[a_at[i]] = b_at[j]
            i, j = i + 1, j + 1
            continue
        di, dj = _resync(a, b, i, j, window, anchor)
        i, j = i + di, j + dj
    return tuple(found)


def _resync(a: str, b: str, i: int, j: int, window: int, anchor: int) -> tuple[int, int]:
    """How far to move in ``a`` and ``b`` to agree again (see ``align``): the smallest
    pair of shifts within ``NEAR`` of each other (characters dropped on both sides, or
    changed), else one side's shift within ``window``, else one character each."""

    def agree(di: int, dj: int) -> bool:
        key = a[i + di : i + di + anchor]
        return bool(key) and b[j + dj : j + dj + len(key)] == key

    for total in range(1, 2 * NEAR + 1):
        for di in range(max(0, total - NEAR), min(total, NEAR) + 1):
            if agree(di, total - di):
                return di, total - di
    for shift in range(NEAR + 1, window + 1):
        if agree(0, shift):
            return 0, shift  # ``raw`` has characters ``text`` lacks
        if agree(shift, 0):
            return shift, 0  # ``text`` has characters ``raw`` lacks
    return 1, 1


def span_chars(at: Sequence[int], start: int, end: int) -> list[int]:
    """pdfium's indices of the characters of ``[start, end)`` of the stored text that have
    one (``at``: ``align``'s answer), in order."""
    return [index for index in at[max(0, start) : max(0, end)] if index >= 0]


def pdf_span_boxes(
    path: Path, page: int, text: str, span: tuple[int, int], at: tuple[int, ...] | None = None
) -> tuple[tuple[Box, ...], tuple[int, ...]]:
    """The boxes of ``span`` of ``text`` (the stored text of page ``page``, from 0) on the
    PDF at ``path``, and the page's alignment (``align``), which is most of the cost: pass
    it back as ``at`` for the next span of the page. Boxes are read for the span alone."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    with PDFIUM:
        pdf = pdfium.PdfDocument(path, password="")
        try:
            sheet = pdf[page]
            textpage = sheet.get_textpage()
            try:
                if at is None:
                    at = align(text, _characters(textpage))
                bbox = tuple(sheet.get_bbox())
                rotation = sheet.get_rotation()
                left, right, bottom, top = (ctypes.c_double() for _ in range(4))
                chars = []
                for index in span_chars(at, *span):
                    if pdfium_c.FPDFText_GetCharBox(textpage, index, left, right, bottom, top):
                        rect = (left.value, bottom.value, right.value, top.value)
                        if rect[2] > rect[0] and rect[3] > rect[1]:
                            chars.append(display_rect(rect, bbox, rotation))
            finally:
                textpage.close()
                sheet.close()
        finally:
            pdf.close()
    width, height = shown_size(bbox, rotation)
    return tuple(relative(line, width, height) for line in merge_lines(chars)), at


def _characters(textpage: Any) -> str:
    """pdfium's character array as a string, one character an index."""
    import pypdfium2.raw as pdfium_c

    count = textpage.count_chars()
    whole: str = textpage.get_text_range(0, count)
    if len(whole) == count:
        return whole
    # Characters beyond 16 bits (two UTF-16 units) or ones pdfium's text leaves out: slower.
    return "".join(chr(pdfium_c.FPDFText_GetUnicode(textpage, k)) for k in range(count))


class CitationBoxes:
    """Fills in the ``boxes`` of citations: from the OCR's lines where ``ocr_lines`` has
    them for the page, else from the stored PDF's character boxes.

    ``stored_file(doc_id)`` is the document's stored upload (or None) and ``page_text`` the
    page text Folio stored; both are the library's. A page that cannot be read gives no
    boxes (logged): the citation stands without them.
    """

    def __init__(
        self,
        stored_file: Callable[[str], Path | None],
        page_text: Callable[[str, int], str | None],
        ocr_lines: LineProvider | None = None,
        cache_pages: int = 64,
    ) -> None:
        self.stored_file = stored_file
        self.page_text = page_text
        self.ocr_lines = ocr_lines
        self.cache_pages = cache_pages
        self._pages: OrderedDict[tuple[str, int, str], tuple[int, ...]] = OrderedDict()  # aligned
        self._lock = threading.Lock()

    def boxes(self, citation: Citation) -> tuple[Box, ...]:
        if citation.kind != "text" or citation.end <= citation.start:
            return ()
        if self.ocr_lines is not None:
            lines = self.ocr_lines(citation.doc_id, citation.page)
            if lines:
                return line_span_boxes(lines, citation.start, citation.end)
        path = self.stored_file(citation.doc_id)
        text = self.page_text(citation.doc_id, citation.page)
        if path is None or path.suffix.lower() != ".pdf" or text is None:
            return ()
        key = (citation.doc_id, citation.page, path.name)
        with self._lock:
            at = self._pages.get(key)
        try:
            boxes, at = pdf_span_boxes(
                path, citation.page, text, (citation.start, citation.end), at
            )
        except Exception as exc:  # pdfium's errors on a damaged file: no boxes, not no answer
            log.warning("no boxes for page %d of %s: %s", citation.page + 1, citation.doc_id, exc)
            return ()
        with self._lock:
            self._pages[key] = at
            self._pages.move_to_end(key)
            while len(self._pages) > self.cache_pages:
                self._pages.popitem(last=False)
        return boxes

    def with_boxes(self, citation: Citation) -> Citation:
        return replace(citation, boxes=self.boxes(citation))
