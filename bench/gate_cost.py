"""Cost of the evidence gate per question at 10k chunks (issue 15's target: at most 5 ms).

The library is query_latency.py's (SciFact abstracts through the real ingest path, cached
under bench/results/libraries); questions are SciFact claims and FinanceBench questions.
Timed: ``Library.evidence_score`` on the search result (features + the logistic model), beside
the search itself, whose cost it adds to.

    python bench/gate_cost.py [--size 10000] [--queries 200]
"""

from __future__ import annotations

import argparse
import time

from _common import percentile, question_pool, summary
from query_latency import RandomDocumentEmbedder, build

from rag_core.embed.embeddings import SentenceTransformerEmbedder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    queries = question_pool(args.queries)
    library = build(args.size, RandomDocumentEmbedder(SentenceTransformerEmbedder()))
    search_ms, gate_ms = [], []
    for q in queries:
        t = time.perf_counter()
        result = library.search(q)
        search_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        library.evidence_score(result)
        gate_ms.append((time.perf_counter() - t) * 1000)
    print(f"== {args.size} chunks, {len(queries)} questions")
    print(f"{'search (hybrid, top_k)':<28} {summary(search_ms)}")
    print(f"{'evidence gate':<28} {summary(gate_ms)}")
    print(f"gate p95 / search p95: {percentile(gate_ms, 95) / percentile(search_ms, 95):.3f}")


if __name__ == "__main__":
    main()
