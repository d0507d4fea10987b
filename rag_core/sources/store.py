"""The sources' rows in the registry database: each source of a workspace, and each file it saw.

Tables ``sources`` and ``source_files`` (``store/migrations.py: m003_sources``), keyed by
workspace like every registry table. A file's row holds its stamp at the last look, the hash
of its content then (``hash``), the document its content is in (``doc_id``: the last version
that went in, kept while a newer one fails) and why its content failed (``error``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.engine import Engine

from rag_core.sources.scan import Rules, Stamp
from rag_core.store.database import utcnow, writing

# Why a source does not sync: its user paused it, its folder went missing or came back empty
# (an unmounted drive), or its removal is under way.
PauseKind = Literal["user", "missing", "empty", "removing"]


@dataclass(frozen=True, slots=True)
class Failure:
    """A file that could not go in (or an entry left out), and why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one sync of a source did."""

    source: str
    finished_at: datetime
    seconds: float
    seen: int  # files in the folder that count (include and exclude patterns applied)
    added: int = 0
    updated: int = 0  # content changed: the document was replaced
    renamed: int = 0  # same content at a new path: the document kept, its name changed
    removed: int = 0  # files deleted or excluded since the last sync: their documents went
    unchanged: int = 0
    waiting: tuple[str, ...] = ()  # still being written: taken at the next sync
    failed: tuple[Failure, ...] = ()  # files failing now (retried once they change)
    skipped: tuple[Failure, ...] = ()  # links out of the folder, unreadable entries
    error: str = ""  # why the sync could not run (the source is paused then)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> SyncReport:
        data = json.loads(raw)
        data["finished_at"] = datetime.fromisoformat(data["finished_at"])
        data["waiting"] = tuple(data["waiting"])
        for key in ("failed", "skipped"):
            data[key] = tuple(Failure(**f) for f in data[key])
        return cls(**data)

    def counts(self) -> dict[str, Any]:
        """The numbers of the report, for a log line."""
        return {
            "seen": self.seen,
            "added": self.added,
            "updated": self.updated,
            "renamed": self.renamed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "waiting": len(self.waiting),
            "failed": len(self.failed),
            "skipped": len(self.skipped),
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Source:
    """A watched folder of one workspace."""

    workspace: str
    name: str
    root: Path
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    every: int  # seconds between syncs; 0: only when asked
    paused: PauseKind | None = None
    paused_detail: str = ""
    accept_empty: bool = False  # the next sync may find the folder empty (its user resumed it)
    created_at: datetime | None = None
    last_sync_at: datetime | None = None
    last_report: SyncReport | None = None

    @property
    def rules(self) -> Rules:
        return Rules(self.include, self.exclude)

    def document_name(self, path: str) -> str:
        """The name of the document of the file at ``path``: ``<source>/<path>``."""
        return f"{self.name}/{path}"


@dataclass(frozen=True, slots=True)
class FileRow:
    """What a source knows of one file."""

    path: str
    stamp: Stamp
    hash: str | None  # content at the last look (None: it could not be read)
    doc_id: str | None  # the document holding the last version that went in
    error: str | None = None  # why the content at the last look failed

    def same_stamp(self, stamp: Stamp) -> bool:
        """Unchanged for a file that went in: same size and modification time."""
        return (self.stamp.size, self.stamp.mtime_ns) == (stamp.size, stamp.mtime_ns)


@dataclass(frozen=True, slots=True)
class Claim:
    """A file row as documents see it: its document name, content and last good document."""

    name: str
    hash: str | None  # None while its content fails
    doc_id: str | None


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """A source with what it holds now."""

    source: Source
    files: int  # files it knows (in the library, failing or waiting for a retry)
    failures: tuple[Failure, ...]
    syncing: bool  # a sync of it runs in this process now

    @property
    def name(self) -> str:
        return self.source.name

    def last_sync_age(self, now: datetime | None = None) -> float | None:
        """Seconds since the last sync finished; ``None`` before the first."""
        last = self.source.last_sync_at
        if last is None:
            return None
        return max(0.0, ((now or datetime.now(UTC)) - last).total_seconds())


class SourceStore:
    """One workspace's sources and file rows."""

    def __init__(self, engine: Engine, workspace: str) -> None:
        self.engine = engine
        self.workspace = workspace

    def _rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), {"ws": self.workspace, **params}))

    # Sources ------------------------------------------------------------------------------
    def sources(self) -> list[Source]:
        rows = self._rows("SELECT * FROM sources WHERE workspace = :ws ORDER BY name")
        return [_source(r) for r in rows]

    def source(self, name: str) -> Source | None:
        rows = self._rows("SELECT * FROM sources WHERE workspace = :ws AND name = :n", n=name)
        return _source(rows[0]) if rows else None

    def insert(self, source: Source) -> None:
        with writing(self.engine) as conn:
            conn.execute(
                text(
                    "INSERT INTO sources (workspace, name, root, include_globs, exclude_globs, "
                    "every_seconds, paused, paused_detail, accept_empty, created_at) VALUES "
                    "(:ws, :n, :root, :inc, :exc, :every, NULL, NULL, 0, :at)"
                ),
                {
                    "ws": self.workspace,
                    "n": source.name,
                    "root": str(source.root),
                    "inc": json.dumps(list(source.include), ensure_ascii=False),
                    "exc": json.dumps(list(source.exclude), ensure_ascii=False),
                    "every": source.every,
                    "at": utcnow(),
                },
            )

    def delete(self, name: str) -> None:
        """The source and its file rows, in one transaction."""
        with writing(self.engine) as conn:
            params = {"ws": self.workspace, "n": name}
            conn.execute(
                text("DELETE FROM source_files WHERE workspace = :ws AND source = :n"), params
            )
            conn.execute(text("DELETE FROM sources WHERE workspace = :ws AND name = :n"), params)

    def set_paused(self, name: str, kind: PauseKind | None, detail: str = "") -> None:
        """Pause (``kind``) or resume (``None``: the next sync may find the folder empty)."""
        with writing(self.engine) as conn:
            conn.execute(
                text(
                    "UPDATE sources SET paused = :k, paused_detail = :d, accept_empty = :a "
                    "WHERE workspace = :ws AND name = :n"
                ),
                {
                    "ws": self.workspace,
                    "n": name,
                    "k": kind,
                    "d": detail or None,
                    "a": int(kind is None),
                },
            )

    def record_sync(self, name: str, report: SyncReport) -> None:
        with writing(self.engine) as conn:
            conn.execute(
                text(
                    "UPDATE sources SET last_sync_at = :at, last_report = :r, accept_empty = 0 "
                    "WHERE workspace = :ws AND name = :n"
                ),
                {
                    "ws": self.workspace,
                    "n": name,
                    "at": report.finished_at.isoformat(timespec="microseconds"),
                    "r": report.to_json(),
                },
            )

    @staticmethod
    def workspaces(engine: Engine) -> set[str]:
        """Every workspace that has a source (the server opens them at start to sync them)."""
        with engine.connect() as conn:
            return {r[0] for r in conn.execute(text("SELECT DISTINCT workspace FROM sources"))}

    # Files --------------------------------------------------------------------------------
    def files(self, source: str) -> dict[str, FileRow]:
        rows = self._rows(
            "SELECT * FROM source_files WHERE workspace = :ws AND source = :s", s=source
        )
        return {r.path: _file_row(r) for r in rows}

    def claims(self, except_source: str) -> list[Claim]:
        """The file rows of the workspace's other sources, as claims on documents."""
        rows = self._rows(
            "SELECT source, path, hash, doc_id, error FROM source_files "
            "WHERE workspace = :ws AND source <> :s",
            s=except_source,
        )
        return [Claim(f"{r.source}/{r.path}", None if r.error else r.hash, r.doc_id) for r in rows]

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per source: (files, files failing)."""
        rows = self._rows(
            "SELECT source, COUNT(*) AS files, "
            "SUM(CASE WHEN error IS NULL THEN 0 ELSE 1 END) AS failing "
            "FROM source_files WHERE workspace = :ws GROUP BY source"
        )
        return {r.source: (int(r.files), int(r.failing or 0)) for r in rows}

    def failures(self, source: str) -> tuple[Failure, ...]:
        rows = self._rows(
            "SELECT path, error FROM source_files WHERE workspace = :ws AND source = :s "
            "AND error IS NOT NULL ORDER BY path",
            s=source,
        )
        return tuple(Failure(r.path, r.error) for r in rows)

    def write_files(
        self, source: str, rows: Iterable[FileRow], deleted: Sequence[str] = ()
    ) -> None:
        """Upsert ``rows`` and delete the rows of ``deleted``, in one transaction."""
        rows = list(rows)
        gone = [*deleted, *(r.path for r in rows)]
        if not gone:
            return
        with writing(self.engine) as conn:
            conn.execute(
                text(
                    "DELETE FROM source_files WHERE workspace = :ws AND source = :s AND path = :p"
                ),
                [{"ws": self.workspace, "s": source, "p": p} for p in gone],
            )
            if rows:
                conn.execute(
                    text(
                        "INSERT INTO source_files (workspace, source, path, size, mtime_ns, "
                        "ctime_ns, hash, doc_id, error) VALUES (:ws, :s, :p, :size, :mtime, "
                        ":ctime, :h, :d, :e)"
                    ),
                    [
                        {
                            "ws": self.workspace,
                            "s": source,
                            "p": r.path,
                            "size": r.stamp.size,
                            "mtime": r.stamp.mtime_ns,
                            "ctime": r.stamp.ctime_ns,
                            "h": r.hash,
                            "d": r.doc_id,
                            "e": r.error,
                        }
                        for r in rows
                    ],
                )


def _source(row: Any) -> Source:
    return Source(
        workspace=row.workspace,
        name=row.name,
        root=Path(row.root),
        include=tuple(json.loads(row.include_globs)),
        exclude=tuple(json.loads(row.exclude_globs)),
        every=int(row.every_seconds),
        paused=row.paused,
        paused_detail=row.paused_detail or "",
        accept_empty=bool(row.accept_empty),
        created_at=datetime.fromisoformat(row.created_at),
        last_sync_at=datetime.fromisoformat(row.last_sync_at) if row.last_sync_at else None,
        last_report=SyncReport.from_json(row.last_report) if row.last_report else None,
    )


def _file_row(row: Any) -> FileRow:
    return FileRow(
        path=row.path,
        stamp=Stamp(int(row.size), int(row.mtime_ns), int(row.ctime_ns)),
        hash=row.hash,
        doc_id=row.doc_id,
        error=row.error,
    )


def claim_of(source: Source, row: FileRow) -> Claim:
    return Claim(source.document_name(row.path), row.hash if not row.error else None, row.doc_id)


def with_error(row: FileRow, error: str, content: str | None) -> FileRow:
    """``row`` failing for ``error``; its last good document stays."""
    return replace(row, error=error, hash=content or row.hash)
