"""Latency of a decomposed search against a single search, at 10k chunks.

The library is ``query_latency.py``'s (real SciFact text, random document vectors, queries
embedded by the real all-MiniLM-L6-v2). The queries are the FinanceBench questions the rules
split into parts (``rag_core.retrieve.decompose``), each searched as one search
(``decompose=False``) and decomposed (the question's own search plus one per part), in
alternation so that both see the same machine load. Reported: p50/p95 of each, their ratio
(the issue's target: decomposed p95 at most 2.5x single), and the parts per question.

``--fresh``: every query embedded afresh (the embedder keeps no query vectors), as a new
question is; without it, rounds after the first find every query's vector kept from the first
(the embedder keeps the last 256) and time the searches without their embeddings.

    python bench/decompose_latency.py [--size 10000] [--rounds 3] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter

from _common import percentile, shared_data, summary
from query_latency import RandomDocumentEmbedder, build

from rag_core.embed.embeddings import QUERY_MEMORY, SentenceTransformerEmbedder
from rag_core.retrieve.decompose import decompose


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fresh", action="store_true", help="no query vector kept")
    args = parser.parse_args()
    lines = (shared_data() / "financebench" / "questions.jsonl").open()
    questions = [json.loads(line)["question"] for line in lines]
    split = [q for q in questions if decompose(q).multi_part]
    parts = Counter(len(decompose(q).parts) for q in split)
    real = SentenceTransformerEmbedder(query_memory=0 if args.fresh else QUERY_MEMORY)
    library = build(args.size, RandomDocumentEmbedder(real))
    for q in split[:5]:  # warm the model, the HNSW index and the page cache
        library.search(q, k=10, decompose=False)
        library.search(q, k=10)
    single: list[float] = []
    decomposed: list[float] = []
    for _ in range(args.rounds):
        for q in split:
            for out, on in ((single, False), (decomposed, True)):
                t = time.perf_counter()
                result = library.search(q, k=10, decompose=on)
                out.append((time.perf_counter() - t) * 1000)
                assert result.trace.route == ("decomposed" if on else "single")
    fresh = ", every query embedded afresh" if args.fresh else ""
    print(f"== {args.size} chunks, {len(split)} split questions x {args.rounds} rounds{fresh}")
    print(f"parts per question: {dict(sorted(parts.items()))}")
    print(f"{'single search':<20} {summary(single)}")
    print(f"{'decomposed search':<20} {summary(decomposed)}")
    for p in (50, 95):
        ratio = percentile(decomposed, p) / percentile(single, p)
        print(f"decomposed / single p{p}: {ratio:.2f}")


if __name__ == "__main__":
    main()
