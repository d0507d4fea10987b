"""What the Evaluation tab calls: sets to choose from, a run in the background, the saved runs,
the change since the previous run of a set, and tidy rows for a chart.

Everything returns small frozen values; only ``EvalJob`` holds state (one background run).
Runs are the JSON files ``write_report`` writes (``<data_dir>/eval/runs`` by default), with
the answer rows ``add_answers_to_report`` adds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from rag_core.config import Settings
from rag_core.embed.embeddings import Embedder
from rag_core.errors import ConfigurationError, FolioError
from rag_core.eval.retrieval import MetricRow
from rag_core.eval.sets import Say, detect_format

Kind = Literal["retrieval", "answers"]
JobState = Literal["running", "done", "failed"]


@dataclass(frozen=True, slots=True)
class EvalSetInfo:
    name: str
    path: Path
    format: str  # beir or pdfqa
    questions: int
    documents: int
    answers: bool  # has gold answers (pdfqa): answer quality can be measured


@dataclass(frozen=True, slots=True)
class EvalRun:
    """A saved run: its retrieval rows and, when measured, its answer rows."""

    path: Path
    set_name: str
    format: str
    started_at: str
    seconds: float
    settings: dict[str, object]
    rows: tuple[MetricRow, ...]
    answer_rows: tuple[MetricRow, ...] = ()
    answer_judge: str = ""

    @property
    def label(self) -> str:
        return self.started_at.replace("T", " ")[:16]


@dataclass(frozen=True, slots=True)
class MetricDelta:
    kind: Kind
    setting: str
    leg: str
    metric: str
    previous: float | None  # None: not measured in the previous run
    current: float | None  # None: no longer measured

    @property
    def delta(self) -> float | None:
        if self.previous is None or self.current is None:
            return None
        return self.current - self.previous


@dataclass(frozen=True, slots=True)
class ChartPoint:
    """One tidy row: a metric's value for one (setting, leg) in one run."""

    run: str
    set_name: str
    kind: Kind
    setting: str
    leg: str
    metric: str
    value: float


# Sets -----------------------------------------------------------------------------------------
def _lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _test_queries(folder: Path) -> int:
    """Queries with judgements in qrels/test.tsv: the ones ``eval`` asks."""
    path = folder / "qrels" / "test.tsv"
    if not path.exists():
        return 0
    with path.open(encoding="utf-8") as handle:
        next(handle, None)
        return len({line.split("\t", 1)[0] for line in handle if line.strip()})


def list_sets(root: Path) -> list[EvalSetInfo]:
    """The evaluation sets in ``root``'s sub-folders (FOLIO_EVAL_ROOT), by name."""
    if not root.is_dir():
        raise ConfigurationError(
            f"No evaluation sets: {root} is not a folder (set FOLIO_EVAL_ROOT to the folder "
            "holding beir or pdfqa sets)"
        )
    sets = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            fmt = detect_format(folder)
        except ConfigurationError:
            continue
        if fmt == "beir":
            info = EvalSetInfo(
                folder.name,
                folder,
                fmt,
                _test_queries(folder),
                _lines(folder / "corpus.jsonl"),
                False,
            )
        else:
            pdfs = len(list((folder / "pdfs").glob("*.pdf")))
            info = EvalSetInfo(
                folder.name, folder, fmt, _lines(folder / "questions.jsonl"), pdfs, True
            )
        sets.append(info)
    return sets


# Saved runs -----------------------------------------------------------------------------------
def runs_dir(settings: Settings) -> Path:
    return settings.data_dir / "eval" / "runs"


def _rows(raw: Sequence[dict]) -> tuple[MetricRow, ...]:
    return tuple(
        MetricRow(
            str(r["setting"]),
            str(r["leg"]),
            {str(k): float(v) for k, v in r["metrics"].items()},
            int(r["queries"]),
            float(r["ms_per_query"]),
        )
        for r in raw
    )


def load_run(path: Path) -> EvalRun:
    """A run written by ``eval`` (retrieval rows, and answer rows when ``--answers``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        answers = data.get("answers") or {}
        return EvalRun(
            path=path,
            set_name=str(data["set_name"]),
            format=str(data["format"]),
            started_at=str(data["started_at"]),
            seconds=float(data.get("seconds", 0.0)),
            settings=dict(data.get("settings", {})),
            rows=_rows(data["rows"]),
            answer_rows=_rows(answers.get("rows", [])),
            answer_judge=str(answers.get("judge", "")),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(f"{path.name}: not an evaluation run ({exc!r})") from exc


def list_runs(folder: Path, set_name: str | None = None) -> list[EvalRun]:
    """Saved runs, oldest first; files that are not runs (judge agreement) are skipped."""
    runs = []
    for path in folder.glob("*.json") if folder.is_dir() else ():
        if path.name.startswith("judge-agreement-"):
            continue
        try:
            run = load_run(path)
        except ConfigurationError:
            continue
        if set_name is None or run.set_name == set_name:
            runs.append(run)
    return sorted(runs, key=lambda r: (r.started_at, r.path.name))


def previous_run(runs: Sequence[EvalRun], current: EvalRun) -> EvalRun | None:
    """The latest run of the same set started before ``current`` (pure)."""
    earlier = [
        r
        for r in runs
        if r.set_name == current.set_name
        and r.path != current.path
        and (r.started_at, r.path.name) < (current.started_at, current.path.name)
    ]
    return max(earlier, key=lambda r: (r.started_at, r.path.name), default=None)


# Comparison and chart (pure) ------------------------------------------------------------------
def _values(run: EvalRun) -> dict[tuple[Kind, str, str, str], float]:
    values: dict[tuple[Kind, str, str, str], float] = {}
    kinds: tuple[tuple[Kind, tuple[MetricRow, ...]], ...] = (
        ("retrieval", run.rows),
        ("answers", run.answer_rows),
    )
    for kind, rows in kinds:
        for row in rows:
            for metric, value in row.metrics.items():
                values[(kind, row.setting, row.leg, metric)] = value
    return values


def compare(current: EvalRun, previous: EvalRun | None) -> list[MetricDelta]:
    """Every metric of either run with its previous and current value, in report order."""
    now = _values(current)
    before = _values(previous) if previous is not None else {}
    keys = list(dict.fromkeys([*now, *before]))
    return [MetricDelta(*key, before.get(key), now.get(key)) for key in keys]


def compare_with_previous(run: EvalRun, folder: Path) -> list[MetricDelta]:
    """``compare`` with the latest earlier run of the same set saved in ``folder``."""
    return compare(run, previous_run(list_runs(folder, run.set_name), run))


def chart_points(runs: Sequence[EvalRun]) -> list[ChartPoint]:
    """Tidy rows (run, set, kind, setting, leg, metric, value) over the runs, for plotting."""
    return [
        ChartPoint(run.label, run.set_name, kind, setting, leg, metric, value)
        for run in runs
        for (kind, setting, leg, metric), value in _values(run).items()
    ]


# A run in the background --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class JobStatus:
    state: JobState
    messages: tuple[str, ...]
    seconds: float
    run: EvalRun | None = None  # when done
    error: str | None = None  # when failed

    @property
    def last(self) -> str:
        return self.messages[-1] if self.messages else ""


Task = Callable[[Say], Path]


class EvalJob:
    """One evaluation in a daemon thread; ``status()`` may be polled from any thread."""

    def __init__(self, task: Task) -> None:
        self._task = task
        self._lock = threading.Lock()
        self._status = JobStatus("running", (), 0.0)
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="folio-eval", daemon=True)

    @classmethod
    def start(cls, task: Task) -> EvalJob:
        job = cls(task)
        job._thread.start()
        return job

    def _say(self, message: str) -> None:
        with self._lock:
            self._status = replace(self._status, messages=(*self._status.messages, message))

    def _finish(self, **changes: object) -> None:
        with self._lock:
            seconds = time.perf_counter() - self._started
            self._status = replace(self._status, seconds=seconds, **changes)  # type: ignore[arg-type]

    def _run(self) -> None:
        try:
            path = self._task(self._say)
            self._finish(state="done", run=load_run(path))
        except FolioError as exc:
            self._finish(state="failed", error=str(exc))
        except Exception as exc:  # shown in the tab, not lost in a thread
            self._finish(state="failed", error=f"{type(exc).__name__}: {exc}")

    def status(self) -> JobStatus:
        with self._lock:
            if self._status.state == "running":
                return replace(self._status, seconds=time.perf_counter() - self._started)
            return self._status

    def wait(self, timeout: float | None = None) -> JobStatus:
        self._thread.join(timeout)
        return self.status()


@dataclass(frozen=True, slots=True)
class EvalRequest:
    """What the tab asks for."""

    set_dir: Path
    legs: tuple[str, ...] = ("bm25", "dense", "hybrid")
    limit: int | None = None
    answers: bool = False
    judge: Literal["offline", "claude"] = "offline"
    out_dir: Path | None = None


def evaluation_task(
    request: EvalRequest, settings: Settings, embedder: Embedder | None = None
) -> Task:
    """The task ``python -m rag_core eval`` runs: retrieval rows, then answer rows when asked;
    returns the JSON report's path. Fails fast on a Claude judge without a key.

    ``embedder``: a loaded text embedder to share (the app's); default: the configured model."""
    from rag_core.eval.answers import add_answers_to_report, run_answer_eval
    from rag_core.eval.retrieval import eval_library, run_eval, write_report

    if request.answers and request.judge == "claude":
        from rag_core.eval.ragas_metrics import ClaudeJudge

        ClaudeJudge.from_settings(settings)

    def task(say: Say) -> Path:
        library = eval_library(settings, request.set_dir, embedder)
        report = run_eval(
            request.set_dir, settings, request.legs, request.limit, progress=say, library=library
        )
        out = request.out_dir or runs_dir(settings)
        json_path, md_path = write_report(report, out)
        if request.answers:
            answers = run_answer_eval(
                request.set_dir,
                settings,
                request.judge,
                request.limit,
                progress=say,
                library=library,
            )
            add_answers_to_report(answers, json_path, md_path)
        say(f"written {json_path}")
        return json_path

    return task


def start_evaluation(
    request: EvalRequest, settings: Settings, embedder: Embedder | None = None
) -> EvalJob:
    """Start an evaluation in the background; poll ``job.status()``."""
    return EvalJob.start(evaluation_task(request, settings, embedder))
