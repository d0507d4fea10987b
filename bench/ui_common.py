"""What the web app benchmarks share: a 10k-chunk library, the real server, a queue client.

The client speaks Gradio's queue protocol directly (``/gradio_api/queue/join`` and the SSE
stream of ``/gradio_api/queue/data``) with one asyncio loop for every session, so the client
costs almost no CPU next to the server it measures (gradio_client polls every millisecond in
a thread per job, which on two cores would steal time from the server).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import REPO, percentile, shared_data

RESULTS = REPO / "bench" / "results"
ABSTRACTS_PER_FILE = 50


def ms(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50) * 1000:7.1f} ms  p95 {percentile(values, 95) * 1000:7.1f} ms"
        f"  n={len(values)}"
    )


# The library ---------------------------------------------------------------------------
def scifact_files(limit: int | None = None) -> list[tuple[str, bytes]]:
    """SciFact abstracts as Markdown files of 50 abstracts, one heading each."""
    corpus = shared_data() / "scifact" / "corpus.jsonl"
    docs = [json.loads(line) for line in corpus.read_text().splitlines() if line.strip()]
    files = []
    for start in range(0, len(docs), ABSTRACTS_PER_FILE):
        number = start // ABSTRACTS_PER_FILE + 1
        body = [f"# SciFact abstracts {number:03d}"]
        for doc in docs[start : start + ABSTRACTS_PER_FILE]:
            body += ["", f"## {doc['title'].strip()}", "", doc["text"].strip()]
        files.append((f"scifact-{number:03d}.md", "\n".join(body).encode()))
    return files[:limit] if limit else files


def questions(n: int) -> list[str]:
    """The first ``n`` SciFact test claims (they have relevant abstracts in the library)."""
    folder = shared_data() / "scifact"
    test_ids = [
        line.split("\t")[0] for line in (folder / "qrels" / "test.tsv").read_text().splitlines()[1:]
    ]
    wanted = list(dict.fromkeys(test_ids))
    texts = {
        q["_id"]: q["text"]
        for q in map(json.loads, (folder / "queries.jsonl").read_text().splitlines())
    }
    return [texts[i] for i in wanted[:n]]


def ensure_library(folder: Path, min_chunks: int = 10_000) -> int:
    """Build (once) a library of at least ``min_chunks`` chunks from SciFact; returns its size."""
    from rag_core.config import Settings
    from rag_core.library import Library

    settings = Settings(data_dir=folder, db=folder / "unused.db")  # default chunking
    library = Library.open(settings)
    chunks = library.status().chunks
    if chunks >= min_chunks:
        return chunks
    started = time.perf_counter()
    report = library.add(scifact_files())
    failed = [r for r in report.results if r.status == "failed"]
    if failed:
        raise SystemExit(f"building the library failed: {failed[0].error}")
    chunks = library.status().chunks
    print(f"built {chunks} chunks in {time.perf_counter() - started:.0f} s", flush=True)
    if chunks < min_chunks:
        raise SystemExit(f"only {chunks} chunks from SciFact")
    return chunks


# The server ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(data_dir: Path, workdir: Path, **settings: str) -> Iterator[str]:
    """``python app.py`` on a free loopback port (no API key: extractive answers)."""
    import urllib.request

    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FOLIO_", "ANTHROPIC_")) and k != "DATABASE_URL"
    }
    env.update(
        FOLIO_DATA_DIR=str(data_dir),
        FOLIO_DB=str(workdir / "feedback.db"),
        FOLIO_PORT=str(port),
        FOLIO_HOST="127.0.0.1",
        **{f"FOLIO_{k.upper()}": v for k, v in settings.items()},
    )
    workdir.mkdir(parents=True, exist_ok=True)
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, str(REPO / "app.py")], cwd=workdir, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise SystemExit(f"app.py exited: see {workdir / 'server.log'}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("app.py did not start") from None
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


# The queue client ------------------------------------------------------------------------
@dataclass
class ChatResult:
    first_token: float | None = None  # seconds from join to the first answer text
    total: float | None = None  # seconds from join to the completed event
    gaps: list[float] = field(default_factory=list)  # between updates after the first token
    handler_first: float | None = None  # the handler's own ui.first_token, from the trace
    error: str | None = None


@dataclass(frozen=True)
class Endpoint:
    fn_index: int
    inputs: tuple[str, ...]  # component types, to fill the request's data
    trigger_id: int | None


async def endpoint(client: Any, url: str, api_name: str) -> Endpoint:
    config = (await client.get(url + "config")).json()
    types = {c["id"]: c["type"] for c in config["components"]}
    for dep in config["dependencies"]:
        if dep.get("api_name") == api_name:
            trigger = dep["targets"][0][0] if dep.get("targets") else None
            return Endpoint(dep["id"], tuple(types[i] for i in dep["inputs"]), trigger)
    raise SystemExit(f"no endpoint named {api_name}")


_HANDLER_FIRST = re.compile(r"ui\.first_token ([0-9.]+)")


def _answering(chatbot: Any) -> bool:
    """The last message is answer text (the first update ends with the question)."""
    if not isinstance(chatbot, list) or not chatbot or not isinstance(chatbot[-1], dict):
        return False
    return chatbot[-1].get("role") == "assistant" and bool(chatbot[-1].get("content"))


async def chat(client: Any, url: str, ep: Endpoint, question: str, session: str) -> ChatResult:
    """Ask once through the queue; times the first streamed answer text and completion."""
    from gradio_client.utils import apply_diff

    values: dict[str, Any] = {"textbox": question, "dropdown": [], "state": None}
    data = [values.get(kind) for kind in ep.inputs]
    result = ChatResult()
    started = time.perf_counter()
    try:
        joined = await client.post(
            url + "gradio_api/queue/join",
            json={
                "data": data,
                "fn_index": ep.fn_index,
                "session_hash": session,
                "trigger_id": ep.trigger_id,
                "event_data": None,
            },
        )
        joined.raise_for_status()
        event_id = joined.json()["event_id"]
        chatbot: Any = None
        last = None
        async with client.stream(
            "GET", url + "gradio_api/queue/data", params={"session_hash": session}
        ) as stream:
            async for line in stream.aiter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") not in (event_id, None):
                    continue
                kind = message.get("msg")
                now = time.perf_counter()
                if kind == "process_generating":
                    output = message["output"]["data"][0]
                    chatbot = output if chatbot is None else apply_diff(chatbot, output)
                    if result.first_token is not None and last is not None:
                        result.gaps.append(now - last)  # streaming, after the first token
                    last = now
                    if result.first_token is None and _answering(chatbot):
                        result.first_token = now - started
                elif kind == "process_completed":
                    output = message.get("output", {})
                    found = _HANDLER_FIRST.search(json.dumps(output))
                    result.handler_first = float(found.group(1)) / 1000 if found else None
                    if not message.get("success", False):
                        result.error = str(output.get("error") or output)[:200]
                    result.total = now - started
                    break
                elif kind == "close_stream":
                    break
        if result.error is None and result.first_token is None:
            result.error = "no answer text streamed"
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:200]
    return result


def new_session() -> str:
    return uuid.uuid4().hex[:11]


def run(coro: Any) -> Any:
    return asyncio.run(coro)
