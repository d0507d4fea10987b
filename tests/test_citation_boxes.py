"""Citation boxes: where a cited span is on its page (0..1, origin top left).

The mapping is pure functions tested with exact expectations; the whole path runs over real
PDFs (reportlab) and every answerer (extractive, Claude's and an OpenAI-compatible server's,
both real local servers), checked by reading the text back inside the boxes with pdfium.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image
from reportlab.pdfbase.pdfmetrics import stringWidth

from rag_core.answer.claude import ClaudeAnswerer
from rag_core.answer.openai_client import ChatClient
from rag_core.answer.openai_compat import OpenAICompatAnswerer
from rag_core.index.lexical import LexicalTokenizer
from rag_core.ingest.boxes import (
    CitationBoxes,
    align,
    display_rect,
    line_span_boxes,
    merge_lines,
    relative,
    shown_size,
)
from rag_core.ingest.highlights import crop_region, highlighted, pixels
from rag_core.library import Library
from rag_core.types import Box, Citation, CitationEvent

from .fake_anthropic import FakeAnthropic
from .fake_openai import FakeOpenAI
from .fakes import HashingEmbedder
from .pdfs import corrupt, make_pdf
from .test_library import APPLES, ENGINES

OIL = "How often should the engine oil be changed?"


# Pure parts ---------------------------------------------------------------------------------
def test_a_pdf_rectangle_shows_where_the_rotated_page_puts_it():
    # A 200 x 100 point visible box whose corner is at (10, 20) in PDF space; a rectangle
    # 10 points in from its left edge and 30 down from its top, 40 wide and 10 tall.
    bbox = (10.0, 20.0, 210.0, 120.0)
    rect = (20.0, 80.0, 60.0, 90.0)  # left, bottom, right, top
    assert display_rect(rect, bbox, 0) == (10.0, 30.0, 50.0, 40.0)
    assert display_rect(rect, bbox, 90) == (60.0, 10.0, 70.0, 50.0)
    assert display_rect(rect, bbox, 180) == (150.0, 60.0, 190.0, 70.0)
    assert display_rect(rect, bbox, 270) == (30.0, 150.0, 40.0, 190.0)
    assert shown_size(bbox, 0) == (200.0, 100.0) and shown_size(bbox, 270) == (100.0, 200.0)
    assert relative((10.0, 30.0, 50.0, 40.0), 200.0, 100.0) == (0.05, 0.3, 0.25, 0.4)
    assert relative((-5.0, 30.0, 250.0, 40.0), 200.0, 100.0) == (0.0, 0.3, 1.0, 0.4)


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_display_rect_agrees_with_pdfiums_own_page_to_device(rotation):
    pdf = pdfium.PdfDocument(_offset_rotated_pdf(rotation))
    page = pdf[0]
    bbox = tuple(page.get_bbox())
    width, height = shown_size(bbox, rotation)  # type: ignore[arg-type]
    assert page.get_rotation() == rotation
    scale = 100  # device pixels per point: pdfium's integer pixels, a hundredth of a point
    for x, y in ((100.0, 150.0), (250.0, 400.0), (330.0, 620.0)):
        dx, dy = _c_int(), _c_int()
        ok = pdfium_c.FPDF_PageToDevice(
            page, 0, 0, round(width * scale), round(height * scale), 0, x, y, dx, dy
        )
        assert ok
        shown = display_rect((x, y, x, y), bbox, rotation)  # type: ignore[arg-type]
        assert shown[0] == pytest.approx(dx.value / scale, abs=0.02)
        assert shown[1] == pytest.approx(dy.value / scale, abs=0.02)


def test_characters_merge_into_one_box_per_line():
    line_one = [(10.0, 10.0, 16.0, 20.0), (16.0, 11.0, 22.0, 20.0), (25.0, 10.0, 31.0, 21.0)]
    line_two = [(10.0, 24.0, 16.0, 34.0), (16.0, 24.0, 22.0, 34.0)]
    far_cell = [(80.0, 24.0, 86.0, 34.0)]  # the same line, a table's next column
    superscript = [(22.0, 22.0, 25.0, 28.0)]  # shares 4 of its 6 points with line two
    assert merge_lines([*line_one, *line_two, *far_cell]) == (
        (10.0, 10.0, 31.0, 21.0),
        (10.0, 24.0, 22.0, 34.0),
        (80.0, 24.0, 86.0, 34.0),
    )
    assert merge_lines([*line_two, *superscript]) == ((10.0, 22.0, 25.0, 34.0),)
    assert merge_lines([]) == ()


@dataclass(frozen=True)
class Line:
    text: str
    start: int
    end: int
    box: Box


def test_a_span_maps_to_the_boxes_of_the_lines_it_touches():
    lines = [
        Line("First line,", 0, 11, (0.1, 0.1, 0.9, 0.12)),
        Line("second line,", 12, 24, (0.1, 0.13, 0.85, 0.15)),
        Line("third.", 25, 31, (0.1, 0.16, 0.3, 0.18)),
    ]
    assert line_span_boxes(lines, 12, 24) == ((0.1, 0.13, 0.85, 0.15),)
    assert line_span_boxes(lines, 5, 13) == ((0.1, 0.1, 0.9, 0.12), (0.1, 0.13, 0.85, 0.15))
    assert line_span_boxes(lines, 11, 12) == ()  # the line break between them
    assert line_span_boxes(lines, 20, 31) == (
        (0.1, 0.13, 0.85, 0.15),
        (0.1, 0.16, 0.3, 0.18),
    )


def test_stored_text_lines_up_with_pdfiums_characters():
    # pdfium's array: generated line breaks, a soft hyphen normalisation drops, trailing
    # spaces, and a character changed ("X" where the stored text has "Y").
    raw = "ab\r\nc\xadd  \r\nefgh X ijkl"
    text = "ab\ncd\nefgh Y ijkl"
    assert align(text, raw) == (0, 1, -1, 4, 6, -1, 11, 12, 13, 14, -1, -1, -1, 18, 19, 20, 21)
    assert align("abcdefgh", "abcd>efgh") == (0, 1, 2, 3, 5, 6, 7, 8)  # one only pdfium has
    assert align("abcd>efgh", "abcdefgh") == (0, 1, 2, 3, -1, 4, 5, 6, 7)  # one it lacks
    assert align("", raw) == ()
    assert align("abc", "") == (-1, -1, -1)
    # A long stretch only one side has: the place is found again after it.
    assert align("abcd wxyz", "abcd" + "Q" * 50 + "wxyz") == (0, 1, 2, 3, -1, 54, 55, 56, 57)


def test_the_crop_shows_the_cited_lines_with_a_margin():
    boxes = [(0.1, 0.30, 0.9, 0.32), (0.1, 0.33, 0.5, 0.35)]
    assert crop_region(boxes) == pytest.approx((0.08, 0.288, 0.92, 0.362))
    assert crop_region(boxes, margin=0.0, line_margin=0.0) == pytest.approx((0.1, 0.3, 0.9, 0.35))
    # At the page's edge the crop moves inside the page, keeping its size.
    assert crop_region([(0.0, 0.0, 1.0, 0.01)]) == pytest.approx((0.0, 0.0, 1.0, 0.022))
    assert crop_region([(0.3, 0.99, 0.4, 1.0)]) == pytest.approx((0.28, 0.978, 0.42, 1.0))
    assert pixels((0.1, 0.2, 0.5, 0.6), 200, 100) == (20, 20, 100, 60)
    assert pixels((0.1, 0.2, 0.5, 0.6), 200, 100, pad=0.05) == (10, 15, 110, 65)


def test_highlighted_lines_are_painted_and_the_rest_is_not():
    page = Image.new("RGB", (200, 100), "white")
    painted = highlighted(page, [(0.25, 0.25, 0.5, 0.5)])
    assert painted.size == page.size and page.getpixel((60, 35)) == (255, 255, 255)
    r, g, b = painted.getpixel((60, 35))
    assert r == 255 and 230 < g < 245 and 140 < b < 160  # white under 40% yellow
    assert painted.getpixel((10, 10)) == (255, 255, 255)
    assert painted.getpixel((150, 80)) == (255, 255, 255)


def test_ocr_lines_give_the_boxes_where_the_provider_has_them():
    lines = {("scan", 0): [Line("Oil every 5000 km.", 0, 18, (0.1, 0.2, 0.6, 0.23))]}
    asked: list[tuple[str, int]] = []

    def ocr_lines(doc_id: str, page: int) -> list[Line]:
        asked.append((doc_id, page))
        return lines.get((doc_id, page), [])

    boxes = CitationBoxes(lambda doc_id: None, lambda doc_id, page: None, ocr_lines=ocr_lines)
    cited = _citation("scan", 0, 4, 9)
    assert boxes.boxes(cited) == ((0.1, 0.2, 0.6, 0.23),)
    assert boxes.boxes(_citation("scan", 1, 4, 9)) == ()  # no lines, no PDF: no boxes
    page_citation = Citation(1, "", "scan", "scan.pdf", 0, "", 0, 0, kind="page")
    assert boxes.boxes(page_citation) == ()
    assert asked == [("scan", 0), ("scan", 1)]


def test_a_stored_file_pdfium_cannot_read_gives_no_boxes_and_says_why(tmp_path, caplog):
    broken = tmp_path / "d1.pdf"
    broken.write_bytes(corrupt(make_pdf(["Oil every 5000 km."])))
    boxes = CitationBoxes(lambda doc_id: broken, lambda doc_id, page: "Oil every 5000 km.")
    with caplog.at_level("WARNING"):
        assert boxes.boxes(_citation("d1", 0, 0, 3)) == ()
    assert "no boxes for page 1 of d1" in caplog.text


# Real PDFs, every answerer ------------------------------------------------------------------
def test_extractive_citations_carry_boxes_around_their_text(library):
    library.add([("engine.pdf", make_pdf(ENGINES)), ("orchard.pdf", make_pdf(APPLES))])
    events = list(library.ask_stream(OIL))
    answer = events[-1].answer
    assert answer.citations and not answer.refused
    assert [e.citation for e in events if isinstance(e, CitationEvent)] == list(answer.citations)
    for citation in answer.citations:
        _assert_boxes_hold_the_cited_text(library, citation)
    assert "boxes" in {t.stage for t in answer.timings}


def test_boxes_sit_where_reportlab_drew_the_line(library):
    lines = ["Alpha beta gamma delta.", "Epsilon zeta eta theta."]
    library.add([("greek.pdf", make_pdf(["\n".join(lines)]))])
    doc = library.find("greek.pdf")
    text = library.page_text(doc.id, 0)
    start = text.index("Epsilon")
    citation = library.citation_boxes(_citation(doc.id, 0, start, start + len(lines[1])))
    [(x0, y0, x1, y1)] = citation.boxes
    width, height = 595.2755905511812, 841.8897637795277  # A4 in points
    assert x0 == pytest.approx(72 / width, abs=0.002)  # drawn 72 points from the left
    drawn = stringWidth(lines[1], "Helvetica", 11)
    assert x1 == pytest.approx((72 + drawn) / width, abs=0.003)
    baseline = (72 + 15) / height  # the second line's baseline, 87 points from the top
    assert y0 < baseline < y1 and (y1 - y0) * height == pytest.approx(10, abs=3)  # 11 pt text


def test_claude_citations_carry_boxes(settings):
    with FakeAnthropic() as fake:
        answerer = ClaudeAnswerer("test-key", model="claude-test-1", base_url=fake.url)
        library = Library.open(settings, embedder=HashingEmbedder(), answerer=answerer)
        library.add([("engine.pdf", make_pdf(ENGINES)), ("orchard.pdf", make_pdf(APPLES))])
        answer = library.ask(OIL)
    [citation] = answer.citations
    assert citation.cited_text == "Change the engine oil every 5000 kilometres."
    _assert_boxes_hold_the_cited_text(library, citation)


def test_openai_compatible_citations_carry_boxes(settings):
    with FakeOpenAI() as fake:
        client = ChatClient(fake.url, "folio-test", timeout=10.0, max_retries=0)
        answerer = OpenAICompatAnswerer(client, LexicalTokenizer(), max_tokens=300)
        library = Library.open(settings, embedder=HashingEmbedder(), answerer=answerer)
        library.add([("engine.pdf", make_pdf(ENGINES)), ("orchard.pdf", make_pdf(APPLES))])
        answer = library.ask(OIL)
    assert answer.mode == "openai" and answer.citations
    for citation in answer.citations:
        _assert_boxes_hold_the_cited_text(library, citation)


def test_text_files_and_missing_files_have_no_boxes(library):
    library.add([("notes.md", b"# Notes\n\nChange the engine oil every 5000 kilometres.\n")])
    answer = library.ask(OIL)
    assert answer.citations and all(c.boxes == () for c in answer.citations)
    assert library.citation_pictures(answer.citations[0]) is None


def test_citation_pictures_show_the_page_and_the_crop(library):
    library.add([("engine.pdf", make_pdf(ENGINES))])
    [citation, *_] = library.ask(OIL).citations
    pictures = library.citation_pictures(citation)
    assert pictures is not None
    full, crop = pictures
    assert library.citation_pictures(citation) == (full, crop)  # drawn once
    page = library.page_image(citation.doc_id, citation.page)
    assert page is not None
    with Image.open(page) as plain, Image.open(full) as lit, Image.open(crop) as cut:
        assert lit.size == plain.size
        left, top, right, bottom = pixels(crop_region(citation.boxes), *plain.size)
        assert cut.size == (right - left, bottom - top)
        cx0, _, cx1, cy1 = pixels(citation.boxes[0], *plain.size)
        middle = ((cx0 + cx1) // 2, cy1 - 1)  # inside the first cited line, under the ink
        assert plain.getpixel(middle) != lit.getpixel(middle)


# Helpers ------------------------------------------------------------------------------------
def _citation(doc_id: str, page: int, start: int, end: int) -> Citation:
    return Citation(1, "c", doc_id, f"{doc_id}.pdf", page, "", start, end)


def _assert_boxes_hold_the_cited_text(library: Library, citation: Citation) -> None:
    """Reading the page's text back inside the boxes gives the cited text's characters."""
    path = library.stored_file(citation.doc_id)
    assert path is not None and citation.boxes, citation
    pdf = pdfium.PdfDocument(path)
    page = pdf[citation.page]
    textpage = page.get_textpage()
    width, height = page.get_size()
    found = ""
    for x0, y0, x1, y1 in citation.boxes:
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        found += textpage.get_text_bounded(
            x0 * width, (1 - y1) * height, x1 * width, (1 - y0) * height
        )
    pdf.close()
    cited = library.page_text(citation.doc_id, citation.page)[citation.start : citation.end]
    assert _letters(found) == _letters(cited), (found, cited)


def _letters(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace())


def _c_int():  # type: ignore[no-untyped-def]
    import ctypes

    return ctypes.c_int()


def _offset_rotated_pdf(rotation: int) -> bytes:
    """A one-page PDF whose crop box does not start at (0, 0), turned by ``rotation``."""
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(make_pdf(["Rotated text on an offset page."])))
    writer = pypdf.PdfWriter()
    writer.add_page(reader.pages[0])
    page = writer.pages[0]
    page.cropbox = pypdf.generic.RectangleObject((40, 60, 540, 760))
    page.rotation = rotation
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
