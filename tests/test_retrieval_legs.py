"""The section leg and pseudo-relevance feedback, end to end on a real library (real Chroma,
SQLite, generated PDFs; the hashing embedder, so the dense leg is deterministic)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag_core.config import Settings
from rag_core.library import Library
from rag_core.retrieve import retriever as retriever_module
from rag_core.types import Filters, SearchResult

from .fakes import HashingEmbedder
from .pdfs import make_pdf

HANDBOOK = [
    "Leave Policy\n\nStaff take twenty five days of paid leave a year. Unused days expire.",
    "Expenses\n\nMeals are refunded up to a daily limit. Taxis need a receipt.",
    "Equipment\n\nEach desk has two monitors. Chairs are replaced every five years.",
    "Travel Policy\n\nEconomy class is booked for journeys under six hours. Receipts are kept.",
    "Security Policy\n\nLaptops travel in hand luggage when staff travel abroad. Travel locks "
    "are issued for travel. Badges stay visible.",
]
MANUAL = [
    "Turbocharger inspection covers the compressor wheel and the bearing housing.",
    "Compressor wheel damage and bearing housing wear show as blue exhaust smoke.",
    "Apple harvest rose to 120 tonnes in 2020. The orchard hired six pickers.",
    "Pear trees suffered from frost in April. Pear output fell by half.",
    "Change the engine oil every 5000 kilometres. Use oil grade 5W-30.",
    "Tyres are rotated every spring. Winter tyres go on in November.",
]


def open_library(tmp_path: Path, name: str, pages: list[str], **settings: object) -> Library:
    folder = tmp_path / name
    library = Library.open(
        Settings(data_dir=folder / "data", db=folder / "feedback.db", **settings),
        embedder=HashingEmbedder(),
    )
    library.add([(f"{name}.pdf", make_pdf(pages))])
    return library


def leg(result: SearchResult, name: str):
    return next(t for t in result.trace.legs if t.leg == name)


def test_the_section_leg_finds_the_chunks_under_the_heading_a_question_names(tmp_path: Path):
    question = "What does the travel policy say?"
    # Without it the security page wins: "travel" four times in its text.
    plain = open_library(tmp_path, "plain", HANDBOOK, section_weight=0.0)
    result = plain.search(question, k=3)
    assert leg(result, "section").status == "off"
    assert result.hits[0].chunk.page == 4
    with_sections = open_library(tmp_path, "handbook", HANDBOOK)
    result = with_sections.search(question, k=3)
    section = leg(result, "section")
    assert (section.status, section.weight) == ("on", 0.25)
    best = with_sections.registry.ready_chunks([section.ranked[0][0]])
    assert [c.context for c, _ in best.values()] == ["handbook — Travel Policy"]
    assert result.hits[0].chunk.page == 3
    assert "section" in {lr.leg for lr in result.hits[0].legs}


def test_the_section_leg_is_empty_where_documents_have_no_headings(tmp_path: Path):
    library = open_library(tmp_path, "manual", MANUAL)
    result = library.search("turbocharger inspection", k=3)
    assert leg(result, "section").ranked == ()
    assert result.hits[0].chunk.page == 0


def dense_scores(library: Library, result: SearchResult) -> dict[int, float]:
    ranked = leg(result, "dense").ranked
    chunks = library.registry.ready_chunks([key for key, _ in ranked])
    return {chunks[key][0].page: score for key, score in ranked}


def test_feedback_teaches_the_dense_leg_what_the_top_results_are_about(tmp_path: Path):
    query = "turbocharger inspection"
    off = open_library(tmp_path, "off", MANUAL, feedback_chunks=0)
    on = open_library(tmp_path, "on", MANUAL, feedback_chunks=1, feedback_weight=0.5)
    before, after = off.search(query, k=6), on.search(query, k=6)
    assert "feedback" not in [t.stage for t in before.trace.timings]
    assert "feedback" in [t.stage for t in after.trace.timings]
    # Page 1 shares no word with the query, only with the top result (page 0): feedback
    # raises it in the dense leg, and more than any page unrelated to both.
    gain = {
        page: dense_scores(on, after)[page] - dense_scores(off, before)[page] for page in range(6)
    }
    assert gain[1] > 0.1
    assert gain[1] > max(gain[page] for page in (2, 3, 4, 5))
    assert [h.chunk.page for h in after.hits[:2]] == [0, 1]


def test_feedback_needs_another_leg_to_learn_from(tmp_path: Path):
    library = open_library(tmp_path, "dense", MANUAL)
    result = library.search("turbocharger inspection", k=3, legs=("dense",))
    assert "feedback" not in [t.stage for t in result.trace.timings]
    vector = library.embedder.embed_query(["turbocharger inspection"])[0]
    exact = library.retriever.snapshot().dense_search(vector, 3, [(0, 6)])
    ids = library.retriever.snapshot().ids
    assert [key for key, _ in leg(result, "dense").ranked[:3]] == [ids[row] for row, _ in exact]
    assert np.isclose(leg(result, "dense").ranked[0][1], exact[0][1], atol=1e-3)  # Chroma


class _SignallingEmbedder(HashingEmbedder):
    """Says when a query embedding has begun."""

    def __init__(self, began: threading.Event) -> None:
        super().__init__()
        self.began = began
        self.fail = False

    def embed_query(self, texts: Sequence[str]) -> np.ndarray:
        self.began.set()
        if self.fail:
            raise RuntimeError("the embedding server went away")
        return super().embed_query(texts)


def _waiting_rankings(
    monkeypatch: pytest.MonkeyPatch, began: threading.Event
) -> tuple[list[bool], list[str]]:
    """Lexical rankings that, in the caller's thread, wait (up to 5 s) for ``began``: what
    each wait saw, and the thread of every ranking."""
    rank = retriever_module.top_of_fields
    overlapped: list[bool] = []
    threads: list[str] = []

    def ranking(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread().name)
        if threading.current_thread() is threading.main_thread():
            overlapped.append(began.wait(timeout=5))
        return rank(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(retriever_module, "top_of_fields", ranking)
    return overlapped, threads


def test_the_query_is_embedded_while_bm25_scores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lexical ranking of a search waits (up to 5 s) for its query embedding to begin:
    a search that ranked first and embedded after would make it wait in vain."""
    began = threading.Event()
    embedder = _SignallingEmbedder(began)
    folder = tmp_path / "overlap"
    library = Library.open(
        Settings(data_dir=folder / "data", db=folder / "feedback.db"), embedder=embedder
    )
    library.add([("handbook.pdf", make_pdf(HANDBOOK))])
    overlapped, threads = _waiting_rankings(monkeypatch, began)
    began.clear()
    result = library.search("How many days of paid leave do staff take?", k=3, decompose=False)
    assert threads and all(overlapped)  # ranked only once the embedding began
    assert leg(result, "dense").status == "on"
    assert "twenty five days" in result.hits[0].chunk.text
    began.clear()
    embedder.fail = True  # an error in the embedding thread reaches the caller
    with pytest.raises(RuntimeError, match="embedding server went away"):
        library.search("Which class is booked for short journeys?", k=3, decompose=False)


def test_the_vector_store_is_searched_while_bm25_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unfiltered, the HNSW search of the query vector runs in the embedding thread: the
    lexical scoring waits (up to 5 s) for it to begin, and the dense leg uses what it found
    (one search, not two). Filtered, the dense leg scans the filters' rows exactly, as
    before; a vector store that fails there leaves an exact scan and a note."""
    folder = tmp_path / "overlap"
    # No feedback round: the dense leg's ranking is then the vector store's. Without an
    # exact scan below a size (``exact_dense_max`` 0), the store searches the whole library.
    settings = Settings(
        data_dir=folder / "data", db=folder / "feedback.db", feedback_chunks=0, exact_dense_max=0
    )
    library = Library.open(settings, embedder=HashingEmbedder())
    library.add([("handbook.pdf", make_pdf(HANDBOOK))])
    retriever = library.retriever
    store_query = retriever.chroma.query
    began = threading.Event()
    searches: list[int] = []
    broken = False

    def query(vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        searches.append(k)
        began.set()
        if broken:
            raise ConnectionError("the vector store went away")
        return store_query(vector, k)

    overlapped, threads = _waiting_rankings(monkeypatch, began)
    retriever.chroma.query = query  # type: ignore[method-assign]
    question = "How many days of paid leave do staff take?"
    result = library.search(question, k=3, decompose=False)
    assert threads and all(overlapped)
    assert len(searches) == 1
    dense = leg(result, "dense")
    assert dense.status == "on" and dense.note == ""
    vector = library.embedder.embed_query([question])[0]
    expected = store_query(vector, searches[0])
    assert [key for key, _ in dense.ranked] == [key for key, _ in expected]
    assert "twenty five days" in result.hits[0].chunk.text

    broken, overlapped[:], threads[:], searches[:] = True, [], [], []
    began.clear()
    result = library.search(question, k=3, decompose=False)
    assert threads and all(overlapped) and len(searches) == 1  # not asked twice
    dense = leg(result, "dense")
    assert "vector store unavailable (ConnectionError): exact search" in dense.note
    assert "twenty five days" in result.hits[0].chunk.text

    broken, searches[:] = False, []
    doc = library.documents()[0].id
    result = library.search(question, k=3, filters=Filters(doc_ids=(doc,)), decompose=False)
    assert searches == []  # the filters' rows, scanned exactly
    assert leg(result, "dense").status == "on"
    assert "twenty five days" in result.hits[0].chunk.text


def test_up_to_exact_dense_max_the_whole_library_is_scanned_exactly(tmp_path: Path) -> None:
    """A library of at most ``exact_dense_max`` vectors is searched by an exact scan of the
    snapshot, never by the vector store (whose HNSW candidates change from one process to
    the next): the dense leg's ranking is the brute-force cosine order of every chunk, and
    a library opened again ranks the same. Above the limit the store is asked."""
    folder = tmp_path / "exact"
    settings = Settings(data_dir=folder / "data", db=folder / "feedback.db", feedback_chunks=0)
    library = Library.open(settings, embedder=HashingEmbedder())
    library.add([("handbook.pdf", make_pdf(HANDBOOK))])
    retriever = library.retriever
    searches: list[int] = []
    store_query = retriever.chroma.query

    def query(vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        searches.append(k)
        return store_query(vector, k)

    retriever.chroma.query = query  # type: ignore[method-assign]
    question = "How many days of paid leave do staff take?"
    result = library.search(question, k=3, decompose=False)
    assert searches == []
    dense = leg(result, "dense")
    snapshot = retriever.snapshot()
    rows = [r for r in range(snapshot.size) if snapshot.dense[r]]
    vector = library.embedder.embed_query([question])[0].astype(np.float64)
    cosine = snapshot.vectors_of(np.array(rows)).astype(np.float64) @ vector
    ids = [snapshot.ids[r] for r in rows]
    brute = [ids[i] for i in np.lexsort((np.array(ids), -cosine))]  # equal scores by chunk id
    assert [key for key, _ in dense.ranked] == brute[: len(dense.ranked)]
    again = Library.open(settings, embedder=HashingEmbedder())
    assert leg(again.search(question, k=3, decompose=False), "dense").ranked == dense.ranked

    retriever.config = replace(retriever.config, exact_dense_max=len(rows) - 1)
    library.search(question, k=3, decompose=False)
    assert len(searches) == 1
