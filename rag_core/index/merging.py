"""Tiered merging of index segments: a bounded number of segments, sizes growing geometrically.

Each change to the library writes a small segment; ``plan_merge`` (pure) picks, when a
tier (sizes within a factor ``fanout`` of each other) holds ``fanout`` segments, those to
write again as one, so a row is merged about log_fanout(rows) times in its life and the
count of segments stays below ``fanout`` per tier. A segment with most of its rows removed is
rewritten alone. ``merge_once`` does one planned merge outside the index lock (queries and
writes go on meanwhile) and commits it under the lock: the inputs are replaced by the
merged segment in the manifest, and documents removed during the merge stay removed (their
tombstones move to the merged segment).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag_core.index.postings import merge_postings, save_postings
from rag_core.index.segments import (
    FIELDS,
    Segment,
    SegmentEntry,
    _write_meta,
    index_lock,
    live_mask,
    load_segment,
    new_segment_name,
    read_manifest,
    remove_unused,
    router_mask,
    write_manifest,
)


@dataclass(frozen=True)
class MergePolicy:
    fanout: int = 8  # segments of one tier merged at once; sizes of tiers grow by this
    floor: int = 1000  # live rows: segments below this are all in the first tier
    purge: float = 0.5  # share of rows removed at which a segment is rewritten alone


def tier_of(rows: int, policy: MergePolicy) -> int:
    tier, bound = 0, policy.floor * policy.fanout
    while rows >= bound:
        tier, bound = tier + 1, bound * policy.fanout
    return tier


def plan_merge(entries: Sequence[SegmentEntry], policy: MergePolicy) -> list[int]:
    """Positions of the segments to merge next (the smallest full tier first), or []."""
    tiers: dict[int, list[int]] = {}
    for i, entry in enumerate(entries):
        tiers.setdefault(tier_of(entry.live_rows, policy), []).append(i)
    for tier in sorted(tiers):
        if len(tiers[tier]) >= policy.fanout:
            return tiers[tier][: policy.fanout]
    for i, entry in enumerate(entries):
        if entry.rows and (entry.rows - entry.live_rows) / entry.rows >= policy.purge:
            return [i]
    return []


def merge_segments(
    folder: Path, entries: Sequence[SegmentEntry], segments: Sequence[Segment]
) -> SegmentEntry:
    """Write the live rows of ``segments`` (in order) as one new segment; its entry."""
    name = new_segment_name()
    target = folder / name
    target.mkdir(parents=True)
    masks = [live_mask(s, e.deleted) for s, e in zip(segments, entries, strict=True)]
    kept = [
        np.arange(s.size) if m is None else np.flatnonzero(m)
        for s, m in zip(segments, masks, strict=True)
    ]
    remaps, start = [], 0
    for segment, rows in zip(segments, kept, strict=True):
        remap = np.full(segment.size, -1, dtype=np.int64)
        remap[rows] = np.arange(start, start + len(rows))
        remaps.append(remap)
        start += len(rows)
    route_remaps, route_start = [], 0
    for segment, entry in zip(segments, entries, strict=True):
        mask = router_mask(segment, entry.deleted)
        keep = np.ones(len(segment.router_docs), dtype=bool) if mask is None else mask
        remap = np.full(len(keep), -1, dtype=np.int64)
        remap[keep] = np.arange(route_start, route_start + int(keep.sum()))
        route_remaps.append(remap)
        route_start += int(keep.sum())
    for key in FIELDS:
        maps = route_remaps if key.startswith("router") else remaps
        parts = [(s.fields[key], m) for s, m in zip(segments, maps, strict=True)]
        save_postings(merge_postings(parts), target / key)
    _write_vectors(target, segments, kept)
    ids: list[str] = []
    doc_ranges: dict[str, list[int]] = {}
    router_docs: list[str] = []
    for segment, entry, rows in zip(segments, entries, kept, strict=True):
        for doc, (a, b) in segment.doc_ranges.items():
            if doc not in entry.deleted:
                doc_ranges[doc] = [len(ids) + int(np.searchsorted(rows, a)), 0]
                doc_ranges[doc][1] = doc_ranges[doc][0] + (b - a)
        ids.extend(segment.ids[i] for i in rows)
        router_docs.extend(d for d in segment.router_docs if d not in entry.deleted)
    _write_meta(target, ids, doc_ranges, router_docs)
    docs = {d: v for e in entries for d, v in e.docs.items() if d not in e.deleted}
    return SegmentEntry(name, docs)


def _write_vectors(target: Path, segments: Sequence[Segment], kept: Sequence[np.ndarray]) -> None:
    dims = {
        s.vectors.shape[1] for s, rows in zip(segments, kept, strict=True) if s.dense[rows].any()
    }
    dim = max(dims, default=1)
    total = sum(len(rows) for rows in kept)
    matrix = np.lib.format.open_memmap(
        target / "vectors.npy", mode="w+", dtype=np.float32, shape=(total, dim)
    )
    dense = np.zeros(total, dtype=bool)
    start = 0
    for segment, rows in zip(segments, kept, strict=True):
        stop = start + len(rows)
        flags = segment.dense[rows]
        dense[start:stop] = flags
        if flags.any() and segment.vectors.shape[1] == dim:
            for a in range(0, len(rows), 65536):  # in slices: a merge holds little memory
                part = rows[a : a + 65536]
                matrix[start + a : start + a + len(part)] = segment.vectors[part]
        start = stop
    matrix.flush()
    del matrix
    np.save(target / "dense.npy", dense)


def merge_once(
    folder: Path,
    policy: MergePolicy,
    load: Callable[[Path, str], Segment] = load_segment,
) -> bool:
    """Do the next merge ``policy`` plans for the index in ``folder``; False if none was
    due, or the index changed under it in a way that voids it (the output is dropped)."""
    manifest = read_manifest(folder)
    if manifest is None:
        return False
    chosen = plan_merge(manifest.segments, policy)
    if not chosen:
        return False
    entries = [manifest.segments[i] for i in chosen]
    merged = merge_segments(folder, entries, [load(folder, e.name) for e in entries])
    return commit_merge(folder, entries, merged)


def commit_merge(folder: Path, inputs: Sequence[SegmentEntry], merged: SegmentEntry) -> bool:
    """Replace ``inputs`` by ``merged`` in the manifest, if all are still there."""
    with index_lock(folder):
        manifest = read_manifest(folder)
        now = {e.name: e for e in manifest.segments} if manifest is not None else {}
        if manifest is None or any(e.name not in now for e in inputs):
            shutil.rmtree(folder / merged.name, ignore_errors=True)
            return False
        # Documents removed while the merge ran: removed from the merged segment too.
        deleted = frozenset(d for e in inputs for d in now[e.name].deleted - e.deleted)
        names = {e.name for e in inputs}
        segments: list[SegmentEntry] = []
        for entry in manifest.segments:
            if entry.name not in names:
                segments.append(entry)
            elif entry.name == inputs[0].name:
                segments.append(replace(merged, deleted=deleted))
        write_manifest(folder, replace(manifest, segments=tuple(segments)))
        remove_unused(folder, read_manifest(folder) or manifest)
    return True
