"""The Evaluation tab's handlers: pick a set, run it in the background, see every leg's metrics
side by side, a chart of the run, the history of the set's runs and the change since the
previous run.

One evaluation runs at a time for the whole app (it is CPU-bound and shares the app's text
embedder); it runs in a thread, so chat requests are never queued behind it, and every
session's timer polls the same job, so everyone sees its progress. Handlers are plain functions
of an ``Evaluations`` and plain values; ``ui/tabs/evaluation.py`` wires them to components.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import gradio as gr
import pandas as pd

from rag_core.errors import ConfigurationError, NotFoundError
from rag_core.eval.retrieval import LEG_SETS
from rag_core.eval.runs import (
    EvalJob,
    EvalRequest,
    EvalRun,
    EvalSetInfo,
    JobStatus,
    MetricDelta,
    chart_points,
    compare,
    list_runs,
    list_sets,
    previous_run,
    runs_dir,
    start_evaluation,
)

from .errors import error, info, ui_errors, warn
from .formatting import md_escape
from .i18n import Lang, t

if TYPE_CHECKING:
    from rag_core.config import Settings
    from rag_core.embed.embeddings import Embedder

POLL_SECONDS = 1.0
MESSAGES_SHOWN = 6
HEADLINES = ("ndcg@10", "hit@5", "correct")  # the history chart's metric per kind of set
JUDGES = ("offline", "claude")


class Evaluations:
    """The app's evaluation slot: where sets and runs live, and the one running job."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self._lock = threading.Lock()
        self._job: EvalJob | None = None
        self._set = ""

    @property
    def root(self) -> Path:
        return self.settings.eval_root

    @property
    def runs_folder(self) -> Path:
        return runs_dir(self.settings)

    def sets(self) -> list[EvalSetInfo]:
        return list_sets(self.root)

    def find(self, name: str) -> EvalSetInfo:
        for info_ in self.sets():
            if info_.name == name:
                return info_
        raise NotFoundError(f"Evaluation set '{name}' is not in {self.root}")

    def runs(self, set_name: str) -> list[EvalRun]:
        """Saved runs of a set, oldest first."""
        return list_runs(self.runs_folder, set_name)

    def start(self, name: str, request: EvalRequest) -> EvalJob:
        """Start ``request`` unless an evaluation is running (ConfigurationError naming it)."""
        with self._lock:
            if self._job is not None and self._job.status().state == "running":
                raise ConfigurationError(
                    f"An evaluation of {self._set} is already running; wait for it to finish"
                )
            self._job = start_evaluation(request, self.settings, self.embedder)
            self._set = name
            return self._job

    def may_start(self, user: str | None) -> bool:
        """Whether ``user`` may start a run: anyone without the login, else the accounts named
        in FOLIO_EVAL_ADMINS (a run is app-wide, CPU-bound and one at a time)."""
        if self.settings.login == "off":
            return True
        return user is not None and user.strip().lower() in self.settings.eval_admin_names

    def current(self) -> tuple[str, JobStatus] | None:
        """The last job started (running or finished) and its set's name."""
        with self._lock:
            job, name = self._job, self._set
        return None if job is None else (name, job.status())

    def running(self) -> bool:
        current = self.current()
        return current is not None and current[1].state == "running"


# Views (pure) ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RunView:
    """What the tab shows for one run."""

    table: pd.DataFrame  # one row per (setting, metric), one column per leg
    chart: pd.DataFrame  # bar, metric, value, series: the run's metrics
    history: pd.DataFrame  # run, started, value, series: headline metrics over the runs
    comparison: pd.DataFrame  # setting, leg, metric, previous, current, change
    compared: str  # Markdown: which run this is compared with

    def outputs(self) -> tuple[Any, ...]:
        return self.table, self.chart, self.history, self.comparison, self.compared


CHART_COLUMNS = {"bar": str, "metric": str, "value": float, "series": str}
HISTORY_COLUMNS = {"run": str, "started": str, "value": float, "series": str}


def _frame(rows: list[list[Any]], columns: dict[str, type]) -> pd.DataFrame:
    """A chart's rows with fixed column types, empty or not (a plot takes the value axis of
    an empty, untyped frame for categories)."""
    frame = pd.DataFrame(rows, columns=list(columns))
    return frame.astype(
        {name: "float64" if kind is float else "object" for name, kind in columns.items()}
    )


def _setting(kind: str, setting: str, lang: Lang) -> str:
    return t("ev_answers_setting", lang, setting=setting) if kind == "answers" else setting


def _value(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def metrics_frame(run: EvalRun, lang: Lang) -> pd.DataFrame:
    """Every leg side by side: a row per (setting, metric), then questions and ms/question."""
    kinds = (("retrieval", run.rows), ("answers", run.answer_rows))
    legs = list(dict.fromkeys(row.leg for _, rows in kinds for row in rows))
    out: list[list[str]] = []
    for kind, rows in kinds:
        settings = list(dict.fromkeys(row.setting for row in rows))
        for setting in settings:
            here = {row.leg: row for row in rows if row.setting == setting}
            names = list(dict.fromkeys(m for row in here.values() for m in row.metrics))
            label = _setting(kind, setting, lang)
            for name in names:
                cells = [_value(here[leg].metrics.get(name)) if leg in here else "" for leg in legs]
                out.append([label, name, *cells])
            out.append(
                [
                    label,
                    t("ev_queries", lang),
                    *(str(here[g].queries) if g in here else "" for g in legs),
                ]
            )
            out.append(
                [
                    label,
                    t("ev_ms", lang),
                    *(f"{here[g].ms_per_query:.1f}" if g in here else "" for g in legs),
                ]
            )
    columns = [t("ev_col_setting", lang), t("ev_col_metric", lang), *legs]
    return pd.DataFrame(out, columns=columns)


def _series(kind: str, setting: str, leg: str, settings: int, lang: Lang) -> str:
    if kind == "answers":
        return f"{_setting(kind, setting, lang)} · {leg}"
    return leg if settings == 1 else f"{setting} · {leg}"


def chart_frame(run: EvalRun, lang: Lang) -> pd.DataFrame:
    """The run's metrics as bars: one bar per (metric, series), coloured by series."""
    points = chart_points([run])
    settings = len({p.setting for p in points if p.kind == "retrieval"})
    rows = []
    for p in points:
        series = _series(p.kind, p.setting, p.leg, settings, lang)
        rows.append([f"{p.metric} · {series}", p.metric, p.value, series])
    return _frame(rows, CHART_COLUMNS)


def history_frame(runs: Sequence[EvalRun], lang: Lang) -> pd.DataFrame:
    """The headline metrics (nDCG@10, hit@5, answers correct) of every run: ``run`` is its
    number (#1 = oldest; runs can start in the same second), ``started`` its time."""
    rows = []
    for number, run in enumerate(runs, start=1):
        points = [p for p in chart_points([run]) if p.metric in HEADLINES]
        settings = len({p.setting for p in points if p.kind == "retrieval"})
        for p in points:
            series = f"{p.metric} · {_series(p.kind, p.setting, p.leg, settings, lang)}"
            rows.append([f"#{number}", run.label, p.value, series])
    return _frame(rows, HISTORY_COLUMNS)


def change_text(delta: MetricDelta, lang: Lang) -> str:
    """Signed change with an arrow: ``▲ +0.020``, ``▼ -0.010``, ``= 0.000``, new, gone."""
    if delta.previous is None:
        return t("ev_new", lang)
    if delta.current is None:
        return t("ev_gone", lang)
    change = delta.current - delta.previous
    if abs(change) < 0.0005:
        return "= 0.000"
    return f"{'▲' if change > 0 else '▼'} {change:+.3f}"


def comparison_frame(deltas: Sequence[MetricDelta], lang: Lang) -> pd.DataFrame:
    rows = [
        [
            _setting(d.kind, d.setting, lang),
            d.leg,
            d.metric,
            _value(d.previous),
            _value(d.current),
            change_text(d, lang),
        ]
        for d in deltas
    ]
    keys = ["ev_col_setting", "ev_col_leg", "ev_col_metric"]
    keys += ["ev_col_previous", "ev_col_current", "ev_col_change"]
    return pd.DataFrame(rows, columns=[t(k, lang) for k in keys])


def run_view(run: EvalRun, runs: Sequence[EvalRun], lang: Lang) -> RunView:
    """The tab's view of ``run``, compared with the latest earlier run of its set in ``runs``."""
    before = previous_run(runs, run)
    if before is None:
        compared = t("ev_first_run", lang, set=md_escape(run.set_name))
    else:
        compared = t(
            "ev_compared",
            lang,
            set=md_escape(run.set_name),
            current=run.label,
            previous=before.label,
        )
    history = [r for r in runs if r.set_name == run.set_name]
    return RunView(
        table=metrics_frame(run, lang),
        chart=chart_frame(run, lang),
        history=history_frame(history, lang),
        comparison=comparison_frame(compare(run, before), lang),
        compared=compared,
    )


def empty_view(message: str, lang: Lang) -> RunView:
    return RunView(
        table=pd.DataFrame(columns=[t("ev_col_setting", lang), t("ev_col_metric", lang)]),
        chart=_frame([], CHART_COLUMNS),
        history=_frame([], HISTORY_COLUMNS),
        comparison=comparison_frame([], lang),
        compared=message,
    )


def status_markdown(name: str, status: JobStatus, lang: Lang) -> str:
    """Progress while running (the last few messages), the outcome after."""
    shown = [f"- {md_escape(m)}" for m in status.messages[-MESSAGES_SHOWN:]]
    seconds = f"{status.seconds:.0f}"
    set_name = md_escape(name)
    if status.state == "running":
        head = t("ev_running", lang, set=set_name, seconds=seconds)
    elif status.state == "failed":
        head = t("ev_failed", lang, set=set_name, error=md_escape(status.error or ""))
    else:
        file = status.run.path.name if status.run is not None else ""
        head = t("ev_done", lang, set=set_name, seconds=seconds, file=file.replace("`", "'"))
    return "\n".join([head, "", *shown])


# Handlers ---------------------------------------------------------------------------------
Outputs = tuple[Any, ...]  # status, table, chart, history, comparison, compared, timer


def set_choices(sets: Sequence[EvalSetInfo], lang: Lang) -> list[tuple[str, str]]:
    return [
        (
            t(
                "ev_set_choice",
                lang,
                name=s.name,
                format=s.format,
                questions=s.questions,
                documents=s.documents,
            ),
            s.name,
        )
        for s in sets
    ]


def open_tab(evaluations: Evaluations, selected: str | None, lang: Lang) -> Outputs:
    """The sets to choose from; the running job's progress, or the selected set's last run.

    Returns the dropdown, the status and the timer; a missing root is a warning naming it."""
    try:
        sets = evaluations.sets()
    except ConfigurationError as exc:
        warn(str(exc))
        sets = []
    status = "" if sets else t("ev_no_sets", lang, root=str(evaluations.root).replace("`", "'"))
    names = [s.name for s in sets]
    value = selected if selected in names else (names[0] if names else None)
    dropdown = gr.update(choices=set_choices(sets, lang), value=value)
    current = evaluations.current()
    if current is not None and current[1].state == "running":
        return dropdown, status_markdown(*current, lang), gr.Timer(active=True)
    return dropdown, status, gr.Timer(active=False)


def show_set(evaluations: Evaluations, name: str | None, lang: Lang) -> tuple[Any, ...]:
    """The latest saved run of the selected set: table, chart, history, comparison."""
    if not name:
        return empty_view("", lang).outputs()
    with ui_errors(lang):
        runs = evaluations.runs(name)
    if not runs:
        return empty_view(t("ev_no_runs", lang, set=md_escape(name)), lang).outputs()
    return run_view(runs[-1], runs, lang).outputs()


def request_for(
    info_: EvalSetInfo,
    legs: Sequence[str] | None,
    limit: float | None,
    answers: bool,
    judge: str,
    lang: Lang,
) -> EvalRequest:
    """The options checked: legs known, limit a positive whole number, answers on pdfqa only."""
    chosen = tuple(leg for leg in LEG_SETS if leg in (legs or ()))
    if not chosen:
        raise error(t("ev_no_legs", lang))
    if limit is not None and (limit < 0 or limit != int(limit)):
        raise error(t("ev_bad_limit", lang, limit=limit))
    if answers and not info_.answers:
        raise error(t("ev_answers_need_pdfqa", lang, set=info_.name))
    if info_.questions == 0:
        what = "qrels/test.tsv" if info_.format == "beir" else "questions.jsonl"
        raise error(t("ev_no_questions", lang, set=info_.name, file=what))
    if judge not in JUDGES:
        raise error(t("ev_bad_judge", lang, judge=judge))
    judge_: Literal["offline", "claude"] = "claude" if judge == "claude" else "offline"
    return EvalRequest(
        info_.path,
        legs=chosen,
        limit=int(limit) if limit else None,
        answers=answers,
        judge=judge_,
    )


def run(
    evaluations: Evaluations,
    name: str | None,
    legs: Sequence[str] | None,
    limit: float | None,
    answers: bool,
    judge: str,
    lang: Lang,
    user: str | None,
) -> tuple[Any, Any]:
    """Start an evaluation in the background; returns the status and the (started) timer.

    ``user``: the logged-in account (``None`` without the login); only ``may_start`` users
    start runs. A second press while one runs shows that run's progress instead."""
    if not evaluations.may_start(user):
        raise error(t("ev_not_admin", lang))
    if not name:
        raise error(t("ev_pick_set", lang))
    current = evaluations.current()
    if current is not None and current[1].state == "running":
        warn(t("ev_busy", lang, set=current[0]))
        return status_markdown(*current, lang), gr.Timer(active=True)
    with ui_errors(lang):
        info_ = evaluations.find(name)
        request = request_for(info_, legs, limit, answers, judge, lang)
        job = evaluations.start(name, request)
    info(t("ev_started", lang, set=name))
    return status_markdown(name, job.status(), lang), gr.Timer(active=True)


def poll(evaluations: Evaluations, lang: Lang) -> Outputs:
    """A timer tick: progress while the job runs; its results (and the timer off) once done."""
    skip = gr.skip()
    current = evaluations.current()
    if current is None:
        return (skip,) * 6 + (gr.Timer(active=False),)
    name, status = current
    text = status_markdown(name, status, lang)
    if status.state == "running":
        return (text,) + (skip,) * 5 + (gr.Timer(active=True),)
    if status.state == "failed" or status.run is None:
        warn(t("ev_failed", lang, set=name, error=status.error or ""))
        return (text,) + (skip,) * 5 + (gr.Timer(active=False),)
    with ui_errors(lang):
        runs = evaluations.runs(status.run.set_name)
    view = run_view(status.run, runs, lang)
    return (text, *view.outputs(), gr.Timer(active=False))
