"""Building the HTTP API over real workspaces for tests, and reading Server-Sent Events."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import create_api
from rag_core.auth.api_keys import ApiKeys
from rag_core.config import Settings
from rag_core.workspaces import Workspaces

from .fakes import HashingEmbedder
from .pdfs import make_pdf

APPLES = [
    "Orchard Report\n\nApple harvest rose to 120 tonnes in 2020. The orchard hired six pickers.",
    "Pear trees suffered from frost in April. Pear output fell by half.",
]
ENGINES = [
    "Engine Manual\n\nChange the engine oil every 5000 kilometres. Use oil grade 5W-30.",
    "The turbocharger needs inspection every two years.",
]


def build_api(settings: Settings, **kwargs: Any) -> tuple[FastAPI, Workspaces, ApiKeys]:
    workspaces = Workspaces(settings, embedder=HashingEmbedder())
    keys = ApiKeys.open(settings.registry_url)
    return create_api(workspaces, settings, keys=keys, **kwargs), workspaces, keys


def pdf_file(name: str, pages: list[str]) -> tuple[str, tuple[str, bytes, str]]:
    return ("files", (name, make_pdf(pages), "application/pdf"))


def upload(client: TestClient, files: list[Any], **headers: str) -> list[dict[str, Any]]:
    response = client.post("/api/v1/documents", files=files, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a text/event-stream body, given line by line."""
    event, data = "message", []
    for line in lines:
        if line == "":
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].strip())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app on a real uvicorn server on a free loopback port; yields its base URL."""
    port = free_port()
    # A long keep-alive: with uvicorn's 5 s, a pooled connection left idle while a loaded
    # machine answers other requests can be closed just as the client sends on it (the
    # HTTP/1.1 keep-alive race), and the client sees a ReadError that is not the app's.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=300
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
