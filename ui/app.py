"""The Gradio app: layout and event wiring. Built from ready objects; ``app.py`` launches it.

Tabs: Library (upload with progress, documents table, delete and re-index), Chat
(streaming cited answers, sources, retrieved pages, trace, ratings), Feedback analytics and
Evaluation (runs in the background, metrics, charts, change since the previous run).
Handlers live in ``ui/documents.py``, ``ui/chat.py``, ``ui/analytics.py`` and
``ui/evaluation.py``; this module only
places components and connects events, all in one place.
"""

from __future__ import annotations

import html
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from rag_core.answer.conversation import QueryRewriter
from rag_core.eval.retrieval import LEG_SETS

from . import analytics, chat, documents, evaluation
from .access import WorkspaceOf, auth_for, workspace_resolver
from .errors import ui_errors
from .i18n import I18N, Lang, label, language, t

if TYPE_CHECKING:
    from rag_core.auth.accounts import Accounts
    from rag_core.feedback.store import FeedbackStore
    from rag_core.library import Library
    from rag_core.workspaces import Workspaces

__all__ = ["auth_for", "build_app", "launch_options", "workspace_resolver"]

CSS_PATH = Path(__file__).with_name("folio.css")
FILE_TYPES = documents.FILE_TYPES
LOGIN_MESSAGE = (
    "Log in with your Folio account. An administrator adds accounts with "
    "<code>python -m rag_core user add NAME --workspace WORKSPACE</code>."
)


def lang_of(request: gr.Request | None) -> Lang:
    headers = getattr(request, "headers", None)
    return language(headers.get("accept-language") if headers is not None else None)


def session_of(request: gr.Request | None) -> str:
    return str(getattr(request, "session_hash", None) or "anonymous")


def row_of(event: gr.EventData) -> int:
    """The message index of a chatbot event, or the row of a table cell event."""
    index = getattr(event, "index", 0)
    return int(index[0] if isinstance(index, (list, tuple)) else index)


def launch_options(accounts: Accounts | None = None) -> dict[str, Any]:
    """What ``launch`` (or ``gr.mount_gradio_app``) needs besides host and port.

    Translations and styles; with ``accounts``, the login. No ``allowed_paths``: page images
    are served as copies in Gradio's cache (``ui.access.served_url``), never by their path.
    """
    options: dict[str, Any] = {"i18n": I18N, "css_paths": [CSS_PATH]}
    if accounts is not None:
        options.update(auth=auth_for(accounts), auth_message=LOGIN_MESSAGE)
    return options


def build_app(
    workspaces: Workspaces,
    rewriter: QueryRewriter,
    *,
    workspace_of: WorkspaceOf | None = None,
    chat_concurrency: int = 8,
) -> gr.Blocks:
    """The app over every workspace; ``workspace_of`` says which one a request may use
    (``ui.access.workspace_resolver``; the ``default`` workspace when it is not given)."""
    resolve = workspace_of or workspace_resolver(None)
    with gr.Blocks(title="Folio") as demo:
        account = gr.HTML(elem_id="account", visible=False)  # who is logged in, and log out
        gr.Markdown("# Folio")
        gr.Markdown(label("app_tagline"))
        with gr.Tabs():
            with gr.Tab(label("tab_library"), id="library"):
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

            with gr.Tab(label("tab_chat"), id="chat"):
                with gr.Row():
                    with gr.Column(scale=3):
                        notices = gr.Markdown(elem_id="notices")
                        doc_filter = gr.Dropdown(
                            label=label("filter_label"),
                            choices=[],
                            multiselect=True,
                            elem_id="doc-filter",
                        )
                        chatbot = gr.Chatbot(
                            label=label("chatbot_label"), height=520, elem_id="chatbot"
                        )
                        with gr.Row(equal_height=True):
                            question = gr.Textbox(
                                placeholder=label("question_placeholder"),
                                show_label=False,
                                scale=5,
                                elem_id="question",
                            )
                            send = gr.Button(label("send_button"), variant="primary", scale=1)
                        with gr.Row(visible=False, elem_id="comment-row") as comment_row:
                            comment = gr.Textbox(
                                label=label("comment_label"), scale=5, elem_id="comment"
                            )
                            comment_send = gr.Button(label("comment_button"), scale=1)
                    with gr.Column(scale=2):
                        sources = gr.HTML(elem_id="sources")
                        gallery = gr.Gallery(
                            label=label("gallery_label"),
                            columns=3,
                            height=280,
                            object_fit="contain",
                            elem_id="pages",
                        )
                        with gr.Accordion(label("trace_label"), open=False, elem_id="trace-box"):
                            trace = gr.Markdown(elem_id="trace")
                chat_state = gr.State(chat.ChatState())

            with gr.Tab(label("tab_analytics"), id="analytics") as analytics_tab:
                refresh = gr.Button(label("refresh_button"), size="sm")
                an_summary = gr.Markdown(elem_id="analytics-summary")
                plot = gr.ScatterPlot(
                    x="day",
                    y="satisfaction",
                    y_lim=[0, 1],
                    label=label("plot_label"),
                    height=260,
                    elem_id="satisfaction-plot",
                )
                with gr.Row():
                    by_document = gr.Dataframe(
                        label=label("by_document_label"),
                        interactive=False,
                        wrap=True,
                        column_widths=["40%", "15%", "15%", "15%", "15%"],
                        elem_id="by-document",
                    )
                    by_mode = gr.Dataframe(
                        label=label("by_mode_label"), interactive=False, elem_id="by-mode"
                    )
                causes = gr.Dataframe(
                    label=label("causes_label"), interactive=False, elem_id="causes"
                )
                disliked = gr.Dataframe(
                    label=label("disliked_label"),
                    interactive=False,
                    wrap=True,
                    column_widths=["50%", "9%", "9%", "18%", "14%"],
                    elem_id="disliked",
                )
                disliked_ids = gr.State(())
                disliked_trace = gr.Markdown(elem_id="disliked-trace")
                with gr.Row():
                    export = gr.Button(label("export_button"), size="sm")
                    csv_file = gr.File(
                        label=label("csv_label"), interactive=False, elem_id="csv-export"
                    )

            with gr.Tab(label("tab_eval"), id="evaluation") as eval_tab:
                with gr.Row():
                    eval_set = gr.Dropdown(
                        label=label("ev_set_label"), choices=[], scale=3, elem_id="eval-set"
                    )
                    eval_legs = gr.CheckboxGroup(
                        choices=list(LEG_SETS),
                        value=list(LEG_SETS),
                        label=label("ev_legs_label"),
                        scale=2,
                        elem_id="eval-legs",
                    )
                    eval_limit = gr.Number(
                        value=0,
                        precision=0,
                        minimum=0,
                        label=label("ev_limit_label"),
                        scale=1,
                        elem_id="eval-limit",
                    )
                with gr.Row(equal_height=True):
                    eval_answers = gr.Checkbox(
                        label=label("ev_answers_label"), scale=3, elem_id="eval-answers"
                    )
                    eval_judge = gr.Radio(
                        choices=list(evaluation.JUDGES),
                        value="offline",
                        label=label("ev_judge_label"),
                        scale=2,
                        elem_id="eval-judge",
                    )
                    eval_run = gr.Button(
                        label("ev_run_button"), variant="primary", scale=1, elem_id="eval-run"
                    )
                eval_status = gr.Markdown(elem_id="eval-status")
                eval_table = gr.Dataframe(
                    label=label("ev_table_label"), interactive=False, elem_id="eval-table"
                )
                with gr.Row():
                    eval_chart = gr.BarPlot(
                        x="bar",
                        y="value",
                        color="series",
                        y_lim=[0, 1],
                        x_label_angle=-40,
                        label=label("ev_chart_label"),
                        height=400,
                        elem_id="eval-chart",
                    )
                    eval_history = gr.ScatterPlot(
                        x="run",
                        y="value",
                        color="series",
                        y_lim=[0, 1],
                        tooltip="all",
                        label=label("ev_history_label"),
                        height=400,
                        elem_id="eval-history",
                    )
                eval_compared = gr.Markdown(elem_id="eval-compared")
                eval_comparison = gr.Dataframe(
                    label=label("ev_compare_label"), interactive=False, elem_id="eval-comparison"
                )
                eval_timer = gr.Timer(evaluation.POLL_SECONDS, active=False)

        # Events ----------------------------------------------------------------------------
        evaluations = evaluation.Evaluations(workspaces.settings, workspaces.embedder)
        library_outputs = [table, row_ids, selected, doc_filter, summary]

        def workspace(request: gr.Request | None) -> str:
            with ui_errors(lang_of(request)):
                return resolve(request)

        def library_of(request: gr.Request | None, name: str | None = None) -> Library:
            """The library of ``name``, or of the request's workspace."""
            name = name or workspace(request)
            with ui_errors(lang_of(request)):
                return workspaces.library(name)

        def feedback_of(request: gr.Request | None, name: str | None = None) -> FeedbackStore:
            name = name or workspace(request)
            with ui_errors(lang_of(request)):
                return workspaces.feedback(name)

        def on_load(request: gr.Request) -> tuple[Any, ...]:
            lang = lang_of(request)
            name = workspace(request)
            library = library_of(request, name)
            with ui_errors(lang):
                view = documents.library_view(library, lang)
                mode = chat.mode_notices(library, lang)
            username = getattr(request, "username", None)
            signed_in = (
                t("signed_in", lang, name=html.escape(username), workspace=name) if username else ""
            )
            account_line = gr.update(value=signed_in, visible=bool(signed_in))
            return (*view.outputs(), "\n\n".join(mode), account_line)

        def on_upload(
            paths: list[str] | None, request: gr.Request, progress: Any = gr.Progress()
        ) -> tuple[Any, ...]:
            lang = lang_of(request)
            text, view = documents.upload(
                library_of(request),
                paths,
                lang,
                lambda fraction, desc: progress(fraction, desc=desc),
            )
            return (text, *view.outputs(), None)

        def on_row(ids: tuple[str, ...], event: gr.SelectData) -> Any:
            return documents.selected_row(ids, row_of(event))

        def on_delete(doc_id: str | None, request: gr.Request) -> Any:
            return documents.ask_to_confirm(library_of(request), "delete", doc_id, lang_of(request))

        def on_reindex(doc_id: str | None, request: gr.Request) -> Any:
            return documents.ask_to_confirm(
                library_of(request), "reindex", doc_id, lang_of(request)
            )

        def on_confirm(
            action: documents.Action | None, doc_id: str | None, request: gr.Request
        ) -> tuple[Any, ...]:
            library = library_of(request)
            text, view = documents.run_action(library, action, doc_id, lang_of(request))
            return (gr.update(visible=False), None, text, *view.outputs())

        def on_chat(
            state: chat.ChatState, text: str, doc_ids: list[str] | None, request: gr.Request
        ) -> Any:
            name = workspace(request)
            library = library_of(request, name)
            state = state.for_workspace(name)
            yield from chat.respond(library, rewriter, state, text, doc_ids, lang_of(request))

        def on_like(state: chat.ChatState, event: gr.LikeData, request: gr.Request) -> Any:
            name = workspace(request)
            state = state.for_workspace(name)
            return chat.rate(
                feedback_of(request, name),
                state,
                row_of(event),
                event.liked,
                session_of(request),
                lang_of(request),
            )

        def on_select(state: chat.ChatState, event: gr.SelectData, request: gr.Request) -> Any:
            name = workspace(request)
            state = state.for_workspace(name)
            return chat.show_turn(library_of(request, name), state, row_of(event), lang_of(request))

        def on_clear() -> tuple[Any, ...]:
            return chat.ChatState(), "", [], "", gr.update(visible=False)

        def on_comment(state: chat.ChatState, text: str, request: gr.Request) -> Any:
            name = workspace(request)
            state = state.for_workspace(name)
            return chat.send_comment(
                feedback_of(request, name), state, text, session_of(request), lang_of(request)
            )

        def on_analytics(request: gr.Request) -> tuple[Any, ...]:
            lang = lang_of(request)
            feedback = feedback_of(request)
            with ui_errors(lang):
                view = analytics.analytics_view(feedback.records(), lang)
            chart = gr.ScatterPlot(
                value=view.by_day,
                x_title=t("col_day", lang),
                y_title=t("col_satisfaction", lang),
            )
            return (
                view.summary,
                chart,
                view.by_document,
                view.by_mode,
                view.causes,
                view.disliked,
                view.disliked_ids,
                t("an_pick", lang),
            )

        def on_disliked(ids: Any, event: gr.SelectData, request: gr.Request) -> str:
            lang = lang_of(request)
            feedback = feedback_of(request)
            with ui_errors(lang):
                return analytics.disliked_trace(feedback, ids, row_of(event), lang)

        exports: list[Path] = []  # one temp folder for this app's CSV files, made on first use

        def on_export(request: gr.Request) -> str:
            name = workspace(request)
            feedback = feedback_of(request, name)
            with ui_errors(lang_of(request)):
                if not exports:
                    exports.append(Path(tempfile.mkdtemp(prefix="folio-feedback-")))
                folder = exports[0] / name  # a workspace's files never share a name with another's
                folder.mkdir(exist_ok=True)
                return str(analytics.export_csv(feedback.records(), folder))

        analytics_outputs = [
            an_summary,
            plot,
            by_document,
            by_mode,
            causes,
            disliked,
            disliked_ids,
            disliked_trace,
        ]
        demo.load(on_load, None, [*library_outputs, notices, account], api_visibility="private")
        # Ingest, delete and re-index share one slot: CPU-bound, and one writer at a time.
        files.upload(
            on_upload,
            files,
            [upload_result, *library_outputs, files],
            concurrency_limit=1,
            concurrency_id="library-writes",
            api_name="upload",
        )
        table.select(on_row, row_ids, selected, api_visibility="private")
        delete.click(on_delete, selected, [confirm_row, confirm_text, pending])
        reindex.click(on_reindex, selected, [confirm_row, confirm_text, pending])
        cancel.click(lambda: (gr.update(visible=False), None), None, [confirm_row, pending])
        confirm.click(
            on_confirm,
            [pending, selected],
            [confirm_row, pending, action_result, *library_outputs],
            concurrency_limit=1,
            concurrency_id="library-writes",
            api_visibility="private",
        )
        chat_outputs = [chatbot, chat_state, question, sources, gallery, trace, notices]
        for trigger, name in ((question.submit, "chat"), (send.click, "chat_button")):
            trigger(
                on_chat,
                [chat_state, question, doc_filter],
                chat_outputs,
                api_name=name,
                api_visibility="public" if name == "chat" else "private",
                concurrency_limit=chat_concurrency,
                concurrency_id="chat",
                show_progress="minimal",
            )
        chatbot.like(on_like, chat_state, [chat_state, comment_row, comment])
        chatbot.select(on_select, chat_state, [sources, gallery, trace], api_visibility="private")
        chatbot.clear(
            on_clear,
            None,
            [chat_state, sources, gallery, trace, comment_row],
            api_visibility="private",
        )
        comment_send.click(on_comment, [chat_state, comment], [comment_row, comment])
        comment.submit(on_comment, [chat_state, comment], [comment_row, comment])
        eval_views = [eval_table, eval_chart, eval_history, eval_comparison, eval_compared]

        def eval_outputs(values: tuple[Any, ...]) -> tuple[Any, ...]:
            """Bars in the run's order (the chart would sort them by name), runs in order; an
            empty chart is cleared with None (after an empty frame a plot draws no data)."""
            table, chart, history, *rest = values
            if isinstance(chart, pd.DataFrame):
                chart = gr.BarPlot(value=chart, sort=list(chart["bar"])) if len(chart) else None
            if isinstance(history, pd.DataFrame):
                runs = list(dict.fromkeys(history["run"]))
                history = gr.ScatterPlot(value=history, sort=runs) if runs else None
            return (table, chart, history, *rest)

        def on_eval_tab(selected: str | None, request: gr.Request) -> tuple[Any, ...]:
            return evaluation.open_tab(evaluations, selected, lang_of(request))

        def redrawn(values: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
            """The plots cleared, then drawn: a plot keeps its first data's series and order."""
            yield (gr.skip(), None, None, *(gr.skip() for _ in values[3:]))
            yield values

        def on_eval_set(name: str | None, request: gr.Request) -> Iterator[tuple[Any, ...]]:
            yield from redrawn(
                eval_outputs(evaluation.show_set(evaluations, name, lang_of(request)))
            )

        def on_eval_run(
            name: str | None,
            legs: list[str] | None,
            limit: float | None,
            answers: bool,
            judge: str,
            request: gr.Request,
        ) -> tuple[Any, ...]:
            user = getattr(request, "username", None)
            return evaluation.run(
                evaluations, name, legs, limit, answers, judge, lang_of(request), user
            )

        def on_eval_tick(request: gr.Request) -> Iterator[tuple[Any, ...]]:
            status, *views, timer = evaluation.poll(evaluations, lang_of(request))
            if isinstance(views[0], pd.DataFrame):  # finished: its results
                for drawn in redrawn(eval_outputs(tuple(views))):
                    yield (status, *drawn, timer)
            else:
                yield (status, *views, timer)

        eval_tab.select(
            on_eval_tab, eval_set, [eval_set, eval_status, eval_timer], api_visibility="private"
        )
        eval_set.change(on_eval_set, eval_set, eval_views, api_visibility="private")
        eval_run.click(
            on_eval_run,
            [eval_set, eval_legs, eval_limit, eval_answers, eval_judge],
            [eval_status, eval_timer],
            api_visibility="private",
        )
        eval_timer.tick(
            on_eval_tick,
            None,
            [eval_status, *eval_views, eval_timer],
            show_progress="hidden",
            api_visibility="private",
        )
        analytics_tab.select(on_analytics, None, analytics_outputs, api_visibility="private")
        refresh.click(on_analytics, None, analytics_outputs, api_name="analytics")
        disliked.select(on_disliked, disliked_ids, disliked_trace, api_visibility="private")
        export.click(on_export, None, csv_file, api_name="export_csv")
    return demo
