"""The derived, read-only view of the ready chunks that queries run against.

One snapshot = the ready chunks at one registry generation: the live rows of the index's
segments (``segments.py``), one after another, each document's rows contiguous. It offers
what one index over those chunks would: their ids, each document's row range, BM25 over
the chunk text, over each chunk's section (the headings above it, from its context) and,
where ``chinese`` (how the BM25 indexes read Chinese, ``lexical.ChineseAnalysis``) is
``fields``, over the chunks' Chinese read as characters and pairs, with the library's own
document frequencies and average lengths (``postings.LiveField``: scores are exactly those
of a single index), exact cosine over their vectors, and routing indexes over the documents'
names and covers. Because a document's chunks are one contiguous range, a filter becomes a
handful of row ranges: BM25 scores and exact dense scores are sliced, never looked up chunk
by chunk, and never go through a Chroma ``where`` clause (45-116 ms at 100k vectors).

A change to the library writes one small segment and a new manifest (``SnapshotStore``,
``builder.SnapshotBuilder``); merges (``merging.py``) run in the background.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, overload

import numpy as np

from rag_core.index.bm25 import BM25Index
from rag_core.index.lexical import ChineseAnalysis
from rag_core.index.postings import BM25Params, LiveField
from rag_core.index.segments import (
    Manifest,
    Segment,
    SegmentSource,
    index_lock,
    live_mask,
    load_segment,
    read_manifest,
    remove_unused,
    router_mask,
    write_manifest,
    write_segment,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Part:
    """A segment in a snapshot: its live rows (None: all) start at row ``offset``."""

    segment: Segment
    kept: np.ndarray | None
    offset: int

    @property
    def size(self) -> int:
        return self.segment.size if self.kept is None else len(self.kept)

    def local(self, rows: np.ndarray) -> np.ndarray:
        """Segment rows of snapshot rows (all in this part)."""
        inside = rows - self.offset
        return inside if self.kept is None else self.kept[inside]

    @cached_property
    def position(self) -> np.ndarray | None:
        """Segment row -> its place among the live rows (None: the same)."""
        if self.kept is None:
            return None
        position = np.full(self.segment.size, -1, dtype=np.int64)
        position[self.kept] = np.arange(len(self.kept))
        return position


class RowIds(Sequence[str]):
    """Snapshot row -> chunk id, read from each segment: opening a snapshot copies no
    sequence of every chunk id (a tuple of 1M ids rebuilt on every change)."""

    def __init__(self, parts: Sequence[_Part]) -> None:
        self._parts = parts
        self._starts = [p.offset for p in parts]
        self._size = sum(p.size for p in parts)

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, row: int) -> str: ...

    @overload
    def __getitem__(self, row: slice) -> tuple[str, ...]: ...

    def __getitem__(self, row: int | slice) -> str | tuple[str, ...]:
        if isinstance(row, slice):
            return tuple(self[i] for i in range(*row.indices(self._size)))
        at = int(row) + self._size if row < 0 else int(row)
        if not 0 <= at < self._size:
            raise IndexError(row)
        part = self._parts[bisect.bisect_right(self._starts, at) - 1]
        inside = at - part.offset
        return part.segment.ids[inside if part.kept is None else int(part.kept[inside])]

    def __iter__(self) -> Iterator[str]:
        for part in self._parts:
            ids = part.segment.ids
            if part.kept is None:
                yield from ids
            else:
                yield from (ids[i] for i in part.kept)


class RowIndex(Mapping[str, int]):
    """Chunk id -> snapshot row, looked up in each segment (no dict of every chunk)."""

    def __init__(self, parts: Sequence[_Part], ids: Sequence[str]) -> None:
        self._parts = parts
        self._ids = ids

    def __getitem__(self, chunk_id: str) -> int:
        for part in self._parts:
            row = part.segment.row_of.get(chunk_id)
            if row is None:
                continue
            position = part.position
            if position is None:
                return part.offset + row
            if position[row] >= 0:
                return part.offset + int(position[row])
        raise KeyError(chunk_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


class DocRanges(Mapping[str, tuple[int, int]]):
    """Document -> its snapshot rows [start, stop), looked up in each segment: opening a
    snapshot builds no dict of every document (10k of them at 1M chunks, on every change)."""

    def __init__(self, parts: Sequence[_Part], deleted: Sequence[frozenset[str]]) -> None:
        self._parts = parts
        self._deleted = deleted

    def __getitem__(self, doc: str) -> tuple[int, int]:
        for part, deleted in zip(self._parts, self._deleted, strict=True):
            found = part.segment.doc_ranges.get(doc)
            if found is None or doc in deleted:
                continue
            a, b = found
            position = part.position
            start = part.offset + (a if position is None else int(position[a]))
            return start, start + b - a
        raise KeyError(doc)

    def __iter__(self) -> Iterator[str]:
        for part, deleted in zip(self._parts, self._deleted, strict=True):
            yield from (d for d in part.segment.doc_ranges if d not in deleted)

    def __len__(self) -> int:
        return sum(
            len(part.segment.doc_ranges) - len(deleted.intersection(part.segment.doc_ranges))
            for part, deleted in zip(self._parts, self._deleted, strict=True)
        )


@dataclass(frozen=True)
class Snapshot:
    generation: int
    model: str
    ids: Sequence[str]  # snapshot row -> chunk id
    row_of: Mapping[str, int]
    doc_ranges: Mapping[str, tuple[int, int]]  # document -> its rows [start, stop)
    bm25: LiveField
    sections: LiveField  # over each chunk's section (its headings), the same rows
    dense: np.ndarray  # (rows,) bool: the embedding model can read this chunk
    router: LiveField  # over the documents' names, one row per entry of ``router_docs``
    router_cover: LiveField  # over their cover pages, the same rows
    router_docs: tuple[str, ...]
    # How the chunk BM25 indexes read Chinese (``lexical.ChineseAnalysis``); a query is read
    # the same way. ``grams``: the chunks as characters and pairs, where ``chinese`` is
    # ``fields`` (an empty index otherwise).
    chinese: ChineseAnalysis = "jieba"
    grams: LiveField | None = None
    parts: tuple[_Part, ...] = field(default=(), repr=False)

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def segments(self) -> int:
        return len(self.parts)

    @cached_property
    def dense_count(self) -> int:
        """How many chunks have a vector (what the vector store can return at most)."""
        return int(self.dense.sum())

    @cached_property
    def _starts(self) -> list[int]:
        return [p.offset for p in self.parts]

    def ranges_for(self, doc_ids: Iterable[str]) -> list[tuple[int, int]]:
        return sorted(self.doc_ranges[d] for d in doc_ids if d in self.doc_ranges)

    def vectors_of(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """The vectors of snapshot ``rows`` (in that order), as one (len(rows), dim) array."""
        rows = np.asarray(rows, dtype=np.int64)
        dims = {p.segment.vectors.shape[1] for p in self.parts if p.segment.dense.any()}
        out = np.zeros((len(rows), max(dims, default=1)), dtype=np.float32)
        which = np.searchsorted(self._starts, rows, side="right") - 1
        for i in np.unique(which):
            part = self.parts[int(i)]
            at = np.flatnonzero(which == i)
            if part.segment.vectors.shape[1] == out.shape[1]:
                out[at] = part.segment.vectors[part.local(rows[at])]
        return out

    def dense_search(
        self, query: np.ndarray, k: int, ranges: Sequence[tuple[int, int]]
    ) -> list[tuple[int, float]]:
        """Exact cosine top ``k`` over the given row ranges (vectors are normalised).

        The rows each part finds are scored again in float64: a float32 product's last bits
        depend on the shape of the block it is computed in, so two chunks a hair apart could
        rank one way in a segmented index and the other way in the same rows written as one
        (and the pseudo-relevance feedback, which follows the first fusion's top 5, would then
        move the query differently); for the same reason equal scores are ordered by chunk
        id. The float32 scan yields ``SPARE`` more rows than asked, so a near-tie at the cut
        cannot leave out a row that float64 ranks in."""
        rows: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        for start, stop in _coalesced(ranges):
            i = max(0, bisect.bisect_right(self._starts, start) - 1)
            while i < len(self.parts) and self.parts[i].offset < stop:
                part = self.parts[i]
                a, b = max(start, part.offset), min(stop, part.offset + part.size)
                if a < b and part.segment.vectors.shape[1] == len(query):
                    rows.append(np.arange(a, b))
                    scores.append(_part_scores(part, query, a, b))
                i += 1
        if not rows:
            return []
        # One selection over every range (a filter to 600 documents is 600 ranges): the
        # float32 best ``k + SPARE``, then only those read again.
        every, score = np.concatenate(rows), np.concatenate(scores)
        take = min(k + SPARE, len(score))
        best = np.argpartition(-score, take - 1)[:take] if take < len(score) else np.arange(take)
        found = every[best[np.isfinite(score[best])]]
        if not found.size:
            return []
        exact = self.vectors_of(found).astype(np.float64) @ np.asarray(query, dtype=np.float64)
        ids = np.asarray([self.ids[int(r)] for r in found])
        order = np.lexsort((ids, -exact))[:k]  # ties by chunk id, not by where the row lies
        return [(int(found[i]), float(exact[i])) for i in order]


def _coalesced(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """``ranges`` sorted, with ranges that touch or overlap joined (the documents of a filter
    often lie side by side: one scan instead of one per document)."""
    out: list[tuple[int, int]] = []
    for start, stop in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], stop))
        elif start < stop:
            out.append((start, stop))
    return out


SPARE = 16  # rows beyond the k asked that the float32 scan hands to the float64 pass


def _part_scores(part: _Part, query: np.ndarray, start: int, stop: int) -> np.ndarray:
    """float32 cosine of snapshot rows [start, stop) of one part (-inf: no vector)."""
    local = part.local(np.arange(start, stop))
    lo, hi = int(local[0]), int(local[-1]) + 1
    scores = np.asarray(part.segment.vectors[lo:hi] @ query, dtype=np.float32)
    if hi - lo != len(local):  # removed rows in between: keep the live ones
        scores = scores[local - lo]
    return np.where(part.segment.dense[local], scores, np.float32(-np.inf))


def open_snapshot(manifest: Manifest, segments: Mapping[str, Segment]) -> Snapshot:
    """The snapshot of ``manifest``'s live rows (its segments loaded in ``segments``)."""
    parts: list[_Part] = []
    route_live: list[np.ndarray | None] = []
    offset = 0
    for entry in manifest.segments:
        segment = segments[entry.name]
        mask = live_mask(segment, entry.deleted)
        parts.append(_Part(segment, None if mask is None else np.flatnonzero(mask), offset))
        route_live.append(router_mask(segment, entry.deleted))
        offset += parts[-1].size
    router_docs: list[str] = []
    for part, entry in zip(parts, manifest.segments, strict=True):
        router_docs.extend(d for d in part.segment.router_docs if d not in entry.deleted)
    live = tuple(None if p.kept is None else _mask(p) for p in parts)
    ids = RowIds(parts)

    def field_of(key: str, masks: tuple[np.ndarray | None, ...]) -> LiveField:
        return LiveField(tuple(p.segment.fields[key] for p in parts), masks, manifest.bm25)

    dense = [p.segment.dense if p.kept is None else p.segment.dense[p.kept] for p in parts]
    return Snapshot(
        generation=manifest.generation,
        model=manifest.model,
        ids=ids,
        row_of=RowIndex(parts, ids),
        doc_ranges=DocRanges(tuple(parts), tuple(e.deleted for e in manifest.segments)),
        bm25=field_of("text", live),
        sections=field_of("sections", live),
        dense=np.concatenate(dense) if dense else np.zeros(0, dtype=bool),
        router=field_of("router", tuple(route_live)),
        router_cover=field_of("router_cover", tuple(route_live)),
        router_docs=tuple(router_docs),
        chinese=manifest.chinese,  # type: ignore[arg-type]
        grams=field_of("grams", live),
        parts=tuple(parts),
    )


def _mask(part: _Part) -> np.ndarray:
    mask = np.zeros(part.segment.size, dtype=bool)
    mask[part.kept] = True
    return mask


def current_generation(folder: Path, chinese: ChineseAnalysis = "jieba") -> int | None:
    """The generation of the folder's index; None where there is none, or it was written
    by an older Folio or reads Chinese other than ``chinese`` (it is rebuilt)."""
    manifest = read_manifest(folder)
    if manifest is None or manifest.chinese != chinese:
        return None
    return manifest.generation


def load_snapshot(folder: Path, cache: dict[str, Segment] | None = None) -> Snapshot | None:
    """The folder's snapshot; segments already in ``cache`` are not loaded again (and the
    cache keeps only the manifest's). None where there is none, or one went meanwhile."""
    manifest = read_manifest(folder)
    if manifest is None:
        return None
    cache = {} if cache is None else cache
    try:
        segments = {
            e.name: cache.get(e.name) or load_segment(folder, e.name) for e in manifest.segments
        }
    except FileNotFoundError:
        return None  # merged away while we read; the caller reads again
    for name in set(cache) - set(segments):
        del cache[name]
    cache.update(segments)
    return open_snapshot(manifest, segments)


def build_snapshot(
    folder: Path,
    generation: int,
    model: str,
    dim: int,
    rows: Iterable[Sequence[Any]],
    vectors_by_hash: dict[str, np.ndarray],
    bm25: BM25Index,
    routers: tuple[BM25Index, BM25Index],
    route_tokens: dict[str, tuple[list[str], list[str]]],
    sections: tuple[BM25Index, Sequence[Sequence[str]]] | None = None,
    grams: tuple[BM25Index, Sequence[Sequence[str]]] | None = None,
    chinese: ChineseAnalysis = "jieba",
) -> Path:
    """Write an index of one segment from (chunk id, doc id, tokens, dense, text hash) rows,
    replacing the folder's, with routing over the documents' (name, cover) tokens
    (``route_tokens``), sections (the index and one token list per row; none: no chunk has
    a section) and grams (one token list per row, where ``chinese`` is ``fields``). The
    indexes given bring their BM25 method and parameters."""
    rows = list(rows)
    ids = [r[0] for r in rows]
    dense = np.asarray([bool(r[3]) and r[4] in vectors_by_hash for r in rows], dtype=bool)
    vectors = np.zeros((len(rows), dim), dtype=np.float32)
    for row, r in enumerate(rows):
        if dense[row]:
            vectors[row] = vectors_by_hash[r[4]]
    source = SegmentSource(
        ids=ids,
        doc_ids=[r[1] for r in rows],
        text=[r[2].split() for r in rows],
        sections=sections[1] if sections else [[]] * len(rows),
        grams=grams[1] if grams else [[]] * len(rows),
        dense=dense,
        vectors=vectors,
        route=route_tokens,
        stamps={r[1]: "" for r in rows},
    )
    params = BM25Params(bm25.method, bm25.k1, bm25.b, bm25.idf_method)
    entry = write_segment(folder, source)  # the caller holds the lock (``SnapshotStore``)
    manifest = Manifest(generation, model, chinese, params, (entry,))
    write_manifest(folder, manifest)
    remove_unused(folder, manifest, grace_s=0)
    return folder / entry.name


class SnapshotStore:
    """Keeps the snapshot in step with the registry generation (brought up to date at most
    once per generation, under a file lock shared by every process using the folder), and
    merges segments in the background (``merge``: one merge step, True if it did one)."""

    def __init__(
        self,
        folder: Path,
        build: Callable[[Path, int], None],
        chinese: ChineseAnalysis = "jieba",
        merge: Callable[[Path], bool] | None = None,
    ) -> None:
        self.folder = folder
        self._build = build
        self.chinese = chinese  # how the snapshots ``build`` writes read Chinese
        self._merge = merge
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._segments: dict[str, Segment] = {}  # loaded once, shared by snapshots
        self._merging: threading.Thread | None = None

    @property
    def generation(self) -> int | None:
        """The generation of the snapshot loaded now (None before the first)."""
        snapshot = self._snapshot
        return snapshot.generation if snapshot is not None else None

    def current(self, generation: int, wait: bool = False) -> Snapshot:
        """The snapshot of ``generation``, built if needed. While another thread builds it,
        the previous snapshot is served instead of making every query wait for the build
        (its removed chunks drop out when hits are fetched from the registry); ``wait``
        waits for the new one (the writer, after it changed the library)."""
        snapshot = self._snapshot
        if snapshot is not None and snapshot.generation == generation:
            return snapshot
        if wait or snapshot is None:
            self._lock.acquire()
        elif not self._lock.acquire(blocking=False):
            return snapshot
        try:
            snapshot = self._snapshot
            if snapshot is not None and snapshot.generation == generation:
                return snapshot
            with index_lock(self.folder):
                if current_generation(self.folder, self.chinese) != generation:
                    self._build(self.folder, generation)
                loaded = load_snapshot(self.folder, self._segments)
            if loaded is None:
                raise RuntimeError(f"index snapshot in {self.folder} could not be read")
            self._snapshot = loaded
        finally:
            self._lock.release()
        self._start_merging()
        return loaded

    def _start_merging(self) -> None:
        if self._merge is None or (self._merging is not None and self._merging.is_alive()):
            return
        self._merging = threading.Thread(target=self._merge_all, name="index-merge", daemon=True)
        self._merging.start()

    def _merge_all(self) -> None:
        assert self._merge is not None
        try:
            while self._merge(self.folder):
                with self._lock:
                    cache = dict(self._segments)
                loaded = load_snapshot(self.folder, cache)  # the merged segment, read here
                with self._lock:  # it replaces its inputs in the snapshot served
                    current = self._snapshot
                    generation = current.generation if current is not None else None
                    if loaded is not None and loaded.generation == generation:
                        self._snapshot = loaded
                        self._segments = cache
        except Exception:  # the index stays as it was: correct, with more segments
            log.exception("merging index segments in %s failed", self.folder)

    def wait_for_merges(self, timeout: float | None = None) -> None:
        """Wait until the background merges are done (tests, benchmarks)."""
        merging = self._merging
        if merging is not None:
            merging.join(timeout)
