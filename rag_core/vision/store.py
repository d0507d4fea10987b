"""Page vectors on disk: float16 rows in append-only files, an SQLite table of pages.

Layout of a store folder:

- ``tokens-<gen>.f16``: every stored page's vectors, float16 rows of ``dim`` values, page
  after page (a page is a contiguous run of rows);
- ``reps-<gen>.f16``: each page's ``m`` representative vectors for the first search stage;
- ``index.db``: one row per page (where its rows are, its patch grid and patch labels as
  int16) and a few settings (model, dimension, file generation, version, paused), an SQLite
  database whose schema is made by the named steps in ``MIGRATIONS``, applied by ``open``.

Writes append to the files, ``fsync`` them, then commit the page rows: a crash leaves at
most unreferenced bytes at the end of a file, never a row pointing at missing data.
Replacing or deleting a page only drops its row; the dead bytes are reclaimed by
``compact``, which copies the live rows to files of the next generation and switches to
them in one transaction (files of any other generation are deleted when the store opens).
Writers in several processes are serialised by a lock file.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from rag_core.store.database import Migration, apply_migrations, create_engine, writing
from rag_core.store.locks import LockKey
from rag_core.vision.search import coarse_scores_columns


# Schema: named steps, never edited (add a new one) ---------------------------------------------
def v001_pages(conn: Connection) -> None:
    """The page table and the settings. ``IF NOT EXISTS`` because stores made before the
    migrations have exactly these tables already: this step adopts them as they are."""
    conn.execute(
        text(
            """CREATE TABLE IF NOT EXISTS pages (
            doc_id TEXT NOT NULL,
            page INTEGER NOT NULL,
            start INTEGER NOT NULL,
            count INTEGER NOT NULL,
            slot INTEGER NOT NULL,
            grid_rows INTEGER NOT NULL,
            grid_cols INTEGER NOT NULL,
            labels BLOB NOT NULL,
            PRIMARY KEY (doc_id, page)
        )"""
        )
    )
    conn.execute(
        text("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    )


MIGRATIONS: list[Migration] = [("v001_pages", v001_pages)]


@dataclass(frozen=True, slots=True)
class PageVectors:
    """One page as the vision index keeps it (vectors are stored as float16)."""

    doc_id: str
    page: int
    vectors: np.ndarray  # (n, dim) unit rows: kept prompt tokens, then pooled patches
    reps: np.ndarray  # (m, dim) first-stage representatives
    labels: np.ndarray  # (rows * cols,) row of ``vectors`` for each patch
    grid: tuple[int, int]  # (rows, cols) of patches over the page image


@dataclass(frozen=True, slots=True)
class StoreStats:
    pages: int
    live_rows: int
    file_rows: int  # rows in the token file, dead ones included
    bytes: int  # on disk: vectors, representatives and the page table

    @property
    def bytes_per_page(self) -> float:
        return self.bytes / self.pages if self.pages else 0.0


@dataclass(frozen=True)
class VisionMatrix:
    """A read-only view of the store at one version, for searching."""

    version: int
    keys: tuple[tuple[str, int], ...]  # (doc id, page) per row
    starts: np.ndarray  # (pages,) first token row of each page
    counts: np.ndarray  # (pages,) token rows of each page
    reps: np.ndarray  # (dim, pages * m) float32: page i's representatives are columns i*m...
    tokens: np.ndarray  # (rows, dim) float16, memory-mapped
    m: int = 16

    def coarse(self, query: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        """First-stage scores of ``rows`` (all pages when ``None``)."""
        if rows is None:
            return coarse_scores_columns(query, self.reps, self.m)
        columns = (np.asarray(rows, np.int64)[:, None] * self.m + np.arange(self.m)).ravel()
        return coarse_scores_columns(query, self.reps[:, columns], self.m)

    def page_reps(self, row: int) -> np.ndarray:
        """The ``(m, dim)`` representatives of one page."""
        return np.asarray(self.reps[:, row * self.m : (row + 1) * self.m].T)

    @cached_property
    def doc_rows(self) -> dict[str, tuple[int, int]]:
        """Each document's rows ``[start, stop)``: rows are sorted by document, then page."""
        spans: dict[str, tuple[int, int]] = {}
        for row, (doc_id, _) in enumerate(self.keys):
            start = spans.get(doc_id, (row, row))[0]
            spans[doc_id] = (start, row + 1)
        return spans

    def rows_for(self, doc_ids: Iterable[str]) -> np.ndarray:
        spans = sorted(self.doc_rows[d] for d in set(doc_ids) if d in self.doc_rows)
        if not spans:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(start, stop) for start, stop in spans])

    def fetch(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The vectors of pages ``rows`` back to back (float32) and their counts."""
        rows = np.asarray(rows, dtype=np.int64)
        counts = self.counts[rows]
        if len(rows) == 0:
            return np.zeros((0, self.tokens.shape[1]), np.float32), counts
        ends = np.cumsum(counts)
        index = np.arange(int(ends[-1])) + np.repeat(self.starts[rows] - (ends - counts), counts)
        return np.asarray(self.tokens[index], dtype=np.float32), counts


class VisionStore:
    """The page vectors of one workspace and one model. Cheap to construct; ``open`` prepares."""

    def __init__(self, folder: Path, model: str, reps: int = 16) -> None:
        self.folder = folder
        self.model = model
        self.m = reps
        self._lock = threading.RLock()  # writers of this process
        self._matrix_lock = threading.Lock()  # the cached search view (never waits on writers)
        self._matrix: VisionMatrix | None = None
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        self.cleared_reason = ""  # why ``open`` emptied the store, if it did

    # Setup ----------------------------------------------------------------------------------
    def open(self) -> VisionStore:
        """Create the store or migrate and check it; a store of another model is emptied."""
        with self._lock, self._file_lock():
            apply_migrations(self.engine, MIGRATIONS, lock_key=LockKey.VISION_MIGRATIONS)
            self._check_model()
        return self

    def _check_model(self) -> None:
        with writing(self.engine) as db:
            built = _meta(db, "model")
            reps = _meta(db, "reps")
            if built is not None and (built != self.model or reps != str(self.m)):
                self.cleared_reason = f"built with '{built}', now '{self.model}'"
                db.execute(text("DELETE FROM pages"))
                db.execute(text("DELETE FROM meta WHERE key = 'dim'"))
                _set_meta(db, "generation", str(int(_meta(db, "generation") or 0) + 1))
                _bump_version(db)
            _set_meta(db, "model", self.model)
            _set_meta(db, "reps", str(self.m))
            if _meta(db, "generation") is None:
                _set_meta(db, "generation", "1")
            generation = int(_meta(db, "generation") or 1)
        self._remove_other_generations(generation)

    def _remove_other_generations(self, generation: int) -> None:
        keep = {f"tokens-{generation}.f16", f"reps-{generation}.f16"}
        for path in self.folder.glob("*.f16"):
            if path.name not in keep:
                path.unlink(missing_ok=True)

    # Reading --------------------------------------------------------------------------------
    def keys(self) -> set[tuple[str, int]]:
        with self._reading() as db:
            return {(r[0], r[1]) for r in db.execute(text("SELECT doc_id, page FROM pages"))}

    def doc_ids(self) -> set[str]:
        with self._reading() as db:
            return {r[0] for r in db.execute(text("SELECT DISTINCT doc_id FROM pages"))}

    def version(self) -> int:
        with self._reading() as db:
            return int(_meta(db, "version") or 0)

    def paused(self) -> bool:
        with self._reading() as db:
            return _meta(db, "paused") == "1"

    def set_paused(self, paused: bool) -> None:
        with self._writing() as db:
            _set_meta(db, "paused", "1" if paused else "0")

    def get(self, doc_id: str, page: int) -> PageVectors | None:
        with self._reading() as db:
            row = db.execute(
                text(
                    "SELECT start, count, slot, grid_rows, grid_cols, labels FROM pages "
                    "WHERE doc_id = :doc_id AND page = :page"
                ),
                {"doc_id": doc_id, "page": page},
            ).fetchone()
            generation = int(_meta(db, "generation") or 1)
            dim = int(_meta(db, "dim") or 0)
        if row is None:
            return None
        start, count, slot, rows, cols, labels = row
        tokens = self._read_rows(f"tokens-{generation}.f16", dim, start, count)
        reps = self._read_rows(f"reps-{generation}.f16", dim, slot * self.m, self.m)
        return PageVectors(
            doc_id,
            page,
            tokens,
            reps,
            np.frombuffer(labels, dtype=np.int16).astype(np.int32),
            (rows, cols),
        )

    def _read_rows(self, name: str, dim: int, start: int, count: int) -> np.ndarray:
        with open(self.folder / name, "rb") as handle:
            handle.seek(start * dim * 2)
            data = handle.read(count * dim * 2)
        return np.frombuffer(data, dtype=np.float16).reshape(count, dim).astype(np.float32)

    def stats(self) -> StoreStats:
        with self._reading() as db:
            pages, live = db.execute(
                text("SELECT COUNT(*), COALESCE(SUM(count), 0) FROM pages")
            ).one()
            generation = int(_meta(db, "generation") or 1)
            dim = int(_meta(db, "dim") or 0)
        files = [self.folder / f"tokens-{generation}.f16", self.folder / f"reps-{generation}.f16"]
        sizes = [p.stat().st_size if p.exists() else 0 for p in files]
        database = sum(p.stat().st_size for p in self.folder.glob("index.db*") if p.exists())
        file_rows = sizes[0] // (dim * 2) if dim else 0
        return StoreStats(pages, live, file_rows, sum(sizes) + database)

    def matrix(self) -> VisionMatrix:
        """The current view for searching (cached until the store changes)."""
        with self._matrix_lock:
            cached = self._matrix
            if cached is not None and cached.version == self.version():
                return cached
            for _ in range(3):
                try:
                    self._matrix = self._load_matrix()
                    return self._matrix
                except FileNotFoundError:
                    continue  # compacted by another process while loading: read again
            raise RuntimeError(f"the vision index in {self.folder} could not be read")

    def _load_matrix(self) -> VisionMatrix:
        with self._reading() as db:
            version = int(_meta(db, "version") or 0)
            generation = int(_meta(db, "generation") or 1)
            dim = int(_meta(db, "dim") or 0)
            rows = db.execute(
                text("SELECT doc_id, page, start, count, slot FROM pages ORDER BY doc_id, page")
            ).fetchall()
        if not rows or not dim:
            return VisionMatrix(
                version,
                (),
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                np.zeros((max(dim, 1), 0), np.float32),
                np.zeros((0, max(dim, 1)), np.float16),
                self.m,
            )
        tokens = _memmap(self.folder / f"tokens-{generation}.f16", dim)
        reps_rows = _memmap(self.folder / f"reps-{generation}.f16", dim)
        reps = reps_rows[: len(reps_rows) // self.m * self.m].reshape(-1, self.m, dim)
        slots = np.asarray([r[4] for r in rows], dtype=np.int64)
        return VisionMatrix(
            version=version,
            keys=tuple((r[0], r[1]) for r in rows),
            starts=np.asarray([r[2] for r in rows], dtype=np.int64),
            counts=np.asarray([r[3] for r in rows], dtype=np.int64),
            reps=np.ascontiguousarray(np.asarray(reps[slots], dtype=np.float32).reshape(-1, dim).T),
            tokens=tokens,
            m=self.m,
        )

    # Writing --------------------------------------------------------------------------------
    def add(self, pages: Sequence[PageVectors]) -> None:
        """Store pages (a page stored before is replaced)."""
        if not pages:
            return
        dim = pages[0].vectors.shape[1]
        for p in pages:
            if p.vectors.shape[1] != dim or p.reps.shape != (self.m, dim):
                raise ValueError(f"page {p.page} of {p.doc_id}: vectors of the wrong shape")
            if len(p.vectors) > np.iinfo(np.int16).max:
                raise ValueError(f"page {p.page} of {p.doc_id}: more than 32767 vectors")
        with self._writing() as db:
            stored_dim = _meta(db, "dim")
            if stored_dim is not None and int(stored_dim) != dim:
                raise ValueError(f"the store holds {stored_dim}-dimensional vectors, not {dim}")
            generation = int(_meta(db, "generation") or 1)
            start = _append(
                self.folder / f"tokens-{generation}.f16", [p.vectors for p in pages], dim
            )
            slot = _append(
                self.folder / f"reps-{generation}.f16", [p.reps for p in pages], dim, self.m
            )
            rows = []
            for p in pages:
                rows.append(
                    {
                        "doc_id": p.doc_id,
                        "page": p.page,
                        "start": start,
                        "count": len(p.vectors),
                        "slot": slot // self.m,
                        "grid_rows": p.grid[0],
                        "grid_cols": p.grid[1],
                        "labels": np.asarray(p.labels, dtype=np.int16).tobytes(),
                    }
                )
                start += len(p.vectors)
                slot += self.m
            db.execute(
                text(
                    "INSERT OR REPLACE INTO pages "
                    "(doc_id, page, start, count, slot, grid_rows, grid_cols, labels) VALUES "
                    "(:doc_id, :page, :start, :count, :slot, :grid_rows, :grid_cols, :labels)"
                ),
                rows,
            )
            _set_meta(db, "dim", str(dim))
            _bump_version(db)

    def delete_docs(self, doc_ids: Iterable[str]) -> int:
        """Drop every page of these documents; returns the number of pages dropped."""
        ids = list(dict.fromkeys(doc_ids))
        if not ids:
            return 0
        with self._writing() as db:
            dropped = 0
            for doc_id in ids:
                dropped += db.execute(
                    text("DELETE FROM pages WHERE doc_id = :doc_id"), {"doc_id": doc_id}
                ).rowcount
            if dropped:
                _bump_version(db)
        return dropped

    def compact(self, min_dead_share: float = 0.25) -> bool:
        """Rewrite the files without dead rows when they are at least ``min_dead_share``
        of the token file. Returns whether it did."""
        with self._writing() as db:
            generation = int(_meta(db, "generation") or 1)
            dim = int(_meta(db, "dim") or 0)
            tokens_path = self.folder / f"tokens-{generation}.f16"
            if not dim or not tokens_path.exists():
                return False
            rows = db.execute(
                text("SELECT doc_id, page, start, count, slot FROM pages ORDER BY start")
            ).fetchall()
            file_rows = tokens_path.stat().st_size // (dim * 2)
            live = sum(r[3] for r in rows)
            if file_rows == 0 or (file_rows - live) / file_rows < min_dead_share:
                return False
            new = generation + 1
            tokens = _memmap(tokens_path, dim)
            reps = _memmap(self.folder / f"reps-{generation}.f16", dim)
            updates = []
            with (
                _writer(self.folder / f"tokens-{new}.f16") as out_tokens,
                _writer(self.folder / f"reps-{new}.f16") as out_reps,
            ):
                start = 0
                for slot, (doc_id, page, old_start, count, old_slot) in enumerate(rows):
                    out_tokens.write(np.asarray(tokens[old_start : old_start + count]).tobytes())
                    m = self.m
                    out_reps.write(np.asarray(reps[old_slot * m : (old_slot + 1) * m]).tobytes())
                    updates.append({"start": start, "slot": slot, "doc_id": doc_id, "page": page})
                    start += count
            if updates:  # none when every page was dropped
                db.execute(
                    text(
                        "UPDATE pages SET start = :start, slot = :slot "
                        "WHERE doc_id = :doc_id AND page = :page"
                    ),
                    updates,
                )
            _set_meta(db, "generation", str(new))
            _bump_version(db)
        self._remove_other_generations(new)
        return True

    # Plumbing -------------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        """The engine of ``index.db``, made on first use (commits are synced: FULL)."""
        with self._engine_lock:
            if self._engine is None:
                url = f"sqlite:///{self.folder / 'index.db'}"
                self._engine = create_engine(url, synchronous="FULL")
            return self._engine

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self.engine.connect() as db:
            yield db

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One write transaction, with the store's lock file held (other processes wait)."""
        with self._lock, self._file_lock(), writing(self.engine) as db:
            yield db

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a+") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)


def _meta(db: Connection, key: str) -> str | None:
    row = db.execute(text("SELECT value FROM meta WHERE key = :key"), {"key": key}).fetchone()
    return None if row is None else str(row[0])


def _set_meta(db: Connection, key: str, value: str) -> None:
    db.execute(
        text("INSERT OR REPLACE INTO meta (key, value) VALUES (:key, :value)"),
        {"key": key, "value": value},
    )


def _bump_version(db: Connection) -> None:
    _set_meta(db, "version", str(int(_meta(db, "version") or 0) + 1))


def _append(path: Path, arrays: Sequence[np.ndarray], dim: int, unit: int = 1) -> int:
    """Append float16 rows durably; returns the row index of the first one written.

    A torn write from a crash (a partial row, or a partial group of ``unit`` rows) is
    dropped first, so what is written starts on a whole group.
    """
    group = dim * 2 * unit
    with open(path, "ab") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size % group:
            handle.truncate(size - size % group)
            size -= size % group
        for array in arrays:
            handle.write(np.ascontiguousarray(array, dtype=np.float16).tobytes())
        handle.flush()
        os.fsync(handle.fileno())
    return size // (dim * 2)


@contextmanager
def _writer(path: Path) -> Iterator[BinaryIO]:
    with open(path, "wb") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def _memmap(path: Path, dim: int) -> np.ndarray:
    rows = path.stat().st_size // (dim * 2)
    if rows == 0:
        return np.zeros((0, dim), np.float16)
    return np.memmap(path, dtype=np.float16, mode="r", shape=(rows, dim))
