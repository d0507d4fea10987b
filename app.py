"""Folio's composition root: the only place that builds concrete objects and launches the app."""

from __future__ import annotations

import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import gradio as gr

from rag_core.accounts import Accounts, accounts_for
from rag_core.config import DEFAULT_WORKSPACE, Settings
from rag_core.conversation import ClaudeRewriter, QueryRewriter, RuleRewriter
from rag_core.errors import ConfigurationError
from rag_core.library import Library
from rag_core.workspaces import Workspaces
from ui.app import build_app, launch_options, workspace_resolver


def rewriter_for(settings: Settings) -> QueryRewriter:
    if settings.anthropic_api_key:
        return ClaudeRewriter(
            settings.anthropic_api_key,
            model=settings.rewrite_model,
            base_url=settings.anthropic_base_url,
        )
    return RuleRewriter()


def start_vision(library: Library) -> None:
    if library.vision is not None:
        library.vision.start()  # index page images in the background (no-op when it is off)


def create(settings: Settings) -> tuple[gr.Blocks, Workspaces, Accounts | None]:
    """The app, its workspaces and (with ``login`` on) its accounts.

    Raises ``ConfigurationError`` when the login is on and there are no accounts.
    """
    accounts = accounts_for(settings)
    workspaces = Workspaces(settings, on_open=start_vision)
    # Open (and recover) the workspaces in use now; others open on their first request.
    names = {a.workspace for a in accounts.list()} if accounts else {DEFAULT_WORKSPACE}
    for name in sorted(names):
        workspaces.library(name)
        workspaces.feedback(name)
    demo = build_app(
        workspaces,
        rewriter_for(settings),
        workspace_of=workspace_resolver(accounts),
        chat_concurrency=settings.chat_concurrency,
    )
    return demo, workspaces, accounts


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = Settings.from_env()
    try:
        demo, _, accounts = create(settings)
    except ConfigurationError as exc:
        raise SystemExit(f"error: {exc}") from None
    demo.queue(default_concurrency_limit=4).launch(
        server_name=settings.host, server_port=settings.port, **launch_options(accounts)
    )


if __name__ == "__main__":
    main()
