"""The Feedback analytics tab: ratings by day, document and answer mode, where dislikes come
from, dislikes by the support of the answers' sentences, the most disliked questions with
their traces, and a CSV export.

``build`` lays the tab out and wires its events; the handlers here find the request's
workspace and language and call ``ui.analytics``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from .. import analytics
from ..context import Context, lang_of, row_of
from ..errors import ui_errors
from ..i18n import label, t


@dataclass(frozen=True, slots=True)
class FeedbackTab:
    refresh: gr.Button
    summary: gr.Markdown
    plot: gr.ScatterPlot
    by_document: gr.Dataframe
    by_mode: gr.Dataframe
    by_route: gr.Dataframe
    causes: gr.Dataframe
    by_support: gr.Dataframe
    disliked: gr.Dataframe
    disliked_ids: gr.State  # table row -> feedback record id
    disliked_trace: gr.Markdown
    export: gr.Button
    csv_file: gr.File

    def views(self) -> list[Any]:
        """What ``on_analytics`` fills, in its order."""
        return [
            self.summary,
            self.plot,
            self.by_document,
            self.by_mode,
            self.by_route,
            self.causes,
            self.by_support,
            self.disliked,
            self.disliked_ids,
            self.disliked_trace,
        ]


def on_analytics(ctx: Context, request: gr.Request) -> tuple[Any, ...]:
    lang = lang_of(request)
    feedback = ctx.feedback(request)
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
        view.by_route,
        view.causes,
        view.by_support,
        view.disliked,
        view.disliked_ids,
        t("an_pick", lang),
    )


def on_disliked(ctx: Context, ids: Any, event: gr.SelectData, request: gr.Request) -> str:
    lang = lang_of(request)
    feedback = ctx.feedback(request)
    with ui_errors(lang):
        return analytics.disliked_trace(feedback, ids, row_of(event), lang)


def on_export(ctx: Context, request: gr.Request) -> str:
    name = ctx.workspace(request)
    feedback = ctx.feedback(request, name)
    with ui_errors(lang_of(request)):
        folder = analytics.export_folder() / name  # a workspace's file is its own
        return str(analytics.export_csv(feedback.records(), folder))


def layout() -> FeedbackTab:
    refresh = gr.Button(label("refresh_button"), size="sm")
    summary = gr.Markdown(elem_id="analytics-summary")
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
        by_mode = gr.Dataframe(label=label("by_mode_label"), interactive=False, elem_id="by-mode")
        by_route = gr.Dataframe(
            label=label("by_route_label"), interactive=False, elem_id="by-route"
        )
    with gr.Row():
        causes = gr.Dataframe(label=label("causes_label"), interactive=False, elem_id="causes")
        by_support = gr.Dataframe(
            label=label("by_support_label"), interactive=False, elem_id="by-support"
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
        csv_file = gr.File(label=label("csv_label"), interactive=False, elem_id="csv-export")
    return FeedbackTab(
        refresh,
        summary,
        plot,
        by_document,
        by_mode,
        by_route,
        causes,
        by_support,
        disliked,
        disliked_ids,
        disliked_trace,
        export,
        csv_file,
    )


def build(ctx: Context) -> FeedbackTab:
    with gr.Tab(label("tab_analytics"), id="analytics") as page:
        tab = layout()
    showing = ctx.bind(on_analytics)
    page.select(showing, None, tab.views(), api_visibility="private")
    tab.refresh.click(showing, None, tab.views(), api_name="analytics")
    tab.disliked.select(
        ctx.bind(on_disliked), tab.disliked_ids, tab.disliked_trace, api_visibility="private"
    )
    tab.export.click(ctx.bind(on_export), None, tab.csv_file, api_name="export_csv")
    return tab
