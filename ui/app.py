"""The Gradio app: the tabs composed, and the events that cross them. ``app.py`` launches it.

Tabs: Library (upload with progress, documents table, delete and re-index, and the Sources
panel of watched folders), Chat (streaming cited answers, sources, retrieved pages, trace,
ratings), Feedback analytics and Evaluation (runs in the background, metrics, charts, change
since the previous run). Each tab is a module of ``ui/tabs/`` with its layout and its events;
the handlers they call live in ``ui/documents.py``, ``ui/sources.py``, ``ui/chat.py``,
``ui/analytics.py`` and ``ui/evaluation.py``.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from . import chat, documents, evaluation, tabs
from .access import WorkspaceOf, auth_for, workspace_resolver
from .context import Context, lang_of
from .errors import ui_errors
from .i18n import I18N, label, t

if TYPE_CHECKING:
    from rag_core.answer.conversation import QueryRewriter
    from rag_core.auth.accounts import Accounts
    from rag_core.workspaces import Workspaces

__all__ = ["auth_for", "build_app", "launch_options", "workspace_resolver"]

CSS_PATH = Path(__file__).with_name("folio.css")
LOGIN_MESSAGE = (
    "Log in with your Folio account. An administrator adds accounts with "
    "<code>python -m rag_core user add NAME --workspace WORKSPACE</code>."
)


def launch_options(accounts: Accounts | None = None) -> dict[str, Any]:
    """What ``launch`` (or ``gr.mount_gradio_app``) needs besides host and port.

    Translations and styles; with ``accounts``, the login. No ``allowed_paths``: page images
    are served as copies in Gradio's cache (``ui.access.served_url``), never by their path.
    """
    options: dict[str, Any] = {"i18n": I18N, "css_paths": [CSS_PATH]}
    if accounts is not None:
        options.update(auth=auth_for(accounts), auth_message=LOGIN_MESSAGE)
    return options


def on_load(ctx: Context, request: gr.Request) -> tuple[Any, ...]:
    """The library view (with the chat's filter), the chat's notices and who is signed in."""
    lang = lang_of(request)
    name = ctx.workspace(request)
    library = ctx.library(request, name)
    with ui_errors(lang):
        view = documents.library_view(library, lang)
        mode = chat.mode_notices(library, lang)
    username = getattr(request, "username", None)
    signed_in = t("signed_in", lang, name=html.escape(username), workspace=name) if username else ""
    account_line = gr.update(value=signed_in, visible=bool(signed_in))
    return (*view.outputs(), "\n\n".join(mode), account_line)


def build_app(
    workspaces: Workspaces,
    rewriter: QueryRewriter,
    *,
    workspace_of: WorkspaceOf | None = None,
    chat_concurrency: int = 8,
) -> gr.Blocks:
    """The app over every workspace; ``workspace_of`` says which one a request may use
    (``ui.access.workspace_resolver``; the ``default`` workspace when it is not given)."""
    evaluations = evaluation.Evaluations(workspaces.settings, workspaces.embedder)
    ctx = Context(workspaces, rewriter, workspace_of or workspace_resolver(None), evaluations)
    with gr.Blocks(title="Folio") as demo:
        account = gr.HTML(elem_id="account", visible=False)  # who is logged in, and log out
        gr.Markdown("# Folio")
        gr.Markdown(label("app_tagline"))
        with gr.Tabs():
            shelf = tabs.library.build(ctx)
            talk = tabs.chat.build(ctx, chat_concurrency)
            tabs.feedback.build(ctx)
            tabs.evaluation.build(ctx)
        # Across tabs: the library view (documents.LibraryView.outputs) fills the chat's filter.
        views = [shelf.table, shelf.row_ids, shelf.selected, talk.doc_filter, shelf.summary]
        demo.load(
            ctx.bind(on_load), None, [*views, talk.notices, account], api_visibility="private"
        )
        # Ingest, delete and re-index share one slot: CPU-bound, and one writer at a time.
        shelf.files.upload(
            ctx.bind(tabs.library.on_upload),
            shelf.files,
            [shelf.upload_result, *views, shelf.files],
            concurrency_limit=1,
            concurrency_id="library-writes",
            api_name="upload",
        )
        shelf.confirm.click(
            ctx.bind(tabs.library.on_confirm),
            [shelf.pending, shelf.selected],
            [shelf.confirm_row, shelf.pending, shelf.action_result, *views],
            concurrency_limit=1,
            concurrency_id="library-writes",
            api_visibility="private",
        )
        _wire_sources(demo, ctx, shelf.sources, views)
    return demo


def _wire_sources(
    demo: gr.Blocks, ctx: Context, panel: tabs.sources.SourcesPanel, views: list[Any]
) -> None:
    """The Sources panel on page load, and its events that change documents (syncing and
    removing a source): one writer at a time with uploads, then the library view follows."""
    demo.load(
        ctx.bind(tabs.sources.on_refresh), panel.selected, panel.view, api_visibility="private"
    )
    removed = [panel.confirm_row, panel.result, *panel.view]
    for button, handler, outputs in (
        (panel.sync, tabs.sources.on_sync, [panel.result, *panel.view]),
        (panel.remove_keep, tabs.sources.on_remove_keep, removed),
        (panel.remove_all, tabs.sources.on_remove_all, removed),
    ):
        button.click(
            ctx.bind(handler),
            panel.selected,
            outputs,
            concurrency_limit=1,
            concurrency_id="library-writes",
            api_visibility="private",
        ).then(ctx.bind(tabs.library.on_view), None, views, api_visibility="private")
