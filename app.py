"""Folio's composition root: builds the server from ``rag_core.assemble``'s parts and runs it.

One uvicorn server on ``settings.host:port`` serves the HTTP API (``/api/v1``, ``/healthz``,
``/readyz``, ``/metrics``) and the Gradio UI mounted at ``/``.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import gradio as gr
import uvicorn
from fastapi import FastAPI

from api import JsonFormatter, create_api
from rag_core.assemble import rewriter_for
from rag_core.auth.accounts import Accounts, accounts_for
from rag_core.auth.api_keys import ApiKeys
from rag_core.config import DEFAULT_WORKSPACE, Settings
from rag_core.errors import ConfigurationError
from rag_core.library import Library
from rag_core.sources import SourceStore
from rag_core.workspaces import Workspaces
from ui.access import bind_sessions
from ui.app import build_app, launch_options, workspace_resolver


def create(settings: Settings) -> tuple[FastAPI, Workspaces, Accounts | None]:
    """The HTTP API with the Gradio UI mounted at ``/``, its workspaces and (with ``login``
    on) its accounts.

    Raises ``ConfigurationError`` when the login is on and there are no accounts.
    """
    accounts = accounts_for(settings)
    workspaces = Workspaces(settings, on_open=Library.start_background)
    # Open (and recover) the workspaces in use now; others open on their first request.
    names = {a.workspace for a in accounts.list()} if accounts else {DEFAULT_WORKSPACE}
    for name in sorted(names):
        workspaces.library(name)
        workspaces.feedback(name)
    # Workspaces with watched folders open too, so that their sources sync from the start.
    engine = workspaces.library(min(names)).registry.engine  # one database for all of them
    for name in sorted(SourceStore.workspaces(engine) - names):
        workspaces.library(name)
    demo = build_app(
        workspaces,
        rewriter_for(settings),
        workspace_of=workspace_resolver(accounts),
        chat_concurrency=settings.chat_concurrency,
    )
    demo.queue(default_concurrency_limit=4)
    keys = ApiKeys.open(settings.registry_url)  # Access decides when a key is required
    api = create_api(workspaces, settings, keys=keys)
    app = gr.mount_gradio_app(
        api,
        demo,
        path="/",
        server_name=settings.host,
        server_port=settings.port,
        max_file_size=settings.max_upload_bytes,  # /gradio_api/upload answers 413 above it
        **launch_options(accounts),
    )
    # launch() sets this flag and mount_gradio_app does not; until it is set Gradio lets an
    # event name any server file as an upload (ui/uploads.py checks again on its own).
    demo.has_launched = True
    if accounts is not None:
        bind_sessions(app, accounts)  # a password change or removal ends the account's sessions
    return app, workspaces, accounts


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The API's logs (one line per request, and its errors), the chat's answers and the
    # sources' syncs are JSON, one object per line.
    json_handler = logging.StreamHandler()
    json_handler.setFormatter(JsonFormatter())
    for name in ("folio.api", "folio.api.access", "folio.ui", "folio.sources"):
        logger = logging.getLogger(name)
        logger.handlers = [json_handler]
        logger.propagate = False


def main() -> None:
    configure_logging()
    settings = Settings.from_env()
    try:
        app, _, _ = create(settings)
    except ConfigurationError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"Folio: http://{settings.host}:{settings.port}/  (API: /api/v1/docs)", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False)


if __name__ == "__main__":
    main()
