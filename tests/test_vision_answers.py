"""Pages found only by their image reach the answer: as images for Claude, as pointers
("see page N of X") for the extractive answerer, which cannot read them."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from rag_core.answer.claude import ClaudeAnswerer
from rag_core.library import Library

from .fake_anthropic import FakeAnthropic
from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES

IMAGE_PAGE = 1  # APPLES[1] has no text layer


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


def indexed(library: Library) -> Library:
    library.add([("orchard.pdf", make_pdf(APPLES))])
    library.vision.run()
    return library


def test_extractive_answer_points_to_pages_found_by_image(vision_settings):
    library = indexed(Library.open(vision_settings, embedder=HashingEmbedder()))
    answer = library.ask("How many tonnes of apples were harvested in 2020?")
    assert not answer.refused
    text_citations = [c for c in answer.citations if c.kind == "text"]
    page_citations = [c for c in answer.citations if c.kind == "page"]
    assert text_citations and text_citations[0].cited_text.startswith("Apple harvest rose")
    covered = {(h.chunk.doc_id, h.chunk.page) for h in answer.hits}
    assert page_citations and all((c.doc_id, c.page) not in covered for c in page_citations)
    assert any(c.page == IMAGE_PAGE for c in page_citations)
    for c in page_citations:
        assert (c.chunk_id, c.cited_text, c.start, c.end) == ("", "", 0, 0)
        assert f"see page {c.page_number} of orchard.pdf [{c.number}]" in answer.text
    assert "Pages found by their image, which Folio cannot read without a language model" in (
        answer.text
    )
    assert [c.number for c in answer.citations] == list(range(1, len(answer.citations) + 1))


def test_extractive_refusal_still_points_to_pages_found_by_image(vision_settings):
    library = indexed(Library.open(vision_settings, embedder=HashingEmbedder()))
    answer = library.ask("Who won the 1998 football world cup?")
    assert answer.refused and answer.text.startswith("Not found in your documents.")
    assert answer.citations and {c.kind for c in answer.citations} == {"page"}
    assert "see page" in answer.text


def test_at_most_the_configured_number_of_pages_and_none_when_disabled(vision_settings):
    settings = vision_settings.model_copy(update={"vision_answer_pages": 0})
    library = indexed(Library.open(settings, embedder=HashingEmbedder()))
    answer = library.ask("How many tonnes of apples were harvested in 2020?")
    assert {c.kind for c in answer.citations} == {"text"} and "see page" not in answer.text


def claude_library(settings, fake) -> Library:
    answerer = ClaudeAnswerer("test-key", model="claude-test-1", base_url=fake.url)
    return indexed(Library.open(settings, embedder=HashingEmbedder(), answerer=answerer))


def test_claude_gets_visual_pages_as_labelled_images(vision_settings, fake):
    library = claude_library(vision_settings, fake)
    answer = library.ask("How many tonnes of apples were harvested in 2020?")
    content = fake.requests[-1]["messages"][0]["content"]
    kinds = [b["type"] for b in content]
    assert kinds[0] == "search_result" and kinds[-1] == "text"
    images = [i for i, b in enumerate(content) if b["type"] == "image"]
    assert images
    for number, index in enumerate(images, start=1):
        label = content[index - 1]["text"]
        assert label.startswith(f"Page image P{number}: orchard.pdf, page ")
        source = content[index]["source"]
        assert (source["type"], source["media_type"]) == ("base64", "image/jpeg")
        with Image.open(io.BytesIO(base64.b64decode(source["data"]))) as picture:
            assert max(picture.size) <= 1568 and picture.format == "JPEG"
    assert "write its marker, for example [P1]" in content[-1]["text"]
    labelled = [content[i - 1]["text"] for i in images]
    assert any(t.endswith(f"page {IMAGE_PAGE + 1}") for t in labelled)
    # The text answer keeps its citation mapping.
    assert answer.citations[0].kind == "text"
    assert answer.citations[0].cited_text == "Apple harvest rose to 120 tonnes in 2020."


def test_claude_answer_from_a_page_image_cites_the_page(vision_settings, fake):
    library = claude_library(vision_settings, fake)
    events = list(library.ask_stream("Describe the blue square drawing"))
    answer = events[-1].answer
    assert not answer.refused and answer.mode == "claude"
    [citation] = answer.citations
    assert citation.kind == "page" and citation.doc_name == "orchard.pdf"
    assert answer.text == "The page image shows the answer [1]."
    body = fake.requests[-1]["messages"][0]["content"]
    first_label = next(b["text"] for b in body if b["type"] == "text")
    assert first_label.startswith(f"Page image P1: orchard.pdf, page {citation.page_number}")


def test_without_vision_the_claude_request_is_unchanged(settings, fake):
    answerer = ClaudeAnswerer("test-key", model="claude-test-1", base_url=fake.url)
    library = Library.open(settings, embedder=HashingEmbedder(), answerer=answerer)
    library.add([("orchard.pdf", make_pdf(APPLES))])
    library.ask("How many tonnes of apples were harvested in 2020?")
    content = fake.requests[-1]["messages"][0]["content"]
    assert [b["type"] for b in content][-1] == "text"
    assert not any(b["type"] == "image" for b in content)
    assert "[P1]" not in content[-1]["text"]
