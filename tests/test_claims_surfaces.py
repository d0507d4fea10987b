"""Where the claim labels show: the chat (marks and legend), the trace, the HTTP API,
``ask --json``, the feedback rows and the analytics of dislikes by support."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from rag_core.answer.claude import ClaudeAnswerer
from rag_core.answer.conversation import RuleRewriter
from rag_core.cli.commands import main
from rag_core.feedback import analytics as fa
from rag_core.feedback.store import MIGRATIONS, FeedbackStore, Rating
from rag_core.library import Library
from rag_core.store.database import apply_migrations, create_engine
from rag_core.types import SentenceCheck
from ui import analytics, chat
from ui import formatting as fmt

from .api_helpers import build_api, pdf_file, sse_events, upload
from .fake_anthropic import FakeAnthropic
from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES, ENGINES

FABRICATED = "The orchard also exported 900 tonnes of pears to Mars."
OIL = "How often should the engine oil be changed?"
TRUE_SENTENCE = "According to the documents, Change the engine oil every 5000 kilometres."


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def claude_library(settings, fake) -> Library:
    answerer = ClaudeAnswerer("test-key", model="claude-test-1", base_url=fake.url)
    library = Library.open(settings, embedder=HashingEmbedder(), answerer=answerer)
    library.add([("orchard.pdf", make_pdf(APPLES)), ("engine.pdf", make_pdf(ENGINES))])
    return library


# The chat --------------------------------------------------------------------------------
def test_flagged_sentences_are_marked_escaped_and_explained():
    text = "Rebuilt in 1987. [1] Painted <b>purple</b>.[1]\n- Cost 5 million [2]."
    sentences = (
        SentenceCheck("Rebuilt in 1987.", (1,), "supported", "", 0, 20),
        SentenceCheck("Painted <b>purple</b>.", (1,), "unsupported", "", 21, 46),
        SentenceCheck("Cost 5 million.", (2,), "partial", "", 47, 68),
    )
    titles = {1: "t.pdf, page 1", 2: "u.pdf, page 2"}
    assert fmt.answer_markdown(text, "m1", titles, sentences, "en") == (
        'Rebuilt in 1987. [[1]](#cite-m1-1 "t.pdf, page 1") '
        '<span class="folio-claim folio-claim-unsupported" '
        'title="Not supported by the passages it cites">Painted &lt;b&gt;purple&lt;/b&gt;.'
        '[[1]](#cite-m1-1 "t.pdf, page 1")<sup class="folio-claim-mark">⚠</sup></span>\n'
        '- <span class="folio-claim folio-claim-partial" '
        'title="Only partly supported by the passages it cites">Cost 5 million '
        '[[2]](#cite-m1-2 "u.pdf, page 2").<sup class="folio-claim-mark">◐</sup></span>'
        '\n\n<span class="folio-claim-legend">'
        "⚠ not supported by its cited passages · ◐ only partly supported</span>"
    )
    legend = fmt.answer_markdown(text, "m1", titles, sentences, "zh").rsplit("\n", 1)[1]
    assert legend == '<span class="folio-claim-legend">⚠ 所引用的段落不支持 · ◐ 只部分支持</span>'
    # All supported, or not checked: the answer as before, no legend.
    assert fmt.answer_markdown(text, "m1", titles, sentences[:1]) == fmt.answer_markdown(
        text, "m1", titles
    )
    # A table row keeps its cells: no tag goes inside it.
    row = (SentenceCheck("| Sales | 5 |", (), "unsupported", "", 0, 13),)
    assert fmt.answer_markdown("| Sales | 5 |", "m1", {}, row) == "| Sales | 5 |"


def test_the_chat_marks_an_unsupported_claim_and_lists_every_label_in_the_trace(
    claude_library, fake
):
    fake.additions.append(FABRICATED)
    updates = list(chat.respond(claude_library, RuleRewriter(), chat.ChatState(), OIL, None, "en"))
    messages, state, _, _, _, trace, _ = updates[-1]
    shown = messages[-1]["content"]
    assert shown.count('class="folio-claim folio-claim-unsupported"') == 1
    assert f"{FABRICATED[:-1]}.[[1]]" in shown.split("folio-claim-unsupported")[1]
    assert shown.endswith(
        '<span class="folio-claim-legend">'
        "⚠ not supported by its cited passages · ◐ only partly supported</span>"
    )
    assert "**Sentences checked against their citations**" in trace
    assert "| 2 | The orchard also exported 900 tonnes of pears to Mars. | \\[1\\] " in trace
    assert "| ⚠ unsupported | “900” not in the cited passage |" in trace
    assert "claims " in trace.split("Time per stage (ms)")[1]
    # Streaming updates before the end show the text as it comes, without marks.
    assert all("folio-claim" not in u[0][-1]["content"] for u in updates[1:-1] if u[0][-1:])
    assert state.turns[-1].answer.sentences[1].support == "unsupported"


# The HTTP API and the command line --------------------------------------------------------
def test_the_api_returns_each_sentence_with_its_citations_and_label(settings, fake):
    keyed = settings.model_copy(
        update={"anthropic_api_key": "test-key", "anthropic_base_url": fake.url}
    )
    app, workspaces, _ = build_api(keyed)
    with TestClient(app) as client:
        upload(client, [pdf_file("engines.pdf", ENGINES)])
        fake.additions += [FABRICATED, FABRICATED]
        body = client.post("/api/v1/query", json={"question": OIL}).json()
        assert [(s["text"], s["citations"], s["support"]) for s in body["sentences"]] == [
            (TRUE_SENTENCE, [1], "supported"),
            (FABRICATED, [1], "unsupported"),
        ]
        assert body["sentences"][1]["reason"] == "“900” not in the cited passage"
        assert "claims" in {t["stage"] for t in body["trace"]["timings"]}
        streamed = client.post("/api/v1/query/stream", json={"question": OIL})
        done = list(sse_events(streamed.text.splitlines()))[-1][1]
        assert done["sentences"] == body["sentences"]
        rated = client.post("/api/v1/feedback", json={"answer_id": body["answer_id"], "vote": -1})
        assert rated.status_code == 200
        (record,) = workspaces.feedback().records()
        assert [(c.text, c.support) for c in record.sentences] == [
            (TRUE_SENTENCE, "supported"),
            (FABRICATED, "unsupported"),
        ]
        schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
        assert schema["SentenceOut"]["properties"]["support"]["enum"] == [
            "supported",
            "partial",
            "unsupported",
        ]


@pytest.mark.slow
def test_ask_json_prints_the_whole_answer(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLIO_DATA_DIR", str(tmp_path / "lib"))
    monkeypatch.setenv("FOLIO_EMBED_BACKEND", "torch")
    (tmp_path / "engine.pdf").write_bytes(make_pdf(ENGINES))
    out = io.StringIO()
    assert main(["add", str(tmp_path / "engine.pdf")], out=out, err=io.StringIO()) == 0
    out = io.StringIO()
    assert main(["ask", OIL, "--json"], out=out, err=io.StringIO()) == 0
    answer = json.loads(out.getvalue())
    assert list(answer) == [
        "question",
        "answer",
        "mode",
        "model",
        "refused",
        "evidence_found",
        "sentences",
        "citations",
        "trace",
    ]
    assert (answer["mode"], answer["refused"]) == ("extractive", False)
    assert answer["answer"] == (
        "From your documents:\n\nChange the engine oil every 5000 kilometres. [1]"
    )
    assert answer["sentences"] == [
        {
            "text": "From your documents:",
            "citations": [],
            "support": "supported",
            "reason": "a heading or connective, no claim",
        },
        {
            "text": "Change the engine oil every 5000 kilometres.",
            "citations": [1],
            "support": "supported",
            "reason": answer["sentences"][1]["reason"],
        },
    ]
    [citation] = answer["citations"]
    assert (citation["document"], citation["page"], citation["kind"]) == ("engine.pdf", 1, "text")
    start, end = citation["span"]
    assert end - start == len("Change the engine oil every 5000 kilometres.")
    [[x0, y0, x1, y1]] = citation["boxes"]  # one line, 72 points in from an A4 page's left
    assert x0 == pytest.approx(72 / 595.28, abs=0.002) and 0 < y0 < y1 < 0.2 and x1 < 1
    trace = answer["trace"]
    assert trace["searched_query"] == OIL and trace["hits"][0]["document"] == "engine.pdf"
    assert {"retrieve", "answer", "claims"} <= {t["stage"] for t in trace["timings"]}


# Feedback ---------------------------------------------------------------------------------
def rate(store: FeedbackStore, answer, vote: int, message: str):
    return store.rate(Rating("s1", message, vote, answer, datetime(2026, 1, 5, tzinfo=UTC)))


def test_ratings_keep_the_labels_and_analytics_count_dislikes_by_support(
    claude_library, fake, settings
):
    store = FeedbackStore.open(settings.feedback_url)
    fake.additions.append(FABRICATED)
    flagged = claude_library.ask(OIL)
    clean = claude_library.ask("How big was the apple harvest?")
    refused = claude_library.ask("Who won the 1998 football world cup?")
    record = rate(store, flagged, -1, "m1")
    assert record.sentences == flagged.sentences and record.sentences[1].support == "unsupported"
    rate(store, clean, 1, "m2")
    rate(store, refused, -1, "m3")
    rate(store, flagged, 1, "m4")
    records = store.records()
    assert [fa.support_group(r) for r in records] == [
        "unsupported",
        "supported",
        "supported",
        "unsupported",
    ]
    assert [(group, g.up, g.down) for group, g in fa.by_support(records)] == [
        ("unsupported", 1, 1),
        ("partial", 0, 0),
        ("supported", 1, 1),
        ("unchecked", 0, 0),
    ]
    view = analytics.analytics_view(records, "en")
    assert view.by_support.columns.tolist() == [
        "Weakest sentence",
        "Answers",
        "Liked",
        "Disliked",
        "Dislike rate",
    ]
    assert view.by_support.values.tolist() == [
        ["unsupported", 2, 1, 1, "50%"],
        ["partial", 0, 0, 0, "–"],
        ["supported", 2, 1, 1, "50%"],
        ["not checked", 0, 0, 0, "–"],
    ]
    lines = list(csv.DictReader(io.StringIO(fa.to_csv(records))))
    assert [line["support"] for line in lines] == [
        "unsupported",
        "supported",
        "supported",
        "unsupported",
    ]
    trace = analytics.record_trace(records[0], "en")
    assert f"- ⚠ unsupported: “{FABRICATED}” (“900” not in the cited passage)" in trace
    with sqlite3.connect(settings.db) as db:  # the row in the file, read without Folio
        (stored,) = db.execute("SELECT sentences FROM feedback WHERE message_id = 'm1'").fetchone()
    assert [s["support"] for s in json.loads(stored)] == ["supported", "unsupported"]


def test_ratings_stored_before_the_check_are_not_checked(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = FeedbackStore(create_engine(url))
    applied = apply_migrations(old.engine, MIGRATIONS[:2], lock_key=1)
    assert applied == ["f001_feedback", "f002_request_id"]
    with old.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO feedback (workspace, session_id, message_id, vote, question,"
                " searched_query, answer, mode, model, refused, asked_at, created_at, updated_at)"
                " VALUES ('default', 's0', 'm0', -1, 'q', 'q', 'a', 'extractive', 'm', 0,"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    store = FeedbackStore.open(url)
    [record] = store.records()
    assert record.sentences == () and fa.support_group(record) == "unchecked"
    assert [(g, t.down) for g, t in fa.by_support([record])][-1] == ("unchecked", 1)
