"""The snapshot store: rebuilt once per generation; queries never wait for a rebuild."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from rag_core.index.bm25 import BM25Index
from rag_core.index.snapshot import SnapshotStore, build_snapshot


def builder(started: threading.Event, release: threading.Event):
    built: list[int] = []

    def build(folder: Path, generation: int) -> None:
        if generation > 1:
            started.set()
            assert release.wait(10)
        rows = [(f"c{i}", "doc", f"word{i} shared", True, f"h{i}") for i in range(generation)]
        vectors = {f"h{i}": np.eye(4, dtype=np.float32)[i % 4] for i in range(generation)}
        routers = (BM25Index(), BM25Index())
        build_snapshot(folder, generation, "m", 4, rows, vectors, BM25Index(), routers, {})
        built.append(generation)

    return build, built


def test_queries_get_the_previous_snapshot_while_the_next_is_built(tmp_path: Path) -> None:
    started, release = threading.Event(), threading.Event()
    build, built = builder(started, release)
    store = SnapshotStore(tmp_path / "index", build)
    first = store.current(1)
    assert first.generation == 1 and tuple(first.ids) == ("c0",)

    writer = threading.Thread(target=lambda: store.current(2, wait=True))
    writer.start()
    assert started.wait(10)
    # The build of generation 2 is in progress: a query is served generation 1 at once.
    assert store.current(2) is first
    release.set()
    writer.join(10)
    assert store.current(2).generation == 2 and tuple(store.current(2).ids) == ("c0", "c1")
    assert built == [1, 2]  # each generation built once


def test_the_writer_waits_for_the_new_snapshot(tmp_path: Path) -> None:
    started, release = threading.Event(), threading.Event()
    build, _ = builder(started, release)
    store = SnapshotStore(tmp_path / "index", build)
    store.current(1)
    query = threading.Thread(target=lambda: store.current(2))  # this one builds it
    query.start()
    assert started.wait(10)
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(store.current(2, wait=True).generation))
    waiter.start()
    waiter.join(0.3)
    assert got == []  # still waiting for the build
    release.set()
    waiter.join(10)
    query.join(10)
    assert got == [2]
