"""Chinese lexical analysis (issue 21): every ``FOLIO_CHINESE_BM25`` on beir sets, one run.

For each set and each way of reading Chinese (``jieba``, ``grams``, ``both``, ``fields``),
this runs the evaluation's own retrieval measurement (``rag_core.eval.retrieval.run_eval``:
the set's cached evaluation library, the app's search) for the ``bm25`` and ``hybrid`` legs
and prints one table; the evidence gate, which ``python -m rag_core eval`` also runs, is left
out. The snapshot is rebuilt for each analysis; the indexed chunks and their vectors are
shared. Every run's report is written under ``--out``.

    FOLIO_DATA_DIR=/tmp/h-cjk-data nice -n 10 python bench/chinese_bm25.py \\
        ../shared/data/xquad_zh /tmp/xquad_zht --out /tmp/chinese-bm25
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import REPO  # noqa: F401  (puts the repository on sys.path)

from rag_core.config import Settings
from rag_core.eval.retrieval import eval_library, run_eval, write_report
from rag_core.index.lexical import CHINESE_ANALYSES

METRICS = ("recall@1", "recall@5", "ndcg@10", "mrr")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="+", type=Path, help="beir set folders")
    parser.add_argument("--analyses", nargs="+", default=list(CHINESE_ANALYSES))
    parser.add_argument("--legs", nargs="+", default=["bm25", "hybrid"])
    parser.add_argument("--out", type=Path, required=True, help="folder for the reports")
    args = parser.parse_args()
    base = Settings()
    lines = ["| set | analysis | leg | " + " | ".join(METRICS) + " | queries |"]
    lines.append("|" + "---|" * (len(METRICS) + 4))
    embedder = None
    for set_dir in args.sets:
        for analysis in args.analyses:
            settings = base.model_copy(update={"chinese_bm25": analysis})
            library = eval_library(settings, set_dir, embedder)
            embedder = library.embedder
            report = run_eval(set_dir, settings, args.legs, library=library, progress=print)
            write_report(report, args.out / f"{set_dir.name}-{analysis}")
            for row in report.rows:
                cells = " | ".join(f"{row.metrics[m]:.3f}" for m in METRICS)
                lines.append(
                    f"| {report.set_name} | {analysis} | {row.leg} | {cells} | {row.queries} |"
                )
            print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
