"""``python -m rag_core eval SET_DIR --answers``: the quality of Folio's answers on a pdfqa set.

Every question is asked through ``Library.ask`` twice, as in the retrieval rows: restricted
to its own PDF ("own document") and over every PDF of the set ("shared store"). Each answer
is scored by the offline judge (``answer_judge``: correct / incorrect / refusal, and the
share of the gold answer's key numbers it states), by ragas' non-LLM metrics
(``ragas_metrics.offline_scores``) and, with ``--judge claude``, by ragas' Claude-judged
metrics and a Claude correctness label. ``score_answers`` does the same for any list of
Folio ``Answer``s with gold answers.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from rag_core.answer.common import VALUE_LABEL
from rag_core.config import Settings
from rag_core.errors import ConfigurationError, NotFoundError
from rag_core.eval.judge import Verdict, is_refusal, judge_answer, number_recall
from rag_core.eval.metrics import average
from rag_core.eval.ragas_metrics import (
    AnswerSample,
    ClaudeJudge,
    SampleScores,
    claude_grades,
    claude_scores,
    offline_scores,
)
from rag_core.eval.retrieval import MetricRow, eval_library
from rag_core.eval.sets import PdfQaSet, PdfQuestion, Say, detect_format, load_pdfqa
from rag_core.library import Library
from rag_core.types import Answer, Filters

Judge = Literal["offline", "claude"]
SETTINGS = ("own document", "shared store")
_MARKER = re.compile(r"\s*\[\d+\]")
# The extractive answerer's lead lines and the label before the value it puts first.
_LEAD_LINES = re.compile(
    r"^(?:From your documents:|根据您的文档：|根據您的文件："
    r"|None of the passages found states the [^.\n]* asked for\. The closest passages:"
    r"|找到的段落中[没沒]有所[问問]的[^。\n]*。最接近的段落：)[ \t]*$",
    re.MULTILINE,
)
_VALUE_LABEL = re.compile(VALUE_LABEL.pattern, re.MULTILINE)


@dataclass(frozen=True, slots=True)
class AnsweredQuestion:
    """A Folio answer with what it should have said and where the evidence is."""

    id: str
    answer: Answer
    gold_answer: str
    gold_pages: tuple[tuple[str, int], ...] = ()  # (doc id, 0-based page)
    setting: str = ""
    answerable: bool = True  # False: the right answer is a refusal


@dataclass(frozen=True, slots=True)
class AnswerItem:
    """One scored answer, as written to the report."""

    id: str
    setting: str
    question: str
    gold_answer: str
    answer: str
    mode: str
    refused: bool
    verdict: str  # the offline judge: correct / incorrect / refusal
    verdict_basis: str
    verdict_reason: str
    cited_pages: tuple[str, ...]  # "name p.N", pages counted from 1
    gold_pages: tuple[str, ...]
    values: dict[str, float]
    claude_verdict: str | None = None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AnswerReport:
    set_name: str
    judge: str
    answer_mode: str
    answer_model: str
    rows: tuple[MetricRow, ...]
    items: tuple[AnswerItem, ...]
    seconds: float
    notes: tuple[str, ...] = field(default=())

    def table(self) -> str:
        names = list(dict.fromkeys(k for r in self.rows for k in r.metrics))
        head = ["setting", "answers", *names, "questions", "ms/answer"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            cells = [r.setting, r.leg, *(_cell(r.metrics.get(n)) for n in names)]
            lines.append(
                "| " + " | ".join([*cells, str(r.queries), f"{r.ms_per_query:.0f}"]) + " |"
            )
        return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


# Scoring any answers ------------------------------------------------------------------------
def plain_answer(text: str) -> str:
    """The answer without citation markers and the extractive answerer's lead lines."""
    text = _VALUE_LABEL.sub("", _LEAD_LINES.sub("", _MARKER.sub("", text)))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _page_texts(library: Library, pages: Sequence[tuple[str, int]]) -> tuple[str, ...]:
    texts = []
    for doc_id, page in dict.fromkeys(pages):
        try:
            texts.append(library.page_text(doc_id, page))
        except NotFoundError:
            continue  # removed since the answer was given: the page no longer counts
    return tuple(t for t in texts if t.strip())


def answer_sample(library: Library, item: AnsweredQuestion) -> AnswerSample:
    """What ragas needs from one answer; page texts are read from the library."""
    answer = item.answer
    hits = answer.hits  # what retrieval handed the answerer (top_k chunks)
    return AnswerSample(
        id=item.id,
        question=answer.question,
        gold_answer=item.gold_answer,
        answer="" if answer.refused else plain_answer(answer.text),
        refused=answer.refused,
        contexts=tuple(h.chunk.text for h in hits),
        retrieved_pages=_page_texts(library, [(h.chunk.doc_id, h.chunk.page) for h in hits]),
        cited_pages=_page_texts(library, [(c.doc_id, c.page) for c in answer.citations]),
        reference_pages=_page_texts(library, item.gold_pages),
    )


def score_answers(
    library: Library,
    answered: Sequence[AnsweredQuestion],
    claude: ClaudeJudge | None = None,
    progress: Say | None = None,
) -> tuple[AnswerItem, ...]:
    """Score answers with the offline judge and ragas' offline metrics, and with Claude
    (ragas' faithfulness, answer relevancy, factual correctness and a correctness label)
    when ``claude`` is given."""
    say = progress or (lambda message: None)
    samples = [answer_sample(library, a) for a in answered]
    say(f"scoring {len(samples)} answers offline")
    offline = offline_scores(samples)
    judged: list[SampleScores] = [SampleScores(s.id, {}) for s in samples]
    grades: list[str | None] = [None for _ in samples]
    grade_errors: list[tuple[str, ...]] = [() for _ in samples]
    if claude is not None:
        say(f"judging {len(samples)} answers with {claude.model}")
        judged = claude_scores(samples, claude, library.embedder)
        triples = [
            (s.question, s.gold_answer, s.answer or a.answer.text)
            for s, a in zip(samples, answered, strict=True)
        ]
        for index, grade in enumerate(claude_grades(triples, claude)):
            grades[index] = grade.label
            if grade.label is None:
                grade_errors[index] = (f"correctness: {grade.reason}",)
    names = {d.id: d.name for d in library.documents()}
    items = []
    for i, (a, s) in enumerate(zip(answered, samples, strict=True)):
        verdict = judge_answer(s.question, s.gold_answer, a.answer.text)
        values = {**offline[i].values, **judged[i].values}
        if not a.answerable:  # only declining is right; the gold answer is no answer
            # declined: Folio's refusal, or an answer whose text declines (a model that
            # says the documents do not state it)
            declined = a.answer.refused or is_refusal(a.answer.text)
            verdict = Verdict(
                "correct" if declined else "incorrect",
                "refusal",
                "unanswerable: " + ("declined" if declined else "answered anyway"),
                float(declined),
            )
            for name in ("string_similarity", "rouge_l", "factual_correctness"):
                values.pop(name, None)
        values["correct"] = float(verdict.label == "correct")
        values["refused"] = float(a.answer.refused)
        numbers = number_recall(s.question, s.gold_answer, a.answer.text)
        if numbers is not None and a.answerable:
            values["numbers"] = numbers
        if grades[i] is not None:
            right = "correct" if a.answerable else "refusal"
            values["claude_correct"] = float(grades[i] == right)
        items.append(
            AnswerItem(
                id=a.id,
                setting=a.setting,
                question=s.question,
                gold_answer=s.gold_answer,
                answer=a.answer.text,
                mode=a.answer.mode,
                refused=a.answer.refused,
                verdict=verdict.label,
                verdict_basis=verdict.basis,
                verdict_reason=verdict.reason,
                cited_pages=tuple(
                    dict.fromkeys(f"{c.doc_name} p.{c.page_number}" for c in a.answer.citations)
                ),
                gold_pages=tuple(f"{names.get(d, d)} p.{p + 1}" for d, p in a.gold_pages),
                values=values,
                claude_verdict=grades[i],
                errors=(*offline[i].errors, *judged[i].errors, *grade_errors[i]),
            )
        )
    return tuple(items)


def answer_rows(items: Sequence[AnswerItem], ms: dict[str, float]) -> tuple[MetricRow, ...]:
    """One row per setting: each metric averaged over the answers it applies to."""
    rows = []
    for setting in dict.fromkeys(i.setting for i in items):
        chosen = [i for i in items if i.setting == setting]
        names = list(dict.fromkeys(k for i in chosen for k in i.values))
        metrics = {n: average([i.values[n] for i in chosen if n in i.values]) for n in names}
        modes = "/".join(sorted({i.mode for i in chosen}))
        rows.append(MetricRow(setting, modes, metrics, len(chosen), ms.get(setting, 0.0)))
    return tuple(rows)


# A pdfqa set ----------------------------------------------------------------------------------
def _index_needed(
    library: Library, pdfqa: PdfQaSet, questions: Sequence[PdfQuestion], say: Say
) -> None:
    """Index the set's PDFs that are not in the library yet: only the questions' own PDFs
    when a limit leaves some out of the questions, every PDF otherwise."""
    present = {d.name for d in library.documents() if d.status == "ready"}
    wanted = {q.doc for q in questions} if len(questions) < len(pdfqa.questions) else None
    todo = [p for p in pdfqa.pdfs if p.name not in present and (wanted is None or p.stem in wanted)]
    for i, pdf in enumerate(todo, start=1):
        report = library.add([pdf])
        for failed in report.failed:
            say(f"could not index {failed.error}")
        say(f"indexed {i}/{len(todo)} PDFs of {pdfqa.name}")


def run_answer_eval(
    set_dir: Path,
    settings: Settings,
    judge: Judge = "offline",
    limit: int | None = None,
    settings_to_run: Sequence[str] = SETTINGS,
    progress: Say | None = None,
    library: Library | None = None,
) -> AnswerReport:
    """Ask every question (the first ``limit``) and score the answers.

    ``library`` defaults to the set's cached evaluation library (``evaluate.eval_library``)."""
    say = progress or (lambda message: None)
    claude = ClaudeJudge.from_settings(settings) if judge == "claude" else None
    if detect_format(set_dir) != "pdfqa":
        raise ConfigurationError(
            f"{set_dir}: answer quality needs a pdfqa set (questions.jsonl with gold answers "
            "and evidence pages, and pdfs/)"
        )
    started = time.perf_counter()
    pdfqa = load_pdfqa(set_dir)
    questions = pdfqa.questions[:limit] if limit else pdfqa.questions
    library = library or eval_library(settings, set_dir)
    _index_needed(library, pdfqa, questions, say)
    docs = {d.name.removesuffix(".pdf"): d.id for d in library.documents() if d.status == "ready"}
    answered: list[AnsweredQuestion] = []
    ms: dict[str, float] = {}
    for setting in settings_to_run:
        spent = 0.0
        for n, q in enumerate(questions, start=1):
            if q.doc not in docs:
                raise NotFoundError(
                    f"{set_dir.name}: {q.doc}.pdf of question {q.id} is not indexed"
                )
            doc_id = docs[q.doc]
            filters = Filters(doc_ids=(doc_id,)) if setting == "own document" else None
            t = time.perf_counter()
            answer = library.ask(q.question, filters=filters)
            spent += time.perf_counter() - t
            gold_pages = tuple((doc_id, p) for p in q.pages)
            answered.append(
                AnsweredQuestion(q.id, answer, q.answer, gold_pages, setting, q.answerable)
            )
            if n % 10 == 0:
                say(f"{setting}: answered {n}/{len(questions)}")
        ms[setting] = 1000 * spent / max(1, len(questions))
    items = score_answers(library, answered, claude, say)
    status = library.status()
    notes = []
    failures = sum(1 for i in items if i.errors)
    if failures:
        notes.append(f"{failures} answers have scoring errors (see items[].errors)")
    return AnswerReport(
        set_name=pdfqa.name,
        judge=judge if claude is None else f"claude ({claude.model})",
        answer_mode=status.answer_mode,
        answer_model=status.answer_model,
        rows=answer_rows(items, ms),
        items=items,
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
    )


def add_answers_to_report(
    answers: AnswerReport, json_path: Path, md_path: Path
) -> tuple[Path, Path]:
    """Add the answer rows (and every scored answer) to a written ``EvalReport``'s files."""
    payload = json.loads(json_path.read_text())
    payload["answers"] = asdict(answers)
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    with md_path.open("a", encoding="utf-8") as handle:
        handle.write(
            f"\n## Answer quality ({answers.judge} judge; answers: {answers.answer_mode}, "
            f"{answers.answer_model})\n\n{answers.table()}\n\n"
            + "".join(f"Note: {n}\n" for n in answers.notes)
        )
    return json_path, md_path
