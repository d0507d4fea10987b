"""``python -m rag_core eval SET_DIR``: retrieval quality of every leg on a beir or pdfqa set.

Each set is indexed once into its own workspace ``<set>-<fingerprint>`` of the evaluation
library under ``<data_dir>/eval`` (the fingerprint covers the settings that change the
index) and reused by later runs.
Results are written as JSON and a markdown table under ``<data_dir>/eval/runs/``.
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
from rag_core.eval.metrics import average, dedupe, hit_at_k, ndcg_at_k, recall_at_k, reciprocal_rank
from rag_core.eval.sets import BeirSet, PdfQaSet, Say, detect_format, load_beir, load_pdfqa
from rag_core.library import Library
from rag_core.retrieve.legs import CHUNK_LEGS
from rag_core.types import DocumentMetadata, Filters, Upload

LEG_SETS: dict[str, tuple[str, ...]] = {  # what the evaluation compares
    "bm25": ("bm25",),
    "dense": ("dense",),
    "hybrid": CHUNK_LEGS,  # every chunk leg, as the app searches
}
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
            "candidates": max(settings.candidates, 200),
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
    if fmt == "beir":
        beir = load_beir(set_dir)
        _index_beir(library, beir, say)
        queries = beir.queries[:limit] if limit else beir.queries
        rows = [_beir_row(library, queries, leg, say) for leg in legs]
        name = beir.name
    else:
        pdfqa = load_pdfqa(set_dir)
        _index_pdfqa(library, pdfqa, say)
        questions = pdfqa.questions[:limit] if limit else pdfqa.questions
        rows = [
            _pdfqa_row(library, questions, leg, setting, say)
            for setting in ("own document", "shared store")
            for leg in legs
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
            "feedback_chunks": settings.feedback_chunks,
            "feedback_weight": settings.feedback_weight,
            "candidates": library.settings.candidates,
        },
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=time.perf_counter() - started,
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


def _beir_row(library: Library, queries: Sequence, leg: str, say: Say) -> MetricRow:
    values: dict[str, list[float]] = {
        name: [] for name in ("ndcg@10", "recall@1", "recall@5", "recall@10", "recall@100", "mrr")
    }
    spent = 0.0
    for q in queries:
        t = time.perf_counter()
        result = library.search(q.text, k=300, legs=LEG_SETS[leg])
        spent += time.perf_counter() - t
        ranked = dedupe([Path(h.doc_name).stem for h in result.hits])
        relevant = {d for d, g in q.relevance.items() if g > 0}
        values["ndcg@10"].append(ndcg_at_k(ranked, q.relevance, 10))
        for k in (1, 5, 10, 100):
            values[f"recall@{k}"].append(recall_at_k(ranked, relevant, k))
        values["mrr"].append(reciprocal_rank(ranked[:100], relevant))
    metrics = {name: average(v) for name, v in values.items()}
    say(f"{leg}: nDCG@10 {metrics['ndcg@10']:.3f}")
    return MetricRow("all", leg, metrics, len(queries), 1000 * spent / max(1, len(queries)))


def _pdfqa_row(
    library: Library, questions: Sequence, leg: str, setting: str, say: Say
) -> MetricRow:
    docs = {d.name.removesuffix(".pdf"): d.id for d in library.documents()}
    hits: dict[int, list[float]] = {1: [], 3: [], 5: [], 10: []}
    recall5, recall10, rr = [], [], []
    spent = 0.0
    for q in questions:
        filters = Filters(doc_ids=(docs[q.doc],)) if setting == "own document" else None
        t = time.perf_counter()
        result = library.search(q.question, k=60, filters=filters, legs=LEG_SETS[leg])
        spent += time.perf_counter() - t
        ranked = [f"{p.doc_name.removesuffix('.pdf')}#{p.page}" for p in result.pages]
        gold = {f"{q.doc}#{p}" for p in q.pages}
        for k in hits:
            hits[k].append(hit_at_k(ranked, gold, k))
        recall5.append(recall_at_k(ranked, gold, 5))
        recall10.append(recall_at_k(ranked, gold, 10))
        rr.append(reciprocal_rank(ranked, gold))
    say(f"{setting} / {leg}: hit@5 {average(hits[5]):.3f}")
    return MetricRow(
        setting,
        leg,
        {
            **{f"hit@{k}": average(v) for k, v in hits.items()},
            "recall@5": average(recall5),
            "recall@10": average(recall10),
            "mrr": average(rr),
        },
        len(questions),
        1000 * spent / max(1, len(questions)),
    )


def write_report(report: EvalReport, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = report.started_at.replace(":", "").replace("-", "")
    json_path = out_dir / f"{report.set_name}-{stamp}.json"
    copy = 1
    while json_path.exists():  # two runs in one second: keep both, in order
        copy += 1
        json_path = out_dir / f"{report.set_name}-{stamp}_{copy}.json"
    md_path = json_path.with_suffix(".md")
    json_path.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False))
    md_path.write_text(
        f"# {report.set_name} ({report.format})\n\n{report.table()}\n\n"
        f"Settings: `{json.dumps(report.settings)}`; {report.seconds:.0f} s.\n"
    )
    return json_path, md_path
