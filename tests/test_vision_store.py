"""The vision store on disk: round trips, restarts, deletion, compaction, crashes."""

from __future__ import annotations

import sqlite3
import zlib

import numpy as np
import pytest

from rag_core.store.database import apply_migrations
from rag_core.vision.pooling import normalise
from rag_core.vision.search import coarse_scores
from rag_core.vision.store import MIGRATIONS, PageVectors, VisionStore

DIM, M = 8, 4


def vectors(doc_id: str, page: int, n: int = 5, seed: int = 0) -> PageVectors:
    rng = np.random.default_rng(zlib.crc32(f"{doc_id}/{page}/{seed}".encode()))
    tokens = normalise(rng.standard_normal((n, DIM)))
    reps = normalise(rng.standard_normal((M, DIM)))
    labels = rng.integers(0, n, 6).astype(np.int32)
    return PageVectors(doc_id, page, tokens, reps, labels, (2, 3))


def same(stored: PageVectors | None, original: PageVectors) -> None:
    assert stored is not None
    assert (stored.doc_id, stored.page, stored.grid) == (
        original.doc_id,
        original.page,
        original.grid,
    )
    # Stored as float16: exactly the float16 rounding of what went in.
    np.testing.assert_array_equal(stored.vectors, original.vectors.astype(np.float16))
    np.testing.assert_array_equal(stored.reps, original.reps.astype(np.float16))
    np.testing.assert_array_equal(stored.labels, original.labels)


@pytest.fixture
def store(tmp_path):
    return VisionStore(tmp_path / "vision", "model-a", reps=M).open()


def test_round_trip_and_restart(store, tmp_path):
    pages = [vectors("doc1", 0), vectors("doc1", 1, n=9), vectors("doc2", 0, n=1)]
    store.add(pages[:2])
    store.add(pages[2:])
    reopened = VisionStore(tmp_path / "vision", "model-a", reps=M).open()
    assert reopened.keys() == {("doc1", 0), ("doc1", 1), ("doc2", 0)}
    for page in pages:
        same(reopened.get(page.doc_id, page.page), page)
    assert reopened.get("doc1", 7) is None
    matrix = reopened.matrix()
    assert matrix.keys == (("doc1", 0), ("doc1", 1), ("doc2", 0))
    tokens, counts = matrix.fetch(np.array([2, 0]))
    assert counts.tolist() == [1, 5]
    expected = np.concatenate([pages[2].vectors, pages[0].vectors]).astype(np.float16)
    np.testing.assert_array_equal(tokens, expected.astype(np.float32))
    query = normalise(np.random.default_rng(9).standard_normal((3, DIM)))
    reps = np.stack([p.reps.astype(np.float16).astype(np.float32) for p in pages])
    np.testing.assert_allclose(matrix.coarse(query, None), coarse_scores(query, reps), atol=1e-6)
    subset = matrix.coarse(query, np.array([2, 0]))
    np.testing.assert_allclose(subset, coarse_scores(query, reps[[2, 0]]), atol=1e-6)
    np.testing.assert_array_equal(matrix.page_reps(1), reps[1])
    assert matrix.rows_for(["doc2", "nope"]).tolist() == [2]


def test_delete_replace_and_compaction(store):
    store.add([vectors("a", p) for p in range(4)] + [vectors("b", p) for p in range(4)])
    version = store.version()
    assert store.delete_docs(["a", "zzz"]) == 4 and store.version() == version + 1
    assert store.doc_ids() == {"b"} and store.delete_docs([]) == 0
    store.add([vectors("b", 0, seed=1)])  # replaces page 0 of b
    stats = store.stats()
    assert (stats.pages, stats.live_rows, stats.file_rows) == (4, 20, 45)
    before = store.matrix()
    assert store.compact(min_dead_share=0.25)
    stats = store.stats()
    assert (stats.pages, stats.live_rows, stats.file_rows) == (4, 20, 20)
    same(store.get("b", 0), vectors("b", 0, seed=1))
    for p in (1, 2, 3):
        same(store.get("b", p), vectors("b", p))
    after = store.matrix()
    assert after.version > before.version and after.keys == before.keys
    np.testing.assert_array_equal(after.fetch(np.arange(4))[0], before.fetch(np.arange(4))[0])
    assert sorted(f.name for f in store.folder.glob("*.f16")) == ["reps-2.f16", "tokens-2.f16"]
    assert not store.compact(min_dead_share=0.25)  # nothing dead now


def test_a_torn_write_and_orphan_files_are_repaired(store, tmp_path):
    store.add([vectors("a", 0)])
    with open(store.folder / "tokens-1.f16", "ab") as f:  # a crash mid-append: half a row
        f.write(b"\x01\x02\x03")
    with open(store.folder / "reps-1.f16", "ab") as f:  # and one row of a page's four
        f.write(np.ones(DIM, np.float16).tobytes())
    (store.folder / "tokens-9.f16").write_bytes(b"left by a crashed compaction")
    reopened = VisionStore(tmp_path / "vision", "model-a", reps=M).open()
    assert not (store.folder / "tokens-9.f16").exists()
    reopened.add([vectors("a", 1), vectors("b", 0)])
    for doc_id, page in (("a", 0), ("a", 1), ("b", 0)):
        same(reopened.get(doc_id, page), vectors(doc_id, page))
    matrix = reopened.matrix()
    np.testing.assert_array_equal(matrix.page_reps(2), vectors("b", 0).reps.astype(np.float16))


def test_another_model_empties_the_store(store, tmp_path):
    store.add([vectors("a", 0)])
    store.set_paused(True)
    other = VisionStore(tmp_path / "vision", "model-b", reps=M).open()
    assert other.keys() == set() and other.cleared_reason == "built with 'model-a', now 'model-b'"
    assert other.matrix().keys == () and other.paused()
    other.add([vectors("a", 0, n=3)])
    assert other.get("a", 0).vectors.shape == (3, DIM)


def test_wrong_shapes_are_refused(store):
    store.add([vectors("a", 0)])
    bad = vectors("a", 1)
    with pytest.raises(ValueError, match="vectors of the wrong shape"):
        store.add([PageVectors("a", 1, bad.vectors, bad.reps[:2], bad.labels, bad.grid)])
    wide = PageVectors("a", 1, np.ones((2, 4)), np.ones((M, 4)), bad.labels, bad.grid)
    with pytest.raises(ValueError, match="holds 8-dimensional vectors, not 4"):
        store.add([wide])
    assert store.keys() == {("a", 0)}


def test_paused_flag_persists(store, tmp_path):
    assert not store.paused()
    store.set_paused(True)
    assert VisionStore(tmp_path / "vision", "model-a", reps=M).open().paused()


def test_bytes_per_page(store):
    store.add([vectors("a", p, n=100) for p in range(10)])
    stats = store.stats()
    assert stats.pages == 10
    # 100 + 4 float16 rows of 8 values per page, plus the page table.
    assert 10 * 104 * DIM * 2 <= stats.bytes <= 10 * 104 * DIM * 2 + 200_000


# The schema as the store made it before it had migrations (vision/store.py at d516ac2).
OLD_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS pages (doc_id TEXT NOT NULL, page INTEGER NOT NULL, "
    "start INTEGER NOT NULL, count INTEGER NOT NULL, slot INTEGER NOT NULL, "
    "grid_rows INTEGER NOT NULL, grid_cols INTEGER NOT NULL, labels BLOB NOT NULL, "
    "PRIMARY KEY (doc_id, page))",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


def test_a_store_made_before_migrations_is_adopted(tmp_path):
    folder = tmp_path / "vision"
    folder.mkdir()
    old = [vectors("a", 0, n=3), vectors("b", 2, n=2)]
    (folder / "tokens-1.f16").write_bytes(
        b"".join(p.vectors.astype(np.float16).tobytes() for p in old)
    )
    (folder / "reps-1.f16").write_bytes(b"".join(p.reps.astype(np.float16).tobytes() for p in old))
    with sqlite3.connect(folder / "index.db", isolation_level=None) as db:
        db.execute("PRAGMA journal_mode=WAL")
        for statement in OLD_SCHEMA:
            db.execute(statement)
        db.executemany(
            "INSERT INTO pages VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ("a", 0, 0, 3, 0, 2, 3, old[0].labels.astype(np.int16).tobytes()),
                ("b", 2, 3, 2, 1, 2, 3, old[1].labels.astype(np.int16).tobytes()),
            ],
        )
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [
                ("model", "model-a"),
                ("reps", str(M)),
                ("generation", "1"),
                ("version", "7"),
                ("dim", str(DIM)),
                ("paused", "1"),
            ],
        )
    db.close()

    store = VisionStore(folder, "model-a", reps=M).open()
    assert store.cleared_reason == "" and store.version() == 7 and store.paused()
    assert store.keys() == {("a", 0), ("b", 2)}
    for page in old:
        same(store.get(page.doc_id, page.page), page)
    store.add([vectors("c", 0)])
    same(VisionStore(folder, "model-a", reps=M).open().get("c", 0), vectors("c", 0))
    with sqlite3.connect(folder / "index.db") as db:
        assert db.execute("SELECT name FROM _migrations").fetchall() == [("v001_pages",)]
    db.close()


def test_migrations_are_recorded_once(store, tmp_path):
    assert apply_migrations(store.engine, MIGRATIONS, lock_key=1) == []
    with sqlite3.connect(store.folder / "index.db") as db:
        assert db.execute("SELECT name FROM _migrations").fetchall() == [("v001_pages",)]
    db.close()


def test_compacting_a_store_whose_pages_were_all_deleted(store):
    store.add([vectors("a", 0), vectors("a", 1)])
    assert store.delete_docs(["a"]) == 2
    assert store.compact()
    stats = store.stats()
    assert (stats.pages, stats.live_rows, stats.file_rows) == (0, 0, 0)
    assert store.matrix().keys == () and store.keys() == set()
