"""Where a hybrid search's time goes on a cached ``bench/index_scale.py`` library.

    python bench/search_stages.py [--size 1000000] [--queries 100]

Opens the library of ``--size`` chunks (the cache of ``index_scale.py``), searches each of
the bench's questions twice (one search, ``decompose=False``, every query embedded afresh)
and prints one JSON line: p50 and p95 in ms of the whole search and of each stage and leg the
search's trace records (``embed_query`` includes the BM25 scoring that runs beside it).
"""

from __future__ import annotations

import argparse
import json
import time

import index_scale as ix
from _common import percentile, question_pool
from query_latency import RandomDocumentEmbedder

from rag_core.embed.embeddings import SentenceTransformerEmbedder
from rag_core.library import Library


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    embedder = RandomDocumentEmbedder(SentenceTransformerEmbedder(query_memory=0))
    library = Library.open(ix.settings_for(args.size), embedder=embedder)
    questions = question_pool(args.queries)
    library.search(questions[0], k=10, decompose=False)  # models loaded
    spent: dict[str, list[float]] = {"total": []}
    for _ in range(2):
        for question in questions:
            started = time.perf_counter()
            result = library.search(question, k=10, decompose=False)
            spent["total"].append((time.perf_counter() - started) * 1000)
            for timing in result.trace.timings:
                spent.setdefault(f"stage:{timing.stage}", []).append(timing.ms)
            for leg in result.trace.legs:
                spent.setdefault(f"leg:{leg.leg}", []).append(leg.elapsed_ms)
    print(
        json.dumps(
            {
                k: [round(percentile(v, 50), 1), round(percentile(v, 95), 1)]
                for k, v in spent.items()
            }
        )
    )


if __name__ == "__main__":
    main()
