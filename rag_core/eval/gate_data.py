"""Data for the evidence gate, built honestly from evaluation sets, and its refusal rates.

For every question of a set, one answerable and one unanswerable sample:

- **beir** (SciFact, XQuAD, CMRC): answerable = the question over the whole library;
  unanswerable = the same question over the library without its relevant documents. The
  second is read off the same search by dropping those documents' hits (the other hits,
  their leg scores and ranks are what a library without them returns, less the relevant
  documents' small share of the BM25 statistics).
- **pdfqa** (FinanceBench, erc2, uda_ex), own-document setting: answerable = the question
  over its own PDF; unanswerable = the same question over another PDF of the set (the one
  half the list away, so a different filing in sets sorted by company). Questions whose
  ``answerable`` is false (erc2's "N/A" gold answers) are real unanswerables over their own PDF.
- **Out of scope**: ``OUT_OF_SCOPE``, general questions no evaluation library answers, asked
  over the whole library of every set.

``gate_report`` computes the samples and the refusal rates of a gate model on them;
``python -m rag_core calibrate`` fits the model from the samples of several runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag_core.answer.gate import (
    FEATURES,
    GateModel,
    Rates,
    Sample,
    curve,
    fit,
    gate_features,
    leave_one_set_out,
    refusal_rates,
)
from rag_core.errors import InputError, NotFoundError
from rag_core.eval.sets import BeirSet, PdfQaSet, Say, detect_format, load_beir, load_pdfqa
from rag_core.library import Library
from rag_core.types import Filters, Hit, SearchResult

OUT_OF_SCOPE = (
    "What is the capital of Mongolia?",
    "Who painted the Mona Lisa?",
    "How many moons does Jupiter have?",
    "What is the boiling point of nitrogen?",
    "Who won the 1998 football world cup?",
    "How many employees did Apple have in 2019?",
    "What is the recipe for a classic margherita pizza?",
    "When was the Eiffel Tower completed?",
    "What is the population of Lagos?",
    "Who wrote the novel One Hundred Years of Solitude?",
    "How do I reset the password of my home router?",
    "What was Amazon's capital expenditure in 2018?",
    "What is the half-life of carbon-14?",
    "Which team won the 2010 NBA finals?",
    "How tall is Mount Kilimanjaro?",
    "蒙古的首都是哪里？",
    "谁画了蒙娜丽莎？",
    "木星有多少颗卫星？",
    "2019年苹果公司有多少员工？",
    "长城有多长？",
    "如何做一道红烧肉？",
    "埃菲尔铁塔是哪一年建成的？",
    "量子计算机的原理是什么？",
)
_NO_MODEL = GateModel(
    (0.0,) * len(FEATURES), 0.0, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), 0.5
)  # scores every sample 0.5
LOOK = 3  # searched k = top_k * LOOK, so hits remain after dropping the relevant ones


@dataclass(frozen=True, slots=True)
class GateItem:
    """One sample with where it came from, for the run's JSON."""

    id: str
    kind: str  # "answerable", "without evidence", "other document", "n/a", "out of scope"
    sample: Sample


def _sample(
    library: Library,
    set_name: str,
    answerable: bool,
    question: str,
    hits: Sequence[Hit],
    result: SearchResult,
) -> Sample:
    dense_on = any(leg.leg == "dense" and leg.status == "on" for leg in result.trace.legs)
    features = gate_features(question, hits, library.retriever.tokenizer, dense_on)
    return Sample(set_name, answerable, features, library.embedder.name)


def beir_items(library: Library, beir: BeirSet, queries: Sequence, say: Say) -> list[GateItem]:
    top_k = library.settings.top_k
    items = []
    for n, q in enumerate(queries, start=1):
        result = library.search(q.text, k=top_k * LOOK)
        relevant = {d for d, g in q.relevance.items() if g > 0}
        held = result.hits[:top_k]
        without = [h for h in result.hits if Path(h.doc_name).stem not in relevant][:top_k]
        items.append(
            GateItem(
                q.id,
                "answerable",
                _sample(library, beir.name, True, q.text, held, result),
            )
        )
        items.append(
            GateItem(
                q.id,
                "without evidence",
                _sample(library, beir.name, False, q.text, without, result),
            )
        )
        if n % 200 == 0:
            say(f"gate: {n}/{len(queries)} questions of {beir.name}")
    return items + _out_of_scope(library, beir.name)


def pdfqa_items(library: Library, pdfqa: PdfQaSet, questions: Sequence, say: Say) -> list[GateItem]:
    docs = {d.name.removesuffix(".pdf"): d.id for d in library.documents()}
    names = sorted(docs)
    items = []
    for n, q in enumerate(questions, start=1):
        if q.doc not in docs:
            continue
        own = library.search(q.question, filters=Filters(doc_ids=(docs[q.doc],)))
        kind = "answerable" if q.answerable else "n/a"
        sample = _sample(library, pdfqa.name, q.answerable, q.question, own.hits, own)
        items.append(GateItem(q.id, kind, sample))
        if q.answerable and len(names) > 1:
            other = names[(names.index(q.doc) + len(names) // 2) % len(names)]
            result = library.search(q.question, filters=Filters(doc_ids=(docs[other],)))
            sample = _sample(library, pdfqa.name, False, q.question, result.hits, result)
            items.append(GateItem(q.id, "other document", sample))
        if n % 50 == 0:
            say(f"gate: {n}/{len(questions)} questions of {pdfqa.name}")
    return items + _out_of_scope(library, pdfqa.name)


def _out_of_scope(library: Library, set_name: str) -> list[GateItem]:
    items = []
    for i, question in enumerate(OUT_OF_SCOPE, start=1):
        result = library.search(question)
        sample = _sample(library, set_name, False, question, result.hits, result)
        items.append(GateItem(f"out-of-scope-{i}", "out of scope", sample))
    return items


def gate_report(items: Sequence[GateItem], model: GateModel) -> dict:
    """The samples and the refusal rates of ``model`` on them, for a run's JSON."""
    samples = [i.sample for i in items]
    set_name = samples[0].set_name if samples else ""
    rates = refusal_rates(model, samples, set_name) if samples else None
    by_kind = {}
    for kind in sorted({i.kind for i in items}):
        ours = [i.sample for i in items if i.kind == kind]
        by_kind[kind] = {
            "questions": len(ours),
            "refused": sum(not model.passes(s.features) for s in ours) / len(ours),
        }
    return {
        "model": {"threshold": model.threshold, "fitted_on": list(model.fitted_on)},
        "refused_unanswerable": rates.unanswerable if rates else None,
        "refused_answerable": rates.answerable if rates else None,
        "by_kind": by_kind,
        "samples": [
            {
                "id": i.id,
                "kind": i.kind,
                "set": i.sample.set_name,
                "answerable": i.sample.answerable,
                "embed_model": i.sample.embed_model,
                "features": list(i.sample.features),
                "score": model.score(i.sample.features),
            }
            for i in items
        ],
    }


def samples_from_report(payload: dict, source: str) -> list[Sample]:
    """The gate samples of a run's JSON; a ``ValueError`` naming ``source`` when it has none."""
    gate = payload.get("gate")
    if not isinstance(gate, dict) or not gate.get("samples"):
        raise ValueError(f"{source}: no gate samples (run the evaluation again with this Folio)")
    try:
        return [
            Sample(
                str(s["set"]),
                bool(s["answerable"]),
                tuple(float(f) for f in s["features"]),
                str(s.get("embed_model", "")),
            )
            for s in gate["samples"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{source}: malformed gate sample ({exc})") from exc


def run_gate_eval(
    set_dir: Path,
    library: Library,
    model: GateModel | None,
    limit: int | None = None,
    progress: Say | None = None,
) -> dict:
    """The set's gate samples, and ``model``'s refusal rates on them when there is one."""
    say = progress or (lambda message: None)
    if detect_format(set_dir) == "beir":
        beir = load_beir(set_dir)
        queries = beir.queries[:limit] if limit else beir.queries
        items = beir_items(library, beir, queries, say)
    else:
        pdfqa = load_pdfqa(set_dir)
        questions = pdfqa.questions[:limit] if limit else pdfqa.questions
        items = pdfqa_items(library, pdfqa, questions, say)
    if model is None:
        return {"model": None, "samples": gate_report(items, _NO_MODEL)["samples"]}
    return gate_report(items, model)


def add_gate_to_report(gate: dict, json_path: Path, md_path: Path) -> None:
    """Add the gate samples and refusal rates to a written ``EvalReport``'s files."""
    payload = json.loads(json_path.read_text())
    payload["gate"] = gate
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    with md_path.open("a", encoding="utf-8") as handle:
        handle.write("\n## Evidence gate\n\n" + gate_table(gate) + "\n")


def gate_table(gate: dict) -> str:
    """Refused share per kind of question, as markdown."""
    if not gate.get("model"):
        return "No gate model: samples only (fit one with python -m rag_core calibrate).\n"
    lines = [
        f"Threshold {gate['model']['threshold']:.3f}, fitted on "
        f"{', '.join(gate['model']['fitted_on']) or '?'}.\n",
        "| questions | n | refused |",
        "|---|---|---|",
    ]
    for kind, row in gate["by_kind"].items():
        lines.append(f"| {kind} | {row['questions']} | {row['refused']:.3f} |")
    return "\n".join(lines) + "\n"


# Calibration ------------------------------------------------------------------------------
CURVE_POINTS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True, slots=True)
class Calibration:
    """A gate fitted on every set, and how one fitted without each set does on it."""

    model: GateModel
    held_out: tuple[Rates, ...]
    fitted: tuple[Rates, ...]  # the final model on each set (its own training data)
    curve: tuple[tuple[float, float, float], ...]  # pooled, the final model
    max_refusal: float = 0.10

    def table(self) -> str:
        lines = [
            f"Leave one set out (threshold fitted on the other sets to refuse at most "
            f"{self.max_refusal_text} of their answerable questions):\n",
            "| set | unanswerable | answerable | refused unanswerable | refused answerable "
            "| fitted on all: refused unanswerable | refused answerable |",
            "|---|---|---|---|---|---|---|",
        ]
        for held, own in zip(self.held_out, self.fitted, strict=True):
            lines.append(
                f"| {held.set_name} | {held.n_unanswerable} | {held.n_answerable} | "
                f"{held.unanswerable:.3f} | {held.answerable:.3f} | {own.unanswerable:.3f} | "
                f"{own.answerable:.3f} |"
            )
        lines += [
            f"\nFitted on all ({', '.join(self.model.fitted_on)}): threshold "
            f"{self.model.threshold:.3f}. The curve (all sets pooled):\n",
            "| threshold | refused unanswerable | refused answerable |",
            "|---|---|---|",
        ]
        lines += [f"| {t:.2f} | {u:.3f} | {a:.3f} |" for t, u, a in self.curve]
        return "\n".join(lines)

    @property
    def max_refusal_text(self) -> str:
        return f"{self.max_refusal:.0%}"


def calibrate(samples: Sequence[Sample], max_answerable_refusal: float = 0.10) -> Calibration:
    model = fit(samples, max_answerable_refusal)
    names = sorted({s.set_name for s in samples})
    held = leave_one_set_out(samples, max_answerable_refusal) if len(names) > 1 else []
    return Calibration(
        model=model,
        held_out=tuple(held),
        fitted=tuple(refusal_rates(model, samples, n) for n in names) if held else (),
        curve=tuple(curve(model, samples, (*CURVE_POINTS, model.threshold))),
        max_refusal=max_answerable_refusal,
    )


def load_samples(paths: Sequence[Path]) -> list[Sample]:
    """Gate samples of run JSON files, or of every run in folders; a set's newest run only."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(path.glob("*.json"))
        elif path.is_file():
            files.append(path)
        else:
            raise NotFoundError(f"{path}: no such run file or folder")
    newest: dict[str, tuple[str, list[Sample]]] = {}
    for file in files:
        try:
            payload = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(str(file), f"is not a run's JSON ({exc})") from exc
        if not isinstance(payload, dict) or "gate" not in payload:
            continue  # a run from before the gate, or another report
        try:
            samples = samples_from_report(payload, str(file))
        except ValueError as exc:
            raise InputError(str(file), str(exc)) from exc
        name = str(payload.get("set_name", file.stem))
        started = str(payload.get("started_at", ""))
        if name not in newest or started > newest[name][0]:
            newest[name] = (started, samples)
    if not newest:
        raise NotFoundError(
            f"no run with gate samples in {', '.join(map(str, paths))}: run python -m rag_core "
            "eval SET_DIR first"
        )
    return [s for _, samples in newest.values() for s in samples]
