"""One sync of a source: look at the folder, then bring the library in line with the rows.

1. **Look** (``look``). The folder is scanned: one ``stat`` per file. A file whose size and
   modification time are those of its row is unchanged and not opened. Any other file is read
   and hashed, and looked at again: if its size or modification time moved while it was read,
   or it was modified less than ``FOLIO_SOURCE_SETTLE_SECONDS`` ago, it is still being written
   and waits for the next sync. A file over the upload limit fails by its size, unread; a file
   that failed is tried again only once its stamp changes. The rows of what was seen (stamp,
   content hash) are written, and the rows of files gone or now excluded deleted, in one
   transaction, before anything in the library changes.
2. **Converge** (``plan``, pure, then library operations). The rows say which content each
   file wants in the library; the registry says what is there. A document whose content is
   wanted under a new name (a rename: same hash, new path) is re-indexed under it and keeps its
   id; files whose content is not in the library go in as one batch (a changed file replaces
   the document of its name, only changed chunks embedded); the source's documents no row
   wants any more are removed from every index (``orphans``, pure).

A source's documents are named ``<source>/<path>``; an upload's name never holds a ``/``
(``readers.clean_name``), so a sync never renames nor removes an upload, even one whose bytes
a file of the folder shares. Every library operation keeps its own crash safety, and the plan
is computed from the rows and the registry alone, so a sync killed anywhere leaves rows that the
next sync converges from by the same steps, finding done what was done.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rag_core.errors import FolioError
from rag_core.ingest.readers import MB
from rag_core.sources.scan import FolderScan, FolderUnavailable, Stamp, scan_folder
from rag_core.sources.store import (
    Claim,
    Failure,
    FileRow,
    PauseKind,
    Source,
    SourceStore,
    SyncReport,
    claim_of,
    with_error,
)
from rag_core.types import Document, FolderFile, IngestResult, Progress

if TYPE_CHECKING:
    from rag_core.library import Library

log = logging.getLogger("folio.sources")


# Looking -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Content:
    hash: str  # as ``ingest.pipeline.content_id`` names the same bytes
    stamp: Stamp


@dataclass(frozen=True, slots=True)
class Unreadable:
    reason: str


def read_content(
    path: Path, stamp: Stamp, *, settle: float, max_bytes: int, now: float
) -> Content | Unreadable | None:
    """The hash of the file at ``path``, why it cannot go in, or ``None``: still being written."""
    if stamp.size > max_bytes:
        return Unreadable(
            f"is {stamp.size / MB:.1f} MB, over the upload limit of "
            f"{round(max_bytes / MB, 2):g} MB (FOLIO_MAX_UPLOAD_MB)"
        )
    if 0 <= now - stamp.mtime_ns / 1e9 < settle:
        return None
    digest, size = hashlib.sha256(), 0
    try:
        with path.open("rb") as file:
            while block := file.read(1 << 20):
                digest.update(block)
                size += len(block)
            after = Stamp.of(os.fstat(file.fileno()))
    except OSError as exc:
        return Unreadable(f"cannot be read ({exc.strerror or exc})")
    if size != stamp.size or (after.size, after.mtime_ns) != (stamp.size, stamp.mtime_ns):
        return None  # it moved under us: a writer is at work
    if size == 0:
        return Unreadable("the file is empty (0 bytes)")
    return Content(digest.hexdigest()[:32], after)


@dataclass(frozen=True, slots=True)
class Look:
    """What a look at the folder found, before anything in the library changes."""

    writes: tuple[FileRow, ...]  # rows new or changed
    vanished: tuple[str, ...]  # paths deleted or now excluded
    fresh: frozenset[str]  # paths whose content was never in the library
    changed: frozenset[str]  # paths whose document is there with other content
    unchanged: int
    waiting: tuple[str, ...]


def look(
    source: Source,
    rows: Mapping[str, FileRow],
    scan: FolderScan,
    *,
    settle: float,
    max_bytes: int,
    now: float,
) -> Look:
    """Compare the folder with the rows, reading only files whose stamp changed."""
    writes: list[FileRow] = []
    fresh: set[str] = set()
    changed: set[str] = set()
    waiting: list[str] = []
    unchanged = 0
    for path, stamp in sorted(scan.files.items()):
        row = rows.get(path)
        if row is not None and row.error is None and row.same_stamp(stamp):
            unchanged += 1
            continue
        if row is not None and row.error is not None and row.stamp == stamp:
            continue  # failed, and not touched since
        found = read_content(source.root / path, stamp, settle=settle, max_bytes=max_bytes, now=now)
        if found is None:
            waiting.append(path)
            continue
        last_good = row.doc_id if row is not None else None
        if isinstance(found, Unreadable):
            writes.append(FileRow(path, stamp, None, last_good, found.reason))
            continue
        writes.append(FileRow(path, found.stamp, found.hash, last_good))
        if last_good is None:
            fresh.add(path)
        elif found.hash != last_good:
            changed.add(path)
        else:
            unchanged += 1
    unreadable = [s.path for s in scan.skipped if s.unreadable]
    vanished = tuple(
        p
        for p in sorted(rows)
        if p not in scan.files and not any(p == u or p.startswith(u + "/") for u in unreadable)
    )
    return Look(
        tuple(writes), vanished, frozenset(fresh), frozenset(changed), unchanged, tuple(waiting)
    )


# Planning (pure) -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Plan:
    renames: tuple[tuple[str, str], ...]  # (document id, its new name), in order
    ingest: tuple[str, ...]  # document names whose file goes in from the folder


def is_source_name(name: str) -> bool:
    """A document a source added (``<source>/<path>``); an upload's name has no ``/``."""
    return "/" in name


def plan(mine: Sequence[Claim], others: Sequence[Claim], docs: Sequence[Document]) -> Plan:
    """What to do so that every claim of ``mine`` has its content in the library under its
    name, without taking a document from a claim of ``others`` (other sources' files)."""
    ready = {d.id: d for d in docs if d.status == "ready"}
    by_name = {d.name: d for d in ready.values()}
    wanted_by: dict[str, list[str]] = {}  # document id -> names wanting it, by content first
    for claim in (*mine, *others):
        if claim.hash:
            wanted_by.setdefault(claim.hash, []).append(claim.name)
    for claim in (*mine, *others):
        if claim.doc_id and claim.doc_id != claim.hash:
            wanted_by.setdefault(claim.doc_id, []).append(claim.name)
    renames: dict[str, str] = {}
    ingest: list[str] = []
    for claim in sorted(mine, key=lambda c: c.name):
        if claim.hash is None:
            continue
        doc = ready.get(claim.hash)
        if doc is None:
            ingest.append(claim.name)
            # The document of this name goes (it is replaced) unless another file wants it.
            old = by_name.get(claim.name)
            heirs = [n for n in wanted_by.get(old.id, []) if n != claim.name] if old else []
            if old is not None and heirs and old.id not in renames:
                renames[old.id] = heirs[0]
        elif (
            doc.name != claim.name
            and doc.id not in renames
            and is_source_name(doc.name)
            and doc.name not in wanted_by.get(doc.id, [])
        ):
            renames[doc.id] = claim.name  # its old name is gone: a rename
    return Plan(tuple(renames.items()), tuple(ingest))


def orphans(source: str, claims: Sequence[Claim], docs: Sequence[Document]) -> list[str]:
    """Ids of ``source``'s documents (ready or failed) that no file wants any more."""
    wanted = {c.hash for c in claims if c.hash} | {c.doc_id for c in claims if c.doc_id}
    prefix = f"{source}/"
    return [
        d.id
        for d in docs
        if d.name.startswith(prefix) and d.status in ("ready", "failed") and d.id not in wanted
    ]


# Syncing ----------------------------------------------------------------------------------
ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class Converged:
    rows: dict[str, FileRow]  # the source's rows afterwards
    renamed_to: frozenset[str]  # names that documents were renamed to
    removed: int  # documents removed


def sync_source(
    library: Library,
    store: SourceStore,
    source: Source,
    progress: ProgressCallback | None = None,
) -> SyncReport:
    """Bring ``library`` in line with ``source``'s folder (see the module's docstring).

    A folder that is missing, or empty while the source had files, pauses the source and
    changes nothing else.
    """
    started = time.perf_counter()
    rows = store.files(source.name)
    try:
        scan = scan_folder(source.root, source.rules)
    except FolderUnavailable as exc:
        return _paused(store, source, "missing", f"{exc}", started)
    held = sum(1 for r in rows.values() if r.doc_id)
    if scan.empty and held and not source.accept_empty:
        why = f"the folder {source.root} is empty, but the source had {held} files in the library"
        return _paused(store, source, "empty", f"{why} (an unmounted drive?)", started)
    settings = library.settings
    seen = look(
        source,
        rows,
        scan,
        settle=settings.source_settle_seconds,
        max_bytes=settings.max_upload_bytes,
        now=time.time(),
    )
    store.write_files(source.name, seen.writes, seen.vanished)
    rows = {p: r for p, r in rows.items() if p not in seen.vanished}
    rows.update({r.path: r for r in seen.writes})
    done = converge(library, store, source, rows, progress)
    rows = done.rows
    renames = {n.split("/", 1)[1] for n in done.renamed_to}
    added = sum(
        1 for p in seen.fresh - renames if p in rows and rows[p].error is None and rows[p].doc_id
    )
    updated = sum(1 for p in seen.changed if p in rows and rows[p].error is None)
    return SyncReport(
        source=source.name,
        finished_at=datetime.now(UTC),
        seconds=time.perf_counter() - started,
        seen=len(scan.files),
        added=added,
        updated=updated,
        renamed=len(renames & seen.fresh),
        removed=max(0, len(seen.vanished) - len(renames & seen.fresh)),
        unchanged=seen.unchanged,
        waiting=seen.waiting,
        failed=tuple(Failure(r.path, r.error) for _, r in sorted(rows.items()) if r.error),
        skipped=tuple(Failure(s.path, s.reason) for s in scan.skipped),
    )


def converge(
    library: Library,
    store: SourceStore,
    source: Source,
    rows: Mapping[str, FileRow],
    progress: ProgressCallback | None = None,
) -> Converged:
    """Rename, ingest and remove until the library holds what ``rows`` (the source's rows as
    stored) want; returns the rows as they are then."""
    rows = dict(rows)
    others = store.claims(source.name)
    docs = library.documents()
    todo = plan([claim_of(source, r) for r in rows.values()], others, docs)
    renamed = _rename(library, todo.renames)
    updates = _ingest(library, source, rows, todo.ingest, progress)
    rows.update({r.path: r for r in updates})
    if renamed or updates:
        docs = library.documents()
    ready = {d.id for d in docs if d.status == "ready"}
    caught_up = [  # content in the library that the row does not know yet (a crash, a rename)
        replace(r, doc_id=r.hash)
        for r in rows.values()
        if r.error is None and r.hash in ready and r.doc_id != r.hash
    ]
    rows.update({r.path: r for r in caught_up})
    store.write_files(source.name, [*updates, *caught_up])
    claims = [*(claim_of(source, r) for r in rows.values()), *others]
    removed = len(library.remove_many(orphans(source.name, claims, docs)))
    if renamed or removed:
        library.refresh()
    return Converged(rows, frozenset(renamed), removed)


def _rename(library: Library, renames: Sequence[tuple[str, str]]) -> list[str]:
    done = []
    for doc_id, name in renames:
        try:
            result = library.rename(doc_id, name)
        except FolioError as exc:
            log.warning("document %s not renamed to %s: %s", doc_id, name, exc)
            continue
        if result.status != "failed":
            done.append(name)
    return done


def _ingest(
    library: Library,
    source: Source,
    rows: Mapping[str, FileRow],
    names: Sequence[str],
    progress: ProgressCallback | None,
) -> list[FileRow]:
    """Add the files of ``names`` in one batch; returns their rows as they turned out."""
    if not names:
        return []
    paths = [name.split("/", 1)[1] for name in names]
    files = [FolderFile(n, source.root / p) for n, p in zip(names, paths, strict=True)]
    report = library.add(files, progress=progress)
    updates = []
    for path, result in zip(paths, report.results, strict=True):
        row = rows[path]
        if result.status == "failed":
            updates.append(with_error(row, _reason(result), result.doc_id))
        else:
            updates.append(replace(row, hash=result.doc_id, doc_id=result.doc_id, error=None))
    return updates


def _reason(result: IngestResult) -> str:
    """The failure's reason without the file name in front (the row names the file)."""
    error = result.error or "failed"
    prefix = f"{result.name}: "
    return error[len(prefix) :] if error.startswith(prefix) else error


def _paused(
    store: SourceStore, source: Source, kind: PauseKind, why: str, started: float
) -> SyncReport:
    detail = f"{why}; nothing was removed. Resume the source once the folder is as it should be."
    store.set_paused(source.name, kind, detail)
    log.warning("source %s paused: %s", source.name, detail)
    return SyncReport(
        source=source.name,
        finished_at=datetime.now(UTC),
        seconds=time.perf_counter() - started,
        seen=0,
        error=detail,
    )
