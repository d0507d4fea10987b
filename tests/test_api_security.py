"""Regression tests of the attacks run against the live server, replayed as they were made:
through the real app (the composition root, or ``create_api`` over real workspaces, on a real
uvicorn server where the client's address matters) and the real command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.access import FAILED_KEYS_PER_MINUTE, is_loopback
from rag_core.auth.accounts import Accounts
from rag_core.auth.api_keys import ApiKeys
from rag_core.cli.commands import main
from rag_core.config import Settings

from .api_helpers import APPLES, build_api, pdf_file, serving
from .conftest import REPO

PASSWORD = "correct horse"
CREATE_KEY = "python -m rag_core apikey create --workspace <workspace> --name <name>"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def anonymous_attack(client: TestClient) -> list[httpx.Response]:
    """What the attacker did without credentials: list, upload and ask in ``default``."""
    return [
        client.get("/api/v1/documents"),
        client.post("/api/v1/documents", files=[pdf_file("planted.pdf", APPLES)]),
        client.post("/api/v1/query", json={"question": "apple harvest"}),
    ]


def run_cli(*args: str | bytes, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m rag_core ...`` as a process (arguments may be raw bytes, as a shell passes)."""
    return subprocess.run(
        [sys.executable, "-m", "rag_core", *args],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", **(env or {})},
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
        check=False,
    )


# 1. With FOLIO_LOGIN=on and no API key, the REST API was open --------------------------
@pytest.mark.security
@pytest.mark.parametrize("api_auth", ["auto", "off"])
def test_a_login_server_without_keys_does_not_open_its_api(settings: Settings, api_auth: str):
    import app

    settings = settings.model_copy(update={"login": "on", "api_auth": api_auth})
    Accounts.open(settings.registry_url).add("alice", PASSWORD, "default")
    server, workspaces, _accounts = app.create(settings)
    client = TestClient(server)
    for response in anonymous_attack(client):
        assert response.status_code == 401, response.text
        error = response.json()["error"]
        assert error["code"] == "unauthorized"
        assert error["message"] == (
            "An API key is required here (FOLIO_LOGIN=on) and there is no active key"
            f" yet: make one on the server with '{CREATE_KEY}', then send"
            " 'Authorization: Bearer <key>' or 'X-API-Key'"
        )
    assert workspaces.library("default").documents() == []  # nothing was planted
    # The fix is a key, not another setting: the key made on the server opens the API.
    token = ApiKeys.open(settings.registry_url).create("default", "ops").token
    assert client.get("/api/v1/documents", headers=bearer(token)).json() == {"documents": []}
    assert client.get("/api/v1/documents").status_code == 401


@pytest.mark.security
@pytest.mark.parametrize("api_auth", ["auto", "off", "on"])
def test_a_server_on_a_network_address_asks_for_a_key(settings: Settings, api_auth: str):
    settings = settings.model_copy(update={"host": "0.0.0.0", "api_auth": api_auth})
    app, workspaces, _keys = build_api(settings, warm_up=False)
    client = TestClient(app)
    for response in anonymous_attack(client):
        assert response.status_code == 401, response.text
        message = response.json()["error"]["message"]
        assert message.startswith(
            "An API key is required here (FOLIO_HOST=0.0.0.0 is not loopback)"
        )
        assert CREATE_KEY in message
    assert workspaces.library("default").documents() == []


@pytest.mark.security
@pytest.mark.parametrize(
    "update",
    [
        {"host": "0.0.0.0", "api_open": True},  # said explicitly: open
        {"login": "on", "api_open": True},
        {"host": "localhost"},  # this machine only, no login: open as before
        {"host": "::1"},
        {"host": "127.0.0.1"},
    ],
)
def test_the_api_is_open_only_on_loopback_without_login_or_when_said(
    settings: Settings, update: dict[str, object]
):
    app, _workspaces, _keys = build_api(settings.model_copy(update=update), warm_up=False)
    assert TestClient(app).get("/api/v1/documents").json() == {"documents": []}


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LocalHost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("folio.example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool):
    assert is_loopback(host) is loopback


# 2. Failed API-key guesses were never rate-limited ---------------------------------------
@pytest.mark.security
def test_wrong_keys_are_limited_per_client_address(settings: Settings):
    settings = settings.model_copy(update={"api_rate_per_minute": 1e6, "api_burst": 1000})
    app, _workspaces, keys = build_api(settings, warm_up=False)
    good = keys.create("default", "real").token
    with serving(app) as url, httpx.Client(base_url=url) as attacker:
        documents = "/api/v1/documents"
        guesses = [
            attacker.get(documents, headers=bearer(f"folio_guess{i}"))
            for i in range(FAILED_KEYS_PER_MINUTE)
        ]
        assert [g.status_code for g in guesses] == [401] * FAILED_KEYS_PER_MINUTE
        blocked = attacker.get(documents, headers=bearer("folio_guess-next"))
        assert blocked.status_code == 429
        retry = int(blocked.headers["retry-after"])
        assert 1 <= retry <= 60 // FAILED_KEYS_PER_MINUTE  # one failure back every 6 s
        assert blocked.json()["error"] == {
            "code": "rate_limited",
            "message": f"Too many wrong API keys from this address; retry in {retry} s",
            "request_id": blocked.headers["x-request-id"],
        }
        # A right key from that address waits too: a lucky guess is not told apart.
        assert attacker.get(documents, headers=bearer(good)).status_code == 429
        assert attacker.get(documents).status_code == 429
        assert attacker.get("/healthz").status_code == 200
    # Another address is not locked out by the attacker's guesses.
    elsewhere = TestClient(app, client=("203.0.113.7", 40000))
    assert elsewhere.get("/api/v1/documents", headers=bearer(good)).status_code == 200


@pytest.mark.security
def test_requests_without_a_key_do_not_lock_an_address_out(settings: Settings):
    settings = settings.model_copy(update={"api_rate_per_minute": 1e6, "api_burst": 1000})
    app, _workspaces, keys = build_api(settings, warm_up=False)
    good = keys.create("default", "real").token
    client = TestClient(app)
    statuses = [client.get("/api/v1/documents").status_code for _ in range(30)]
    assert statuses == [401] * 30
    assert client.get("/api/v1/documents", headers=bearer(good)).status_code == 200


# 3. A lone surrogate in a question gave a 500 ------------------------------------------
@pytest.mark.security
@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/api/v1/query",
            '{"question": "\\ud800"}',
            "question: is not valid Unicode text: a lone surrogate U+D800 at character 0",
        ),
        (
            "/api/v1/query",
            '{"question": "apple \\udfff harvest", "stream": true}',
            "question: is not valid Unicode text: a lone surrogate U+DFFF at character 6",
        ),
        (
            "/api/v1/query/stream",
            '{"question": "apples", "searched_query": "x\\udc80"}',
            "searched_query: is not valid Unicode text: a lone surrogate U+DC80 at character 1",
        ),
        (
            "/api/v1/query",
            '{"question": "apples", "doc_ids": ["\\ud83d"]}',
            "doc_ids.0: is not valid Unicode text: a lone surrogate U+D83D at character 0",
        ),
    ],
)
def test_a_lone_surrogate_is_refused_naming_the_field(
    settings: Settings, path: str, body: str, message: str
):
    app, _workspaces, _keys = build_api(settings, warm_up=False)
    client = TestClient(app, raise_server_exceptions=False)
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == {
        "code": "invalid_request",
        "message": message,
        "request_id": response.headers["x-request-id"],
    }
    # A whole pair is one character, and fine.
    paired = client.post(path, json={"question": "apples \U0001f34e"})
    assert paired.status_code == 200


@pytest.mark.security
@pytest.mark.parametrize("command", ["ask", "search"])
def test_the_cli_refuses_a_lone_surrogate(command: str, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        main([command, "apple \ud800"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith(
        f"python -m rag_core {command}: error: argument query: is not valid text: character 6"
        " is U+D800, a lone surrogate (bytes that are not UTF-8?)\n"
    )


@pytest.mark.security
def test_the_cli_refuses_bytes_that_are_not_utf8_without_a_traceback(tmp_path: Path):
    # A shell passes the bytes as they are; Python turns the undecodable ones into surrogates.
    done = run_cli(b"ask", b"\xed\xa0\x80 harvest", env={"FOLIO_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "python -m rag_core ask: error: argument query: is not valid text: character 0 is"
        " U+DCED, a lone surrogate (bytes that are not UTF-8?)"
    )


# 4. Malformed JSON gave 422 where the README says 400 ----------------------------------
@pytest.mark.security
@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (
            b'{"question":',
            "application/json",
            "The body is not valid JSON (Expecting value at character 12)",
        ),
        (b"{not json", "application/json", "The body is not valid JSON (Expecting property"),
        (b"", "application/json", "The body is empty"),
        (b'{"question": "apples"}', "text/plain", "The body was not sent as JSON"),
    ],
)
def test_a_body_that_is_not_json_is_a_400(
    settings: Settings, content: bytes, content_type: str, message: str
):
    app, _workspaces, _keys = build_api(settings, warm_up=False)
    client = TestClient(app)
    for path in ("/api/v1/query", "/api/v1/query/stream", "/api/v1/feedback"):
        response = client.post(path, content=content, headers={"content-type": content_type})
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "bad_request"
        assert error["message"].startswith(message), error
        assert error["message"].endswith(
            "; send one JSON object with 'Content-Type: application/json'"
        )


@pytest.mark.security
def test_well_formed_json_with_a_bad_field_is_still_a_422(settings: Settings):
    app, _workspaces, _keys = build_api(settings, warm_up=False)
    client = TestClient(app)
    for path, body, message in (
        ("/api/v1/query", {"question": 5}, "question: Input should be a valid string"),
        (
            "/api/v1/query",
            [],
            "body: Input should be a valid dictionary or object to extract fields from",
        ),
        ("/api/v1/feedback", {"answer_id": "a", "vote": 2}, "vote: Input should be 1 or -1"),
    ):
        response = client.post(path, json=body)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert (error["code"], error["message"]) == ("invalid_request", message)


# 5. `search -k -5` printed nothing and no error -----------------------------------------
@pytest.mark.security
def test_search_refuses_a_k_that_is_not_a_count(tmp_path: Path):
    done = run_cli("search", "apples", "-k", "-5", env={"FOLIO_DATA_DIR": str(tmp_path)})
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines()[-1] == (
        "python -m rag_core search: error: argument -k: must be 1 to 1000, not -5"
    )


@pytest.mark.security
@pytest.mark.parametrize(
    ("k", "message"),
    [
        ("0", "must be 1 to 1000, not 0"),
        ("1001", "must be 1 to 1000, not 1001"),
        ("ten", "'ten' is not a whole number"),
        ("2.5", "'2.5' is not a whole number"),
    ],
)
def test_search_k_is_checked_before_anything_opens(
    k: str, message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    with pytest.raises(SystemExit) as exited:
        main(["search", "apples", "-k", k])
    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith(f"error: argument -k: {message}\n")
    assert list(tmp_path.iterdir()) == []  # no library was opened (the test runs in tmp_path)
