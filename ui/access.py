"""Who may use the app and which workspace a request works in; how page images are served.

With the login off every request works in the ``default`` workspace, as before accounts
existed. With it on, Gradio's login form calls ``auth_for(accounts)``, and every handler asks
``workspace_resolver(accounts)`` for the workspace of the request's logged-in user, looked up
again on every request (a removed account stops working at once).

A login session is Gradio's cookie token, kept in the mounted app's ``tokens``;
``bind_sessions`` makes each token valid only while its account exists with the password it
logged in with, so a password change or a removed account ends that account's sessions at
once: ``/config``, cached file URLs and every event answer 401 to the old cookie.

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
from fastapi import FastAPI
from gradio import processing_utils, utils
from gradio.routes import App
from starlette.routing import Mount

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


class AccountSessions(dict[str, str]):
    """Gradio's login sessions (``App.tokens``: cookie token -> user name), each bound to its
    account's credential (``Accounts.credential``) when it was made.

    Gradio looks a request's token up with ``tokens.get(token)`` on every request; here that
    look-up also reads the account (one indexed row), and a token whose account is gone or
    whose password changed since is dropped and answers ``None``: Gradio's 401.
    """

    def __init__(self, accounts: Accounts) -> None:
        super().__init__()
        self.accounts = accounts
        self._credentials: dict[str, str | None] = {}

    def __setitem__(self, token: str, username: str) -> None:
        """Gradio's login, right after ``auth_for``'s check accepted the password."""
        self._credentials[token] = self.accounts.credential(username)
        super().__setitem__(token, username)

    def __delitem__(self, token: str) -> None:  # Gradio's logout
        super().__delitem__(token)
        self._credentials.pop(token, None)

    def get(self, token: str | None, default: str | None = None) -> str | None:  # type: ignore[override]
        """The user of a live session, else ``default`` (a stale session is dropped)."""
        username = super().get(token) if token else None
        if not token or username is None:
            return default
        current = self.accounts.credential(username)
        if current is None or current != self._credentials.get(token):
            log.warning("session of %r ended: account removed or password changed", username)
            self.pop(token, None)  # not ``del``: a concurrent request may have dropped it
            self._credentials.pop(token, None)
            return default
        return username


def bind_sessions(app: FastAPI, accounts: Accounts) -> None:
    """Give the Gradio app mounted in ``app`` sessions that end with their account's password."""
    mounted = [r.app for r in app.routes if isinstance(r, Mount) and isinstance(r.app, App)]
    if len(mounted) != 1:
        raise RuntimeError(f"expected one mounted Gradio app, found {len(mounted)}")
    mounted[0].tokens = AccountSessions(accounts)


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
