"""``Sources``: the watched folders of one workspace, what the CLI, the UI and the API call.

A source belongs to one workspace; two sources of a workspace may not overlap (one folder
inside the other would ingest its files twice over), and no source may hold Folio's data folder
or lie in it. Only the ingest writer adds, changes or syncs sources; a read replica lists them.
Syncs of one workspace run one at a time, across processes too: a thread lock and a file lock
(``<data_dir>/locks/<workspace>.sources.lock``), which the kernel releases when its process
dies, so a sync killed by ``kill -9`` never blocks the next one. Each sync (and each pause it
decides) is logged on ``folio.sources``, with its numbers as the record's ``sync`` field.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rag_core.config import WORKSPACE_NAME, safe_folder
from rag_core.errors import BusyError, ConfigurationError, FolioError, InputError, NotFoundError
from rag_core.ingest.lock import IngestLock
from rag_core.sources.scan import DEFAULT_INCLUDE, check_patterns
from rag_core.sources.schedule import Scheduler
from rag_core.sources.store import Source, SourceStatus, SourceStore, SyncReport
from rag_core.sources.sync import ProgressCallback, orphans, sync_source

if TYPE_CHECKING:
    from rag_core.library import Library

log = logging.getLogger("folio.sources")
MAX_EVERY = 7 * 24 * 3600


class Sources:
    def __init__(self, library: Library) -> None:
        self.library = library
        self.settings = library.settings
        self.workspace = library.workspace
        self.store = SourceStore(library.registry.engine, library.workspace)
        self.scheduler = Scheduler(self)
        self._lock = threading.Lock()  # one sync or removal at a time in this process
        self._process_lock = IngestLock(
            self.settings.data_dir / "locks" / f"{safe_folder(self.workspace)}.sources.lock"
        )
        self._syncing: str | None = None

    # Reading ------------------------------------------------------------------------------
    def statuses(self) -> list[SourceStatus]:
        counts = self.store.counts()
        return [self._status(s, counts.get(s.name, (0, 0))[0]) for s in self.store.sources()]

    def status(self, name: str) -> SourceStatus:
        return self._status(self._get(name), self.store.counts().get(name, (0, 0))[0])

    def _status(self, source: Source, files: int) -> SourceStatus:
        failures = self.store.failures(source.name)
        return SourceStatus(source, files, failures, self._syncing == source.name)

    def _get(self, name: str) -> Source:
        source = self.store.source(name)
        if source is None:
            raise NotFoundError(f"No source named '{name}' in workspace {self.workspace}")
        return source

    # Changing -----------------------------------------------------------------------------
    def add(
        self,
        folder: str | Path,
        *,
        roots: Sequence[Path] | None,
        name: str | None = None,
        every: int | None = None,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> SourceStatus:
        """Watch ``folder``. ``roots``: the folders it must be inside (``None``: anywhere, for
        the command line; the web app and the API pass ``Settings.source_root_folders``).
        Nothing is synced yet: the background syncs it soon, or ``sync`` does now."""
        self._check_writer()
        existing = self.store.sources()
        root = self._checked_folder(folder, roots, existing)
        every = self.settings.source_every if every is None else every
        if not 0 <= every <= MAX_EVERY:
            raise InputError("every", f"is {every}: give 0 (manual only) to {MAX_EVERY} seconds")
        try:
            includes = check_patterns("include", include) or DEFAULT_INCLUDE
            excludes = check_patterns("exclude", exclude)
        except ValueError as exc:
            field, _, reason = str(exc).partition(": ")
            raise InputError(field, reason) from None
        name = self._checked_name(name, root, existing)
        self.store.insert(Source(self.workspace, name, root, includes, excludes, every))
        log.info(
            "source %s added: %s", name, root, extra={"workspace": self.workspace, "source": name}
        )
        self.scheduler.wake()
        return self.status(name)

    def pause(self, name: str) -> SourceStatus:
        self._check_writer()
        self._get(name)
        self.store.set_paused(name, "user", "paused")
        return self.status(name)

    def resume(self, name: str) -> SourceStatus:
        """Sync again; a folder found empty is then taken as it is (its files' documents go)."""
        self._check_writer()
        self._get(name)
        self.store.set_paused(name, None)
        self.scheduler.wake()
        return self.status(name)

    def remove(self, name: str, *, keep_documents: bool) -> int:
        """Stop watching ``name``; with ``keep_documents`` false its documents go from every
        index (those whose content another source's file also holds stay). Waits for a sync
        of the workspace in progress. Returns how many documents were removed."""
        self._check_writer()
        self._get(name)
        with self._exclusive(wait=True):
            if keep_documents:
                self.store.delete(name)
                return 0
            self.store.set_paused(name, "removing", "being removed with its documents")
            gone = self.library.remove_many(
                orphans(name, self.store.claims(name), self.library.documents())
            )
            self.store.delete(name)
        if gone:
            self.library.refresh()
        log.info(
            "source %s removed with %d documents",
            name,
            len(gone),
            extra={"workspace": self.workspace, "source": name},
        )
        return len(gone)

    # Syncing ------------------------------------------------------------------------------
    def sync(self, name: str, progress: ProgressCallback | None = None) -> SyncReport:
        """Sync ``name`` now, in this thread; a ``BusyError`` when a sync of the workspace is
        running (here or in another process)."""
        self._check_writer()
        source = self._get(name)
        if source.paused is not None:
            detail = f": {source.paused_detail}" if source.paused_detail else ""
            raise InputError("name", f"source {name} is paused{detail}; resume it first")
        with self._exclusive(wait=False):
            self._syncing = name
            try:
                report = sync_source(self.library, self.store, source, progress)
            except Exception as exc:
                self._record(source, exc)
                raise
            finally:
                self._syncing = None
            self.store.record_sync(name, report)
        self._log(report)
        return report

    def sync_all(self, progress: ProgressCallback | None = None) -> list[SyncReport]:
        """Sync every source that is not paused, one after the other."""
        return [self.sync(s.name, progress) for s in self.store.sources() if s.paused is None]

    def request_sync(self, name: str) -> SourceStatus:
        """Sync ``name`` soon, in the background."""
        self._check_writer()
        source = self._get(name)
        if source.paused is not None:
            raise InputError("name", f"source {name} is paused; resume it first")
        self.scheduler.ask(name)
        return self.status(name)

    def start(self) -> None:
        """Sync every source on its schedule in a daemon thread (the ingest writer only)."""
        if self.settings.ingest_writer:
            self.scheduler.start()

    def stop(self, timeout: float | None = None) -> None:
        self.scheduler.stop(timeout)

    @contextlib.contextmanager
    def _exclusive(self, *, wait: bool) -> Iterator[None]:
        if not self._lock.acquire(blocking=wait):
            raise BusyError(
                f"source {self._syncing} of workspace {self.workspace} is syncing in this "
                "process now; try again when it is done"
            )
        try:
            if wait:
                with self._process_lock.hold():
                    yield
                return
            with self._process_lock.try_hold() as held:
                if not held:
                    holder = self._process_lock.holder() or "(unknown)"
                    raise BusyError(
                        f"process {holder} is syncing the sources of workspace "
                        f"{self.workspace} now; try again when it is done"
                    )
                yield
        finally:
            self._lock.release()

    def _record(self, source: Source, exc: Exception) -> None:
        """A sync that failed as a whole: its report says so (the next sync tries again)."""
        reason = str(exc) if isinstance(exc, FolioError) else f"{type(exc).__name__}: {exc}"
        report = SyncReport(source.name, datetime.now(UTC), 0.0, 0, error=f"sync failed: {reason}")
        with contextlib.suppress(Exception):
            self.store.record_sync(source.name, report)
        log.error(
            "source %s: sync failed",
            source.name,
            exc_info=exc,
            extra={"workspace": self.workspace, "source": source.name, "sync": report.counts()},
        )

    def _log(self, report: SyncReport) -> None:
        extra = {"workspace": self.workspace, "source": report.source, "sync": report.counts()}
        if report.error:
            log.warning("source %s not synced: %s", report.source, report.error, extra=extra)
            return
        log.info(
            "source %s synced: %d added, %d updated, %d renamed, %d removed, %d failed, "
            "%d waiting, %d unchanged in %.2f s",
            report.source,
            report.added,
            report.updated,
            report.renamed,
            report.removed,
            len(report.failed),
            len(report.waiting),
            report.unchanged,
            report.seconds,
            extra=extra,
        )

    def _check_writer(self) -> None:
        if not self.settings.ingest_writer:
            raise ConfigurationError(
                "This replica only reads (FOLIO_INGEST_WRITER=false): add, change and sync "
                "sources on the ingest writer."
            )

    # Checks -------------------------------------------------------------------------------
    def _checked_folder(
        self, folder: str | Path, roots: Sequence[Path] | None, existing: Sequence[Source]
    ) -> Path:
        raw = str(folder).strip()
        if not raw or not raw.isprintable():
            raise InputError("folder", "give the path of a folder on the server")
        try:  # "~nobody/x", a link loop, a name too long: the path cannot be read
            path = Path(raw).expanduser()
            if roots is not None and not path.is_absolute():
                raise InputError("folder", f"{raw} is not an absolute path")
            path = path.absolute()
            real = path.resolve()
            is_dir = real.is_dir()
        except (OSError, RuntimeError, ValueError) as exc:
            raise InputError("folder", f"{raw} cannot be read as a path ({exc})") from exc
        if not is_dir:
            raise InputError("folder", f"{path} is not a folder on the server")
        if roots is not None:
            _check_roots(path, real, roots)
        data = self.settings.data_dir.resolve()
        if real.is_relative_to(data) or data.is_relative_to(real):
            raise InputError("folder", f"{path} holds Folio's data folder ({data}) or is in it")
        for other in existing:
            theirs = other.root.resolve()
            if real.is_relative_to(theirs) or theirs.is_relative_to(real):
                raise InputError(
                    "folder",
                    f"{path} overlaps source '{other.name}' ({other.root}) of this workspace; "
                    "use its include and exclude patterns instead",
                )
        return path

    def _checked_name(self, name: str | None, root: Path, existing: Sequence[Source]) -> str:
        taken = {s.name for s in existing}
        prefixes = {d.name.split("/", 1)[0] for d in self.library.documents() if "/" in d.name}
        if name is None or not name.strip():
            base = re.sub(r"[^a-z0-9_-]+", "-", root.name.lower()).strip("-_")[:36] or "folder"
            for candidate in (base, *(f"{base}-{i}" for i in range(2, 1000))):
                if candidate not in taken and candidate not in prefixes:
                    return candidate
        name = (name or "").strip()
        if not WORKSPACE_NAME.fullmatch(name):
            raise InputError(
                "name", "use 1-40 lowercase letters, digits, '-' or '_', starting with one of those"
            )
        if name in taken:
            raise InputError("name", f"this workspace has a source named {name} already")
        if name in prefixes:
            raise InputError(
                "name",
                f"documents of an earlier source named {name} ({name}/…) are still in the "
                "library; remove them or choose another name",
            )
        return name


def _check_roots(path: Path, real: Path, roots: Sequence[Path]) -> None:
    if not roots:
        raise InputError(
            "folder",
            "this server does not let the web app or the API add folders (it is not local: "
            "login on or a network address); name the folders they may use in "
            "FOLIO_SOURCE_ROOTS, or add the source with: python -m rag_core source add",
        )
    if not any(real.is_relative_to(r.resolve()) for r in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise InputError(
            "folder", f"{path} is not inside a folder FOLIO_SOURCE_ROOTS allows ({allowed})"
        )
