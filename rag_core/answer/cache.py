"""Answers to repeated questions, served again while nothing that shapes them has changed.

The key (``answer_key``, pure) holds everything an answer depends on: the library's
generation (bumped by every upload, replacement, removal and re-embedding, in any process
sharing the registry), the question with its whitespace collapsed, the filters, who answers
(answerer class, mode and model), the claim check and the evidence gate, and the vision
index's progress where it is on. A follow-up whose rewrite differs from the question gets
no key: it depends on the conversation, not on the question alone.

``AnswerCache`` is a small LRU of finished answers. An entry is never stale by age: a key
of an older generation simply stops being asked for, and the first answer of a newer
generation empties the cache (``Library`` also empties it after any change it makes).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from rag_core.types import Answer, Filters


@dataclass(frozen=True, slots=True)
class AnswerKey:
    generation: int
    question: str
    filters: Filters
    answerer: tuple[str, str, str]  # class, mode, model
    checks: tuple[Hashable, ...]  # claim check, gate, vision progress...


def normalized_question(question: str) -> str:
    """The question as the cache compares it: whitespace collapsed (pure)."""
    return " ".join(question.split())


def answer_key(
    generation: int,
    question: str,
    filters: Filters | None,
    searched_query: str | None,
    answerer: tuple[str, str, str],
    checks: tuple[Hashable, ...] = (),
) -> AnswerKey | None:
    """The cache key of an answer, or None when it must not be cached: a follow-up whose
    searched query (its rewrite) differs from the question (pure)."""
    asked = normalized_question(question)
    if searched_query is not None and normalized_question(searched_query) != asked:
        return None
    return AnswerKey(generation, asked, filters or Filters(), answerer, checks)


class _Flight:
    """An answer being computed, and the callers waiting for it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: Answer | None = None


class AnswerCache:
    """At most ``size`` answers by ``AnswerKey``, least recently used out first; counts its
    hits and misses (``/metrics``)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._answers: OrderedDict[AnswerKey, Answer] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.skipped = 0  # asks that could not be cached (follow-ups)
        self._generation = -1  # the newest library generation seen
        self._flights: dict[AnswerKey, _Flight] = {}  # answers being computed

    def join(self, key: AnswerKey, timeout: float) -> tuple[Answer | None, bool]:
        """``(answer, False)`` when the answer is cached, or when another caller computing
        the same key finishes it within ``timeout`` seconds (a hit: after an upload empties
        the cache, fifty users asking the same question compute it once, not fifty times;
        they get that answer even when the library changed while it was computed, as they
        would have computing it themselves); ``(None, True)``: a miss, and the caller
        computes the answer and calls ``release``; ``(None, False)``: the other caller's
        answer did not come (failed or slow): the caller computes it without the key."""
        with self._lock:
            answer = self._answers.get(key)
            flight = self._flights.get(key) if answer is None else None
            if answer is None and flight is None:
                self._flights[key] = _Flight()
                self.misses += 1
                return None, True
        if flight is not None:
            flight.done.wait(timeout)
            answer = flight.answer
        with self._lock:
            if answer is None:
                self.misses += 1
                return None, False
            if key in self._answers:
                self._answers.move_to_end(key)
            self.hits += 1
            return answer, False

    def release(self, key: AnswerKey, answer: Answer | None) -> None:
        """The caller ``join`` gave the key to is done: ``answer`` goes to those waiting
        for it (None: it failed)."""
        with self._lock:
            flight = self._flights.pop(key, None)
        if flight is not None:
            flight.answer = answer
            flight.done.set()

    def get(self, key: AnswerKey) -> Answer | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is None:
                self.misses += 1
                return None
            self._answers.move_to_end(key)
            self.hits += 1
            return answer

    def put(self, key: AnswerKey, answer: Answer) -> None:
        if self.size <= 0:
            return
        with self._lock:
            if key.generation < self._generation:
                return  # answered just before the library changed: stale already
            if key.generation > self._generation:
                self._answers.clear()  # the library changed: the older answers are stale
                self._generation = key.generation
            self._answers[key] = answer
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)

    def skip(self) -> None:
        with self._lock:
            self.skipped += 1

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()

    def __len__(self) -> int:
        return len(self._answers)
