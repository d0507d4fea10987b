"""The Evaluation tab: pick a set, run it in the background, see its metrics and charts.

``build`` lays the tab out and wires its events; the handlers here take the request's
language and call ``ui.evaluation`` with the app's one ``Evaluations``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from rag_core.eval.retrieval import LEG_SETS

from .. import evaluation
from ..context import Context, lang_of
from ..i18n import label


@dataclass(frozen=True, slots=True)
class EvaluationTab:
    eval_set: gr.Dropdown
    legs: gr.CheckboxGroup
    limit: gr.Number
    answers: gr.Checkbox
    judge: gr.Radio
    run: gr.Button
    status: gr.Markdown
    table: gr.Dataframe
    chart: gr.BarPlot
    history: gr.ScatterPlot
    compared: gr.Markdown
    comparison: gr.Dataframe
    timer: gr.Timer

    def views(self) -> list[Any]:
        """A run's table, chart, history, comparison and its caption (``RunView.outputs``)."""
        return [self.table, self.chart, self.history, self.comparison, self.compared]


def plotted(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Bars in the run's order (the chart would sort them by name), runs in order; an
    empty chart is cleared with None (after an empty frame a plot draws no data)."""
    table, chart, history, *rest = values
    if isinstance(chart, pd.DataFrame):
        chart = gr.BarPlot(value=chart, sort=list(chart["bar"])) if len(chart) else None
    if isinstance(history, pd.DataFrame):
        runs = list(dict.fromkeys(history["run"]))
        history = gr.ScatterPlot(value=history, sort=runs) if runs else None
    return (table, chart, history, *rest)


def redrawn(values: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    """The plots cleared, then drawn: a plot keeps its first data's series and order."""
    yield (gr.skip(), None, None, *(gr.skip() for _ in values[3:]))
    yield values


def on_eval_tab(ctx: Context, selected: str | None, request: gr.Request) -> tuple[Any, ...]:
    return evaluation.open_tab(ctx.evaluations, selected, lang_of(request))


def on_eval_set(ctx: Context, name: str | None, request: gr.Request) -> Iterator[tuple[Any, ...]]:
    yield from redrawn(plotted(evaluation.show_set(ctx.evaluations, name, lang_of(request))))


def on_eval_run(
    ctx: Context,
    name: str | None,
    legs: list[str] | None,
    limit: float | None,
    answers: bool,
    judge: str,
    request: gr.Request,
) -> tuple[Any, ...]:
    lang, user = lang_of(request), getattr(request, "username", None)
    return evaluation.run(ctx.evaluations, name, legs, limit, answers, judge, lang, user)


def on_eval_tick(ctx: Context, request: gr.Request) -> Iterator[tuple[Any, ...]]:
    status, *views, timer = evaluation.poll(ctx.evaluations, lang_of(request))
    if isinstance(views[0], pd.DataFrame):  # finished: its results
        for drawn in redrawn(plotted(tuple(views))):
            yield (status, *drawn, timer)
    else:
        yield (status, *views, timer)


def layout() -> EvaluationTab:
    with gr.Row():
        eval_set = gr.Dropdown(label=label("ev_set_label"), choices=[], scale=3, elem_id="eval-set")
        legs = gr.CheckboxGroup(
            choices=list(LEG_SETS),
            value=list(LEG_SETS),
            label=label("ev_legs_label"),
            scale=2,
            elem_id="eval-legs",
        )
        limit = gr.Number(
            value=0,
            precision=0,
            minimum=0,
            label=label("ev_limit_label"),
            scale=1,
            elem_id="eval-limit",
        )
    with gr.Row(equal_height=True):
        answers = gr.Checkbox(label=label("ev_answers_label"), scale=3, elem_id="eval-answers")
        judge = gr.Radio(
            choices=list(evaluation.JUDGES),
            value="offline",
            label=label("ev_judge_label"),
            scale=2,
            elem_id="eval-judge",
        )
        run = gr.Button(label("ev_run_button"), variant="primary", scale=1, elem_id="eval-run")
    status = gr.Markdown(elem_id="eval-status")
    table = gr.Dataframe(label=label("ev_table_label"), interactive=False, elem_id="eval-table")
    with gr.Row():
        chart = gr.BarPlot(
            x="bar",
            y="value",
            color="series",
            y_lim=[0, 1],
            x_label_angle=-40,
            label=label("ev_chart_label"),
            height=400,
            elem_id="eval-chart",
        )
        history = gr.ScatterPlot(
            x="run",
            y="value",
            color="series",
            y_lim=[0, 1],
            tooltip="all",
            label=label("ev_history_label"),
            height=400,
            elem_id="eval-history",
        )
    compared = gr.Markdown(elem_id="eval-compared")
    comparison = gr.Dataframe(
        label=label("ev_compare_label"), interactive=False, elem_id="eval-comparison"
    )
    timer = gr.Timer(evaluation.POLL_SECONDS, active=False)
    return EvaluationTab(
        eval_set,
        legs,
        limit,
        answers,
        judge,
        run,
        status,
        table,
        chart,
        history,
        compared,
        comparison,
        timer,
    )


def build(ctx: Context) -> EvaluationTab:
    with gr.Tab(label("tab_eval"), id="evaluation") as page:
        tab = layout()
    page.select(
        ctx.bind(on_eval_tab),
        tab.eval_set,
        [tab.eval_set, tab.status, tab.timer],
        api_visibility="private",
    )
    tab.eval_set.change(ctx.bind(on_eval_set), tab.eval_set, tab.views(), api_visibility="private")
    tab.run.click(
        ctx.bind(on_eval_run),
        [tab.eval_set, tab.legs, tab.limit, tab.answers, tab.judge],
        [tab.status, tab.timer],
        api_visibility="private",
    )
    tab.timer.tick(
        ctx.bind(on_eval_tick),
        None,
        [tab.status, *tab.views(), tab.timer],
        show_progress="hidden",
        api_visibility="private",
    )
    return tab
