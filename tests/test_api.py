"""The HTTP API end to end over a real library: upload, list, query (JSON and SSE),
feedback, page images, delete, errors, health, metrics and request logs."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastapi.testclient import TestClient

from api import create_api
from api.observability import JsonFormatter
from rag_core.answer.common import Answerer
from rag_core.auth.api_keys import ApiKeys
from rag_core.types import TextDelta
from rag_core.workspaces import Workspaces

from .api_helpers import APPLES, ENGINES, build_api, pdf_file, serving, sse_events, upload


@pytest.fixture
def api(settings):
    app, workspaces, _keys = build_api(settings)
    return app, workspaces


@pytest.fixture
def client(api):
    with TestClient(api[0]) as client:
        yield client


def test_upload_list_query_feedback(client, api):
    workspaces = api[1]
    results = upload(client, [pdf_file("apples.pdf", APPLES), pdf_file("engines.pdf", ENGINES)])
    assert [(r["name"], r["status"], r["pages"]) for r in results] == [
        ("apples.pdf", "added", 2),
        ("engines.pdf", "added", 2),
    ]
    docs = client.get("/api/v1/documents").json()["documents"]
    assert sorted(d["name"] for d in docs) == ["apples.pdf", "engines.pdf"]
    assert all(d["status"] == "ready" for d in docs)
    engines_id = next(r["document_id"] for r in results if r["name"] == "engines.pdf")

    response = client.post(
        "/api/v1/query",
        json={"question": "How often should the engine oil be changed?"},
        headers={"X-Request-ID": "req-oil-1"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "req-oil-1"
    body = response.json()
    assert body["request_id"] == "req-oil-1"
    assert body["mode"] == "extractive" and not body["refused"]
    assert "5000 kilometres" in body["answer"]
    cited = body["citations"][0]
    assert (cited["document_id"], cited["document_name"], cited["page"]) == (
        engines_id,
        "engines.pdf",
        1,
    )
    page_text = workspaces.library().page_text(engines_id, 0)
    assert page_text[cited["start"] : cited["end"]] == cited["cited_text"]
    assert cited["boxes"] and all(
        0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 for x0, y0, x1, y1 in cited["boxes"]
    )
    assert {t["stage"] for t in body["trace"]["timings"]} >= {"retrieve", "answer"}
    assert body["trace"]["searched_query"] == "How often should the engine oil be changed?"

    rated = client.post(
        "/api/v1/feedback", json={"answer_id": body["answer_id"], "vote": -1, "comment": " old "}
    )
    assert rated.status_code == 200, rated.text
    assert rated.json()["vote"] == -1 and rated.json()["request_id"] == "req-oil-1"
    (record,) = workspaces.feedback().records()
    assert (record.message_id, record.vote, record.comment, record.request_id) == (
        body["answer_id"],
        -1,
        "old",
        "req-oil-1",
    )
    assert record.question == "How often should the engine oil be changed?"
    assert record.hits and record.citations[0].doc_id == engines_id
    # Voting again on the same answer updates the row.
    client.post("/api/v1/feedback", json={"answer_id": body["answer_id"], "vote": 1})
    (record,) = workspaces.feedback().records()
    assert (record.vote, record.comment) == (1, "old")


def test_query_filters_by_document(client):
    results = upload(client, [pdf_file("apples.pdf", APPLES), pdf_file("engines.pdf", ENGINES)])
    apples = results[0]["document_id"]
    body = client.post(
        "/api/v1/query", json={"question": "engine oil kilometres", "doc_ids": [apples]}
    ).json()
    assert all(c["document_id"] == apples for c in body["citations"])
    missing = client.post("/api/v1/query", json={"question": "oil", "doc_ids": ["nope"]})
    assert missing.status_code == 404
    assert "nope" in missing.json()["error"]["message"]


def test_upload_reports_each_file_and_loses_nothing(client):
    apples = pdf_file("apples.pdf", APPLES)
    results = upload(
        client,
        [
            ("files", ("fake.pdf", b"this is not a pdf", "application/pdf")),
            apples,
            ("files", ("notes.exe", b"MZ\x00\x00", "application/octet-stream")),
        ],
    )
    assert [(r["name"], r["status"]) for r in results] == [
        ("fake.pdf", "failed"),
        ("apples.pdf", "added"),
        ("notes.exe", "failed"),
    ]
    assert results[0]["error"] == "fake.pdf: is named .pdf but is not a PDF (no %PDF header)"
    assert results[2]["error"].startswith("notes.exe: unsupported file type (.exe)")
    names = {d["name"]: d["status"] for d in client.get("/api/v1/documents").json()["documents"]}
    assert names["apples.pdf"] == "ready"
    # The same bytes again change nothing.
    again = upload(client, [apples])
    assert again[0]["status"] == "unchanged"


def test_page_image_and_delete(client, settings):
    (result,) = upload(client, [pdf_file("apples.pdf", APPLES)])
    doc_id = result["document_id"]
    image = client.get(f"/api/v1/documents/{doc_id}/pages/2/image")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg" and image.content[:2] == b"\xff\xd8"
    thumb = client.get(f"/api/v1/documents/{doc_id}/pages/1/image", params={"thumbnail": True})
    assert thumb.status_code == 200 and len(thumb.content) < len(image.content) * 2
    for page in (0, 3):
        missing = client.get(f"/api/v1/documents/{doc_id}/pages/{page}/image")
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == f"apples.pdf has no page {page} (it has 2)"

    deleted = client.delete(f"/api/v1/documents/{doc_id}")
    assert deleted.status_code == 200 and deleted.json()["name"] == "apples.pdf"
    assert client.get("/api/v1/documents").json()["documents"] == []
    assert client.delete(f"/api/v1/documents/{doc_id}").status_code == 404
    assert client.get(f"/api/v1/documents/{doc_id}/pages/1/image").status_code == 404
    assert not any((settings.data_dir / "pages").rglob("*.jpg"))


def test_errors_are_json_with_the_request_id(client, settings):
    too_long = "x" * (settings.max_query_chars + 1)
    for body, status, code, message in (
        ({"question": too_long}, 422, "invalid_input", "question: is 2001 characters, over"),
        ({"question": "   "}, 422, "invalid_input", "question: is empty"),
        ({"question": "q", "searched_query": too_long}, 422, "invalid_input", "searched_query:"),
        ({"question": "q", "colour": "red"}, 422, "invalid_request", "colour: Extra inputs"),
        ({}, 422, "invalid_request", "question: Field required"),
    ):
        response = client.post("/api/v1/query", json=body)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == code and error["message"].startswith(message), error
        assert error["request_id"] == response.headers["x-request-id"]
    bad_json = client.post(
        "/api/v1/query", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "bad_request"
    unknown = client.get("/api/v1/nothing-here")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    rate_unknown = client.post("/api/v1/feedback", json={"answer_id": "abc", "vote": 1})
    assert rate_unknown.status_code == 404
    assert rate_unknown.json()["error"]["message"].startswith("answer_id abc: no such answer")
    assert client.post("/api/v1/feedback", json={"answer_id": "a", "vote": 0}).status_code == 422


class ExplodingAnswerer(Answerer):
    """An answerer whose model call fails with an internal error (a bug, not a FolioError)."""

    mode = "claude"
    model = "exploding"

    def __init__(self, after_first_delta: bool = False) -> None:
        self.after_first_delta = after_first_delta

    def stream(self, question, result, images=()):
        if self.after_first_delta:
            yield TextDelta("The oil ")
        raise RuntimeError("secret /srv/internal/path token=abc123")


def test_unexpected_errors_are_500_without_internals(api, client, caplog):
    upload(client, [pdf_file("engines.pdf", ENGINES)])
    api[1].library().answerer = ExplodingAnswerer()
    with caplog.at_level(logging.ERROR, logger="folio.api"):
        response = client.post("/api/v1/query", json={"question": "engine oil kilometres"})
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error" and "secret" not in response.text
    assert error["request_id"] in error["message"]
    assert any("secret" in (r.exc_text or str(r.exc_info)) for r in caplog.records)
    streamed = client.post("/api/v1/query/stream", json={"question": "engine oil kilometres"})
    assert streamed.status_code == 500 and "secret" not in streamed.text
    # Once the stream has started, the error is its last event.
    api[1].library().answerer = ExplodingAnswerer(after_first_delta=True)
    streamed = client.post("/api/v1/query/stream", json={"question": "engine oil kilometres"})
    events = list(sse_events(streamed.text.splitlines()))
    assert [e for e, _ in events] == ["delta", "error"] and "secret" not in streamed.text
    assert events[1][1]["error"]["code"] == "internal_error"


def test_streaming_query_sends_deltas_citations_and_done(client):
    upload(client, [pdf_file("apples.pdf", APPLES), pdf_file("engines.pdf", ENGINES)])
    for path, extra in (("/api/v1/query/stream", {}), ("/api/v1/query", {"stream": True})):
        response = client.post(path, json={"question": "How many tonnes of apples?", **extra})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(response.text.splitlines()))
        kinds = [e for e, _ in events]
        assert kinds[-1] == "done" and "delta" in kinds and "citation" in kinds
        done = events[-1][1]
        text = "".join(d["text"] for e, d in events if e == "delta")
        assert text == done["answer"] and "120 tonnes" in text
        assert [d for e, d in events if e == "citation"] == done["citations"]
        assert done["citations"][0]["document_name"] == "apples.pdf"
    too_long = client.post("/api/v1/query/stream", json={"question": "x" * 5000})
    assert too_long.status_code == 422  # checked before the stream starts


def test_streaming_through_a_real_server(api, settings):
    app = api[0]
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        files = [pdf_file("engines.pdf", ENGINES)]
        assert http.post("/api/v1/documents", files=files).status_code == 200
        with http.stream(
            "POST", "/api/v1/query/stream", json={"question": "engine oil grade"}
        ) as response:
            assert response.status_code == 200
            assert response.headers["x-request-id"]
            events = list(sse_events(response.iter_lines()))
        done = events[-1][1]
        assert events[-1][0] == "done" and "5W-30" in done["answer"]
        rated = http.post("/api/v1/feedback", json={"answer_id": done["answer_id"], "vote": 1})
        assert rated.status_code == 200
        assert http.get("/readyz").json()["status"] == "ok"


def test_health_and_readiness(api):
    app = api[0]
    cold = TestClient(app)  # without its lifespan nothing warms up: not ready
    assert cold.get("/healthz").json() == {"status": "ok", "detail": ""}
    not_ready = cold.get("/readyz")
    assert not_ready.status_code == 503 and not_ready.json()["status"] == "starting"
    with TestClient(app) as warm:
        readiness = app.state.readiness
        readiness._thread.join(timeout=30)
        ready = warm.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {
            "status": "ok",
            "detail": "the default workspace's index is loaded and the text model is warm",
        }


def test_readiness_reports_why_it_failed(settings):
    from rag_core.library import Library

    from .fakes import HashingEmbedder

    Library.open(settings, embedder=HashingEmbedder(name="model-one"))
    workspaces = Workspaces(settings, embedder=HashingEmbedder(name="model-two"))
    app = create_api(workspaces, settings, keys=ApiKeys.open(settings.registry_url))
    with TestClient(app) as client:
        app.state.readiness._thread.join(timeout=30)
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failed" and "configured model is 'model-two'" in body["detail"]


def test_metrics(client):
    upload(client, [pdf_file("apples.pdf", APPLES)])
    client.post("/api/v1/query", json={"question": "apple harvest tonnes"})
    client.post("/api/v1/query", json={"question": ""})
    text = client.get("/metrics").text
    for line in (
        'folio_http_requests_total{method="POST",route="/api/v1/query",status="200"} 1.0',
        'folio_http_requests_total{method="POST",route="/api/v1/query",status="422"} 1.0',
        'folio_http_errors_total{route="/api/v1/query",status="422"} 1.0',
        'folio_answer_stage_seconds_count{stage="retrieve"} 1.0',
        'folio_answer_stage_seconds_count{stage="answer"} 1.0',
        'folio_documents{workspace="default"} 1.0',
        'folio_pages{workspace="default"} 2.0',
        'folio_ingest_chunks_total{outcome="reused"} 0.0',
    ):
        assert line in text, line
    assert 'folio_http_request_seconds_count{route="/api/v1/documents"} 1.0' in text
    chunks = next(x for x in text.splitlines() if x.startswith("folio_chunks{"))
    embedded = next(x for x in text.splitlines() if 'outcome="embedded"' in x and "_total" in x)
    assert float(chunks.split()[-1]) == float(embedded.split()[-1]) >= 2


def test_one_json_log_line_per_request(client, caplog):
    with caplog.at_level(logging.INFO, logger="folio.api.access"):
        client.get("/api/v1/documents/abc/pages/1/image", headers={"X-Request-ID": "bad id\x7f"})
        client.get("/api/v1/documents", headers={"X-Request-ID": "trace-42"})
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    assert len(lines) == 2
    first, second = lines
    assert first["route"] == "/api/v1/documents/{doc_id}/pages/{page}/image"
    assert first["status"] == 404 and first["request_id"] != "bad id\x7f"
    assert len(first["request_id"]) == 32
    assert second["request_id"] == "trace-42" and second["workspace"] == "default"
    assert (second["method"], second["status"]) == ("GET", 200)
    assert isinstance(second["ms"], float)


def test_openapi_spec(client):
    spec = client.get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) >= {
        "/api/v1/query",
        "/api/v1/query/stream",
        "/api/v1/documents",
        "/api/v1/documents/{doc_id}",
        "/api/v1/documents/{doc_id}/pages/{page}/image",
        "/api/v1/feedback",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    assert "QueryResponse" in spec["components"]["schemas"]
    assert "429" in paths["/api/v1/query"]["post"]["responses"]
    assert client.get("/api/v1/docs").status_code == 200


def test_api_never_imports_gradio_and_the_core_never_imports_fastapi():
    import subprocess
    import sys

    from .conftest import REPO

    code = (
        "import sys, rag_core.library, rag_core.auth.api_keys, rag_core.cli.commands, rag_core.workspaces;"
        "core = [m for m in ('fastapi', 'starlette', 'gradio') if m in sys.modules];"
        "import api;"
        "edge = [m for m in ('gradio',) if m in sys.modules];"
        "print(core, edge); sys.exit(1 if core or edge else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_metrics_show_the_vision_backlog(vision_settings):
    app, workspaces, _keys = build_api(vision_settings)
    with TestClient(app) as client:
        upload(client, [pdf_file("apples.pdf", APPLES), pdf_file("engines.pdf", ENGINES)])
        library = workspaces.library()
        assert library.vision is not None and library.vision.state == "on"
        assert 'folio_vision_pages_pending{workspace="default"} 4.0' in client.get("/metrics").text
        library.vision.run()
        assert 'folio_vision_pages_pending{workspace="default"} 0.0' in client.get("/metrics").text
