"""Kill an ingest process at its worst moments; the next start must repair the library."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rag_core.config import Settings
from rag_core.library import Library

from .conftest import REPO
from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import assert_consistent

pytestmark = pytest.mark.slow

PAGES = [
    f"Section {i}\n\n"
    + " ".join(f"Sentence {j} of page {i} mentions widget{i} and gadget{j}." for j in range(12))
    for i in range(12)
]


def settings_for(data: Path, database_url: str | None = None) -> Settings:
    return Settings(
        data_dir=data,
        db=data / "feedback.db",
        database_url=database_url,
        chunk_tokens=24,
        chunk_overlap=0,
    )


def crash_ingest(
    data: Path,
    name: str,
    pdf: bytes,
    stage: str,
    fraction: float,
    tmp_path: Path,
    database_url: str | None = None,
) -> None:
    path = tmp_path / f"upload-{stage}-{fraction}.pdf"
    path.write_bytes(pdf)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.crash_ingest",
            str(data),
            name,
            str(path),
            stage,
            str(fraction),
            *([database_url] if database_url else []),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line == "BLOCKED", f"ingest did not reach {stage}: {line!r}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.parametrize(("stage", "fraction"), [("render", 0.1), ("embed", 0.5), ("index", 0.9)])
def test_killed_ingest_is_finished_on_next_start(tmp_path, stage, fraction):
    data = tmp_path / "data"
    crash_ingest(data, "widgets.pdf", make_pdf(PAGES), stage, fraction, tmp_path)
    half = Library.open(settings_for(data), embedder=HashingEmbedder(), recover=False)
    assert [d.status for d in half.documents()] == ["indexing"]

    library = Library.open(settings_for(data), embedder=HashingEmbedder())
    [doc] = library.documents()
    assert doc.status == "ready" and doc.pages == 12 and doc.chunks > 64
    assert library.search("widget7 gadget3", k=1).hits[0].chunk.page == 7
    assert_consistent(library)


def test_killed_ingest_without_its_file_is_rolled_back(tmp_path):
    data = tmp_path / "data"
    crash_ingest(data, "widgets.pdf", make_pdf(PAGES), "index", 0.9, tmp_path)
    for stored in (data / "files" / "default").iterdir():
        stored.unlink()
    library = Library.open(settings_for(data), embedder=HashingEmbedder())
    [doc] = library.documents()
    assert (
        doc.status == "failed"
        and doc.error == "indexing was interrupted and the uploaded file is missing"
    )
    assert library.ingestor.chroma.ids() == set()
    assert library.search("widget7", k=3).hits == ()
    assert_consistent(library)


def test_killed_replacement_keeps_serving_the_old_version_until_repaired(tmp_path):
    data = tmp_path / "data"
    library = Library.open(settings_for(data), embedder=HashingEmbedder())
    old = library.add([("widgets.pdf", make_pdf(PAGES))]).results[0]
    changed = list(PAGES)
    changed[3] = "Section 3\n\nThis page now describes sprockets in detail."
    crash_ingest(data, "widgets.pdf", make_pdf(changed), "index", 0.9, tmp_path)

    interrupted = Library.open(settings_for(data), embedder=HashingEmbedder(), recover=False)
    hit = interrupted.search("widget3 gadget5", k=1).hits[0]
    assert hit.chunk.doc_id == old.doc_id  # queries still see the old version

    repaired = Library.open(settings_for(data), embedder=HashingEmbedder())
    [doc] = repaired.documents()
    assert doc.id != old.doc_id and doc.status == "ready"
    assert repaired.search("sprockets", k=1).hits[0].chunk.page == 3
    assert_consistent(repaired)


def chunk_statuses(data: Path) -> dict[str, int]:
    with sqlite3.connect(data / "library.db") as db:
        return dict(db.execute("SELECT status, COUNT(*) FROM chunks GROUP BY status").fetchall())


@pytest.mark.security
def test_a_second_process_leaves_alone_what_another_is_ingesting(tmp_path):
    data = tmp_path / "data"
    path = tmp_path / "widgets.pdf"
    path.write_bytes(make_pdf(PAGES))
    arguments = [str(data), "widgets.pdf", str(path), "embed", "0.5"]
    ingest = subprocess.Popen(
        [sys.executable, "-m", "tests.paused_ingest", *arguments],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert ingest.stdout.readline().strip() == "PAUSED"
        chunks = chunk_statuses(data)
        assert set(chunks) == {"pending"}  # paused half way through embedding
        images = sorted(p.name for p in (data / "pages" / "default").rglob("*.jpg"))

        # A CLI command opens the library meanwhile: it must not "repair" the upload.
        other = Library.open(settings_for(data), embedder=HashingEmbedder())
        [doc] = other.documents()
        assert doc.status == "indexing"
        assert chunk_statuses(data) == chunks
        assert sorted(p.name for p in (data / "pages" / "default").rglob("*.jpg")) == images
        assert other.recover() == []

        ingest.stdin.write("go on\n")
        ingest.stdin.flush()
        assert ingest.stdout.readline().strip() == "added"
        assert ingest.wait(timeout=60) == 0
    finally:
        if ingest.poll() is None:
            ingest.kill()
            ingest.wait(timeout=30)
    [doc] = other.documents()
    assert doc.status == "ready" and doc.pages == 12 and doc.error is None
    assert other.recover() == []  # nothing left to repair; the lock is free again
    other.retriever.snapshot(wait=True)
    assert other.search("widget7 gadget3", k=1).hits[0].chunk.page == 7
    assert_consistent(other)
