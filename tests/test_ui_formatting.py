"""The UI's pure pieces: translations, citation links, highlighted passages, cards, traces."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime

import pytest

from rag_core.answer.conversation import Rewrite
from rag_core.library import Library
from rag_core.types import Document, IngestReport, IngestResult, Timing
from ui import formatting as fmt
from ui.i18n import EN, ZH, language, t

from .pdfs import make_pdf
from .test_library import APPLES, CHINESE, ENGINES


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_every_key_with_the_same_placeholders():
    assert EN.keys() == ZH.keys()
    assert {k: fields(v) for k, v in EN.items()} == {k: fields(v) for k, v in ZH.items()}
    assert t("page", "zh", page=3) == "第 3 页" and t("page", "en", page=3) == "page 3"
    assert t("page", "zh-Hant", page=3) == "第 3 頁"


def test_the_traditional_table_has_every_key_and_placeholder_of_the_simplified_one():
    import string

    from ui.i18n import ZH
    from ui.i18n_hant import ZH_HANT

    assert ZH_HANT.keys() == ZH.keys()

    def fields(text: str) -> list[str]:
        return sorted(f for _, f, _, _ in string.Formatter().parse(text) if f)

    assert all(fields(ZH_HANT[k]) == fields(ZH[k]) for k in ZH)
    assert ZH_HANT["tab_library"] == "文件庫" and ZH_HANT["send_button"] == "傳送"


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("zh-TW", "zh-Hant"),
        ("zh-HK,zh;q=0.9", "zh-Hant"),
        ("zh-Hant-TW, en;q=0.5", "zh-Hant"),
        ("zh-SG", "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR, zh;q=0.5", "zh"),
        ("de", "en"),
        ("", "en"),
        (None, "en"),
        ("zh;q=abc, en", "en"),
    ],
)
def test_language_follows_the_browser(header, lang):
    assert language(header) == lang


def test_markers_link_to_their_cards_only_when_cited():
    text = "Oil every 5000 km.[1][2] Grade 5W-30 [3]."
    linked = fmt.answer_markdown(text, "m1", {1: "engine.pdf, page 1", 3: 'say "hi", page 2'})
    assert linked == (
        'Oil every 5000 km.[[1]](#cite-m1-1 "engine.pdf, page 1")\\[2\\] '
        "Grade 5W-30 [[3]](#cite-m1-3 \"say 'hi', page 2\")."
    )


def test_passage_highlights_the_span_with_context_cut_at_words():
    page = "Alpha beta gamma. " * 30 + "The cited sentence is here." + " Omega psi chi." * 30
    start = page.index("The cited")
    end = start + len("The cited sentence is here.")
    before, cited, after = fmt.passage(page, start, end, radius=40)
    assert cited == "The cited sentence is here."
    assert before.startswith("…") and not before.startswith("… ") and before.endswith("gamma. ")
    assert after.endswith("…") and after.startswith(" Omega")
    assert len(before) <= 42 and len(after) <= 42
    assert fmt.passage("short text", 0, 5) == ("", "short", " text")
    assert fmt.passage("short", 3, 99) == ("", "", "")


def test_source_card_html_escapes_everything_and_marks_the_span(tmp_path):
    card = fmt.SourceCard(
        number=2,
        doc_name='<img src=x onerror="alert(1)">.pdf',
        page_number=3,
        before="before <b>",
        cited="the <script>cited</script> span",
        after=" after",
        thumb_url="gradio_api/file=/data/t.jpg",
        image_url="gradio_api/file=/data/f.jpg",
    )
    html = fmt.source_cards_html([card], "m9", "Why <this>?", "en")
    assert "<script>" not in html and "<img src=x" not in html and "<b>" not in html
    assert "<mark>the &lt;script&gt;cited&lt;/script&gt; span</mark>" in html
    assert 'id="cite-m9-2"' in html and 'href="#full-m9-2"' in html
    assert 'id="full-m9-2" href="#cite-m9-2"' in html
    assert (
        'src="gradio_api/file=/data/t.jpg"' in html and 'src="gradio_api/file=/data/f.jpg"' in html
    )
    assert "page 3" in html and "Sources for: Why &lt;this&gt;?" in html
    assert "folio-overlay" not in html

    with_overlay = fmt.source_cards_html(
        [
            fmt.SourceCard(
                1, "a.md", 1, "", "x", "", None, None, overlay_url="gradio_api/file=/o.png"
            )
        ],
        "m1",
        "q",
        "zh",
    )
    assert "No page image" not in with_overlay and "没有页面图像" in with_overlay
    assert 'class="folio-overlay"' in with_overlay and "在页面上的位置" in with_overlay
    assert "这个回答没有引用任何段落" in fmt.source_cards_html([], "m", "q", "zh")


def test_a_card_with_boxes_marks_them_on_the_thumbnail_and_shows_the_crop():
    assert fmt.box_marks([(0.1, 0.25, 0.6, 0.275)]) == (
        '<span class="folio-box" style="left:10.00%;top:25.00%;width:50.00%;height:2.50%"></span>'
    )
    card = fmt.SourceCard(
        1, "a.pdf", 2, "", "cited", "", "gradio_api/file=/t.jpg", "gradio_api/file=/lit.jpg",
        crop_url="gradio_api/file=/crop.jpg", boxes=((0.1, 0.25, 0.6, 0.275),),
    )  # fmt: skip
    html = fmt.source_cards_html([card], "m3", "q", "en")
    assert (
        '<a class="folio-thumb" href="#full-m3-1" title="Click for the full page">'
        '<img src="gradio_api/file=/t.jpg" alt="a.pdf, page 2">'
        f"{fmt.box_marks(card.boxes)}</a>"
    ) in html
    assert (
        '<a class="folio-crop" href="#full-m3-1" title="Click for the full page">'
        '<img src="gradio_api/file=/crop.jpg" alt="The cited lines on the page"></a>'
    ) in html
    assert 'id="full-m3-1" href="#cite-m3-1"><img src="gradio_api/file=/lit.jpg"' in html
    plain = fmt.source_cards_html(
        [fmt.SourceCard(1, "a.pdf", 2, "", "x", "", None, None)], "m", "q", "en"
    )
    assert "folio-crop" not in plain and "folio-box" not in plain


def test_documents_table_in_both_languages():
    doc = Document(
        "abc", "a.pdf", "pdf", 10, 3, 4, 1, "failed", "a.pdf: broken", datetime(2025, 1, 2, 3, 4)
    )
    en = fmt.documents_frame([doc], "en")
    assert list(en.columns) == [
        "Name",
        "Pages",
        "Chunks",
        "Pages without text",
        "Added (UTC)",
        "Status",
        "Error",
    ]
    assert en.values.tolist() == [["a.pdf", 3, 4, 1, "2025-01-02 03:04", "failed", "a.pdf: broken"]]
    zh = fmt.documents_frame([doc], "zh")
    assert list(zh.columns)[:2] == ["名称", "页数"] and zh.values.tolist()[0][5] == "失败"


def test_document_choices_disambiguate_repeated_names():
    now = datetime.now(UTC)
    docs = [
        Document("aaaaaaaa11", "r.pdf", "pdf", 1, 1, 1, 0, "ready", None, now),
        Document("bbbbbbbb22", "r.pdf", "pdf", 1, 1, 1, 0, "failed", "x", now),
        Document("cccccccc33", "s.md", "markdown", 1, 1, 1, 0, "ready", None, now),
    ]
    assert fmt.document_choices(docs, ready_only=True) == [
        ("r.pdf (aaaaaaaa)", "aaaaaaaa11"),
        ("s.md", "cccccccc33"),
    ]
    assert len(fmt.document_choices(docs, ready_only=False)) == 3


def test_upload_summary_says_already_in_the_library():
    report = IngestReport(
        (
            IngestResult("a.pdf", "added", "1", pages=3, chunks=5),
            IngestResult("a.pdf", "unchanged", "1", pages=3, chunks=5),
            IngestResult("b.pdf", "failed", "2", "b.pdf: is not a PDF"),
        )
    )
    assert fmt.upload_summary(report, "en").split("  \n") == [
        "✓ a.pdf: added \\(3 pages, 5 chunks\\)",
        "＝ a.pdf: already in the library",
        "✗ not added: b.pdf: is not a PDF",
    ]
    assert "已在文档库中" in fmt.upload_summary(report, "zh")
    assert fmt.progress_text("a.pdf", 2, 3, "embed", "en") == "a.pdf (2/3): embedding"
    assert fmt.progress_text("a.pdf", 1, 1, "render", "zh") == "a.pdf（1/1）：渲染页面"


def test_trace_and_notices_from_a_real_answer(library: Library):
    library.add(
        [
            ("orchard.pdf", make_pdf(APPLES)),
            ("engine.pdf", make_pdf(ENGINES)),
            ("年报.pdf", make_pdf(CHINESE)),
        ]
    )
    answer = library.ask("Why did pear output fall?")
    rewrite = Rewrite("Why did pear output fall?", "none")
    trace = fmt.trace_markdown(answer, rewrite, [Timing("ui.first_token", 12.0)], "en")
    assert "**Searched:** `Why did pear output fall?` (as asked)" in trace
    assert "**Filter:** whole library" in trace
    assert "| 1 | orchard.pdf | 3 |" in trace
    assert "ui.first_token 12" in trace and "retrieve.fuse" in trace
    assert fmt.answer_notices(answer, rewrite, "en") == []

    chinese = library.ask("净利润是多少？")
    notices = fmt.answer_notices(chinese, Rewrite("净利润是多少？", "none", "boom"), "zh")
    assert notices[0].startswith("本问题**未使用语义（向量）检索**（原因：dense leg off")
    assert notices[1] == "语言模型未能改写追问：boom。"
    zh_trace = fmt.trace_markdown(chinese, Rewrite("x", "rule"), [], "zh")
    assert "根据对话改写（规则）" in zh_trace and "| 语义（向量） | 关闭 |" in zh_trace
    assert re.search(r"\| 1 \| 年报\.pdf \| \d \|", zh_trace)
