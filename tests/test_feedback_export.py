"""Thumbs-down answers, rated through the real feedback store, exported as a pdfqa set."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from rag_core.cli.commands import main
from rag_core.errors import NotFoundError
from rag_core.eval.sets import load_pdfqa
from rag_core.feedback.export import evidence_pages, export_feedback, question_item, read_feedback
from rag_core.feedback.store import FeedbackStore, RatedHit, Rating
from rag_core.library import Library
from rag_core.types import Citation, LegRank

from .pdfs import make_pdf
from .test_library import APPLES, ENGINES

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def rated(library: Library, settings) -> tuple[Library, bytes]:
    """Two answers rated down, one up, one down in another workspace."""
    orchard = make_pdf(APPLES)
    library.add([("orchard.pdf", orchard), ("engine.pdf", make_pdf(ENGINES))])
    frost = library.ask("When did the pear trees suffer frost?")
    oil = library.ask("How often should the engine oil be changed?")
    cup = library.ask("Who won the 1998 football world cup?")
    assert frost.citations and cup.refused
    store = FeedbackStore.open(settings.feedback_url)
    store.rate(Rating("s1", "m1", -1, frost, T0, comment="wrong month"))
    store.rate(Rating("s1", "m2", 1, oil, T0))
    store.rate(Rating("s2", "m1", -1, cup, T0 + timedelta(minutes=15)))
    FeedbackStore.open(settings.feedback_url, workspace="other").rate(
        Rating("s3", "m1", -1, oil, T0)
    )
    return library, orchard


def test_read_feedback_returns_the_workspaces_thumbs_down(rated, settings):
    records = read_feedback(settings.feedback_url, "default")
    assert [(r.session_id, r.question, r.comment, r.vote) for r in records] == [
        ("s1", "When did the pear trees suffer frost?", "wrong month", -1),
        ("s2", "Who won the 1998 football world cup?", "", -1),
    ]
    with pytest.raises(NotFoundError, match="No feedback database"):
        read_feedback(f"sqlite:///{settings.data_dir / 'none.db'}", "default")


def test_a_question_item_in_pdfqa_form(rated, settings):
    frost = read_feedback(settings.feedback_url, "default")[0]
    item = question_item(frost)
    assert item["id"].startswith("feedback-")
    assert {k: item[k] for k in ("question", "answer", "doc", "pages", "answerable", "type")} == {
        "question": "When did the pear trees suffer frost?",
        "answer": "",
        "doc": "orchard",
        "pages": [2],
        "answerable": None,
        "type": "feedback",
    }
    assert item["given_answer"] == frost.answer and item["comment"] == "wrong month"
    trace = item["trace"]
    assert (trace["mode"], trace["vote"], trace["session"], trace["pages_from"]) == (
        "extractive",
        -1,
        "s1",
        "citations",
    )
    assert trace["citations"][0] == {"doc": "orchard.pdf", "page": 2}
    assert trace["hits"][0]["legs"] == {lr.leg: lr.rank for lr in frost.hits[0].legs}


def test_evidence_pages_prefer_the_most_cited_document(rated, settings):
    base = read_feedback(settings.feedback_url, "default")[0]

    def cite(doc: str, page: int) -> Citation:
        return Citation(1, "c", "d", doc, page, "x", 0, 1)

    def hit(doc: str, page: int, rank: int) -> RatedHit:
        return RatedHit(rank, "c", "d", doc, page, 0.1, (LegRank("bm25", rank, 1.0),), "x")

    cited = replace(base, citations=(cite("a.pdf", 4), cite("b.pdf", 1), cite("b.pdf", 0)))
    assert evidence_pages(cited) == ("b.pdf", (0, 1), "citations")
    retrieved = replace(base, citations=(), hits=(hit("c.pdf", 7, 2), hit("c.pdf", 3, 1)))
    assert evidence_pages(retrieved) == ("c.pdf", (3, 7), "retrieved")
    assert evidence_pages(replace(base, citations=(), hits=())) == ("", (), "none")


def test_export_keeps_thumbs_down_merges_repeats_and_copies_pdfs(rated, settings, tmp_path):
    _, orchard = rated
    records = read_feedback(settings.feedback_url, "default")
    later = records[0].created_at + timedelta(hours=1)
    again = replace(records[0], created_at=later, comment="still wrong")  # rated down again
    stored = tmp_path / "stored.pdf"
    stored.write_bytes(orchard)
    out = tmp_path / "set"
    report = export_feedback(
        [*records, again], out, lambda name: stored if name == "orchard.pdf" else None
    )
    assert (report.exported, report.duplicates) == (2, 1)
    assert report.pdfs_copied == ("orchard.pdf",)
    lines = [json.loads(line) for line in report.questions.read_text().splitlines()]
    assert [(q["question"], q["comment"]) for q in lines] == [
        ("When did the pear trees suffer frost?", "still wrong"),
        ("Who won the 1998 football world cup?", ""),
    ]
    loaded = load_pdfqa(out)  # the folder is a pdfqa set: the question with its PDF loads
    assert [(q.doc, q.pages, q.type) for q in loaded.questions] == [("orchard", (2,), "feedback")]


def test_export_feedback_command(rated, settings, tmp_path, monkeypatch):
    _, orchard = rated
    monkeypatch.setenv("FOLIO_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FOLIO_DB", str(settings.db))
    monkeypatch.setenv("FOLIO_EMBED_MODEL", "test-hashing-embedder")
    out, err = io.StringIO(), io.StringIO()
    code = main(["export-feedback", "--out", str(tmp_path / "set")], out=out, err=err)
    assert code == 0, err.getvalue()
    assert out.getvalue().splitlines()[0] == (
        f"exported 2 thumbs-down answers to {tmp_path / 'set' / 'questions.jsonl'} "
        "(0 repeated ratings merged)"
    )
    assert (tmp_path / "set" / "pdfs" / "orchard.pdf").read_bytes() == orchard
