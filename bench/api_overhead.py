"""What the HTTP API adds to a question: the same questions answered by ``Library.ask`` in
process, through ``POST /api/v1/query`` over loopback HTTP (uvicorn), and as Server-Sent Events
(time to the first delta and to the ``done`` event), with an API key and the rate limit on;
then the fixed cost of a request: ``Library.documents()`` against ``GET /api/v1/documents``.

The library holds 40 SciFact abstracts (one Markdown file each) embedded by the real
all-MiniLM-L6-v2; answers are extractive (no Claude). Each path asks the same questions in
turn, after one warm-up round, so noise on this shared 2-core machine hits all three alike;
the result is the ratio of medians.

    python bench/api_overhead.py [--questions 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from _common import percentile, shared_data, summary

from api import create_api
from rag_core.auth.api_keys import ApiKeys
from rag_core.config import Settings
from rag_core.workspaces import Workspaces


def corpus(n: int) -> tuple[list[tuple[str, bytes]], list[str]]:
    folder = shared_data() / "scifact"
    docs, questions = [], []
    with open(folder / "corpus.jsonl") as lines:
        for line in lines:
            row = json.loads(line)
            text = f"# {row['title']}\n\n{row['text']}\n"
            docs.append((f"{row['_id']}.md", text.encode()))
            if len(docs) == n:
                break
    for doc in docs:  # questions made of each abstract's title: every one has an answer
        questions.append(doc[1].decode().splitlines()[0][2:][:200])
    return docs, questions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=60)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="folio-api-bench-"))
    settings = Settings(
        data_dir=root / "data", db=root / "feedback.db", api_rate_per_minute=1e6, api_burst=10**6
    )
    workspaces = Workspaces(settings)
    keys = ApiKeys.open(settings.registry_url)
    token = keys.create("default", "bench").token
    library = workspaces.library()
    docs, titles = corpus(40)
    library.add(docs)
    questions = [titles[i % len(titles)] for i in range(args.questions)]
    app = create_api(workspaces, settings, keys=keys)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    http = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )

    def direct(q: str) -> float:
        started = time.perf_counter()
        library.ask(q)
        return (time.perf_counter() - started) * 1000

    def api(q: str) -> float:
        started = time.perf_counter()
        response = http.post("/api/v1/query", json={"question": q})
        response.raise_for_status()
        return (time.perf_counter() - started) * 1000

    first: list[float] = []

    def stream(q: str) -> float:
        started = time.perf_counter()
        seen_first = False
        with http.stream("POST", "/api/v1/query/stream", json={"question": q}) as response:
            for line in response.iter_lines():
                if line.startswith("event: delta") and not seen_first:
                    first.append((time.perf_counter() - started) * 1000)
                    seen_first = True
                if line.startswith("event: done"):
                    break
        return (time.perf_counter() - started) * 1000

    paths = {"Library.ask": direct, "POST /query": api, "SSE /query/stream (done)": stream}
    for q in questions[:5]:  # warm-up
        for run in paths.values():
            run(q)
    first.clear()
    times: dict[str, list[float]] = {name: [] for name in paths}
    for q in questions:
        for name, run in paths.items():
            times[name].append(run(q))
    base = statistics.median(times["Library.ask"])
    for name, values in times.items():
        ratio = statistics.median(values) / base
        print(f"{name:<28} {summary(values)}  ratio {ratio:.2f}")
    print(f"{'SSE first delta':<28} {summary(first)}  ratio {percentile(first, 50) / base:.2f}")

    # The fixed cost of a request (key check, rate limit, middleware, JSON, loopback HTTP):
    # listing the 40 documents directly and through GET /documents.
    listed: dict[str, list[float]] = {"Library.documents": [], "GET /documents": []}
    for _ in range(200):
        started = time.perf_counter()
        library.documents()
        listed["Library.documents"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        http.get("/api/v1/documents").raise_for_status()
        listed["GET /documents"].append((time.perf_counter() - started) * 1000)
    base = statistics.median(listed["Library.documents"])
    for name, values in listed.items():
        ratio = statistics.median(values) / base
        print(f"{name:<28} {summary(values)}  ratio {ratio:.2f}")
    server.should_exit = True
    thread.join(timeout=10)


if __name__ == "__main__":
    main()
