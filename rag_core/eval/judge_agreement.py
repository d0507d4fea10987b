"""``python -m rag_core judge-agreement``: how often a judge agrees with FinanceBench's graders.

``financebench/results/*.jsonl`` hold answers published with the FinanceBench paper, each
labelled by a person "Correct Answer", "Incorrect Answer" or "Refusal". Running a judge
over them and comparing gives its accuracy, Cohen's kappa and confusion matrix, overall
and per file, so a judge's numbers can be trusted (or not) before it grades Folio.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rag_core.errors import AnswerError, ConfigurationError
from rag_core.eval.judge import LABELS, Label, judge_answer

if TYPE_CHECKING:
    from rag_core.eval.ragas_metrics import ClaudeJudge

HUMAN_LABELS: dict[str, Label] = {
    "Correct Answer": "correct",
    "Incorrect Answer": "incorrect",
    "Refusal": "refusal",
}


@dataclass(frozen=True, slots=True)
class GradedAnswer:
    """One published answer with its human label."""

    file: str
    financebench_id: str
    model_name: str
    eval_mode: str
    question: str
    gold_answer: str
    model_answer: str
    label: Label


@dataclass(frozen=True, slots=True)
class Judgement:
    item: GradedAnswer
    predicted: Label
    basis: str
    reason: str


@dataclass(frozen=True, slots=True)
class Agreement:
    """Agreement of predicted with human labels over ``n`` answers."""

    n: int
    accuracy: float
    kappa: float
    confusion: dict[str, dict[str, int]]  # human label -> predicted label -> count


@dataclass(frozen=True, slots=True)
class AgreementReport:
    judge: str
    overall: Agreement
    correct_or_not: Agreement  # the two-way question the answer metric "correct" asks
    per_file: dict[str, Agreement]
    per_basis: dict[str, Agreement]
    started_at: str
    seconds: float
    judgements: tuple[Judgement, ...] = field(default=(), repr=False)
    notes: tuple[str, ...] = field(default=())

    def table(self) -> str:
        lines = [
            "| file | answers | accuracy | Cohen's kappa |",
            "|---|---|---|---|",
            *(
                f"| {name} | {a.n} | {a.accuracy:.3f} | {a.kappa:.3f} |"
                for name, a in self.per_file.items()
            ),
            f"| **all** | {self.overall.n} | {self.overall.accuracy:.3f} | "
            f"{self.overall.kappa:.3f} |",
        ]
        return "\n".join(lines)

    def confusion_table(self) -> str:
        head = "| human \\ judge | " + " | ".join(LABELS) + " |"
        lines = [head, "|---|" + "---|" * len(LABELS)]
        for human in LABELS:
            row = self.overall.confusion[human]
            lines.append(f"| {human} | " + " | ".join(str(row[p]) for p in LABELS) + " |")
        return "\n".join(lines)


# Statistics (pure) ------------------------------------------------------------------------
def confusion_matrix(
    human: Sequence[str], predicted: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, dict[str, int]]:
    """Counts by human label, then predicted label: over the three verdicts, or over the
    labels seen when others are used."""
    labels = labels or (
        LABELS if set(human) | set(predicted) <= set(LABELS) else sorted({*human, *predicted})
    )
    counts = Counter(zip(human, predicted, strict=True))
    return {h: {p: counts[(h, p)] for p in labels} for h in labels}


def cohen_kappa(human: Sequence[str], predicted: Sequence[str]) -> float:
    """Cohen's kappa: agreement corrected for the agreement expected by chance."""
    n = len(human)
    if n == 0:
        return 0.0
    observed = sum(h == p for h, p in zip(human, predicted, strict=True)) / n
    h_counts, p_counts = Counter(human), Counter(predicted)
    expected = sum(h_counts[k] * p_counts[k] for k in h_counts) / (n * n)
    if expected == 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def agreement(human: Sequence[str], predicted: Sequence[str]) -> Agreement:
    n = len(human)
    correct = sum(h == p for h, p in zip(human, predicted, strict=True))
    return Agreement(
        n=n,
        accuracy=correct / n if n else 0.0,
        kappa=cohen_kappa(human, predicted),
        confusion=confusion_matrix(human, predicted),
    )


def summarise(
    judge: str, judgements: Sequence[Judgement], seconds: float, notes: Sequence[str] = ()
) -> AgreementReport:
    def agree(items: Iterable[Judgement]) -> Agreement:
        chosen = list(items)
        return agreement([j.item.label for j in chosen], [j.predicted for j in chosen])

    files = sorted({j.item.file for j in judgements})
    bases = sorted({j.basis for j in judgements})

    def two_way(label: str) -> str:
        return "correct" if label == "correct" else "not correct"

    return AgreementReport(
        judge=judge,
        overall=agree(judgements),
        correct_or_not=agreement(
            [two_way(j.item.label) for j in judgements], [two_way(j.predicted) for j in judgements]
        ),
        per_file={f: agree(j for j in judgements if j.item.file == f) for f in files},
        per_basis={b: agree(j for j in judgements if j.basis == b) for b in bases},
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=seconds,
        judgements=tuple(judgements),
        notes=tuple(notes),
    )


# Data ---------------------------------------------------------------------------------------
def results_dir(root: Path) -> Path:
    """The results folder, given it or the FinanceBench set (or the data root) above it."""
    for candidate in (root, root / "results", root / "financebench" / "results"):
        if candidate.is_dir() and any(candidate.glob("*.jsonl")) and candidate.name == "results":
            return candidate
    raise ConfigurationError(
        f"{root}: no FinanceBench results folder (expected results/*.jsonl with model answers "
        "and human labels)"
    )


def load_results(folder: Path) -> list[GradedAnswer]:
    """Every labelled answer of every ``*.jsonl`` file, in file order."""
    items: list[GradedAnswer] = []
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    label = HUMAN_LABELS[row["label"]]
                    items.append(
                        GradedAnswer(
                            file=path.stem,
                            financebench_id=str(row["financebench_id"]),
                            model_name=str(row.get("model_name", "")),
                            eval_mode=str(row.get("eval_mode", "")),
                            question=str(row["question"]),
                            gold_answer=str(row["gold_answer"]),
                            model_answer=str(row.get("model_answer") or ""),
                            label=label,
                        )
                    )
                except (json.JSONDecodeError, KeyError) as exc:
                    raise ConfigurationError(
                        f"{path.name} line {number}: not a labelled answer ({exc!r})"
                    ) from exc
    return items


# Judges -------------------------------------------------------------------------------------
JudgeFn = Callable[[Sequence[GradedAnswer]], list[Judgement]]


def offline_judge(items: Sequence[GradedAnswer]) -> list[Judgement]:
    judgements = []
    for item in items:
        verdict = judge_answer(item.question, item.gold_answer, item.model_answer)
        judgements.append(Judgement(item, verdict.label, verdict.basis, verdict.reason))
    return judgements


def claude_judge_fn(judge: ClaudeJudge) -> JudgeFn:
    """Claude's correctness labels through ragas; answers whose call failed are left out."""

    def run(items: Sequence[GradedAnswer]) -> list[Judgement]:
        from rag_core.eval.ragas_metrics import claude_grades

        grades = claude_grades([(i.question, i.gold_answer, i.model_answer) for i in items], judge)
        failed = [g.reason for g in grades if g.label is None]
        if items and len(failed) == len(items):
            raise AnswerError(f"Claude could not judge any answer (first error: {failed[0]})")
        return [
            Judgement(item, g.label, "claude", g.reason)
            for item, g in zip(items, grades, strict=True)
            if g.label is not None
        ]

    return run


def run_agreement(
    folder: Path,
    judge: str,
    judge_fn: JudgeFn,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> AgreementReport:
    """Judge the first ``limit`` answers of each file (all by default) and compare."""
    say = progress or (lambda message: None)
    started = time.perf_counter()
    items = load_results(folder)
    if limit:
        seen: Counter[str] = Counter()
        chosen = []
        for item in items:
            if seen[item.file] < limit:
                chosen.append(item)
                seen[item.file] += 1
        items = chosen
    if not items:
        raise ConfigurationError(f"{folder}: no labelled answers to judge")
    say(f"judging {len(items)} answers with the {judge} judge")
    judgements = judge_fn(items)
    notes = []
    if len(judgements) < len(items):
        notes.append(f"{len(items) - len(judgements)} of {len(items)} answers could not be judged")
    return summarise(judge, judgements, time.perf_counter() - started, notes)


def write_agreement(report: AgreementReport, out_dir: Path) -> tuple[Path, Path]:
    """``judge-agreement-<judge>-<time>.json`` (every judgement, compact) and ``.md``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = report.started_at.replace(":", "").replace("-", "")
    json_path = out_dir / f"judge-agreement-{report.judge}-{stamp}.json"
    md_path = json_path.with_suffix(".md")
    payload = {k: v for k, v in asdict(report).items() if k != "judgements"}
    payload["judgements"] = [
        {
            "file": j.item.file,
            "financebench_id": j.item.financebench_id,
            "human": j.item.label,
            "judge": j.predicted,
            "basis": j.basis,
            "reason": j.reason,
        }
        for j in report.judgements
    ]
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    basis = "\n".join(
        f"| {b} | {a.n} | {a.accuracy:.3f} | {a.kappa:.3f} |" for b, a in report.per_basis.items()
    )
    md_path.write_text(
        f"# Judge agreement with FinanceBench's human labels ({report.judge} judge)\n\n"
        f"{report.table()}\n\nCorrect or not (two labels): accuracy "
        f"{report.correct_or_not.accuracy:.3f}, Cohen's kappa {report.correct_or_not.kappa:.3f}."
        f"\n\nConfusion matrix (all files):\n\n{report.confusion_table()}\n\n"
        "By what the judge decided on:\n\n| basis | answers | accuracy | Cohen's kappa |\n"
        f"|---|---|---|---|\n{basis}\n\n{report.seconds:.0f} s.\n"
        + "".join(f"\nNote: {note}\n" for note in report.notes)
    )
    return json_path, md_path
