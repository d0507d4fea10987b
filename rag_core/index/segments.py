"""Immutable index segments and the manifest that lists the live ones (issue 17).

A segment holds whole documents: their chunks' ids in (document, page, ordinal) order, each
document's contiguous row range, the term postings of the chunk text, sections and Chinese
grams (``postings.Postings``), a float32 matrix of their vectors, and routing postings over
the documents' names and covers. It is written once, to a folder of its own, and never
changed. Removing a document marks it deleted in the manifest (a tombstone); a merge writes
the live rows of several segments as one new segment.

Write order (what makes a crash at any point harmless): a segment folder is written whole
before any manifest names it; the manifest (``SEGMENTS``) is written to a new file and
switched with an atomic rename, under the index folder's file lock (``index_lock``), so a
reader, in this process or another, sees the old list or the new one, each complete.
Folders no manifest names (a crash mid-write, merged inputs) are removed later by
``remove_unused``, after a grace period in which another process may still be opening them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from rag_core.index import npy
from rag_core.index.postings import (
    BM25Params,
    Postings,
    build_postings,
    load_postings,
    save_postings,
)

# 5: sections; 6: Chinese characters and pairs; 7: names without ids; 8: segments; 9: the
# character pairs of Traditional Chinese written Simplified; 10: the vectors' text version
FORMAT = 10
MANIFEST = "SEGMENTS"
FIELDS = ("text", "sections", "grams", "router", "router_cover")
UNUSED_GRACE_S = 60.0  # an unnamed segment folder younger than this may be being read


@dataclass(frozen=True)
class SegmentSource:
    """What a new segment holds: its rows in index order, the tokens of each field, the
    vectors (zero rows where ``dense`` is False), the routing tokens (name, cover) of its
    documents with chunks, and a stamp for every document it takes (chunks or none)."""

    ids: Sequence[str]
    doc_ids: Sequence[str]
    text: Sequence[Sequence[str]]
    sections: Sequence[Sequence[str]]
    grams: Sequence[Sequence[str]]
    dense: np.ndarray
    vectors: np.ndarray
    route: Mapping[str, tuple[list[str], list[str]]]
    stamps: Mapping[str, str]


@dataclass(frozen=True)
class Segment:
    """A segment as loaded: postings and vectors are memory-mapped."""

    name: str
    ids: tuple[str, ...]
    doc_ranges: dict[str, tuple[int, int]]
    router_docs: tuple[str, ...]  # one routing row each
    fields: dict[str, Postings]
    vectors: np.ndarray  # (rows, dim) float32
    dense: np.ndarray  # (rows,) bool

    @property
    def size(self) -> int:
        return len(self.ids)

    @cached_property
    def row_of(self) -> dict[str, int]:
        return {chunk_id: row for row, chunk_id in enumerate(self.ids)}


@dataclass(frozen=True)
class SegmentEntry:
    """A segment in the manifest: each document's (stamp, rows) and the removed ones."""

    name: str
    docs: dict[str, tuple[str, int]]
    deleted: frozenset[str] = frozenset()

    @property
    def rows(self) -> int:
        return sum(rows for _, rows in self.docs.values())

    @property
    def live_rows(self) -> int:
        return sum(rows for d, (_, rows) in self.docs.items() if d not in self.deleted)

    def live_docs(self) -> Iterator[str]:
        return (d for d in self.docs if d not in self.deleted)


@dataclass(frozen=True)
class Manifest:
    """The live index: its segments in order, and what every one of them was built with."""

    generation: int
    model: str
    chinese: str
    bm25: BM25Params
    segments: tuple[SegmentEntry, ...] = field(default=())
    vectors: str = ""  # what the vectors embed: the registry's dense-text version

    def stamps(self) -> dict[str, str]:
        """The stamp of every live document."""
        return {d: e.docs[d][0] for e in self.segments for d in e.live_docs()}


def new_segment_name() -> str:
    return f"seg-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


def write_segment(folder: Path, source: SegmentSource) -> SegmentEntry:
    """Write ``source`` as a new segment folder of ``folder``; its manifest entry."""
    name = new_segment_name()
    target = folder / name
    target.mkdir(parents=True)
    doc_ranges: dict[str, list[int]] = {}
    for row, doc_id in enumerate(source.doc_ids):
        doc_ranges.setdefault(doc_id, [row, row + 1])[1] = row + 1
    router_docs = [d for d in doc_ranges if d in source.route]
    tokens = {
        "text": source.text,
        "sections": source.sections,
        "grams": source.grams,
        "router": [source.route[d][0] for d in router_docs],
        "router_cover": [source.route[d][1] for d in router_docs],
    }
    for key in ("text", "sections", "grams"):
        if len(tokens[key]) != len(source.ids):
            raise ValueError(f"{len(tokens[key])} {key} token lists for {len(source.ids)} rows")
    np.save(target / "vectors.npy", np.asarray(source.vectors, dtype=np.float32))
    np.save(target / "dense.npy", np.asarray(source.dense, dtype=bool))
    for key in FIELDS:
        save_postings(build_postings(tokens[key]), target / key)
    _write_meta(target, list(source.ids), doc_ranges, router_docs)
    rows = {d: stop - start for d, (start, stop) in doc_ranges.items()}
    return SegmentEntry(name, {d: (s, rows.get(d, 0)) for d, s in source.stamps.items()})


def _write_meta(
    target: Path, ids: list[str], doc_ranges: Mapping[str, Sequence[int]], router_docs: list[str]
) -> None:
    meta = {"ids": ids, "doc_ranges": doc_ranges, "router_docs": router_docs}
    (target / "meta.json").write_text(json.dumps(meta))  # last: a segment with meta is whole


def load_segment(folder: Path, name: str) -> Segment:
    target = folder / name
    meta = json.loads((target / "meta.json").read_text())
    return Segment(
        name=name,
        ids=tuple(meta["ids"]),
        doc_ranges={d: (r[0], r[1]) for d, r in meta["doc_ranges"].items()},
        router_docs=tuple(meta["router_docs"]),
        fields={key: load_postings(target / key) for key in FIELDS},
        vectors=npy.load(target / "vectors.npy", mmap=True),
        dense=npy.load(target / "dense.npy"),
    )


def live_mask(segment: Segment, deleted: frozenset[str]) -> np.ndarray | None:
    """Which rows of ``segment`` are live (None: all of them)."""
    ranges = [segment.doc_ranges[d] for d in deleted if d in segment.doc_ranges]
    if not ranges:
        return None
    mask = np.ones(segment.size, dtype=bool)
    for start, stop in ranges:
        mask[start:stop] = False
    return mask


def router_mask(segment: Segment, deleted: frozenset[str]) -> np.ndarray | None:
    """Which routing rows of ``segment`` are live (None: all of them)."""
    if not deleted.intersection(segment.router_docs):
        return None
    return np.fromiter((d not in deleted for d in segment.router_docs), dtype=bool)


# The manifest ---------------------------------------------------------------------------
# Read on every change (by the builder, the snapshot loader and the merges) and listing every
# document's stamp: the manifest last read or written in a folder is kept with the signature
# of its file (a manifest is never changed in place: each is a new file renamed over the old
# one), and is parsed again only when the file is another. A segment's documents never change
# either, so their JSON is kept by segment name and reused when a manifest is written.
_Signature = tuple[int, int, int]
_read: dict[str, tuple[_Signature, Manifest]] = {}
_docs_json: dict[str, dict[str, str]] = {}  # folder -> segment name -> docs


def _signature(path: Path) -> _Signature:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest; None where there is none or an older Folio wrote it."""
    path = folder / MANIFEST
    try:
        signature = _signature(path)  # before reading: what is read is this file or a newer one
        kept = _read.get(str(folder))
        if kept is not None and kept[0] == signature:
            return kept[1]
        content = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    if content.get("format") != FORMAT:
        return None
    manifest = Manifest(
        generation=content["generation"],
        model=content["model"],
        chinese=content["chinese"],
        bm25=BM25Params(**content["bm25"]),
        vectors=content.get("vectors", ""),
        segments=tuple(
            SegmentEntry(
                s["name"],
                {d: (v[0], v[1]) for d, v in s["docs"].items()},
                frozenset(s["deleted"]),
            )
            for s in content["segments"]
        ),
    )
    _read[str(folder)] = (signature, manifest)
    return manifest


def manifest_text(manifest: Manifest, docs_json: Mapping[str, str] | None = None) -> str:
    """The manifest as its file holds it (JSON); ``docs_json``: segment name -> its
    documents already as JSON (the rest are encoded here)."""
    head = json.dumps(
        {
            "format": FORMAT,
            "generation": manifest.generation,
            "model": manifest.model,
            "chinese": manifest.chinese,
            "vectors": manifest.vectors,
            "bm25": {
                "method": manifest.bm25.method,
                "k1": manifest.bm25.k1,
                "b": manifest.bm25.b,
                "idf_method": manifest.bm25.idf_method,
                "delta": manifest.bm25.delta,
            },
        }
    )
    known = docs_json or {}
    segments = ", ".join(
        f'{{"name": {json.dumps(s.name)}, "docs": {known.get(s.name) or json.dumps(s.docs)}, '
        f'"deleted": {json.dumps(sorted(s.deleted))}}}'
        for s in manifest.segments
    )
    return f'{head[:-1]}, "segments": [{segments}]}}'


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Switch the folder to ``manifest`` at once (a new file, renamed over the old one).
    Called under the folder's ``index_lock``: no other writer renames meanwhile."""
    known = _docs_json.get(str(folder), {})
    encoded = {s.name: known.get(s.name) or json.dumps(s.docs) for s in manifest.segments}
    _docs_json[str(folder)] = encoded
    staged = folder / f"{MANIFEST}.{uuid.uuid4().hex[:8]}"
    staged.write_text(manifest_text(manifest, encoded))
    signature = _signature(staged)  # the rename keeps it
    os.replace(staged, folder / MANIFEST)
    _read[str(folder)] = (signature, manifest)


@contextlib.contextmanager
def index_lock(folder: Path) -> Iterator[None]:
    """The index folder's file lock: one process at a time changes its manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def remove_unused(folder: Path, manifest: Manifest, grace_s: float = UNUSED_GRACE_S) -> None:
    """Remove segment folders the manifest does not name (older than ``grace_s``), staged
    manifests left by a crash, and the snapshots of Folio before segments. Under the lock."""
    named = {s.name for s in manifest.segments}
    now = time.time()
    for child in folder.iterdir():
        old = now - child.stat().st_mtime >= grace_s
        unused = child.name.startswith("seg-") and child.name not in named and old
        if child.is_dir() and (unused or child.name.startswith("gen-")):  # gen-: FORMAT 7 and older
            shutil.rmtree(child, ignore_errors=True)
        elif child.name.startswith((f"{MANIFEST}.", "CURRENT")) and old:
            child.unlink(missing_ok=True)
