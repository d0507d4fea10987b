"""OCR (issue 16): the page rule and word repair as pure functions, the backlog through a
real library (crash and restart, removal mid-OCR, failures, the registry followed), and, in
the slow tier, the real PP-OCRv4 models reading generated English and Chinese scans."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
from datetime import UTC
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from api.observability import ApiMetrics
from rag_core.config import Settings
from rag_core.library import Library
from rag_core.ocr import OcrEngine, OcrLine, OcrPage, needs_ocr, repair_words
from rag_core.ocr.engine import REPAIR_VERSION, page_from_lines, relative_box, same_row
from rag_core.ocr.quality import cer
from rag_core.ocr.rule import TextLayer, text_layer
from rag_core.types import Citation

from .fakes import HashingEmbedder
from .pdfs import make_pdf, scanned

ENGLISH = [
    "Engine Manual\n\nChange the turbocharger oil every five thousand kilometres.",
    "Warranty\n\nThe warranty covers the gearbox for three years.",
    "Service\n\nInspect the radiator before every winter.",
]
CHINESE = "年度报告\n\n公司营业收入增长了百分之十二。净利润达到五十亿元。董事会决定向股东分红。"


# The page rule -----------------------------------------------------------------------------
def test_page_rule_exact():
    assert needs_ocr("")
    assert needs_ocr("  \n ")
    assert needs_ocr("Page 3 of 12")  # 8 readable characters: a scan with a stamped number
    assert not needs_ocr("The turbocharger needs inspection every two years.")
    assert not needs_ocr("公司营业收入增长了百分之十二，净利润达到五十亿元。")
    cid = "(cid:12)(cid:34)(cid:56) " * 20 + "Total revenue"
    assert needs_ocr(cid)
    assert needs_ocr("\ue000\ue001\ue002 " * 30 + "Net income")  # private-use glyphs
    assert needs_ocr("\ufffd" * 40 + " Balance sheet of the year")
    assert text_layer("ab (cid:1)\ufffd!") == TextLayer(2, 2, 1)
    assert not needs_ocr("\ufffd" * 5 + " The balance sheet of the company at year end")


# Word repair --------------------------------------------------------------------------------
def test_word_repair_exact():
    assert (
        repair_words("ConsolidatedStatementofCashFlows") == "Consolidated Statement of Cash Flows"
    )
    assert repair_words("Operating expenseswere 4,512million dollars.") == (
        "Operating expenses were 4,512 million dollars."
    )
    assert repair_words("Totalliabilitiesandshareholdersequity") == (
        "Total liabilities and shareholders equity"
    )
    # A known cost: a rare compound name made of common words is split too.
    assert repair_words("PricewaterhouseCoopers") == "Price waterhouse Coopers"
    for unchanged in ("Netflix", "Form 10-K", "iPhone", "营业收入增长", "FY2022", "PepsiCo"):
        assert repair_words(unchanged) == unchanged
    assert repair_words("internationalization") == "internationalization"


def test_word_repair_keeps_names_and_acronyms_it_would_need_rare_pieces_for():
    # Words OCR read right that are not in the list: splitting them needs rare short pieces
    # (EB IT DA, Amc or, Un audited), which cost more than the unknown word.
    for unchanged in ("EBITDA", "Amcor", "Unaudited", "EBITDAR", "Kenvue"):
        assert repair_words(unchanged) == unchanged
    # An inflection of a listed word is a word.
    for unchanged in ("repurchases", "borrowings"):
        assert repair_words(unchanged) == unchanged
    # Unknown stretches inside a run stay whole while the words around them are parted ...
    assert repair_words("AdjustedEBITDAwas 4,512million") == "Adjusted EBITDA was 4,512 million"
    assert repair_words("AmcorFlexiblesNorthAmerica") == "Amcor Flexibles North America"
    # ... and never span a lower-to-upper case change, where OCR most often lost a space.
    assert repair_words("SixMonthsEndedDecember") == "Six Months Ended December"
    assert repair_words("endedDecember") == "ended December"


def test_cells_of_one_visual_row_make_one_line():
    # The recognizer reads a table one cell per box, in rows: a row label and its figures
    # become one line of the page text (as a text layer gives them); each keeps its box.
    label, first, second = (
        (0.05, 0.30, 0.30, 0.32),
        (0.60, 0.301, 0.70, 0.321),
        (0.80, 0.30, 0.9, 0.32),
    )
    below = (0.05, 0.34, 0.30, 0.36)
    page = page_from_lines(
        [("Net sales", label), ("4,512", first), ("4,118", second), ("Cost of sales", below)]
    )
    assert page.text == "Net sales 4,512 4,118\nCost of sales"
    assert [ln.box for ln in page.lines] == [label, first, second, below]
    assert all(page.text[ln.start : ln.end] == ln.text for ln in page.lines)
    # Not a row: a box lower by more than half a line, or one that starts left of the
    # previous box's middle (the next line of a paragraph, a second column's first line).
    assert not same_row((0.1, 0.30, 0.5, 0.32), (0.6, 0.312, 0.7, 0.332))
    assert not same_row((0.1, 0.30, 0.5, 0.32), (0.2, 0.30, 0.6, 0.32))
    assert same_row((0.1, 0.30, 0.5, 0.32), (0.31, 0.30, 0.6, 0.32))


def test_lines_keep_their_offsets_and_boxes():
    page = page_from_lines(
        [
            ("Net  revenue", (0.1, 0.1, 0.5, 0.12)),
            ("  ", (0, 0, 1, 1)),
            ("营业收入", (0.1, 0.2, 0.3, 0.22)),
        ]
    )
    assert page.text == "Net revenue\n营业收入"
    assert page.lines == (
        OcrLine("Net revenue", 0, 11, (0.1, 0.1, 0.5, 0.12)),
        OcrLine("营业收入", 12, 16, (0.1, 0.2, 0.3, 0.22)),
    )
    assert all(page.text[ln.start : ln.end] == ln.text for ln in page.lines)
    assert relative_box([[10, 20], [110, 22], [110, 40], [8, 40]], 200, 100) == (
        0.04,
        0.2,
        0.55,
        0.4,
    )


def test_cer():
    assert cer("年度 报告", "年度报告") == 0.0
    assert cer("abcd", "abxd") == 0.25
    assert cer("", "") == 0.0


# The backlog, with an engine that reads what it is told ----------------------------------------
class ScriptedEngine(OcrEngine):
    """Reads page after page the texts it is given, in order; ``on_read`` runs first."""

    def __init__(self, texts: list[str], on_read=None) -> None:
        super().__init__()
        self.texts = list(texts)
        self.reads = 0
        self.on_read = on_read

    def check(self) -> None:
        return None

    def read(self, image) -> OcrPage:
        assert image.width > 1000  # the page was drawn at FOLIO_OCR_DPI
        self.reads += 1
        if self.on_read is not None:
            self.on_read(self.reads)
        text = self.texts.pop(0)
        if text == "<fail>":
            raise ValueError("the recognizer returned nonsense")
        return page_from_lines([(line, (0.1, 0.1, 0.9, 0.2)) for line in text.split("\n")])


class Crash(BaseException):
    """The process dies here (nothing catches a BaseException the way it would a crash)."""


def _open(settings: Settings, engine: OcrEngine) -> Library:
    return Library.open(settings, embedder=HashingEmbedder(), ocr_engine=engine)


@pytest.fixture
def ocr_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", db=tmp_path / "feedback.db", ocr="on")


def _scan() -> bytes:
    return scanned(make_pdf(ENGLISH), dpi=100)


def _pages(library: Library, query: str) -> list[tuple[str, int]]:
    return [(h.doc_name, h.chunk.page) for h in library.search(query).hits]


def test_ocr_text_becomes_searchable_chunks_marked_ocr(ocr_settings):
    engine = ScriptedEngine(["Engine Manual\nturbocharger oil", "gearbox warranty", "radiator"])
    library = _open(ocr_settings, engine)
    text_pdf = make_pdf(["Orchard Report\n\nApple harvest rose to 120 tonnes in 2020."])
    library.add([("scan.pdf", _scan()), ("orchard.pdf", text_pdf)])
    scan = library.find("scan.pdf")
    assert scan.chunks == 0 and scan.pages_without_text == 3
    status = library.ocr_status()
    assert status is not None and status.progress is not None
    assert (status.progress.done, status.progress.total) == (0, 3)
    assert status.notice.startswith("OCR: 0/3 pages")
    assert library.ocr_waiting_since() == scan.added_at.replace(tzinfo=UTC)
    assert library.run_ocr() == 4  # three pages read, one document indexed
    assert library.ocr_waiting_since() is None
    assert engine.reads == 3  # the text PDF needed none
    scan = library.find("scan.pdf")
    assert scan.status == "ready" and scan.pages_without_text == 0 and scan.chunks == 3
    assert library.page_text(scan.id, 1) == "gearbox warranty"
    assert _pages(library, "gearbox")[0] == ("scan.pdf", 1)
    result = library.search("radiator", k=1)
    assert result.trace.notes[-1] == "OCR text (no usable text layer): scan.pdf p. 3"
    assert library.ocr_pages(scan.id) == frozenset({0, 1, 2})
    assert library.ocr_lines(scan.id, 0) == (
        OcrLine("Engine Manual", 0, 13, (0.1, 0.1, 0.9, 0.2)),
        OcrLine("turbocharger oil", 14, 30, (0.1, 0.1, 0.9, 0.2)),
    )
    orchard = library.find("orchard.pdf")
    assert library.ocr_lines(orchard.id, 0) == () and library.ocr_pages(orchard.id) == frozenset()
    # A citation of OCR text is boxed with the OCR's lines (the page has no text layer).
    cited = Citation(1, "c", scan.id, "scan.pdf", 0, "turbocharger oil", 14, 30)
    assert library.citation_boxes(cited).boxes == ((0.1, 0.1, 0.9, 0.2),)
    assert library.ocr_status().notice == ""  # nothing left: no progress line
    # A re-index keeps the OCR text (the ingestor takes it whenever the document is indexed).
    library.reindex(scan.id)
    assert library.page_text(scan.id, 1) == "gearbox warranty"
    assert library.run_ocr() == 0 and engine.reads == 3


def test_crash_mid_ocr_then_restart_reads_only_what_is_left(ocr_settings):
    def crash_on_second(n: int) -> None:
        if n == 2:
            raise Crash

    first = ScriptedEngine(["turbocharger", "never stored"], crash_on_second)
    library = _open(ocr_settings, first)
    library.add([("scan.pdf", _scan())])
    with pytest.raises(Crash):
        library.run_ocr()
    library.stop_background()

    second = ScriptedEngine(["gearbox warranty", "radiator"])
    restarted = _open(ocr_settings, second)
    progress = restarted.ocr_status().progress
    assert progress is not None and (progress.done, progress.total) == (1, 3)
    restarted.run_ocr()
    assert second.reads == 2  # page 1 was kept; pages 2 and 3 were read
    doc = restarted.find("scan.pdf")
    assert [restarted.page_text(doc.id, p) for p in range(3)] == [
        "turbocharger",
        "gearbox warranty",
        "radiator",
    ]
    assert _pages(restarted, "turbocharger")[0] == ("scan.pdf", 0)


def test_crash_between_ocr_and_indexing_is_repaired(ocr_settings):
    library = _open(ocr_settings, ScriptedEngine(["turbocharger", "gearbox", "radiator"]))
    library.add([("scan.pdf", _scan())])
    backlog = library.ocr
    assert backlog is not None

    def crash(doc_id: str) -> None:
        raise Crash

    backlog.apply = crash
    with pytest.raises(Crash):
        backlog.run()
    # OCR read the page but its text is not indexed yet: its lines' offsets do not hold.
    cited = Citation(1, "c", library.find("scan.pdf").id, "scan.pdf", 1, "gearbox", 0, 7)
    assert library.ocr_lines(cited.doc_id, 1) and library.citation_boxes(cited).boxes == ()
    restarted = _open(ocr_settings, ScriptedEngine([]))
    assert restarted.run_ocr() == 1  # only the indexing was left
    assert _pages(restarted, "gearbox")[0] == ("scan.pdf", 1)
    assert restarted.citation_boxes(cited).boxes == ((0.1, 0.1, 0.9, 0.2),)
    reader = _open(ocr_settings, ScriptedEngine([]))  # did not index it: reads the registry
    assert reader.citation_boxes(cited).boxes == ((0.1, 0.1, 0.9, 0.2),)


def test_removing_a_document_mid_ocr_leaves_nothing(ocr_settings):
    holder: list[Library] = []

    def remove_it(n: int) -> None:
        if n == 2:
            library = holder[0]
            library.remove(library.find("scan.pdf").id)

    engine = ScriptedEngine(["turbocharger", "gearbox", "radiator"], remove_it)
    library = _open(ocr_settings, engine)
    holder.append(library)
    library.add([("scan.pdf", _scan()), ("other.pdf", make_pdf(["Pear trees and frost."]))])
    doc_id = library.find("scan.pdf").id
    library.run_ocr()
    assert engine.reads == 2  # the removal stopped the work on it
    assert library.ocr is not None
    assert library.ocr.store.doc_ids() == set()
    assert library.ocr_lines(doc_id, 0) == ()
    assert all(name != "scan.pdf" for name, _ in _pages(library, "turbocharger gearbox"))
    assert library.ocr_status().progress.total == 0


def test_replacing_a_document_drops_its_ocr_and_reads_the_new_version(ocr_settings):
    engine = ScriptedEngine(["turbocharger", "gearbox", "radiator", "propeller"])
    library = _open(ocr_settings, engine)
    library.add([("scan.pdf", _scan())])
    old = library.find("scan.pdf").id
    library.run_ocr()
    library.add([("scan.pdf", scanned(make_pdf(["Propeller blades"]), dpi=100))])
    new = library.find("scan.pdf").id
    assert new != old
    library.run_ocr()
    assert library.ocr is not None and library.ocr.store.doc_ids() == {new}
    assert _pages(library, "propeller") == [("scan.pdf", 0)]
    assert all("gearbox" not in h.chunk.text for h in library.search("gearbox").hits)
    assert library.page_text(new, 0) == "propeller"


def test_a_page_ocr_fails_on_is_recorded_and_the_rest_go_on(ocr_settings, capsys):
    library = _open(ocr_settings, ScriptedEngine(["turbocharger", "<fail>", "radiator"]))
    library.add([("scan.pdf", _scan())])
    library.run_ocr()
    assert library.ocr is not None
    [failure] = library.ocr.store.failures()
    assert (failure.page, failure.error) == (1, "ValueError: the recognizer returned nonsense")
    assert _pages(library, "radiator")[0] == ("scan.pdf", 2)
    status = library.ocr_status()
    assert status.notice == "OCR: 3/3 pages, 1 failed (python -m rag_core ocr status)"


def test_documents_added_before_ocr_are_in_the_backlog(tmp_path):
    off = Settings(data_dir=tmp_path / "data", db=tmp_path / "f.db", ocr="off")
    library = _open(off, ScriptedEngine([]))
    library.add([("scan.pdf", _scan())])
    assert library.ocr_status().state == "off" and library.run_ocr() == 0
    on = _open(off.model_copy(update={"ocr": "on"}), ScriptedEngine(["a", "b", "turbocharger"]))
    assert on.ocr_status().progress.total == 3
    on.run_ocr()
    assert _pages(on, "turbocharger")[0] == ("scan.pdf", 2)


def test_pause_holds_the_backlog_across_restarts(ocr_settings):
    library = _open(ocr_settings, ScriptedEngine(["x", "y", "z"]))
    library.add([("scan.pdf", _scan())])
    library.ocr.pause()
    assert library.run_ocr() == 0
    again = _open(ocr_settings, ScriptedEngine(["x", "y", "z"]))
    assert again.ocr_status().progress.paused
    assert again.ocr_status().notice == "OCR: 0/3 pages (paused)"
    again.ocr.resume()
    assert again.run_ocr() == 4


def test_background_worker_reads_and_indexes(ocr_settings):
    import time

    library = _open(ocr_settings, ScriptedEngine(["turbocharger", "gearbox", "radiator"]))
    library.add([("scan.pdf", _scan())])
    library.start_background()
    try:
        deadline = time.monotonic() + 60
        while library.ocr_status().notice and time.monotonic() < deadline:
            time.sleep(0.2)
        while not _pages(library, "radiator") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        library.stop_background()
    assert _pages(library, "radiator")[0] == ("scan.pdf", 2)


class OverlapEngine(OcrEngine):
    """Two workers; its first two reads only return once both are in flight together."""

    def __init__(self, texts: list[str]) -> None:
        super().__init__(workers=2)
        self.texts = list(texts)
        self.both = threading.Barrier(2, timeout=20)
        self.count = 0
        self.guard = threading.Lock()

    def check(self) -> None:
        return None

    def read(self, image) -> OcrPage:
        with self.guard:
            self.count += 1
            n, text = self.count, self.texts.pop(0)
        if n <= 2:
            self.both.wait()  # BrokenBarrierError when the pages are read one at a time
        return page_from_lines([(text, (0.1, 0.1, 0.9, 0.2))])


def test_two_workers_read_two_pages_at_once(ocr_settings):
    engine = OverlapEngine(["turbocharger", "gearbox", "radiator"])
    library = _open(ocr_settings, engine)
    library.add([("scan.pdf", _scan())])
    backlog = library.ocr
    assert backlog is not None
    assert backlog.step() == 2  # pages 1 and 2, together
    assert backlog.step() == 1  # page 3
    assert backlog.step() == 1  # the document indexed with its OCR text
    assert backlog.step() == 0
    doc = library.find("scan.pdf")
    first_two = {library.page_text(doc.id, 0), library.page_text(doc.id, 1)}
    assert first_two == {"turbocharger", "gearbox"}
    assert library.page_text(doc.id, 2) == "radiator"
    progress = library.ocr_status().progress
    assert progress is not None and (progress.done, progress.total) == (3, 3)
    for word in ("turbocharger", "gearbox", "radiator"):
        assert _pages(library, word)[0][0] == "scan.pdf"


# The real models ---------------------------------------------------------------------------------
def _read_scan(pdf: bytes) -> list[str]:
    import pypdfium2 as pdfium

    engine = OcrEngine(threads=2)
    doc = pdfium.PdfDocument(scanned(pdf, dpi=150))
    try:
        return [engine.read(doc[i].render(scale=200 / 72).to_pil()).text for i in range(len(doc))]
    finally:
        doc.close()


@pytest.mark.slow
def test_real_models_read_english_and_chinese_scans():
    english, chinese = _read_scan(make_pdf([ENGLISH[0], CHINESE]))
    assert cer(ENGLISH[0], english) < 0.05, english
    assert "turbocharger" in english.split()
    assert cer(CHINESE, chinese) < 0.05, chinese
    assert "营业收入" in chinese


@pytest.mark.slow
def test_openvino_reads_the_same_text_as_onnxruntime():
    """The same models on OpenVINO (float32): the same lines, text and boxes, page by page."""
    import pypdfium2 as pdfium

    onnx = OcrEngine(backend="onnxruntime")
    openvino = OcrEngine(backend="openvino", precision="f32")
    assert (onnx.runtime, openvino.runtime) == ("onnxruntime", "openvino")
    assert openvino.name == "RapidOCR PP-OCRv4 on openvino"
    doc = pdfium.PdfDocument(scanned(make_pdf([*ENGLISH, CHINESE]), dpi=150))
    try:
        images = [doc[i].render(scale=200 / 72).to_pil() for i in range(len(doc))]
    finally:
        doc.close()
    for image in images:
        expected, got = onnx.read(image), openvino.read(image)
        assert got.text == expected.text
        assert len(got.lines) == len(expected.lines) >= 2
        for a, b in zip(got.lines, expected.lines, strict=True):
            assert (a.start, a.end) == (b.start, b.end)
            assert a.box == pytest.approx(b.box, abs=0.002)
    assert "turbocharger" in openvino.read(images[0]).text.split()


def test_the_ocr_runtime_follows_what_is_installed(monkeypatch):
    from rag_core.errors import ConfigurationError
    from rag_core.ocr import engine as ocr_engine

    assert OcrEngine().runtime == "openvino"  # a requirement: installed with Folio
    assert OcrEngine(backend="onnxruntime").runtime == "onnxruntime"
    real = ocr_engine._installed
    monkeypatch.setattr(
        ocr_engine, "_installed", lambda package: package != "openvino" and real(package)
    )
    assert OcrEngine().runtime == "onnxruntime"
    OcrEngine().check()  # auto: onnxruntime will do
    with pytest.raises(ConfigurationError, match="FOLIO_OCR_BACKEND=openvino needs OpenVINO"):
        OcrEngine(backend="openvino").check()


@pytest.mark.slow
def test_real_models_through_the_cli(tmp_path, monkeypatch):
    from rag_core.cli.commands import main

    monkeypatch.setenv("FOLIO_DATA_DIR", str(tmp_path / "lib"))
    monkeypatch.setenv("FOLIO_EMBED_MODEL", "builtin:all-MiniLM-L6-v2")
    monkeypatch.setenv("FOLIO_OCR", "on")
    (tmp_path / "scan.pdf").write_bytes(scanned(make_pdf([ENGLISH[1], CHINESE]), dpi=150))

    def run(*argv: str) -> str:
        out = io.StringIO()
        assert main(list(argv), out=out) == 0
        return out.getvalue()

    run("add", str(tmp_path / "scan.pdf"))
    status = run("ocr", "status")
    assert "OCR: on (RapidOCR PP-OCRv4 on openvino)" in status
    assert "0/2 pages read" in status
    assert "OCR backlog empty" in run("ocr", "run")
    assert "2/2 pages read" in run("ocr", "status")
    assert _first_hit(run("search", "gearbox warranty", "-k", "1")).startswith(
        " 1. scan.pdf  page 1 "
    )
    assert _first_hit(run("search", "营业收入", "-k", "1")).startswith(" 1. scan.pdf  page 2 ")
    assert "OCR text (no usable text layer): scan.pdf p. 2" in run("search", "营业收入", "-k", "1")


def _first_hit(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(" 1. "))


def test_library_tab_progress_line_and_source_card_label(ocr_settings):
    from ui import formatting as fmt
    from ui.documents import library_view

    library = _open(ocr_settings, ScriptedEngine(["turbocharger", "gearbox", "radiator"]))
    library.add([("scan.pdf", _scan())])
    assert library_view(library, "en").summary.endswith("\n\n**OCR:** OCR: 0/3 pages.")
    library.run_ocr()
    assert "OCR" not in library_view(library, "en").summary
    card = fmt.SourceCard(1, "scan.pdf", 2, "", "gearbox", "", None, None, ocr=True)
    assert '<span class="folio-ocr">OCR text</span>' in fmt.source_cards_html(
        [card], "m", "q", "en"
    )
    plain = fmt.SourceCard(1, "scan.pdf", 2, "", "gearbox", "", None, None)
    assert "folio-ocr" not in fmt.source_cards_html([plain], "m", "q", "en")


def _ocr_metrics(library: Library) -> dict[str, float]:
    text = generate_latest(ApiMetrics(lambda: [("default", library)]).registry).decode()
    return {
        s.name: s.value
        for f in text_string_to_metric_families(text)
        if f.name.startswith("folio_ocr_")
        for s in f.samples
    }


def test_metrics_show_the_ocr_backlog_and_its_age(ocr_settings, tmp_path):
    library = _open(ocr_settings, ScriptedEngine(["gearbox", "radiator", "turbo"]))
    library.add([("scan.pdf", _scan())])
    waiting = _ocr_metrics(library)
    assert waiting["folio_ocr_pages_pending"] == 3
    assert 0 < waiting["folio_ocr_backlog_oldest_seconds"] < 600  # added moments ago
    library.run_ocr()
    assert _ocr_metrics(library) == {
        "folio_ocr_pages_pending": 0,
        "folio_ocr_backlog_oldest_seconds": 0.0,
    }
    off = Settings(data_dir=tmp_path / "off", db=tmp_path / "off.db", ocr="off")
    assert _ocr_metrics(Library.open(off, embedder=HashingEmbedder())) == {}


def test_a_better_repair_reaches_pages_already_read_without_reading_them_again(ocr_settings):
    library = _open(ocr_settings, ScriptedEngine(["turbocharger", "gearbox", "radiator"]))
    library.add([("scan.pdf", _scan())])
    library.run_ocr()
    doc = library.find("scan.pdf")
    backlog = library.ocr
    assert backlog is not None
    path = backlog.store.path
    library.stop_background()
    # Rewrite the store as an older Folio left it: no repair version, and page 1 without
    # the recognizer's lines, its table row stored one cell per line; page 2 with the
    # recognizer's line, which the older repair had left joined.
    label, figure = [0.05, 0.3, 0.3, 0.32], [0.6, 0.3, 0.7, 0.32]
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM meta WHERE key = 'repair'")
        db.execute(
            "UPDATE pages SET text = ?, lines = ?, raw = '[]' WHERE doc_id = ? AND page = 1",
            (
                "Netsales\n4,512",
                json.dumps([["Netsales", 0, 8, label], ["4,512", 9, 14, figure]]),
                doc.id,
            ),
        )
        db.execute(
            "UPDATE pages SET text = ?, lines = ?, raw = ? WHERE doc_id = ? AND page = 2",
            (
                "radiatorendedDecember",
                json.dumps([["radiatorendedDecember", 0, 21, label]]),
                json.dumps([["radiatorendedDecember", label]]),
                doc.id,
            ),
        )
    engine = ScriptedEngine([])
    restarted = _open(ocr_settings, engine)
    assert restarted.run_ocr() == 1  # the document indexed again; no page read again
    assert engine.reads == 0
    assert [restarted.page_text(doc.id, p) for p in range(3)] == [
        "turbocharger",
        "Net sales 4,512",  # the old lines, repaired and joined as one row
        "radiator ended December",  # made again from what the recognizer read
    ]
    assert restarted.ocr_lines(doc.id, 1) == (
        OcrLine("Net sales", 0, 9, tuple(label)),
        OcrLine("4,512", 10, 15, tuple(figure)),
    )
    assert _pages(restarted, "december")[0] == ("scan.pdf", 2)
    cited = Citation(1, "c", doc.id, "scan.pdf", 1, "4,512", 10, 15)
    assert restarted.citation_boxes(cited).boxes == (tuple(figure),)
    restarted.stop_background()
    # Made once: the next start finds the store at this repair version.
    again = _open(ocr_settings, ScriptedEngine([]))
    assert again.ocr is not None and again.ocr.store.rederive(REPAIR_VERSION) == 0
    assert again.run_ocr() == 0
