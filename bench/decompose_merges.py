"""Merges of a decomposed search compared offline, on a pdfqa set's evaluation library.

Each answerable question is searched once (``decompose=False``) and once per part the
decomposer gives it, in both settings (own document, shared store); the page rankings are
saved, then every merge is scored on the same rankings: all-evidence recall@10 and hit@5 of
the multi-page questions, hit@5 and hit@10 of the single-page ones.

    FOLIO_DATA_DIR=... python bench/decompose_merges.py SET_DIR [--rankings FILE]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import _common  # noqa: F401  (the repository on the path, offline)

from rag_core.config import Settings
from rag_core.eval.retrieval import eval_library
from rag_core.eval.sets import load_pdfqa
from rag_core.retrieve.fusion import reciprocal_rank_fusion
from rag_core.retrieve.route import fuse_parts, interleave, keep_parts
from rag_core.types import Filters

Merge = Callable[[list[str], list[list[str]]], list[str]]


def rankings(set_dir: Path) -> list[dict]:
    library = eval_library(Settings.from_env(), set_dir)
    docs = {d.name.removesuffix(".pdf"): d.id for d in library.documents()}
    rows = []
    for q in load_pdfqa(set_dir).questions:
        if not q.answerable:
            continue
        parts = library.split(q.question).parts
        for setting in ("own document", "shared store"):
            filters = Filters(doc_ids=(docs[q.doc],)) if setting == "own document" else None

            def pages(text: str, f: Filters | None = filters) -> list[str]:
                found = library.search(text, k=60, filters=f, decompose=False).pages
                return [f"{p.doc_name.removesuffix('.pdf')}#{p.page}" for p in found]

            gold = [f"{q.doc}#{p}" for p in q.pages]
            rows.append(
                {"id": q.id, "setting": setting, "gold": gold, "main": pages(q.question),
                 "parts": [pages(part) for part in parts]}
            )  # fmt: skip
    return rows


def rrf(main: list[str], parts: Sequence[list[str]]) -> list[str]:
    lists = {str(i): [(key, 0.0) for key in r] for i, r in enumerate([main, *parts])}
    return [f.key for f in reciprocal_rank_fusion(lists)]


MERGES: dict[str, Merge] = {
    "single search": lambda m, p: m,
    "round robin": lambda m, p: interleave([m, *p], str),
    "each part's best in the top 8": lambda m, p: keep_parts([m, *p], str, 8),
    "RRF of all": lambda m, p: rrf(m, p) if p else m,
    "own top 5, then RRF, parts' best in top 8 (shipped)": lambda m, p: fuse_parts([m, *p], str, 8),
}


def score(rows: list[dict], merge: Merge, metric: Callable[[list[str], set[str]], float]) -> str:
    if not rows:
        return "  –  "
    values = [metric(merge(r["main"], r["parts"]), set(r["gold"])) for r in rows]
    return f"{sum(values) / len(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("set_dir", type=Path)
    parser.add_argument("--rankings", type=Path, help="saved rankings (JSON lines) to reuse")
    args = parser.parse_args()
    if args.rankings and args.rankings.exists():
        rows = [json.loads(line) for line in args.rankings.open()]
    else:
        rows = rankings(args.set_dir)
        if args.rankings:
            args.rankings.write_text("".join(json.dumps(r) + "\n" for r in rows))
    every = lambda ranked, gold: float(gold <= set(ranked[:10]))  # noqa: E731
    hit5 = lambda ranked, gold: float(bool(gold & set(ranked[:5])))  # noqa: E731
    hit10 = lambda ranked, gold: float(bool(gold & set(ranked[:10])))  # noqa: E731
    for setting in ("own document", "shared store"):
        chosen = [r for r in rows if r["setting"] == setting]
        multi = [r for r in chosen if len(r["gold"]) > 1]
        single = [r for r in chosen if len(r["gold"]) == 1]
        split = sum(bool(r["parts"]) for r in multi), sum(bool(r["parts"]) for r in single)
        print(f"\n{args.set_dir.name}, {setting}: {len(multi)} multi-page ({split[0]} split), "
              f"{len(single)} single-page ({split[1]} split)")  # fmt: skip
        print("| merge | multi all@10 | multi hit@5 | single hit@5 | single hit@10 |")
        print("|---|---|---|---|---|")
        for name, merge in MERGES.items():
            cells = [score(multi, merge, every), score(multi, merge, hit5)]
            cells += [score(single, merge, hit5), score(single, merge, hit10)]
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
