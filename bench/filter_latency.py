"""Hybrid search latency by how much of the library a filter leaves, and of the questions the
rules decompose, on query_latency.py's cached library (built there on first use).

A year filter is one row range per document it keeps (the library's documents carry 30
years, 1990-2019, in turn), so "every year" keeps the whole library as 1,040 ranges: the
exact scan a filter always takes, against the unfiltered search (HNSW above
``exact_dense_max``).

    python bench/filter_latency.py [--size 100000] [--queries 100]
"""

from __future__ import annotations

import argparse
import time

from _common import question_pool, summary
from query_latency import RandomDocumentEmbedder, build

from rag_core.embed.embeddings import SentenceTransformerEmbedder
from rag_core.retrieve.decompose import decompose
from rag_core.types import Filters


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    embedder = RandomDocumentEmbedder(SentenceTransformerEmbedder(query_memory=0))
    library = build(args.size, embedder)
    queries = question_pool(args.queries)
    for q in queries[:3]:
        library.search(q, k=10)

    def timed(items: list[str], filters: Filters | None) -> str:
        spent = []
        for q in items:
            started = time.perf_counter()
            library.search(q, k=10, filters=filters)
            spent.append((time.perf_counter() - started) * 1000)
        return summary(spent)

    print(f"== {args.size} chunks, {len(queries)} questions, hybrid")
    for years in (0, 1, 3, 15, 30):
        kept = Filters(years=tuple(range(1990, 1990 + years))) if years else None
        label = "no filter" if not years else f"{years} year{'s' if years > 1 else ''} of 30"
        print(f"{label:<28} {timed(queries, kept)}")
    parts = [q for q in question_pool(200) if decompose(q).multi_part]
    print(f"{f'decomposed ({len(parts)} of 200)':<28} {timed(parts, None)}")
    print(f"{'decomposed, 3 years':<28} {timed(parts, Filters(years=(1990, 1991, 1992)))}")


if __name__ == "__main__":
    main()
