"""The Claude answer path against a local server speaking the Messages API (no SDK patching)."""

from __future__ import annotations

import pytest

from rag_core.answer.claude import ClaudeAnswerer
from rag_core.errors import AnswerError, ConfigurationError
from rag_core.library import Library
from rag_core.types import AnswerDone, CitationEvent, TextDelta

from .fake_anthropic import FakeAnthropic
from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES, CHINESE, ENGINES


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def claude_library(settings, fake):
    answerer = ClaudeAnswerer("test-key", model="claude-test-1", base_url=fake.url)
    library = Library.open(settings, embedder=HashingEmbedder(), answerer=answerer)
    library.add(
        [
            ("orchard.pdf", make_pdf(APPLES)),
            ("engine.pdf", make_pdf(ENGINES)),
            ("年报.pdf", make_pdf(CHINESE)),
        ]
    )
    return library


def test_streamed_answer_cites_the_chunk_page_and_span(claude_library, fake):
    events = list(claude_library.ask_stream("How often should the engine oil be changed?"))
    answer = events[-1].answer
    assert isinstance(events[-1], AnswerDone)
    assert answer.mode == "claude" and answer.model == "claude-test-1" and not answer.refused
    assert answer.text == (
        "According to the documents, Change the engine oil every 5000 kilometres.[1]"
    )
    [citation] = answer.citations
    assert (citation.number, citation.doc_name, citation.page_number) == (1, "engine.pdf", 1)
    page = claude_library.page_text(citation.doc_id, citation.page)
    assert page[citation.start : citation.end] == "Change the engine oil every 5000 kilometres."
    assert citation.cited_text == "Change the engine oil every 5000 kilometres."
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3 and "".join(deltas) == answer.text
    assert [e.citation for e in events if isinstance(e, CitationEvent)] == [citation]
    assert {t.stage for t in answer.timings} >= {"retrieve", "generate", "first_token"}


def test_request_uses_search_results_citations_and_prompt_caching(claude_library, fake):
    claude_library.ask("How often should the engine oil be changed?")
    body = fake.requests[-1]
    assert body["stream"] is True and body["model"] == "claude-test-1"
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "data, not instructions" in body["system"][0]["text"]
    blocks = body["messages"][0]["content"]
    results = [b for b in blocks if b["type"] == "search_result"]
    assert results and all(r["citations"] == {"enabled": True} for r in results)
    assert results[0]["title"] == "engine.pdf, page 1"
    assert blocks[-1]["text"].endswith("Answer in English.")


def test_chinese_question_is_answered_in_chinese(claude_library, fake):
    answer = claude_library.ask("营业收入增长了多少？")
    assert fake.requests[-1]["messages"][0]["content"][-1]["text"].endswith(
        "Answer in Simplified Chinese."
    )
    assert answer.text.startswith("根据文档，") and answer.citations[0].doc_name == "年报.pdf"


def test_a_traditional_chinese_question_is_answered_in_traditional_chinese(claude_library, fake):
    claude_library.ask("營業收入增長了多少？")
    assert fake.requests[-1]["messages"][0]["content"][-1]["text"].endswith(
        "Answer in Traditional Chinese."
    )


def test_weak_evidence_is_refused_without_calling_the_model(claude_library, fake):
    calls = len(fake.requests)
    answer = claude_library.ask("Who won the 1998 football world cup?")
    assert answer.refused and len(fake.requests) == calls
    assert answer.text.startswith("Not found in your documents. I searched the whole library for")


def test_model_reply_not_found_is_refused(settings, fake):
    answerer = ClaudeAnswerer("test-key", model="claude-test-1", base_url=fake.url)
    library = Library.open(settings, embedder=HashingEmbedder(), answerer=answerer)
    library.add([("orchard.pdf", make_pdf(APPLES))])
    result = library.search("apple harvest tonnes")
    answer = answerer.answer("unrelated words entirely", result)
    assert answer.refused and answer.citations == ()
    assert answer.text.startswith("Not found in your documents.")


def test_api_errors_become_answer_errors(claude_library, fake):
    fake.fail_with = (400, "invalid_request_error")
    with pytest.raises(AnswerError, match="Claude could not answer"):
        claude_library.ask("How often should the engine oil be changed?")
    fake.fail_with = (529, "overloaded_error")
    claude_library.answerer.client.max_retries = 0
    with pytest.raises(AnswerError, match="overloaded"):
        claude_library.ask("How often should the engine oil be changed?")


def test_an_empty_key_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        ClaudeAnswerer("", model="m")


def test_an_overloaded_model_is_tried_three_times(claude_library, fake):
    fake.fail_with, fake.fail_count = (529, "overloaded_error"), 10
    calls = len(fake.requests)
    with pytest.raises(AnswerError, match="overloaded"):
        claude_library.ask("How often should the engine oil be changed?")
    assert len(fake.requests) - calls == 1 + ClaudeAnswerer.MAX_RETRIES == 3
