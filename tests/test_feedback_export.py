"""Thumbs-down answers to a pdfqa question set, read from a real SQLite feedback table."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rag_core.cli import main
from rag_core.config import Settings
from rag_core.errors import ConfigurationError, NotFoundError
from rag_core.eval_sets import load_pdfqa
from rag_core.feedback_export import (
    CitedPage,
    FeedbackRecord,
    RetrievedHit,
    evidence_pages,
    export_feedback,
    question_item,
    read_feedback,
)
from rag_core.library import Library

from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES, ENGINES

# The UI's table (branch ui, rag_core/feedback.py f001_feedback), as SQLite makes it.
FEEDBACK_TABLE = """CREATE TABLE feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, workspace TEXT NOT NULL, session_id TEXT NOT NULL,
    message_id TEXT NOT NULL, vote INTEGER NOT NULL, comment TEXT NOT NULL DEFAULT '',
    question TEXT NOT NULL, searched_query TEXT NOT NULL, rewrite TEXT NOT NULL DEFAULT 'none',
    answer TEXT NOT NULL, mode TEXT NOT NULL, model TEXT NOT NULL, refused BOOLEAN NOT NULL,
    evidence_found BOOLEAN NOT NULL DEFAULT TRUE, citations TEXT NOT NULL DEFAULT '[]',
    hits TEXT NOT NULL DEFAULT '[]', legs TEXT NOT NULL DEFAULT '[]',
    timings TEXT NOT NULL DEFAULT '[]', doc_filter TEXT NOT NULL DEFAULT '[]',
    notes TEXT NOT NULL DEFAULT '[]', language TEXT NOT NULL DEFAULT '',
    asked_at TIMESTAMP NOT NULL, created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL,
    CONSTRAINT feedback_message UNIQUE (workspace, session_id, message_id))"""

T1 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
T2 = datetime(2025, 3, 1, 9, 45, tzinfo=UTC)

ORCHARD_HIT = {
    "rank": 1,
    "chunk_id": "c1",
    "doc_id": "d1",
    "doc_name": "orchard.pdf",
    "page": 2,
    "score": 0.03,
    "legs": [{"leg": "bm25", "rank": 1, "score": 7.1}, {"leg": "dense", "rank": 3, "score": 0.4}],
    "text": "Pear trees suffered from frost in April.",
}
ORCHARD_CITATION = {
    "number": 1,
    "chunk_id": "c1",
    "doc_id": "d1",
    "doc_name": "orchard.pdf",
    "page": 2,
    "cited_text": "Pear trees suffered from frost in April.",
    "start": 0,
    "end": 40,
}


def write_feedback_db(path: Path) -> None:
    rows = [
        # (workspace, session, message, vote, comment, question, answer, citations, hits, time)
        ("default", "s1", "m1", -1, "wrong month", "When was the frost?",
         "Frost in April.[1]", [ORCHARD_CITATION], [ORCHARD_HIT], T1),
        ("default", "s1", "m2", 1, "", "Oil interval?", "Every 5000 km.[1]", [], [], T1),
        ("default", "s2", "m1", -1, "", "Who won the 1998 cup?",
         "Not found in your documents.", [], [ORCHARD_HIT], T2),
        ("other", "s3", "m1", -1, "", "Elsewhere?", "No.", [], [], T2),
    ]  # fmt: skip
    with sqlite3.connect(path) as conn:
        conn.execute(FEEDBACK_TABLE)
        for ws, session, message, vote, comment, q, a, cites, hits, when in rows:
            conn.execute(
                "INSERT INTO feedback (workspace, session_id, message_id, vote, comment, "
                "question, searched_query, answer, mode, model, refused, citations, hits, "
                "asked_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (ws, session, message, vote, comment, q, q.lower(), a, "claude",
                 "claude-sonnet-4-5", a.startswith("Not found"), json.dumps(cites),
                 json.dumps(hits), when.isoformat(), when.isoformat(), when.isoformat()),
            )  # fmt: skip


def record(**changes) -> FeedbackRecord:
    values = {
        "question": "When was the frost?",
        "searched_query": "when was the frost?",
        "answer": "Frost in April.[1]",
        "citations": (CitedPage("orchard.pdf", 2),),
        "hits": (RetrievedHit("orchard.pdf", 2, 1, (("bm25", 1), ("dense", 3))),),
        "mode": "claude",
        "model": "claude-sonnet-4-5",
        "vote": -1,
        "comment": "wrong month",
        "created_at": T1,
        "session": "s1",
    }
    return FeedbackRecord(**{**values, **changes})


def test_read_feedback_maps_the_table_rows(tmp_path):
    db = tmp_path / "feedback.db"
    write_feedback_db(db)
    records = read_feedback(f"sqlite:///{db}", "default")
    assert records == [
        record(),
        record(
            question="Who won the 1998 cup?",
            searched_query="who won the 1998 cup?",
            answer="Not found in your documents.",
            citations=(),
            comment="",
            created_at=T2,
            session="s2",
        ),
    ]


def test_a_question_item_in_pdfqa_form():
    assert question_item(record()) == {
        "id": question_item(record())["id"],
        "question": "When was the frost?",
        "answer": "",
        "doc": "orchard",
        "pages": [2],
        "answerable": None,
        "type": "feedback",
        "given_answer": "Frost in April.[1]",
        "comment": "wrong month",
        "trace": {
            "searched_query": "when was the frost?",
            "mode": "claude",
            "model": "claude-sonnet-4-5",
            "vote": -1,
            "created_at": "2025-03-01T09:30:00+00:00",
            "session": "s1",
            "pages_from": "citations",
            "citations": [{"doc": "orchard.pdf", "page": 2}],
            "hits": [{"doc": "orchard.pdf", "page": 2, "rank": 1, "legs": {"bm25": 1, "dense": 3}}],
        },
    }
    assert question_item(record())["id"].startswith("feedback-")


def test_evidence_pages_prefer_the_most_cited_document():
    cited = record(
        citations=(
            CitedPage("a.pdf", 4),
            CitedPage("b.pdf", 1),
            CitedPage("b.pdf", 0),
            CitedPage("b.pdf", 1),
        )
    )
    assert evidence_pages(cited) == ("b.pdf", (0, 1), "citations")
    retrieved = record(
        citations=(), hits=(RetrievedHit("c.pdf", 7, 2), RetrievedHit("c.pdf", 3, 1))
    )
    assert evidence_pages(retrieved) == ("c.pdf", (3, 7), "retrieved")
    assert evidence_pages(record(citations=(), hits=())) == ("", (), "none")


def test_export_keeps_thumbs_down_merges_repeats_and_copies_pdfs(tmp_path):
    pdf = tmp_path / "stored-orchard.pdf"
    pdf.write_bytes(make_pdf(APPLES))
    records = [
        record(),
        record(created_at=T2, comment="still wrong"),  # the same answer rated down again
        record(vote=1, question="Liked?"),
        record(question="Engine?", citations=(CitedPage("engine.pdf", 0),), hits=()),
    ]
    out = tmp_path / "set"
    report = export_feedback(records, out, lambda name: pdf if name == "orchard.pdf" else None)
    assert (report.exported, report.duplicates) == (2, 1)
    assert (report.pdfs_copied, report.pdfs_missing) == (("orchard.pdf",), ("engine.pdf",))
    lines = [json.loads(line) for line in report.questions.read_text().splitlines()]
    assert [(q["question"], q["comment"]) for q in lines] == [
        ("When was the frost?", "still wrong"),
        ("Engine?", "wrong month"),
    ]
    assert "not found in the library: engine.pdf" in (out / "README.md").read_text()
    # The folder is a pdfqa set: the question with its PDF present loads and can be re-run.
    loaded = load_pdfqa(out)
    assert [(q.question, q.doc, q.pages, q.type) for q in loaded.questions] == [
        ("When was the frost?", "orchard", (2,), "feedback")
    ]


def test_missing_or_foreign_tables_are_named(tmp_path):
    with pytest.raises(NotFoundError, match="No feedback database"):
        read_feedback(f"sqlite:///{tmp_path / 'none.db'}", "default")
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE feedback (id INTEGER, rating TEXT)")
    with pytest.raises(ConfigurationError, match="FEEDBACK_QUERY"):
        read_feedback(f"sqlite:///{db}", "default")


def test_export_feedback_command(tmp_path, monkeypatch):
    db = tmp_path / "feedback.db"
    write_feedback_db(db)
    settings = Settings(data_dir=tmp_path / "lib", db=db)
    library = Library.open(settings, embedder=HashingEmbedder())
    orchard = make_pdf(APPLES)
    library.add([("orchard.pdf", orchard), ("engine.pdf", make_pdf(ENGINES))])
    monkeypatch.setenv("FOLIO_DATA_DIR", str(tmp_path / "lib"))
    monkeypatch.setenv("FOLIO_DB", str(db))
    out, err = io.StringIO(), io.StringIO()
    code = main(["export-feedback", "--out", str(tmp_path / "set")], out=out, err=err)
    assert code == 0, err.getvalue()
    assert out.getvalue().splitlines() == [
        f"exported 2 thumbs-down answers to {tmp_path / 'set' / 'questions.jsonl'} "
        "(0 repeated ratings merged)",
        f"copied 1 PDFs to {tmp_path / 'set' / 'pdfs'}",
    ]
    assert (tmp_path / "set" / "pdfs" / "orchard.pdf").read_bytes() == orchard
    assert [q.id for q in load_pdfqa(tmp_path / "set").questions] == [
        json.loads(line)["id"]
        for line in (tmp_path / "set" / "questions.jsonl").read_text().splitlines()
    ]
