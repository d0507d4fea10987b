"""The answer cache (issue 17): a question asked again over an unchanged library, with the
same filters and answerer, is answered from it; any change, another filter or a follow-up's
rewrite is not. Through ``Library`` and through the real API (``/metrics`` counts)."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from rag_core.answer.cache import AnswerCache, answer_key
from rag_core.config import Settings
from rag_core.library import Library
from rag_core.types import (
    Answer,
    AnswerDone,
    CitationEvent,
    Filters,
    RetrievalTrace,
    TextDelta,
)

from .api_helpers import build_api, pdf_file, sse_events, upload
from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES, ENGINES

QUESTION = "How often change engine oil?"
WHO = ("ExtractiveAnswerer", "extractive", "extractive")


def test_the_key_collapses_whitespace_and_refuses_follow_up_rewrites():
    key = answer_key(3, " How often  change\nengine oil? ", None, None, WHO)
    assert key == answer_key(3, QUESTION, Filters(), QUESTION, WHO)
    assert key != answer_key(4, QUESTION, None, None, WHO)
    assert key != answer_key(3, QUESTION, Filters(years=(2020,)), None, WHO)
    assert key != answer_key(3, QUESTION, None, None, ("ClaudeAnswerer", "claude", "sonnet"))
    assert answer_key(3, "and in 2019?", None, "engine oil interval 2019", WHO) is None


def _answer(question: str) -> Answer:
    trace = RetrievalTrace(question, question, Filters(), (), (), ())
    return Answer(question, question, (), "extractive", "extractive", False, (), trace)


def test_the_cache_is_bounded_and_a_newer_generation_empties_it():
    cache = AnswerCache(2)
    answers = {q: _answer(q) for q in ("a", "b", "c")}
    keys = {q: answer_key(1, q, None, None, WHO) for q in answers}
    for q, answer in answers.items():
        cache.put(keys[q], answer)  # type: ignore[arg-type]
    assert len(cache) == 2 and cache.get(keys["a"]) is None  # type: ignore[arg-type]
    assert cache.get(keys["c"]) == answers["c"]  # type: ignore[arg-type]
    newer = answer_key(2, "d", None, None, WHO)
    cache.put(newer, answers["a"])  # type: ignore[arg-type]
    assert len(cache) == 1
    cache.put(keys["b"], answers["b"])  # type: ignore[arg-type]  # computed before the change
    assert len(cache) == 1 and (cache.hits, cache.misses) == (1, 1)


def test_a_question_asked_again_is_answered_from_the_cache(
    library: Library, embedder: HashingEmbedder
):
    library.add([("engine.pdf", make_pdf(ENGINES))])
    cache = library.answer_cache
    assert cache is not None
    first = list(library.ask_stream(QUESTION))
    embedder.calls.clear()
    again = list(library.ask_stream(" How often change engine oil? "))
    assert (cache.hits, cache.misses) == (1, 1) and embedder.calls == []
    a, b = first[-1].answer, again[-1].answer  # type: ignore[union-attr]
    assert (b.text, b.citations, b.sentences, b.evidence_score) == (
        a.text,
        a.citations,
        a.sentences,
        a.evidence_score,
    )
    assert [t.stage for t in b.timings] == ["cache"]
    # The same kinds of events: text, then one citation event per citation, then done.
    assert (
        {type(e) for e in again}
        == {type(e) for e in first}
        == {
            TextDelta,
            CitationEvent,
            AnswerDone,
        }
    )
    assert "".join(e.text for e in again if isinstance(e, TextDelta)) == b.text
    assert [e.citation for e in again if isinstance(e, CitationEvent)] == list(b.citations)


def test_the_same_question_asked_while_it_is_answered_waits_for_that_answer(
    library: Library, embedder: HashingEmbedder
):
    # After an upload empties the cache, everyone asking the same question at once got a
    # computation of their own (bench/load.py's tail); now the first computes, the others wait.
    library.add([("engine.pdf", make_pdf(ENGINES))])
    cache = library.answer_cache
    assert cache is not None
    key = library.answer_key(QUESTION, None, None)
    assert key is not None
    assert cache.join(key, timeout=0) == (None, True)  # another request is computing it
    got: list[Answer] = []
    thread = threading.Thread(target=lambda: got.append(library.ask(QUESTION)))
    embedder.calls.clear()
    thread.start()
    thread.join(timeout=0.5)
    assert thread.is_alive() and got == []  # waiting for that answer, not computing its own
    computed = _answer("the answer being computed")
    cache.release(key, computed)  # not cached (say the library changed meanwhile): handed on
    thread.join(timeout=30)
    assert [a.text for a in got] == [computed.text] and embedder.calls == []
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 0)

    # When the first request fails (nothing cached), the one waiting computes the answer.
    library.add([("orchard.pdf", make_pdf(APPLES))])
    key = library.answer_key(QUESTION, None, None)
    assert key is not None and cache.join(key, timeout=0) == (None, True)
    thread = threading.Thread(target=lambda: got.append(library.ask(QUESTION)))
    thread.start()
    cache.release(key, None)
    thread.join(timeout=60)
    assert len(got) == 2 and got[1].citations and got[1].text != computed.text
    assert len(cache) == 1  # and cached its answer for the next one


def test_a_change_another_filter_or_a_follow_up_is_not_served_from_the_cache(
    library: Library,
):
    engine = library.add([("engine.pdf", make_pdf(ENGINES))]).results[0].doc_id
    cache = library.answer_cache
    assert cache is not None
    library.ask(QUESTION)
    orchard = library.add([("orchard.pdf", make_pdf(APPLES))]).results[0].doc_id
    library.ask(QUESTION)
    assert (cache.hits, cache.misses) == (0, 2)  # the upload changed the library
    library.ask(QUESTION, Filters(doc_ids=(engine,)))
    library.ask(QUESTION, Filters(doc_ids=(orchard,)))
    assert (cache.hits, cache.misses) == (0, 4)
    library.ask(QUESTION, Filters(doc_ids=(engine,)))
    assert cache.hits == 1
    follow_up = library.ask("and how often the tyres?", searched_query="engine oil tyres")
    library.ask("and how often the tyres?", searched_query="engine oil tyres")
    assert (cache.hits, cache.misses, cache.skipped) == (1, 4, 2)
    assert follow_up.trace.searched_query == "engine oil tyres"
    library.remove(orchard)
    library.ask(QUESTION, Filters(doc_ids=(engine,)))
    assert (cache.hits, cache.misses) == (1, 5)  # the removal changed it too


def test_a_change_made_by_another_process_is_seen(settings: Settings):
    reader = Library.open(settings, embedder=HashingEmbedder())
    writer = Library.open(settings, embedder=HashingEmbedder())  # shares the registry
    writer.add([("engine.pdf", make_pdf(ENGINES))])
    reader.ask(QUESTION)
    reader.ask(QUESTION)
    assert reader.answer_cache is not None and reader.answer_cache.hits == 1
    writer.add([("orchard.pdf", make_pdf(APPLES))])
    reader.ask(QUESTION)
    assert (reader.answer_cache.hits, reader.answer_cache.misses) == (1, 2)


def test_the_cache_can_be_turned_off(settings: Settings):
    library = Library.open(
        settings.model_copy(update={"answer_cache": 0}), embedder=HashingEmbedder()
    )
    assert library.answer_cache is None
    library.add([("engine.pdf", make_pdf(ENGINES))])
    assert library.ask(QUESTION).text == library.ask(QUESTION).text


def test_the_api_serves_repeated_questions_from_the_cache_and_counts_them(settings: Settings):
    app, _workspaces, _keys = build_api(settings)
    with TestClient(app) as client:
        upload(client, [pdf_file("engine.pdf", ENGINES)])
        first = client.post("/api/v1/query", json={"question": QUESTION}).json()
        with client.stream(
            "POST", "/api/v1/query", json={"question": QUESTION, "stream": True}
        ) as response:
            events = list(sse_events(response.iter_lines()))
        kinds = [name for name, _ in events]
        assert kinds[0] == "delta" and kinds[-1] == "done" and "citation" in kinds
        done = events[-1][1]
        assert done["answer"] == first["answer"] and done["answer_id"] != first["answer_id"]
        text = client.get("/metrics").text
        assert 'folio_answer_cache_total{outcome="hit",workspace="default"} 1.0' in text
        assert 'folio_answer_cache_total{outcome="miss",workspace="default"} 1.0' in text
        upload(client, [pdf_file("orchard.pdf", APPLES)])
        client.post("/api/v1/query", json={"question": QUESTION})
        text = client.get("/metrics").text
        assert 'folio_answer_cache_total{outcome="miss",workspace="default"} 2.0' in text
