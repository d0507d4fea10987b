"""A FinanceBench subset as its own pdfqa set: a few filings and all their questions.

Indexing all 74 filings (10,206 pages) takes hours on a 2-core machine; a subset of small
filings gives answer-quality numbers in minutes. The PDFs are linked, not copied.

    python bench/financebench_subset.py --out /tmp/financebench-subset
    python -m rag_core eval /tmp/financebench-subset --legs hybrid --answers

Default documents: 20 questions over 5 filings (271 pages) of several kinds (10-K, 10-Q,
8-K, earnings releases).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import shared_data

DEFAULT_DOCS = (
    "BOEING_2022_10K",
    "ULTABEAUTY_2023Q4_EARNINGS",
    "MGMRESORTS_2022Q4_EARNINGS",
    "BESTBUY_2024Q2_10Q",
    "JOHNSON_JOHNSON_2023_8K_dated-2023-08-30",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--docs", nargs="+", default=list(DEFAULT_DOCS))
    args = parser.parse_args()
    source = shared_data() / "financebench"
    (args.out / "pdfs").mkdir(parents=True, exist_ok=True)
    wanted = set(args.docs)
    lines = [
        line
        for line in (source / "questions.jsonl").read_text().splitlines()
        if line.strip() and json.loads(line)["doc"] in wanted
    ]
    (args.out / "questions.jsonl").write_text("\n".join(lines) + "\n")
    for doc in sorted(wanted):
        link = args.out / "pdfs" / f"{doc}.pdf"
        if not link.exists():
            link.symlink_to((source / "pdfs" / f"{doc}.pdf").resolve())
    print(f"{len(lines)} questions over {len(wanted)} PDFs in {args.out}")


if __name__ == "__main__":
    main()
