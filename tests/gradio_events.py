"""Gradio events over HTTP, sent the way the page sends them: ``/gradio_api/queue/join``, then
the SSE stream of ``/gradio_api/queue/data`` (the protocol ``bench/ui_common.py`` speaks,
synchronous here). A caller can put anything in an event's data, as an attacker would."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class EventResult:
    success: bool
    data: list[Any] | None  # the outputs, when it succeeded
    error: str | None  # the message shown, when it failed


def file_data(path: str, name: str | None = None) -> dict[str, Any]:
    """A ``FileData`` naming ``path``: what the page sends after an upload, or a forged one."""
    return {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def handler_of(config: dict[str, Any], api_name: str) -> tuple[int, int | None]:
    """(fn_index, trigger id) of the event handler named ``api_name`` in the app's config."""
    for dependency in config["dependencies"]:
        if dependency.get("api_name") == api_name:
            targets = dependency["targets"]
            return int(dependency["id"]), int(targets[0][0]) if targets else None
    raise LookupError(f"no event handler named {api_name}")


def new_session() -> str:
    return uuid.uuid4().hex[:11]


def send_event(
    client: httpx.Client,
    api_name: str,
    data: list[Any],
    session: str | None = None,
    timeout: float = 300,
) -> EventResult:
    """Send the event of the handler ``api_name`` with ``data`` (one value per input) in
    ``session`` (a new one by default) and wait for its result."""
    fn_index, trigger = handler_of(client.get("/config").json(), api_name)
    session = session or new_session()
    joined = client.post(
        "/gradio_api/queue/join",
        json={
            "data": data,
            "fn_index": fn_index,
            "trigger_id": trigger,
            "session_hash": session,
            "event_data": None,
        },
    )
    joined.raise_for_status()
    event_id = joined.json()["event_id"]
    with client.stream(
        "GET", "/gradio_api/queue/data", params={"session_hash": session}, timeout=timeout
    ) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("event_id") != event_id or message.get("msg") != "process_completed":
                continue
            output = message.get("output") or {}
            return EventResult(
                bool(message.get("success")), output.get("data"), output.get("error")
            )
    raise AssertionError(f"the stream ended before event {event_id} completed")
