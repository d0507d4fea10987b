"""Who may use the app and which workspace a request works in; how page images are served.

With the login off every request works in the ``default`` workspace, as before accounts
existed. With it on, Gradio's login form calls ``auth_for(accounts)``, and every handler asks
``workspace_resolver(accounts)`` for the workspace of the request's logged-in user, looked up
again on every request (a removed account stops working at once).

Page images are never served from the data folder by path: ``served_url`` hands Gradio a copy
in its cache folder, named by a keyed hash of the image's bytes (a secret seed Gradio keeps), so
a user cannot reach another workspace's pages by guessing a URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import gradio as gr
from gradio import processing_utils, utils

from rag_core.config import DEFAULT_WORKSPACE

from .errors import error
from .i18n import language, t

if TYPE_CHECKING:
    from rag_core.auth.accounts import Accounts

log = logging.getLogger("folio.login")

Auth = Callable[[str, str], Awaitable[bool]]
WorkspaceOf = Callable[[gr.Request | None], str]


def auth_for(accounts: Accounts) -> Auth:
    """Gradio's ``auth=``: whether a user name and password belong to an account.

    A coroutine function, so the ~50 ms of scrypt runs off Gradio's event loop.
    """

    async def check(username: str, password: str) -> bool:
        account = await asyncio.to_thread(accounts.verify, username, password)
        if account is None:
            log.warning("failed login for user name %r", username[:64])
        return account is not None

    return check


def workspace_resolver(accounts: Accounts | None) -> WorkspaceOf:
    """The workspace of a request: ``default`` without login, else its user's workspace."""
    if accounts is None:
        return lambda request: DEFAULT_WORKSPACE

    def workspace_of(request: gr.Request | None) -> str:
        username = getattr(request, "username", None)
        account = accounts.get(username) if username else None
        if account is None:
            headers = getattr(request, "headers", None)
            lang = language(headers.get("accept-language") if headers is not None else None)
            raise error(t("login_again", lang))
        return account.workspace

    return workspace_of


def served_path(path: Path) -> str:
    """A page image's copy in Gradio's cache (a gallery's value), never the data folder's path:
    Gradio refuses to serve a handler's output from outside its folders."""
    return processing_utils.save_file_to_cache(path, cache_dir=utils.get_upload_folder())


def served_url(path: Path) -> str:
    """A URL for a page image: a copy in Gradio's cache, never the data folder's own path."""
    return "gradio_api/file=" + quote(served_path(path))
