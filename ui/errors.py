"""The edge: core errors become clear messages in the page, never a stack trace."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr

from rag_core.errors import FolioError

from .i18n import Lang, t

log = logging.getLogger("folio.ui")


def ui_error(exc: BaseException, lang: Lang) -> gr.Error:
    """``gr.Error`` for an exception: a FolioError's own message, else a short id to look up."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, FolioError):
        return gr.Error(str(exc))
    error_id = uuid.uuid4().hex[:8]
    log.error("unexpected error %s", error_id, exc_info=exc)
    return gr.Error(t("error_unexpected", lang, id=error_id))


@contextmanager
def ui_errors(lang: Lang) -> Iterator[None]:
    """Run a handler body; any exception leaves as a ``gr.Error`` the user can act on."""
    try:
        yield
    except Exception as exc:
        raise ui_error(exc, lang) from None
