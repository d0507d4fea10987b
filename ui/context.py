"""What every tab's handlers need, and what they read from a request.

A handler is a plain module-level function whose first argument is the app's ``Context``;
``Context.bind`` hands Gradio the handler with that argument filled in.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from .access import WorkspaceOf
from .errors import ui_errors
from .i18n import Lang, language

if TYPE_CHECKING:
    from rag_core.answer.conversation import QueryRewriter
    from rag_core.feedback.store import FeedbackStore
    from rag_core.library import Library
    from rag_core.workspaces import Workspaces

    from .evaluation import Evaluations


def lang_of(request: gr.Request | None) -> Lang:
    headers = getattr(request, "headers", None)
    return language(headers.get("accept-language") if headers is not None else None)


def session_of(request: gr.Request | None) -> str:
    return str(getattr(request, "session_hash", None) or "anonymous")


def row_of(event: gr.EventData) -> int:
    """The message index of a chatbot event, or the row of a table cell event."""
    index = getattr(event, "index", 0)
    return int(index[0] if isinstance(index, (list, tuple)) else index)


@dataclass(frozen=True, slots=True)
class Context:
    """The app's ready objects, and the workspace, library and feedback store of a request."""

    workspaces: Workspaces
    rewriter: QueryRewriter
    resolve: WorkspaceOf  # which workspace a request may use (``ui.access.workspace_resolver``)
    evaluations: Evaluations

    def bind(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """``handler`` with this context as its first argument, for an event listener.

        A bound method rather than a ``functools.partial``: Gradio reads the handler's type
        hints to pass it the ``gr.Request`` and the event data, and names its endpoint after
        the handler; a partial has neither hints Gradio can read nor a name.
        """
        return types.MethodType(handler, self)

    def workspace(self, request: gr.Request | None) -> str:
        with ui_errors(lang_of(request)):
            return self.resolve(request)

    def library(self, request: gr.Request | None, name: str | None = None) -> Library:
        """The library of ``name``, or of the request's workspace."""
        name = name or self.workspace(request)
        with ui_errors(lang_of(request)):
            return self.workspaces.library(name)

    def feedback(self, request: gr.Request | None, name: str | None = None) -> FeedbackStore:
        name = name or self.workspace(request)
        with ui_errors(lang_of(request)):
            return self.workspaces.feedback(name)
