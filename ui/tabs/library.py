"""The Library tab: upload with progress, the documents table, delete and re-index, and the
Sources panel (watched folders, ``ui.tabs.sources``).

``build`` lays the tab out and wires the events that stay inside it. Uploads and confirmed
actions also refresh the chat's document filter, so ``ui.app.build_app`` wires those two with
``on_upload`` and ``on_confirm`` (and the panel's syncs and removals likewise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from .. import documents
from ..context import Context, lang_of, row_of
from ..i18n import label
from . import sources

FILE_TYPES = documents.FILE_TYPES  # what the core reads


@dataclass(frozen=True, slots=True)
class LibraryTab:
    summary: gr.Markdown
    files: gr.File
    upload_result: gr.Markdown
    table: gr.Dataframe
    row_ids: gr.State  # table row -> document id
    selected: gr.Dropdown
    delete: gr.Button
    reindex: gr.Button
    confirm_row: gr.Row
    confirm_text: gr.Markdown
    confirm: gr.Button
    cancel: gr.Button
    pending: gr.State  # the action waiting for confirmation
    action_result: gr.Markdown
    sources: sources.SourcesPanel


def on_upload(
    ctx: Context, paths: list[str] | None, request: gr.Request, progress: Any = gr.Progress()
) -> tuple[Any, ...]:
    lang = lang_of(request)
    text, view = documents.upload(
        ctx.library(request),
        paths,
        lang,
        lambda fraction, desc: progress(fraction, desc=desc),
    )
    return (text, *view.outputs(), None)


def on_view(ctx: Context, request: gr.Request) -> tuple[Any, ...]:
    """The library view as it is now (after a source changed documents)."""
    return documents.library_view(ctx.library(request), lang_of(request)).outputs()


def on_row(ids: tuple[str, ...], event: gr.SelectData) -> Any:
    return documents.selected_row(ids, row_of(event))


def on_delete(ctx: Context, doc_id: str | None, request: gr.Request) -> Any:
    return documents.ask_to_confirm(ctx.library(request), "delete", doc_id, lang_of(request))


def on_reindex(ctx: Context, doc_id: str | None, request: gr.Request) -> Any:
    return documents.ask_to_confirm(ctx.library(request), "reindex", doc_id, lang_of(request))


def on_confirm(
    ctx: Context, action: documents.Action | None, doc_id: str | None, request: gr.Request
) -> tuple[Any, ...]:
    library = ctx.library(request)
    text, view = documents.run_action(library, action, doc_id, lang_of(request))
    return (gr.update(visible=False), None, text, *view.outputs())


def layout(ctx: Context) -> LibraryTab:
    summary = gr.Markdown(elem_id="library-summary")
    files = gr.File(
        label=label("upload_label"),
        file_count="multiple",
        file_types=FILE_TYPES,
        elem_id="upload",
    )
    upload_result = gr.Markdown(elem_id="upload-result")
    table = gr.Dataframe(
        label=label("documents_label"),
        interactive=False,
        wrap=True,
        column_widths=["22%", "7%", "7%", "9%", "14%", "8%", "33%"],
        elem_id="documents",
    )
    row_ids = gr.State(())
    with gr.Row():
        selected = gr.Dropdown(
            label=label("doc_select_label"), choices=[], scale=4, elem_id="doc-select"
        )
        with gr.Column(scale=1, min_width=160):
            delete = gr.Button(label("delete_button"), variant="stop", size="sm")
            reindex = gr.Button(label("reindex_button"), size="sm")
    with gr.Row(visible=False, elem_id="confirm-row") as confirm_row:
        confirm_text = gr.Markdown()
        confirm = gr.Button(label("confirm_button"), variant="stop", elem_id="confirm")
        cancel = gr.Button(label("cancel_button"))
    pending = gr.State(None)
    action_result = gr.Markdown(elem_id="action-result")
    panel = sources.build(ctx)
    return LibraryTab(
        summary,
        files,
        upload_result,
        table,
        row_ids,
        selected,
        delete,
        reindex,
        confirm_row,
        confirm_text,
        confirm,
        cancel,
        pending,
        action_result,
        panel,
    )


def build(ctx: Context) -> LibraryTab:
    with gr.Tab(label("tab_library"), id="library"):
        tab = layout(ctx)
    asking = [tab.confirm_row, tab.confirm_text, tab.pending]
    tab.table.select(on_row, tab.row_ids, tab.selected, api_visibility="private")
    tab.delete.click(ctx.bind(on_delete), tab.selected, asking)
    tab.reindex.click(ctx.bind(on_reindex), tab.selected, asking)
    tab.cancel.click(lambda: (gr.update(visible=False), None), None, [tab.confirm_row, tab.pending])
    return tab
