"""``python -m rag_core eval SET_DIR``: retrieval quality of every leg on a beir or pdfqa set.

Each set is indexed once into its own workspace ``<set>-<fingerprint>`` of the evaluation
library under ``<data_dir>/eval`` (the fingerprint covers the settings that change the
index) and reused by later runs.
Results are written as JSON and a markdown table under ``<data_dir>/eval/runs/``, and every
question's result (its top pages or documents, the gold ones, its metrics) as JSON lines
beside them (``<run>.questions.jsonl``), so a regression can be traced to its questions.

The library searches with the app's own settings (``candidates`` included). pdfqa questions
whose ``answerable`` is false have no evidence to find: they are left out of the retrieval
rows and counted in the notes (the evidence gate's report measures refusing them). A pdfqa
set whose questions carry a ``type`` (text, table, chart ...) gets rows per type as well.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rag_core.config import Settings
from rag_core.embed.embeddings import Embedder
from rag_core.eval.metrics import (
    all_found_at_k,
    average,
    dedupe,
    hit_at_k,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
)
from rag_core.eval.sets import BeirSet, PdfQaSet, Say, detect_format, load_beir, load_pdfqa
from rag_core.library import Library
from rag_core.retrieve.legs import CHUNK_LEGS
from rag_core.types import DocumentMetadata, Filters, Upload

LEG_SETS: dict[str, tuple[str, ...]] = {  # what the evaluation compares
    "bm25": ("bm25",),
    "dense": ("dense",),
    "hybrid": CHUNK_LEGS,  # every chunk leg, one search per question
    "decomposed": CHUNK_LEGS,  # the same, and one more search per part of a question
}
DECOMPOSED = "decomposed"  # the leg set searched as the app does, multi-part questions split
INDEX_VERSION = "9"  # bump when chunking/tokenising changes what an index holds


@dataclass(frozen=True, slots=True)
class MetricRow:
    setting: str  # "all" for beir; "own document" / "shared store" for pdfqa
    leg: str
    metrics: dict[str, float]
    queries: int
    ms_per_query: float


@dataclass(frozen=True, slots=True)
class EvalReport:
    set_name: str
    format: str
    rows: tuple[MetricRow, ...]
    settings: dict[str, object]
    started_at: str
    seconds: float
    notes: tuple[str, ...] = field(default=())
    # One dict per (question, setting, leg), written beside the report, not into its JSON.
    questions: tuple[dict[str, object], ...] = field(default=(), repr=False)

    def table(self) -> str:
        """A markdown table: one line per (setting, leg)."""
        names = list(dict.fromkeys(k for r in self.rows for k in r.metrics))
        head = ["setting", "leg", *names, "queries", "ms/query"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            cells = [r.setting, r.leg, *(f"{r.metrics.get(n, float('nan')):.3f}" for n in names)]
            lines.append(
                "| " + " | ".join([*cells, str(r.queries), f"{r.ms_per_query:.1f}"]) + " |"
            )
        return "\n".join(lines)


def fingerprint(settings: Settings, set_dir: Path, model: str | None = None) -> str:
    """What the set's index depends on; ``model``: the embedder's name (the configured one)."""
    key = json.dumps(
        [
            INDEX_VERSION,
            str(set_dir.resolve()),
            model or settings.embed_model,
            settings.chunk_tokens,
            settings.chunk_overlap,
        ]
    )
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def eval_library(settings: Settings, set_dir: Path, embedder: Embedder | None = None) -> Library:
    """The set's library: a workspace of one shared evaluation registry, so every index
    version and set reuses one embedding cache (vectors are keyed by model and text).

    ``embedder``: an already loaded text embedder to share (the app's); default: the
    configured model, loaded here."""
    root = settings.data_dir / "eval"
    child = settings.model_copy(
        update={
            "data_dir": root,
            "db": root / "feedback.db",
            "database_url": None,
        }
    )
    model = embedder.name if embedder is not None else None
    workspace = f"{set_dir.name}-{fingerprint(settings, set_dir, model)}"
    return Library.open(child, workspace=workspace, embedder=embedder)


def run_eval(
    set_dir: Path,
    settings: Settings,
    legs: Sequence[str] = ("bm25", "dense", "hybrid"),
    limit: int | None = None,
    progress: Say | None = None,
    library: Library | None = None,
) -> EvalReport:
    """``library`` defaults to the set's cached evaluation library (``eval_library``)."""
    say = progress or (lambda message: None)
    started = time.perf_counter()
    fmt = detect_format(set_dir)
    if library is None:
        library = eval_library(settings, set_dir)
    per_question: list[dict[str, object]] = []
    notes: list[str] = []
    if fmt == "beir":
        beir = load_beir(set_dir)
        _index_beir(library, beir, say)
        queries = beir.queries[:limit] if limit else beir.queries
        rows = [_beir_row(library, queries, leg, say, per_question) for leg in legs]
        name = beir.name
    else:
        pdfqa = load_pdfqa(set_dir)
        _index_pdfqa(library, pdfqa, say)
        asked = pdfqa.questions[:limit] if limit else pdfqa.questions
        questions = [q for q in asked if q.answerable]
        if len(questions) < len(asked):
            notes.append(
                f"{len(asked) - len(questions)} unanswerable questions left out of the retrieval "
                "rows (the evidence gate section measures refusing them)"
            )
        rows = [
            row
            for setting in ("own document", "shared store")
            for leg in legs
            for row in _pdfqa_rows(library, questions, leg, setting, say, per_question)
        ]
        name = pdfqa.name
    return EvalReport(
        set_name=name,
        format=fmt,
        rows=tuple(rows),
        settings={
            "embed_model": library.embedder.name,
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap": settings.chunk_overlap,
            "fusion": settings.fusion,
            "rrf_k": settings.rrf_k,
            "bm25_weight": settings.bm25_weight,
            "dense_weight": settings.dense_weight,
            "section_weight": settings.section_weight,
            "bm25_scope": settings.bm25_scope,
            "chinese_bm25": settings.chinese_bm25,
            "feedback_chunks": settings.feedback_chunks,
            "feedback_weight": settings.feedback_weight,
            "candidates": library.settings.candidates,
        },
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
        questions=tuple(per_question),
    )


def _index_beir(library: Library, beir: BeirSet, say: Say) -> None:
    present = {d.name for d in library.documents() if d.status == "ready"}
    todo = [d for d in beir.corpus if f"{d.id}.txt" not in present]
    step = 500
    for start in range(0, len(todo), step):
        batch = todo[start : start + step]
        library.add(
            [
                Upload(f"{d.id}.txt", (d.text or d.title).encode(), DocumentMetadata(title=d.title))
                for d in batch
            ]
        )
        say(f"indexed {min(start + step, len(todo))}/{len(todo)} documents of {beir.name}")


def _index_pdfqa(library: Library, pdfqa: PdfQaSet, say: Say) -> None:
    present = {d.name for d in library.documents() if d.status == "ready"}
    todo = [p for p in pdfqa.pdfs if p.name not in present]
    for i, pdf in enumerate(todo, start=1):
        library.add([pdf])
        say(f"indexed {i}/{len(todo)} PDFs of {pdfqa.name}")
    # With OCR on, pages without a usable text layer are searched by their OCR text: the
    # set is evaluated once its OCR backlog is empty.
    steps = library.run_ocr(lambda p: say(f"OCR: {p.done}/{p.total} pages of {pdfqa.name}"))
    if steps:
        say(f"OCR backlog of {pdfqa.name} empty")


def _beir_row(
    library: Library, queries: Sequence, leg: str, say: Say, out: list[dict[str, object]]
) -> MetricRow:
    values: dict[str, list[float]] = {
        name: [] for name in ("ndcg@10", "recall@1", "recall@5", "recall@10", "recall@100", "mrr")
    }
    spent = 0.0
    for q in queries:
        t = time.perf_counter()
        result = library.search(q.text, k=300, legs=LEG_SETS[leg], decompose=leg == DECOMPOSED)
        spent += time.perf_counter() - t
        ranked = dedupe([Path(h.doc_name).stem for h in result.hits])
        relevant = {d for d, g in q.relevance.items() if g > 0}
        mine = {"ndcg@10": ndcg_at_k(ranked, q.relevance, 10)}
        for k in (1, 5, 10, 100):
            mine[f"recall@{k}"] = recall_at_k(ranked, relevant, k)
        mine["mrr"] = reciprocal_rank(ranked[:100], relevant)
        for metric, value in mine.items():
            values[metric].append(value)
        out.append(
            {"id": q.id, "setting": "all", "leg": leg, "top": ranked[:10],
             "gold": sorted(relevant), **mine}
        )  # fmt: skip
    metrics = {name: average(v) for name, v in values.items()}
    say(f"{leg}: nDCG@10 {metrics['ndcg@10']:.3f}")
    return MetricRow("all", leg, metrics, len(queries), 1000 * spent / max(1, len(queries)))


PAGE_METRICS = ("hit@1", "hit@3", "hit@5", "hit@10", "recall@5", "recall@10", "all@10", "mrr")


def _pdfqa_rows(
    library: Library,
    questions: Sequence,
    leg: str,
    setting: str,
    say: Say,
    out: list[dict[str, object]],
) -> list[MetricRow]:
    """The setting's row for ``leg``, then one per question type when the set has types, and
    one for the questions with evidence on several pages and one for the others when it has
    both (``all@10``: every evidence page in the top 10)."""
    docs = {d.name.removesuffix(".pdf"): d.id for d in library.documents()}
    scored: list[tuple[str, dict[str, float]]] = []
    spread: list[bool] = []  # whether each question's evidence is on several pages
    spent = 0.0
    for q in questions:
        filters = Filters(doc_ids=(docs[q.doc],)) if setting == "own document" else None
        t = time.perf_counter()
        result = library.search(
            q.question, k=60, filters=filters, legs=LEG_SETS[leg], decompose=leg == DECOMPOSED
        )
        spent += time.perf_counter() - t
        ranked = [f"{p.doc_name.removesuffix('.pdf')}#{p.page}" for p in result.pages]
        gold = {f"{q.doc}#{p}" for p in q.pages}
        mine = {f"hit@{k}": hit_at_k(ranked, gold, k) for k in (1, 3, 5, 10)}
        mine["recall@5"] = recall_at_k(ranked, gold, 5)
        mine["recall@10"] = recall_at_k(ranked, gold, 10)
        mine["all@10"] = all_found_at_k(ranked, gold, 10)
        mine["mrr"] = reciprocal_rank(ranked, gold)
        scored.append((q.type, mine))
        spread.append(len(gold) > 1)
        out.append(
            {"id": q.id, "setting": setting, "leg": leg, "type": q.type, "top": ranked[:10],
             "gold": sorted(gold), "route": result.trace.route,
             "subqueries": [s.query for s in result.trace.subqueries], **mine}
        )  # fmt: skip
    ms = 1000 * spent / max(1, len(questions))
    rows = [_page_row(setting, leg, [m for _, m in scored], ms)]
    say(f"{setting} / {leg}: hit@5 {rows[0].metrics['hit@5']:.3f}")
    types = sorted({t for t, _ in scored if t})
    if len(types) > 1:
        rows += [
            _page_row(f"{setting} · {kind}", leg, [m for t, m in scored if t == kind], ms)
            for kind in types
        ]
    if any(spread) and not all(spread):
        for name, multi in (("multi-page", True), ("single-page", False)):
            chosen = [m for (_, m), s in zip(scored, spread, strict=True) if s == multi]
            rows.append(_page_row(f"{setting} · {name}", leg, chosen, ms))
    return rows


def _page_row(setting: str, leg: str, scored: Sequence[dict[str, float]], ms: float) -> MetricRow:
    metrics = {name: average([m[name] for m in scored]) for name in PAGE_METRICS}
    return MetricRow(setting, leg, metrics, len(scored), ms)


def write_report(report: EvalReport, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = report.started_at.replace(":", "").replace("-", "")
    json_path = out_dir / f"{report.set_name}-{stamp}.json"
    copy = 1
    while json_path.exists():  # two runs in one second: keep both, in order
        copy += 1
        json_path = out_dir / f"{report.set_name}-{stamp}_{copy}.json"
    md_path = json_path.with_suffix(".md")
    payload = asdict(report)
    payload.pop("questions")
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    with json_path.with_suffix(".questions.jsonl").open("w", encoding="utf-8") as handle:
        for row in report.questions:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    md_path.write_text(
        f"# {report.set_name} ({report.format})\n\n{report.table()}\n\n"
        + "".join(f"Note: {n}\n\n" for n in report.notes)
        + f"Settings: `{json.dumps(report.settings)}`; {report.seconds:.0f} s.\n"
    )
    return json_path, md_path
