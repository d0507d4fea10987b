"""The tab modules without a browser: each tab builds and wires itself, and its handlers are
plain functions of the app's ``Context`` and plain values."""

from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr
import pandas as pd
import pytest

from rag_core.answer.conversation import RuleRewriter
from rag_core.config import Settings
from rag_core.workspaces import Workspaces
from ui import chat, tabs
from ui.access import workspace_resolver
from ui.context import Context
from ui.evaluation import Evaluations
from ui.formatting import md_escape

from .fakes import HashingEmbedder
from .pdfs import make_pdf
from .test_library import APPLES

SKIP = gr.skip()


@pytest.fixture
def ctx(settings: Settings) -> Context:
    workspaces = Workspaces(settings, embedder=HashingEmbedder())
    return Context(workspaces, RuleRewriter(), workspace_resolver(None), Evaluations(settings))


def select(index: int) -> gr.SelectData:
    return gr.SelectData(None, {"index": index, "value": None, "selected": True})


def test_a_bound_handler_keeps_its_name_and_is_handed_the_request(ctx: Context):
    bound = ctx.bind(tabs.library.on_delete)
    assert bound.__name__ == "on_delete"  # the endpoint's name when none is given
    request = gr.Request(session_hash="s")
    inputs, *_ = gr.helpers.special_args(bound, ["doc-id"], request=request)
    assert inputs == ["doc-id", request]
    # Why not functools.partial: Gradio cannot read a partial's hints; its request is None.
    partial = functools.partial(tabs.library.on_delete, ctx)
    with pytest.warns(UserWarning, match="Unexpected argument"):
        inputs, *_ = gr.helpers.special_args(partial, ["doc-id"], request=request)
    assert inputs == ["doc-id", None]


@pytest.mark.parametrize(
    ("build", "handlers"),
    [
        (
            tabs.library.build,
            [
                *("on_add", "on_pause", "on_resume", "on_ask_remove", "<lambda>"),
                *("on_refresh", "on_refresh"),  # the Sources panel's refresh button and timer
                *("on_row", "on_delete", "on_reindex", "<lambda>"),
            ],
        ),
        (
            functools.partial(tabs.chat.build, concurrency=3),
            ["on_chat", "on_chat", "on_like", "on_select", "on_clear", "on_comment", "on_comment"],
        ),
        (tabs.feedback.build, ["on_analytics", "on_analytics", "on_disliked", "on_export"]),
        (tabs.evaluation.build, ["on_eval_tab", "on_eval_set", "on_eval_run", "on_eval_tick"]),
    ],
)
def test_each_tab_builds_and_wires_itself(ctx: Context, build, handlers: list[str]):
    with gr.Blocks() as demo, gr.Tabs():
        build(ctx)
    assert [fn.fn.__name__ for fn in demo.fns.values() if fn.fn] == handlers


def test_library_handlers_upload_select_and_delete(ctx: Context, upload_folder: Path):
    path = upload_folder / "orchard.pdf"  # where Gradio's upload route writes
    path.write_bytes(make_pdf(APPLES))
    request = gr.Request(session_hash="s")
    text, table, row_ids, _, doc_filter, _, cleared = tabs.library.on_upload(
        ctx, [str(path)], request, progress=lambda fraction, desc: None
    )
    assert text.startswith("✓ orchard.pdf: added \\(3 pages") and cleared is None
    assert table.values[:, 0].tolist() == ["orchard.pdf"]
    [doc_id] = row_ids
    assert doc_filter["choices"] == [("orchard.pdf", doc_id)]
    assert tabs.library.on_row(row_ids, select(0)) == doc_id
    assert tabs.library.on_row(row_ids, select(3)) is None
    row, question, action = tabs.library.on_delete(ctx, doc_id, request)
    assert row["visible"] and "**orchard.pdf**" in question and action == "delete"
    hidden, pending, text, table, row_ids, *_ = tabs.library.on_confirm(
        ctx, action, doc_id, request
    )
    assert hidden == gr.update(visible=False) and pending is None
    assert text == "orchard.pdf was deleted." and row_ids == ()


def test_sources_panel_handlers_add_sync_pause_and_remove(ctx: Context, tmp_path: Path):
    from .test_sources import write

    folder = tmp_path / "shared-docs"
    write(folder, "apples.md", "# Apples\n\nThe apple harvest rose to 120 tonnes.")
    write(folder, "broken.pdf", b"%PDF-1.4 but nothing more")
    request = gr.Request(session_hash="s")
    text, table, names, details = tabs.sources.on_add(
        ctx, str(folder), "", 0, "", "drafts", request
    )
    added = f"Folder {folder} added as shared-docs; it syncs in the background."
    assert text == md_escape(added)
    assert names["choices"] == ["shared-docs"] and names["value"] == "shared-docs"
    assert table.values[0, :4].tolist() == ["shared-docs", str(folder), "on", "when asked"]
    library = ctx.workspaces.library("default")
    text, table, _, details = tabs.sources.on_sync(ctx, "shared-docs", request)
    assert text.startswith("shared-docs synced: 2 files, 1 added, 0 updated")
    assert table.values[0, 5:].tolist() == [2, 1, 0, 0, 1]
    assert details.startswith("**shared-docs**\n- failed: broken.pdf: is not a readable PDF")
    _, _, _, doc_filter, _ = tabs.library.on_view(ctx, request)
    assert [name for name, _ in doc_filter["choices"]] == ["shared-docs/apples.md"]
    text, table, *_ = tabs.sources.on_pause(ctx, "shared-docs", request)
    assert text == "shared-docs is paused." and table.values[0, 2] == "paused"
    row, question = tabs.sources.on_ask_remove(ctx, "shared-docs", request)
    assert row["visible"] and "(2 files)" in question
    hidden, text, table, names, details = tabs.sources.on_remove_all(ctx, "shared-docs", request)
    assert hidden == gr.update(visible=False) and names["choices"] == []
    assert text == "shared-docs is no longer synced; its 1 documents were removed."
    assert details == "No folder is synced yet: add one below." and library.documents() == []


def test_clearing_the_chat_starts_a_new_conversation():
    state, sources, gallery, trace, comment_row = tabs.chat.on_clear()
    assert state == chat.ChatState() and (sources, gallery, trace) == ("", [], "")
    assert comment_row == gr.update(visible=False)


def test_plotted_keeps_the_run_order_and_clears_empty_plots():
    chart = pd.DataFrame(
        {"bar": ["dense", "bm25"], "metric": ["ndcg@10"] * 2, "value": [0.7, 0.5], "series": "x"}
    )
    history = pd.DataFrame(
        {"run": ["r2", "r1", "r2"], "started": "", "value": [0.1, 0.2, 0.3], "series": "x"}
    )
    table, bars, runs, *rest = tabs.evaluation.plotted(("table", chart, history, "c", "d"))
    assert table == "table" and rest == ["c", "d"]
    assert bars.sort == ["dense", "bm25"] and runs.sort == ["r2", "r1"]
    assert tabs.evaluation.plotted(("t", chart[:0], history[:0], "c", "d")) == (
        "t",
        None,
        None,
        "c",
        "d",
    )
    assert tabs.evaluation.plotted((SKIP,) * 5) == (SKIP,) * 5


def test_redrawn_clears_the_plots_then_draws_them():
    values = ("table", "chart", "history", "comparison", "caption")
    assert list(tabs.evaluation.redrawn(values)) == [(SKIP, None, None, SKIP, SKIP), values]


def test_the_timer_stops_when_no_evaluation_has_run(ctx: Context):
    [(status, *views, timer)] = tabs.evaluation.on_eval_tick(ctx, gr.Request(session_hash="s"))
    assert [status, *views] == [SKIP] * 6 and timer.active is False
