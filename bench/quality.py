"""Retrieval quality of Folio against the naive pipeline (``bench/naive.py``), in one run.

For every evaluation set (default: every beir and pdfqa set in ``../shared/data``), Folio's
evaluation runs through the library code path of ``python -m rag_core eval SET --legs hybrid``
(the set's cached evaluation workspace under ``FOLIO_DATA_DIR/eval``, the app's settings,
unanswerable questions left out), then the naive pipeline on the same questions with the
same MiniLM; one table prints set, setting, metric, naive, Folio and their difference.

    python bench/quality.py [--sets xquad_en,uda_ex,/tmp/fb12] [--hash-names]
                            [--fusion score|rrf|zscore] [--limit N] [--out FILE.json]

``--hash-names``: every pdfqa set is copied to ``FOLIO_DATA_DIR/hashed/<set>-hashed`` with each
PDF renamed to the sha256 of its bytes and the questions' ``doc`` rewritten to match, so
nothing in the shared store can be found by its name (beir sets have no file names and run as
they are). ``--fusion`` overrides ``FOLIO_FUSION`` for Folio (the index does not depend on it).
Folio's full report (every leg's metrics, per question) is written to ``eval/runs`` as the CLI
writes it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # bench's modules, then rag_core

import naive  # noqa: E402
from _common import shared_data  # noqa: E402

from rag_core.config import Settings  # noqa: E402
from rag_core.errors import ConfigurationError  # noqa: E402
from rag_core.eval.retrieval import EvalReport, eval_library, run_eval, write_report  # noqa: E402
from rag_core.eval.sets import detect_format, load_beir, load_pdfqa  # noqa: E402

SHOWN = {  # the metrics in the printed table; the JSON holds them all
    "beir": ("ndcg@10", "recall@1", "recall@5"),
    "pdfqa": ("hit@5", "hit@1", "mrr"),
}


@dataclass(frozen=True, slots=True)
class QualityRow:
    set_name: str
    setting: str
    metric: str
    naive: float
    folio: float
    queries: int


def quality_table(rows: Iterable[QualityRow]) -> str:
    """A markdown table: one line per (set, setting, metric); difference is Folio - naive."""
    lines = [
        "| set | setting | metric | naive | Folio | difference | queries |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.set_name} | {r.setting} | {r.metric} | {r.naive:.3f} | {r.folio:.3f} "
            f"| {r.folio - r.naive:+.3f} | {r.queries} |"
        )
    return "\n".join(lines)


def content_names(pdfs: Sequence[Path]) -> dict[str, str]:
    """Each PDF's name (without .pdf) -> the sha256 of its bytes."""
    return {pdf.stem: hashlib.sha256(pdf.read_bytes()).hexdigest() for pdf in pdfs}


def renamed_questions(lines: Iterable[str], names: dict[str, str]) -> list[str]:
    """The questions' JSON lines with ``doc`` renamed by ``names`` (a doc not in it is kept)."""
    out = []
    for line in lines:
        if not line.strip():
            continue
        row = json.loads(line)
        row["doc"] = names.get(row["doc"], row["doc"])
        out.append(json.dumps(row, ensure_ascii=False))
    return out


def hashed_copy(set_dir: Path, root: Path) -> Path:
    """``set_dir`` (pdfqa) copied to ``root/<name>-hashed`` with content-hash file names; the
    copy is reused while it holds the same PDFs (its path is what the index cache keys on)."""
    pdfs = sorted((set_dir / "pdfs").glob("*.pdf"))
    names = content_names(pdfs)
    target = root / f"{set_dir.name}-hashed"
    (target / "pdfs").mkdir(parents=True, exist_ok=True)
    wanted = {f"{names[p.stem]}.pdf" for p in pdfs}
    for stale in (target / "pdfs").glob("*.pdf"):
        if stale.name not in wanted:
            stale.unlink()
    for pdf in pdfs:
        copy = target / "pdfs" / f"{names[pdf.stem]}.pdf"
        if not copy.exists():
            shutil.copyfile(pdf, copy)
    lines = (set_dir / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    text = "\n".join(renamed_questions(lines, names)) + "\n"
    questions = target / "questions.jsonl"
    if not questions.exists() or questions.read_text(encoding="utf-8") != text:
        questions.write_text(text, encoding="utf-8")
    return target


def resolve_sets(spec: str | None, data: Path) -> list[Path]:
    """``--sets``: comma-separated names under ``data`` or paths; default every set in it."""
    if not spec:
        found = []
        for folder in sorted(p for p in data.iterdir() if p.is_dir()):
            try:
                detect_format(folder)
            except ConfigurationError:
                continue
            found.append(folder)
        return found
    sets = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        folder = Path(item) if ("/" in item or Path(item).is_dir()) else data / item
        detect_format(folder)  # a clear error naming the folder
        sets.append(folder)
    return sets


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def compare(
    set_dir: Path, settings: Settings, limit: int | None, runs: Path
) -> tuple[list[QualityRow], EvalReport, list[naive.NaiveRow]]:
    """Folio's hybrid rows and the naive rows of one set, side by side."""
    library = eval_library(settings, set_dir)
    report = run_eval(set_dir, settings, ("hybrid",), limit, progress=_say, library=library)
    write_report(report, runs)
    cache = settings.data_dir / "eval" / "naive"
    fmt = detect_format(set_dir)
    if fmt == "beir":
        baseline = naive.run_naive_beir(load_beir(set_dir), library.embedder, cache, _say, limit)
    else:
        baseline = naive.run_naive_pdfqa(load_pdfqa(set_dir), library.embedder, cache, _say, limit)
    folio = {r.setting: r for r in report.rows if r.leg == "hybrid"}
    rows = [
        QualityRow(
            report.set_name,
            b.setting,
            metric,
            b.metrics[metric],
            folio[b.setting].metrics[metric],
            b.queries,
        )
        for b in baseline
        for metric in SHOWN[fmt]
    ]
    for b in baseline:  # the same questions on both sides, or the comparison means nothing
        if b.queries != folio[b.setting].queries:
            raise SystemExit(
                f"{set_dir}: naive asked {b.queries}, Folio {folio[b.setting].queries}"
            )
    return rows, report, baseline


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", help="comma-separated set names (under --data) or paths")
    parser.add_argument("--data", type=Path, help="folder of sets (default: ../shared/data)")
    parser.add_argument("--hash-names", action="store_true", help="PDFs named by content hash")
    parser.add_argument("--fusion", choices=("score", "rrf", "zscore"), help="Folio's fusion")
    parser.add_argument("--limit", type=int, help="only the first N questions of each set")
    parser.add_argument("--out", type=Path, help="JSON results (default: under eval/quality)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.fusion:
        settings = settings.model_copy(update={"fusion": args.fusion})
    sets = resolve_sets(args.sets, args.data or shared_data())
    root = settings.data_dir / "eval"
    started = datetime.now(UTC).isoformat(timespec="seconds")
    rows: list[QualityRow] = []
    details = []
    for set_dir in sets:
        t = time.perf_counter()
        if args.hash_names and detect_format(set_dir) == "pdfqa":
            set_dir = hashed_copy(set_dir, settings.data_dir / "hashed")
        mine, report, baseline = compare(set_dir, settings, args.limit, root / "runs")
        rows += mine
        details.append(
            {"set": report.set_name, "folio": [asdict(r) for r in report.rows],
             "naive": [asdict(b) for b in baseline], "notes": list(report.notes),
             "seconds": round(time.perf_counter() - t, 1)}
        )  # fmt: skip
        _say(quality_table(mine))
    print(f"fusion: {settings.fusion}; names: {'content hash' if args.hash_names else 'as-is'}")
    print(quality_table(rows))
    out = args.out or root / "quality" / f"quality-{started.replace(':', '')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "started_at": started, "fusion": settings.fusion, "hash_names": args.hash_names,
        "limit": args.limit, "rows": [asdict(r) for r in rows], "sets": details,
    }  # fmt: skip
    out.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
