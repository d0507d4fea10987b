"""kill -9 of the real server process (``python app.py``): during a multi-page upload and
during a burst of feedback POSTs. The next start must leave nothing half done and lose
nothing it acknowledged."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from rag_core.config import Settings
from rag_core.embed.embeddings import SentenceTransformerEmbedder
from rag_core.feedback.store import FeedbackStore
from rag_core.library import Library

from .app_process import AppProcess
from .pdfs import make_pdf
from .test_library import APPLES, assert_consistent

pytestmark = pytest.mark.slow

PAGES = 60


def widget_pages(variant: str) -> list[str]:
    return [
        f"Section {i} ({variant})\n\n"
        + " ".join(
            f"Sentence {j} of page {i} mentions {variant}{i} and gadget{j}." for j in range(12)
        )
        for i in range(PAGES)
    ]


def registry_value(data: Path, sql: str, *params: object) -> object:
    """One value read from the server's registry while it runs (SQLite WAL: readers never
    block the writer)."""
    path = data / "library.db"
    if not path.exists():
        return None
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
        row = db.execute(sql, params).fetchone()
    return row[0] if row else None


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def upload_in_background(url: str, name: str, pdf: bytes) -> threading.Thread:
    def post() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server is killed under it
            httpx.post(
                f"{url}/api/v1/documents",
                files=[("files", (name, pdf, "application/pdf"))],
                timeout=300,
            )

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread


def status_of(data: Path, name: str) -> object:
    return registry_value(data, "SELECT status FROM documents WHERE name = ?", name)


def test_kill_9_during_uploads_then_restart_finishes_them(tmp_path):
    data = tmp_path / "data"
    server = AppProcess(data, tmp_path / "run", chunk_tokens="48", chunk_overlap="0")
    stages = {
        # Rendering page images: the document is registered, no chunk yet.
        "render": lambda name: (
            status_of(data, name) == "indexing"
            and not registry_value(data, "SELECT COUNT(*) FROM chunks")
        ),
        # Embedding: its chunks are stored as pending, not yet ready.
        "embed": lambda name: (
            status_of(data, name) == "indexing"
            and bool(registry_value(data, "SELECT COUNT(*) FROM chunks WHERE status = 'pending'"))
        ),
    }
    try:
        server.start()
        for stage, reached in stages.items():
            name = f"widgets-{stage}.pdf"
            upload = upload_in_background(server.url, name, make_pdf(widget_pages(stage)))
            wait_for(lambda n=name, r=reached: bool(r(n)), 120, f"{name} to reach {stage}")
            server.kill()
            upload.join(timeout=30)
            assert status_of(data, name) == "indexing"  # killed half way, for real

            server.start()  # the default workspace is opened (and repaired) before /readyz
            docs = {
                d["name"]: d
                for d in httpx.get(f"{server.url}/api/v1/documents").json()["documents"]
            }
            doc = docs[name]
            assert (doc["status"], doc["pages"], doc["error"]) == ("ready", PAGES, None), doc
            answer = httpx.post(
                f"{server.url}/api/v1/query",
                json={"question": f"Which page mentions {stage}37 and gadget5?"},
                timeout=60,
            ).json()
            assert (answer["citations"][0]["document_name"], answer["citations"][0]["page"]) == (
                name,
                38,
            ), answer
    finally:
        server.stop()

    # Nothing orphaned: Chroma holds exactly the ready chunks' vectors, the BM25 snapshot
    # exactly the ready chunks, and no vector deletion is left pending.
    settings = Settings(data_dir=data, db=server.feedback_db)
    library = Library.open(settings, embedder=SentenceTransformerEmbedder(), recover=False)
    assert [d.status for d in library.documents()] == ["ready", "ready"]
    assert_consistent(library)


def test_kill_9_during_a_feedback_burst_loses_no_acknowledged_rating(tmp_path):
    # One client address sends everything: lift the per-address rate limit.
    server = AppProcess(
        tmp_path / "data", tmp_path / "run", api_rate_per_minute="1000000", api_burst="100000"
    )
    acknowledged: dict[str, int] = {}
    failed = 0
    try:
        server.start()
        files = [("files", ("orchard.pdf", make_pdf(APPLES), "application/pdf"))]
        assert httpx.post(f"{server.url}/api/v1/documents", files=files, timeout=120).is_success

        def ask(i: int) -> str:
            response = httpx.post(
                f"{server.url}/api/v1/query",
                json={"question": f"Why did pear output fall in year {i}?"},
                timeout=120,
            )
            response.raise_for_status()
            return str(response.json()["answer_id"])

        with ThreadPoolExecutor(4) as pool:
            answer_ids = list(pool.map(ask, range(120)))

        done = threading.Event()
        lock = threading.Lock()

        def rate(i: int) -> None:
            nonlocal failed
            vote = 1 if i % 2 else -1
            try:
                response = httpx.post(
                    f"{server.url}/api/v1/feedback",
                    json={"answer_id": answer_ids[i], "vote": vote, "comment": f"c{i}"},
                    timeout=60,
                )
            except httpx.HTTPError:
                with lock:
                    failed += 1
                return
            with lock:
                if response.is_success:
                    acknowledged[answer_ids[i]] = vote
                    if len(acknowledged) >= len(answer_ids) // 3:
                        done.set()
                else:
                    failed += 1

        with ThreadPoolExecutor(32) as pool:
            futures = [pool.submit(rate, i) for i in range(len(answer_ids))]
            assert done.wait(120), "the burst did not get going"
            server.kill()
            for future in futures:
                future.result()
        assert acknowledged and failed, (len(acknowledged), failed)  # killed mid-burst

        server.start()  # opens (and migrates) the feedback database after the crash
        assert httpx.get(f"{server.url}/readyz").is_success
    finally:
        server.stop()

    store = FeedbackStore.open(f"sqlite:///{server.feedback_db}")
    stored = {r.message_id: r.vote for r in store.records()}
    missing = {a: v for a, v in acknowledged.items() if stored.get(a) != v}
    assert missing == {}, f"{len(missing)} acknowledged ratings lost"
    assert set(stored) <= set(answer_ids)
