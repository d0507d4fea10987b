"""Your own model at the edges: the chat handler, the HTTP API and the CLI, configured through
the settings to a local server speaking the chat-completions protocol (tests/fake_openai.py).
Each error names the server and the reason, and no half-written answer is kept."""

from __future__ import annotations

import io

import gradio as gr
import pytest
from fastapi.testclient import TestClient

from rag_core.assemble import rewriter_for
from rag_core.cli.commands import main
from rag_core.config import Settings
from rag_core.feedback.store import FeedbackStore
from rag_core.library import Library
from ui import chat

from .api_helpers import build_api, free_port, pdf_file, sse_events, upload
from .fake_openai import FakeOpenAI
from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES, ENGINES

OIL = "How often should the engine oil be changed?"


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def local_settings(settings: Settings, url: str) -> Settings:
    """Settings that choose your own model at ``url`` (FOLIO_ANSWERER=auto); the answer
    cache is off, as the fake server answers the same question differently from test to test
    step (scripted replies, failures); sub-queries come from the rules, so that no sub-query
    request takes a scripted reply or failure meant for the answer."""
    update = {
        "llm_base_url": url,
        "llm_model": "folio-test",
        "llm_timeout": 5.0,
        "answer_cache": 0,
        "decompose": "rules",
    }
    return settings.model_copy(update=update)


# The chat ------------------------------------------------------------------------------------
def respond(library, rewriter, state, question):
    updates = list(chat.respond(library, rewriter, state, question, None, "en"))
    return updates, updates[-1][1]


def test_chat_rewrites_with_the_model_and_answers_with_it(settings, fake):
    configured = local_settings(settings, fake.url)
    library = Library.open(configured, embedder=HashingEmbedder())
    library.add([("orchard.pdf", make_pdf(APPLES))])
    rewriter = rewriter_for(configured)
    _, state = respond(
        library, rewriter, chat.ChatState(), "How much did the apple harvest rise in 2020?"
    )
    updates, state = respond(library, rewriter, state, "What about 2020 pickers?")
    turn = state.turns[-1]
    assert turn.rewrite.method == "openai"
    assert turn.rewrite.query == "How much did the apple harvest rise in 2020?"
    assert turn.answer.mode == "openai" and turn.answer.citations
    trace, notices = updates[-1][5], updates[-1][6]
    assert "rewritten from the conversation by your model" in trace
    assert "your model (OpenAI-compatible server) · `folio-test`" in trace
    assert "Extractive" not in notices


def test_a_failed_answer_is_shown_as_an_error_and_kept_for_nobody(settings, fake):
    configured = local_settings(settings, fake.url)
    library = Library.open(configured, embedder=HashingEmbedder())
    library.add([("engine.pdf", make_pdf(ENGINES))])
    feedback = FeedbackStore.open(configured.feedback_url)
    fake.failure = "cut"  # a few words, then the stream breaks off
    updates = []
    with pytest.raises(gr.Error) as raised:
        for update in chat.respond(
            library, rewriter_for(configured), chat.ChatState(), OIL, None, "en"
        ):
            updates.append(update)
    message = raised.value.message
    assert message == (
        f"The language model at {fake.url} could not answer: the reply stream ended before "
        "the reply was finished (no finish_reason)"
    )
    state = updates[-1][1]
    [turn] = state.turns
    assert turn.answer is None and turn.error == "⚠ " + message
    assert updates[-1][0][-1]["content"] == "⚠ " + message  # the bubble says it, not the words
    with pytest.warns(UserWarning, match="no answer to rate"):
        chat.rate(feedback, state, 1, True, "session", "en")
    assert feedback.records() == []


# The HTTP API ---------------------------------------------------------------------------------
def test_api_answers_with_the_model_and_reports_its_errors(settings, fake):
    app, _, _ = build_api(local_settings(settings, fake.url))
    with TestClient(app) as client:
        upload(client, [pdf_file("engines.pdf", ENGINES)])
        body = client.post("/api/v1/query", json={"question": OIL}).json()
        assert body["mode"] == "openai" and body["model"] == "folio-test"
        assert (
            body["answer"]
            == "According to the documents, Change the engine oil every 5000 kilometres [1]."
        )
        cited = body["citations"][0]
        assert (cited["document_name"], cited["page"]) == ("engines.pdf", 1)
        assert cited["cited_text"] == "Change the engine oil every 5000 kilometres."

        fake.models = ["llama3.1"]
        failed = client.post("/api/v1/query", json={"question": OIL})
        assert failed.status_code == 503
        error = failed.json()["error"]
        assert error["code"] == "answer_unavailable"
        assert error["message"].startswith(
            f"The language model at {fake.url} could not answer: it has no model 'folio-test'"
        )


def test_api_stream_that_breaks_off_ends_with_an_error_event(settings, fake):
    app, _, _ = build_api(local_settings(settings, fake.url))
    with TestClient(app) as client:
        upload(client, [pdf_file("engines.pdf", ENGINES)])
        fake.failure = "stall"
        fake.slow_seconds = 8.0  # past the 5 s timeout
        with client.stream("POST", "/api/v1/query/stream", json={"question": OIL}) as response:
            assert response.status_code == 200
            events = list(sse_events(response.iter_lines()))
        kinds = [kind for kind, _ in events]
        assert kinds[0] == "delta" and kinds[-1] == "error" and "done" not in kinds
        error = events[-1][1]["error"]
        assert (error["code"], error["status"]) == ("answer_unavailable", 503)
        assert error["message"] == (
            f"The language model at {fake.url} could not answer: no reply within 5 s "
            "(timeout; FOLIO_LLM_TIMEOUT)"
        )
        assert len(app.state.folio.answers._answers) == 0  # nothing kept to be rated


def test_api_with_the_server_down_answers_503_before_streaming(settings):
    url = f"http://127.0.0.1:{free_port()}/v1"
    app, _, _ = build_api(local_settings(settings, url))
    with TestClient(app) as client:
        upload(client, [pdf_file("engines.pdf", ENGINES)])
        response = client.post("/api/v1/query/stream", json={"question": OIL})
        assert (
            response.status_code == 503 and response.headers["content-type"] == "application/json"
        )
        message = response.json()["error"]["message"]
        assert message.startswith(f"The language model at {url} could not answer: cannot connect (")


# The command line -----------------------------------------------------------------------------
def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_cli_ask_with_your_own_model(tmp_path, monkeypatch, fake):
    monkeypatch.setenv("FOLIO_DATA_DIR", str(tmp_path / "lib"))
    monkeypatch.setenv("FOLIO_EMBED_BACKEND", "torch")  # the built-in model, not quantized
    (tmp_path / "engine.pdf").write_bytes(make_pdf(ENGINES))
    assert run("add", str(tmp_path / "engine.pdf"))[0] == 0

    monkeypatch.setenv("FOLIO_LLM_BASE_URL", fake.url)
    monkeypatch.setenv("FOLIO_LLM_MODEL", "folio-test")
    monkeypatch.setenv("FOLIO_DECOMPOSE", "rules")  # the scripted failure is the answer's
    code, out, err = run("ask", OIL)
    assert (code, err) == (0, "")
    assert out.startswith(
        "According to the documents, Change the engine oil every 5000 kilometres [1].\n\n"
    )
    assert "[1] engine.pdf, page 1: “Change the engine oil every 5000 kilometres.”" in out
    assert "; answers: openai (folio-test)\n" in run("status")[1]

    fake.failure = "html"
    code, out, err = run("ask", OIL)
    assert code == 1 and out == ""
    assert err == (
        f"error: The language model at {fake.url} could not answer: the reply is not the "
        "chat-completions protocol (a text/html reply, not an event stream: '<html><head>"
        "<title>Welcome to nginx!</title></head><body></body></html>')\n"
    )

    monkeypatch.setenv("FOLIO_ANSWERER", "claude")
    code, _, err = run("ask", OIL)
    assert (code, err) == (1, "error: FOLIO_ANSWERER=claude needs ANTHROPIC_API_KEY\n")
    monkeypatch.setenv("FOLIO_ANSWERER", "openai")
    monkeypatch.delenv("FOLIO_LLM_MODEL")
    code, _, err = run("ask", OIL)
    assert code == 1 and err.startswith("error: FOLIO_LLM_MODEL is not set: name the model")
