"""The Sources panel of the Library tab: watched folders with their state, add a folder, sync
now, pause, resume and remove (keeping or removing its documents).

``build`` lays the panel out inside the Library tab and wires the events that stay inside it.
Syncing and removing also change the documents, so ``ui.app.build_app`` wires those two with
the library view (``on_sync``, ``on_remove_keep``, ``on_remove_all``) and fills the panel on
page load (``on_refresh``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from .. import sources
from ..context import Context, lang_of
from ..i18n import label

REFRESH_SECONDS = 10  # the panel follows background syncs this often


@dataclass(frozen=True, slots=True)
class SourcesPanel:
    table: gr.Dataframe
    selected: gr.Dropdown
    details: gr.Markdown
    folder: gr.Textbox
    name: gr.Textbox
    every: gr.Number
    include: gr.Textbox
    exclude: gr.Textbox
    add: gr.Button
    sync: gr.Button
    pause: gr.Button
    resume: gr.Button
    remove: gr.Button
    refresh: gr.Button
    confirm_row: gr.Row
    confirm_text: gr.Markdown
    remove_keep: gr.Button
    remove_all: gr.Button
    cancel: gr.Button
    result: gr.Markdown
    timer: gr.Timer

    @property
    def view(self) -> list[Any]:
        """The outputs of ``SourcesView.outputs``."""
        return [self.table, self.selected, self.details]


def on_refresh(ctx: Context, selected: str | None, request: gr.Request) -> tuple[Any, ...]:
    return sources.sources_view(ctx.library(request), lang_of(request)).outputs(selected)


def on_add(
    ctx: Context,
    folder: str | None,
    name: str | None,
    every: float | None,
    include: str | None,
    exclude: str | None,
    request: gr.Request,
) -> tuple[Any, ...]:
    text, view = sources.add(
        ctx.library(request), folder, name, every, include, exclude, lang_of(request)
    )
    chosen = view.names[-1] if text and view.names else None
    return (text, *view.outputs(chosen))


def _act(ctx: Context, action: sources.SourceAction, name: str | None, request: gr.Request) -> Any:
    text, view = sources.act(ctx.library(request), action, name, lang_of(request))
    return (text, *view.outputs(name))


def on_sync(ctx: Context, name: str | None, request: gr.Request) -> tuple[Any, ...]:
    return _act(ctx, "sync", name, request)


def on_pause(ctx: Context, name: str | None, request: gr.Request) -> tuple[Any, ...]:
    return _act(ctx, "pause", name, request)


def on_resume(ctx: Context, name: str | None, request: gr.Request) -> tuple[Any, ...]:
    return _act(ctx, "resume", name, request)


def on_ask_remove(ctx: Context, name: str | None, request: gr.Request) -> tuple[Any, ...]:
    return sources.ask_to_remove(ctx.library(request), name, lang_of(request))


def _remove(ctx: Context, name: str | None, documents: str, request: gr.Request) -> Any:
    text, view = sources.remove(ctx.library(request), name, documents, lang_of(request))
    return (gr.update(visible=False), text, *view.outputs())


def on_remove_keep(ctx: Context, name: str | None, request: gr.Request) -> tuple[Any, ...]:
    return _remove(ctx, name, "keep", request)


def on_remove_all(ctx: Context, name: str | None, request: gr.Request) -> tuple[Any, ...]:
    return _remove(ctx, name, "remove", request)


def layout(default_every: int) -> SourcesPanel:
    with gr.Accordion(label("src_panel"), open=True, elem_id="sources-panel"):
        table = gr.Dataframe(
            label=label("src_table_label"),
            interactive=False,
            wrap=True,
            column_widths=["12%", "28%", "11%", "10%", "9%", "6%", "6%", "6%", "6%", "6%"],
            elem_id="source-table",
        )
        details = gr.Markdown(elem_id="source-details")
        with gr.Row():
            selected = gr.Dropdown(
                label=label("src_select_label"), choices=[], scale=3, elem_id="source-select"
            )
            sync = gr.Button(label("src_sync_button"), size="sm", elem_id="source-sync")
            pause = gr.Button(label("src_pause_button"), size="sm", elem_id="source-pause")
            resume = gr.Button(label("src_resume_button"), size="sm", elem_id="source-resume")
            remove = gr.Button(
                label("src_remove_button"), variant="stop", size="sm", elem_id="source-remove"
            )
            refresh = gr.Button(label("refresh_button"), size="sm", elem_id="source-refresh")
        with gr.Row(visible=False, elem_id="source-confirm-row") as confirm_row:
            confirm_text = gr.Markdown()
            remove_keep = gr.Button(label("src_keep"), elem_id="source-remove-keep")
            remove_all = gr.Button(
                label("src_remove_docs"), variant="stop", elem_id="source-remove-all"
            )
            cancel = gr.Button(label("cancel_button"))
        with gr.Row():
            folder = gr.Textbox(label=label("src_folder_label"), scale=3, elem_id="source-folder")
            name = gr.Textbox(label=label("src_name_label"), scale=1, elem_id="source-name")
            every = gr.Number(
                label=label("src_every_label"),
                value=default_every,
                minimum=0,
                precision=0,
                scale=1,
                elem_id="source-every",
            )
        with gr.Row():
            include = gr.Textbox(label=label("src_include_label"), elem_id="source-include")
            exclude = gr.Textbox(label=label("src_exclude_label"), elem_id="source-exclude")
            add = gr.Button(label("src_add_button"), variant="primary", elem_id="source-add")
        result = gr.Markdown(elem_id="source-result")
        timer = gr.Timer(REFRESH_SECONDS)
    return SourcesPanel(
        table, selected, details, folder, name, every, include, exclude, add, sync, pause,
        resume, remove, refresh, confirm_row, confirm_text, remove_keep, remove_all, cancel,
        result, timer,
    )  # fmt: skip


def build(ctx: Context) -> SourcesPanel:
    """The panel, inside the current tab; events that change only the panel are wired here."""
    panel = layout(ctx.workspaces.settings.source_every)
    view = panel.view
    panel.add.click(
        ctx.bind(on_add),
        [panel.folder, panel.name, panel.every, panel.include, panel.exclude],
        [panel.result, *view],
        api_visibility="private",
    )
    private = "private"  # the UI's own events, not an API (the HTTP API has /sources)
    for button, handler in ((panel.pause, on_pause), (panel.resume, on_resume)):
        button.click(
            ctx.bind(handler), panel.selected, [panel.result, *view], api_visibility=private
        )
    panel.remove.click(
        ctx.bind(on_ask_remove),
        panel.selected,
        [panel.confirm_row, panel.confirm_text],
        api_visibility=private,
    )
    panel.cancel.click(
        lambda: gr.update(visible=False), None, panel.confirm_row, api_visibility=private
    )
    for trigger in (panel.refresh.click, panel.timer.tick):
        trigger(
            ctx.bind(on_refresh),
            panel.selected,
            view,
            show_progress="hidden",
            api_visibility="private",
        )
    return panel
