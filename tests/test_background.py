"""The background worker the vision indexer and the OCR backlog share: a real thread over a
scripted step, waited for through events (never by sleeping a guessed time)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from rag_core import background
from rag_core.background import BackgroundWorker, oldest_added
from rag_core.errors import ConfigurationError
from rag_core.types import Document


class Switch:
    def __init__(self, paused: bool = False) -> None:
        self.value = paused

    def paused(self) -> bool:
        return self.value

    def set_paused(self, paused: bool) -> None:
        self.value = paused


class Work:
    """A step over a list of pieces: does one, or says nothing is left (and sets ``idle``)."""

    def __init__(self, pieces: list[object]) -> None:
        self.pieces = list(pieces)
        self.done: list[object] = []
        self.idle = threading.Event()

    def step(self) -> int:
        if not self.pieces:
            self.idle.set()
            return 0
        piece = self.pieces.pop(0)
        if isinstance(piece, Exception):
            raise piece
        self.done.append(piece)
        return 1


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(background, "RETRY_SECONDS", 0.01)
    monkeypatch.setattr(background, "BUSY_SECONDS", 0.01)


def test_drain_steps_until_nothing_is_left_and_not_while_paused():
    work = Work(["a", "b", "c"])
    seen: list[int] = []
    worker = BackgroundWorker("t", work.step, Switch())
    assert worker.drain(lambda: seen.append(len(work.done))) == 3
    assert work.done == ["a", "b", "c"] and seen == [1, 2, 3]
    paused = Work(["a"])
    assert BackgroundWorker("t", paused.step, Switch(paused=True)).drain() == 0
    assert paused.done == [] and not paused.idle.is_set()


def test_the_thread_works_sleeps_and_wakes_for_new_work():
    work = Work(["a", "b"])
    worker = BackgroundWorker("folio-test", work.step, Switch())
    worker.start()
    worker.start()  # a second start while it runs does nothing
    try:
        assert work.idle.wait(10) and work.done == ["a", "b"]
        assert worker.running
        work.idle.clear()
        work.pieces.append("c")
        worker.wake()
        assert work.idle.wait(10) and work.done == ["a", "b", "c"]
    finally:
        worker.stop(timeout=10)
    assert not worker.running


def test_pause_holds_the_thread_until_resume():
    work = Work(["a"])
    switch = Switch()
    worker = BackgroundWorker("t", work.step, switch)
    worker.pause()
    assert switch.paused()
    turns = threading.Event()
    worker.on_turn = turns.set
    worker.start()
    try:
        assert turns.wait(10)  # a turn went by, paused: the step was not called
        assert work.done == [] and not work.idle.is_set()
        worker.resume()
        assert not switch.paused()
        assert work.idle.wait(10) and work.done == ["a"]
    finally:
        worker.stop(timeout=10)


def test_it_waits_while_busy():
    work = Work(["a"])
    busy = threading.Event()
    busy.set()
    asked = threading.Semaphore(0)

    def is_busy() -> bool:
        asked.release()
        return busy.is_set()

    worker = BackgroundWorker("t", work.step, Switch(), busy=is_busy)
    worker.start()
    try:
        for _ in range(3):  # asked three times, still busy: nothing done
            assert asked.acquire(timeout=10)
        assert work.done == []
        busy.clear()
        assert work.idle.wait(10) and work.done == ["a"]
    finally:
        worker.stop(timeout=10)


def test_a_failed_step_is_retried_and_a_configuration_error_ends_the_thread():
    errors: list[str] = []
    fatal: list[str] = []
    ended = threading.Event()

    def on_fatal(exc: ConfigurationError) -> None:
        fatal.append(str(exc))
        ended.set()

    work = Work([ValueError("flaky"), "a", ConfigurationError("no model"), "never"])
    worker = BackgroundWorker(
        "t", work.step, Switch(), on_error=lambda exc: errors.append(str(exc)), on_fatal=on_fatal
    )
    worker.start()
    assert ended.wait(10)
    worker.stop(timeout=10)
    assert not worker.running
    assert (errors, work.done, fatal, work.pieces) == (["flaky"], ["a"], ["no model"], ["never"])


def test_a_failed_prepare_ends_the_thread_before_any_step():
    work = Work(["a"])
    fatal: list[str] = []

    def prepare() -> None:
        raise ConfigurationError("the model cannot be read")

    worker = BackgroundWorker(
        "t", work.step, Switch(), on_fatal=lambda exc: fatal.append(str(exc)), prepare=prepare
    )
    worker.start()
    worker.stop(timeout=10)
    assert fatal == ["the model cannot be read"] and work.done == []


def _added(at: datetime) -> Document:
    return Document("d", "d.pdf", "pdf", 1, 1, 0, 1, "ready", None, at)


def test_oldest_added_is_the_first_in_utc():
    noon = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    east = datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))  # 10:30 UTC
    assert oldest_added([_added(noon), _added(east)]) == east
    naive = [_added(datetime(2026, 3, 2)), _added(datetime(2026, 3, 1, 12))]  # zone-less: UTC
    assert oldest_added(naive) == noon
    assert oldest_added([]) is None
