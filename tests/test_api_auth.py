"""API keys: each key sees, retrieves, cites, deletes and rates only its own workspace;
auth modes; the per-key rate limit; the ``apikey`` CLI."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient

from api.access import TokenBucket
from rag_core import cli
from rag_core.auth.api_keys import ApiKeys, token_digest

from .api_helpers import APPLES, ENGINES, build_api, pdf_file, upload


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def two_workspaces(settings):
    app, workspaces, keys = build_api(settings)
    a = keys.create("team-a", "a's key").token
    b = keys.create("team-b", "b's key").token
    with TestClient(app) as client:
        (apples,) = upload(client, [pdf_file("apples.pdf", APPLES)], **bearer(a))
        (engines,) = upload(client, [pdf_file("engines.pdf", ENGINES)], **bearer(b))
        yield client, workspaces, keys, (a, apples["document_id"]), (b, engines["document_id"])


def test_a_key_sees_only_its_workspace(two_workspaces):
    client, workspaces, _keys, (a, apples), (b, engines) = two_workspaces
    listed = client.get("/api/v1/documents", headers=bearer(a)).json()["documents"]
    assert [d["id"] for d in listed] == [apples]
    listed = client.get("/api/v1/documents", headers={"X-API-Key": b}).json()["documents"]
    assert [d["id"] for d in listed] == [engines]

    # A question only B's document answers: A gets no citation from it.
    answer = client.post(
        "/api/v1/query", json={"question": "engine oil grade 5W-30 kilometres"}, headers=bearer(a)
    ).json()
    assert all(c["document_id"] == apples for c in answer["citations"])
    assert answer["refused"] and "every 5000" not in answer["answer"]
    streamed = client.post(
        "/api/v1/query/stream", json={"question": "engine oil grade 5W-30"}, headers=bearer(a)
    )
    assert engines not in streamed.text and "engines.pdf" not in streamed.text
    # Naming B's document does not reach it.
    filtered = client.post(
        "/api/v1/query", json={"question": "oil", "doc_ids": [engines]}, headers=bearer(a)
    )
    assert filtered.status_code == 404
    # B's answer works for B, as a check that the question is answerable at all.
    b_answer = client.post(
        "/api/v1/query", json={"question": "engine oil grade 5W-30"}, headers=bearer(b)
    ).json()
    assert b_answer["citations"][0]["document_id"] == engines

    image = f"/api/v1/documents/{engines}/pages/1/image"
    assert client.get(image, headers=bearer(a)).status_code == 404
    assert client.get(image, headers=bearer(b)).status_code == 200
    assert client.delete(f"/api/v1/documents/{engines}", headers=bearer(a)).status_code == 404
    assert [d.id for d in workspaces.library("team-b").documents()] == [engines]

    # A cannot rate B's answer; B can. Ratings land in B's workspace.
    vote = {"answer_id": b_answer["answer_id"], "vote": 1}
    assert client.post("/api/v1/feedback", json=vote, headers=bearer(a)).status_code == 404
    assert client.post("/api/v1/feedback", json=vote, headers=bearer(b)).status_code == 200
    assert workspaces.feedback("team-a").records() == []
    (record,) = workspaces.feedback("team-b").records()
    assert record.message_id == b_answer["answer_id"] and record.workspace == "team-b"

    # The default workspace (the UI's) holds nothing of either.
    assert workspaces.library("default").documents() == []


def test_requests_without_a_valid_key_get_401(two_workspaces):
    client, _workspaces, keys, (a, _apples), _b = two_workspaces
    for headers in ({}, bearer("folio_wrong"), bearer(a + "x"), {"X-API-Key": "nope"}):
        response = client.get("/api/v1/documents", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/healthz").status_code == 200  # probes need no key
    key = keys.verify(a)
    assert key is not None and key.workspace == "team-a"
    keys.revoke(key.id)
    assert client.get("/api/v1/documents", headers=bearer(a)).status_code == 401


def test_keys_are_stored_hashed(settings):
    keys = ApiKeys.open(settings.registry_url)
    made = keys.create("default", "ci")
    assert made.token.startswith("folio_") and len(made.token) >= 6 + 43
    with keys.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT * FROM api_keys").one()
    assert made.token not in [str(v) for v in row]
    assert token_digest(made.token) in row
    assert keys.verify(made.token) == made.key
    assert keys.verify("folio_" + "A" * 43) is None


@pytest.mark.parametrize(
    ("mode", "make_key", "status"),
    [
        ("auto", False, 200),  # no key made yet: open
        ("auto", True, 401),  # a key exists: required
        ("on", False, 401),
        ("off", True, 200),  # never asks, even with keys
    ],
)
def test_auth_modes(settings, mode, make_key, status):
    settings = settings.model_copy(update={"api_auth": mode})
    app, _workspaces, keys = build_api(settings)
    if make_key:
        keys.create("default", "k")
    with TestClient(app) as client:
        assert client.get("/api/v1/documents").status_code == status


def test_rate_limit_per_key(settings):
    settings = settings.model_copy(update={"api_rate_per_minute": 0.6, "api_burst": 2})
    app, _workspaces, keys = build_api(settings)
    a, b = keys.create("team-a", "a").token, keys.create("team-b", "b").token
    with TestClient(app) as client:
        for _ in range(2):
            assert client.get("/api/v1/documents", headers=bearer(a)).status_code == 200
        limited = client.get("/api/v1/documents", headers=bearer(a))
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "100"  # one token per 100 s
        error = limited.json()["error"]
        assert error["code"] == "rate_limited" and "retry in 100 s" in error["message"]
        assert client.get("/api/v1/documents", headers=bearer(b)).status_code == 200
        assert "folio_http_errors_total" in client.get("/metrics").text


def test_token_bucket_refills():
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("k") == pytest.approx(0.5)
    now[0] = 0.5
    assert bucket.take("k") == 0.0 and bucket.take("other") == 0.0
    now[0] = 100.0  # never more than the burst
    assert [bucket.take("k") for _ in range(4)][-1] == pytest.approx(0.5)


def test_apikey_cli(settings, monkeypatch):
    monkeypatch.setenv("FOLIO_DATA_DIR", str(settings.data_dir))
    out = io.StringIO()
    assert cli.main(["apikey", "create", "--workspace", "team-a", "--name", "laptop"], out) == 0
    header, token, warning = out.getvalue().splitlines()
    assert header.startswith("key ") and header.endswith("(laptop) for workspace team-a")
    assert token.startswith("folio_") and "cannot show it again" in warning
    key_id = header.split()[1]
    keys = ApiKeys.open(settings.registry_url)
    assert keys.verify(token).id == key_id

    out = io.StringIO()
    assert cli.main(["apikey", "list"], out) == 0
    assert key_id in out.getvalue() and token not in out.getvalue() and "active" in out.getvalue()
    assert cli.main(["apikey", "revoke", "laptop"], io.StringIO()) == 0
    assert keys.verify(token) is None
    err = io.StringIO()
    assert cli.main(["apikey", "revoke", "laptop"], io.StringIO(), err) == 1
    assert "no active key" in err.getvalue()
    err = io.StringIO()
    bad = ["apikey", "create", "--workspace", "Bad Name", "--name", "x"]
    assert cli.main(bad, io.StringIO(), err) == 1 and "workspace 'Bad Name'" in err.getvalue()


def test_rate_settings_are_checked():
    from pydantic import ValidationError

    from rag_core.config import Settings

    for bad in ({"api_rate_per_minute": 0}, {"api_burst": 0}, {"max_query_chars": 0}):
        with pytest.raises(ValidationError):
            Settings(**bad)
