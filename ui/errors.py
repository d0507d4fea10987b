"""The edge: core errors become clear messages in the page, never a stack trace."""

from __future__ import annotations

import html
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr

from rag_core.errors import FolioError

from .i18n import Lang, t

log = logging.getLogger("folio.ui")


def info(message: str) -> None:
    """A toast; Gradio renders toasts as HTML, and messages name user files: escape."""
    gr.Info(html.escape(message))


def warn(message: str) -> None:
    gr.Warning(html.escape(message))


def error(message: str) -> gr.Error:
    return gr.Error(html.escape(message))


def ui_error(exc: BaseException, lang: Lang) -> gr.Error:
    """``gr.Error`` for an exception: a FolioError's own message, else a short id to look up."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, FolioError):
        return error(str(exc))
    error_id = uuid.uuid4().hex[:8]
    log.error("unexpected error %s", error_id, exc_info=exc)
    return error(t("error_unexpected", lang, id=error_id))


@contextmanager
def ui_errors(lang: Lang) -> Iterator[None]:
    """Run a handler body; any exception leaves as a ``gr.Error`` the user can act on."""
    try:
        yield
    except Exception as exc:
        raise ui_error(exc, lang) from None
