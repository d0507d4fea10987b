"""Visual citations in the chat: heatmap overlays of the question over the top pages, page
cards for pages found by their image, and the vision index's notices. A real library with the
tiny random ColQwen2 (tests/vision_fixtures.py), real PDFs, the chat handler run to the end."""

from __future__ import annotations

import re
from pathlib import Path

from gradio.utils import get_upload_folder
from PIL import Image

from rag_core.answer.conversation import RuleRewriter
from rag_core.library import Library
from ui import chat
from ui import formatting as fmt
from ui.access import served_url

from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES

QUESTION = "How many tonnes of apples were harvested in 2020?"


def cards(sources: str) -> dict[int, tuple[str, str]]:
    """Each card's (class, html) by citation number."""
    parts = re.split(r'<div class="(folio-card[^"]*)" id="cite-[0-9a-f]+-(\d+)">', sources)
    return {int(n): (kind, body) for kind, n, body in zip(*[iter(parts[1:])] * 3, strict=True)}


def answered(library: Library, question: str = QUESTION) -> tuple:
    updates = list(chat.respond(library, RuleRewriter(), chat.ChatState(), question, None, "en"))
    return updates[-1]


def test_top_pages_get_the_question_heatmap_and_page_citations_get_page_cards(vision_settings):
    library = Library.open(vision_settings, embedder=HashingEmbedder())
    library.add([("orchard.pdf", make_pdf(APPLES))])
    library.vision.run()
    _, state, _, sources, gallery, _, notices = answered(library)
    answer = state.turns[-1].answer
    heatmaps = (library.vision.folder / "heatmaps").resolve()

    # The top pages (cited first, then retrieved) carry the heatmap, in the cards and gallery.
    top = list(dict.fromkeys([(c.doc_id, c.page) for c in answer.citations]))
    top += [(p.doc_id, p.page) for p in answer.pages if (p.doc_id, p.page) not in top]
    top = top[: chat.OVERLAY_PAGES]
    expected = {key: library.page_heatmap(QUESTION, *key) for key in top}
    assert all(path is not None and path.parent.resolve() == heatmaps for path in expected.values())
    shown = cards(sources)
    assert sorted(shown) == [c.number for c in answer.citations]
    for citation in answer.citations:
        path = expected.get((citation.doc_id, citation.page))
        _, card = shown[citation.number]
        overlay = (
            f'<div class="folio-overlay"><span>Where on the page</span>'
            f'<img src="{served_url(path)}"'  # a cache copy, never the data folder's path
            if path is not None
            else '<div class="folio-overlay">'
        )
        assert (overlay in card) == (path is not None)
        assert str(heatmaps) not in card
    assert "folio-overlay" in shown[1][1]  # the first citation's page is a top page
    # The gallery shows cache copies (never the data folder's paths) of the heatmaps.
    assert all(Path(path).is_relative_to(get_upload_folder()) for path, _ in gallery)
    overlaid = [(path, caption) for path, caption in gallery if caption.endswith("on the page")]
    by_page = {(p.doc_id, p.page): p for p in answer.pages}
    assert [(Path(path).read_bytes(), caption) for path, caption in overlaid] == [
        (expected[key].read_bytes(), f"orchard.pdf · page {p.page_number} · Where on the page")
        for key, p in by_page.items()
        if key in expected
    ]
    assert len(overlaid) == min(chat.OVERLAY_PAGES, len(by_page))
    path, _ = overlaid[0]
    doc_id, page = next(key for key in top if key in by_page)
    with Image.open(path) as heat, Image.open(library.page_image(doc_id, page)) as plain:
        assert heat.size == plain.size and heat.tobytes() != plain.convert("RGB").tobytes()

    # A page found only by its image is a page card: document, page, image, no passage.
    pages = [c for c in answer.citations if c.kind == "page"]
    assert pages, "the vision leg found a page the text hits do not cover"
    for citation in pages:
        kind, card = shown[citation.number]
        assert kind == "folio-card folio-card-page"
        assert f"page {citation.page_number}</span>" in card
        assert "Found by the page&#x27;s image (no text passage)" in card
        assert "<mark>" not in card and "folio-passage" not in card
        thumb = library.page_image(citation.doc_id, citation.page, thumbnail=True)
        assert f'src="{served_url(thumb)}"' in card
    assert "**Page images:**" not in notices  # indexed: nothing to say about the index


def test_the_vision_index_notices_reach_the_chat(vision_settings):
    library = Library.open(vision_settings, embedder=HashingEmbedder())
    library.add([("orchard.pdf", make_pdf(APPLES))])
    pages = len(APPLES)
    assert chat.mode_notices(library, "en")[1] == (
        f"**Page images:** Vision index: 0/{pages} pages."  # a backlog, before indexing
    )
    assert (
        chat.mode_notices(library, "zh")[1] == f"**页面图像检索**：Vision index: 0/{pages} pages。"
    )
    library.vision.run()
    assert chat.mode_notices(library, "en") == [chat.t("notice_extractive", "en")]

    off = Library.open(
        vision_settings.model_copy(update={"vision_enabled": "off"}),
        workspace="other",
        embedder=HashingEmbedder(),
    )
    off.add([("orchard.pdf", make_pdf(APPLES))])
    assert chat.mode_notices(off, "en")[1] == (
        r"**Page images:** Vision index off \(FOLIO\_VISION\_ENABLED=off\)."
    )
    _, _, _, sources, gallery, _, notices = answered(off)
    assert r"Vision index off \(FOLIO\_VISION\_ENABLED=off\)" in notices
    assert "folio-overlay" not in sources and "folio-card-page" not in sources
    assert all("heatmaps" not in path for path, _ in gallery) and gallery


def test_a_page_card_renders_without_a_passage():
    card = fmt.SourceCard(
        number=2,
        doc_name="orchard.pdf",
        page_number=2,
        before="",
        cited="",
        after="",
        thumb_url="gradio_api/file=/p/thumb.png",
        image_url="gradio_api/file=/p/page.png",
        overlay_url="gradio_api/file=/h/heat.jpg",
        kind="page",
    )
    html = fmt.source_cards_html([card], "m1", "q", "zh")
    assert '<div class="folio-card folio-card-page" id="cite-m1-2">' in html
    assert '<p class="folio-by-image">通过页面图像找到（没有文本段落）</p>' in html
    assert "folio-passage" not in html and "<mark>" not in html
    assert '<span>在页面上的位置</span><img src="gradio_api/file=/h/heat.jpg"' in html
    assert '<img src="gradio_api/file=/p/thumb.png"' in html
