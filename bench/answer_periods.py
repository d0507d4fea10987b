"""What reading figures by year costs the extractive answerer: the same answers timed with
and without the period step (``rag_core.answer.periods``), in one process, interleaved.

    FOLIO_DATA_DIR=DIR python bench/answer_periods.py SET_DIR [SET_DIR ...] [--rounds 3]

Each set's evaluation library (the workspace ``python -m rag_core eval SET_DIR`` built in the
same ``FOLIO_DATA_DIR``; it is indexed first if it is not) is searched once per question
restricted to the question's own PDF, as the evaluation's "own document" answers are; then
``ExtractiveAnswerer.answer`` alone is timed on that search result, with the period step and
without it (``asked`` answering None, so no year is read and nothing computed), the two
taking turns. Printed per set: p50 / p95 of both and their ratio, and how many answers the
step changes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import percentile

import rag_core.answer.extractive as extractive
from rag_core.answer.periods import Ask
from rag_core.config import Settings
from rag_core.eval.retrieval import eval_library
from rag_core.eval.sets import load_pdfqa
from rag_core.types import Filters


def no_periods(question: str) -> Ask | None:
    """``asked`` for a question that names no year: the answerer as it was before."""
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = Settings.from_env()
    with_periods = extractive.asked
    for set_dir in args.sets:
        pdfqa = load_pdfqa(set_dir)
        library = eval_library(settings, set_dir)
        library.add(
            [set_dir / "pdfs" / f"{d}.pdf" for d in sorted({q.doc for q in pdfqa.questions})]
        )
        docs = {d.name.removesuffix(".pdf"): d.id for d in library.documents()}
        answerer = library.answerer
        assert isinstance(answerer, extractive.ExtractiveAnswerer), "no API key: extractive"
        searched = [
            (q.question, library.search(q.question, filters=Filters(doc_ids=(docs[q.doc],))))
            for q in pdfqa.questions
            if q.answerable
        ]
        ms: dict[str, list[float]] = {"with": [], "without": []}
        changed = 0
        for round_ in range(args.rounds):
            for question, result in searched:
                texts = {}
                for side in ("without", "with"):
                    extractive.asked = with_periods if side == "with" else no_periods
                    started = time.perf_counter()
                    texts[side] = answerer.answer(question, result).text
                    ms[side].append((time.perf_counter() - started) * 1000)
                extractive.asked = with_periods
                changed += round_ == 0 and texts["with"] != texts["without"]
        p = {s: (percentile(v, 50), percentile(v, 95)) for s, v in ms.items()}
        print(
            f"{set_dir.name}: {len(searched)} questions x {args.rounds} rounds;"
            f" without the period step p50 {p['without'][0]:.1f} ms, p95 {p['without'][1]:.1f} ms;"
            f" with it p50 {p['with'][0]:.1f} ms, p95 {p['with'][1]:.1f} ms"
            f" (x{p['with'][0] / p['without'][0]:.2f} at p50, x{p['with'][1] / p['without'][1]:.2f}"
            f" at p95); answers changed by it: {changed}"
        )


if __name__ == "__main__":
    main()
