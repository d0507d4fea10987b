"""What every route needs, built once by ``create_api`` and passed to the routers."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from rag_core.config import Settings
from rag_core.library import Library
from rag_core.workspaces import Workspaces

from .access import Access, Caller
from .answers import RecentAnswers
from .observability import ApiMetrics


@dataclass(frozen=True, slots=True)
class ApiContext:
    workspaces: Workspaces
    settings: Settings
    access: Access
    answers: RecentAnswers
    metrics: ApiMetrics

    def caller(self, request: Request) -> Caller:
        """The FastAPI dependency of every /api/v1 route: key, workspace, rate limit."""
        return self.access.caller(request)

    def library(self, caller: Caller) -> Library:
        return self.workspaces.library(caller.workspace)

    def opened_libraries(self) -> list[tuple[str, Library]]:
        return [(name, self.workspaces.library(name)) for name in self.workspaces.opened()]
