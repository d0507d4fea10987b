"""Answers the API gave, kept (bounded, in this process) so that they can be rated."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from rag_core.types import Answer


@dataclass(frozen=True, slots=True)
class GivenAnswer:
    answer: Answer
    workspace: str
    request_id: str
    asked_at: datetime


class RecentAnswers:
    """The last ``size`` answers by answer id; the oldest is forgotten first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._answers: OrderedDict[str, GivenAnswer] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, answer_id: str, given: GivenAnswer) -> None:
        with self._lock:
            self._answers[answer_id] = given
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)

    def get(self, answer_id: str, workspace: str) -> GivenAnswer | None:
        """The answer, if it is still kept and was given in this workspace."""
        with self._lock:
            given = self._answers.get(answer_id)
        return given if given is not None and given.workspace == workspace else None
