"""Background syncing: a daemon thread per workspace on the ingest writer, each source synced
``every`` seconds after its last sync finished (``0``: only when asked), one at a time."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rag_core.background import DaemonThread
from rag_core.errors import BusyError

if TYPE_CHECKING:
    from rag_core.sources.sources import Sources

log = logging.getLogger("folio.sources")
IDLE_SECONDS = 60.0  # look at the sources table again at least this often (sources added)
BUSY_RETRY_SECONDS = 5.0  # another process syncs the workspace: try again soon


class Scheduler(DaemonThread):
    def __init__(self, sources: Sources) -> None:
        super().__init__(f"folio-sources-{sources.workspace}")
        self.sources = sources
        self._asked: set[str] = set()
        self._asked_lock = threading.Lock()

    def ask(self, name: str) -> None:
        """Sync ``name`` at the next turn of the loop, whatever its schedule says."""
        with self._asked_lock:
            self._asked.add(name)
        self.start()
        self._wake.set()

    def run_due(self, now: datetime) -> float:
        """Sync every source that is due (or asked for); returns the seconds until the next."""
        with self._asked_lock:
            asked, self._asked = self._asked, set()
        wait = IDLE_SECONDS
        for source in self.sources.store.sources():
            if self._stop.is_set():
                break
            if source.paused is not None:
                continue
            last = source.last_sync_at
            age = (now - last).total_seconds() if last is not None else None
            due = age is None or age >= source.every
            if source.name not in asked and (source.every <= 0 or not due):
                if source.every > 0 and age is not None:
                    wait = min(wait, source.every - age)
                continue
            try:
                self.sources.sync(source.name)
            except BusyError:
                wait = min(wait, BUSY_RETRY_SECONDS)
                if source.name in asked:
                    self.ask(source.name)
            except Exception:  # recorded in the source's report and logged by sync
                log.debug("source %s: sync failed", source.name, exc_info=True)
            if source.every > 0:
                wait = min(wait, float(source.every))
        return max(0.5, wait)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.run_due(datetime.now(UTC))
            except Exception:  # the database is away: try again later
                log.exception("sources of workspace %s: scheduling failed", self.sources.workspace)
                wait = IDLE_SECONDS
            self._wake.wait(timeout=wait)
            self._wake.clear()
