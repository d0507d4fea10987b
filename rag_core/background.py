"""A background worker: one daemon thread that repeats a step while it finds work.

The work itself is the owner's (the vision indexer, the OCR backlog): ``step()`` does one
piece and returns how many it did, ``0`` when nothing is left. The worker sleeps on its wake
event between turns: until ``wake()`` when nothing is left or the work is paused (or
``IDLE_SECONDS``, to notice what another process changed), ``BUSY_SECONDS`` while ``busy()``
(text indexing goes first) and ``RETRY_SECONDS`` after a step failed. A
``ConfigurationError`` (the model or engine cannot be used) stops it for good: retrying
would fail the same way.

Pausing is persisted by the owner's store (``paused()`` / ``set_paused``), so a pause holds
across restarts and for the foreground ``drain`` as well.

``oldest_added`` is how old a backlog is (the alert on a backlog that does not move).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Protocol

from rag_core.errors import ConfigurationError
from rag_core.types import Document

IDLE_SECONDS = 10.0
BUSY_SECONDS = 1.0
RETRY_SECONDS = 30.0


class PauseSwitch(Protocol):
    """Where a worker's pause is kept (a store: it survives restarts)."""

    def paused(self) -> bool: ...

    def set_paused(self, paused: bool) -> None: ...


class DaemonThread:
    """One daemon thread named ``name`` running the subclass's ``_loop`` (``start`` / ``wake``
    / ``stop``); the loop reads ``_stop`` and sleeps on ``_wake``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()

    @property
    def running(self) -> bool:
        """A background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to end after its current turn, and wait for it up to ``timeout``."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """There may be work: look now instead of at the end of the idle wait."""
        self._wake.set()

    def _loop(self) -> None:
        raise NotImplementedError


class BackgroundWorker(DaemonThread):
    """Runs ``step`` in a daemon thread named ``name`` (``start`` / ``wake`` / ``stop``) or in
    the caller's thread (``drain``).

    ``prepare`` runs first in the thread (a model loaded before the first query needs it);
    ``busy`` is read before each turn; ``on_turn`` hears a turn that did not fail (paused
    or not), ``on_error`` a step that failed (it is retried) and ``on_fatal`` a
    ``ConfigurationError`` (the thread ends).
    """

    def __init__(
        self,
        name: str,
        step: Callable[[], int],
        switch: PauseSwitch,
        *,
        busy: Callable[[], bool] = lambda: False,
        on_turn: Callable[[], None] = lambda: None,
        on_error: Callable[[Exception], None] = lambda exc: None,
        on_fatal: Callable[[ConfigurationError], None] = lambda exc: None,
        prepare: Callable[[], None] = lambda: None,
    ) -> None:
        self.step = step
        self.switch = switch
        self.busy = busy
        self.on_turn = on_turn
        self.on_error = on_error
        self.on_fatal = on_fatal
        self.prepare = prepare
        super().__init__(name)

    def pause(self) -> None:
        self.switch.set_paused(True)

    def resume(self) -> None:
        self.switch.set_paused(False)
        self.wake()

    def drain(self, on_step: Callable[[], None] | None = None) -> int:
        """Step in this thread until nothing is left (or it is paused); returns the total
        the steps did. ``on_step`` runs after each step that did something."""
        total = 0
        while not self.switch.paused():
            done = self.step()
            if done == 0:
                break
            total += done
            if on_step is not None:
                on_step()
        return total

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(timeout=seconds)
        self._wake.clear()

    def _loop(self) -> None:
        try:
            self.prepare()
        except ConfigurationError as exc:
            self.on_fatal(exc)
            return
        while not self._stop.is_set():
            if self.busy():
                self._sleep(BUSY_SECONDS)
                continue
            try:
                done = 0 if self.switch.paused() else self.step()
            except ConfigurationError as exc:
                self.on_fatal(exc)
                return
            except Exception as exc:
                self.on_error(exc)
                self._stop.wait(RETRY_SECONDS)
                continue
            self.on_turn()
            if done == 0:
                self._sleep(IDLE_SECONDS)


def oldest_added(documents: Iterable[Document]) -> datetime | None:
    """When the first of ``documents`` was added, in UTC (a time without a zone is UTC);
    ``None`` when there are none."""
    added = [d.added_at for d in documents]
    if not added:
        return None
    oldest = min(added)
    return oldest if oldest.tzinfo is not None else oldest.replace(tzinfo=UTC)
