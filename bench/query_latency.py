"""Query latency of each retrieval leg at 10k and 100k chunks, with rank-bm25 and the floor.

The library is built through the real ingest path from real text (SciFact abstracts, 50
per document, repeated under new document names to reach the size). Document vectors come
from a random unit-vector embedder (a query costs the same whatever the vectors hold, and
building 100k real vectors would take ~40 minutes here); queries are embedded by the real
all-MiniLM-L6-v2, as in use.

Reported per size: p50/p95 of the BM25 leg, the dense leg (as it ships: an exact scan of the
snapshot up to ``exact_dense_max`` vectors, Chroma's HNSW above), hybrid, the dense leg and
hybrid with Chroma's HNSW at any size (``exact_dense_max`` 0, same run), hybrid
filtered to one document, hybrid filtered by year (~10% of documents), and rank-bm25
(``BM25Okapi.get_scores`` + top-k) on the same tokens; the floor is the query embedding plus
an exact numpy scan of the same vectors.

    python bench/query_latency.py [--sizes 10000 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from _common import REPO, percentile, question_pool, shared_data, summary

from rag_core.config import Settings
from rag_core.embed.embeddings import Embedder, SentenceTransformerEmbedder
from rag_core.library import Library
from rag_core.types import DocumentMetadata, Filters, Upload

CACHE = REPO / "bench" / "results" / "libraries"


class RandomDocumentEmbedder(Embedder):
    """Random unit vectors for documents; the real model for queries and token counts."""

    def __init__(self, real: SentenceTransformerEmbedder) -> None:
        self.real = real
        self.name = "bench-random-docs/all-MiniLM-L6-v2"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), 384), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.md5(text.encode()).digest()[:4], "little")
            v = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out

    def embed_query(self, texts: Sequence[str]) -> np.ndarray:
        return self.real.embed_query(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.real.count_tokens(texts)

    def unknown_ratio(self, texts: Sequence[str]) -> list[float]:
        return self.real.unknown_ratio(texts)

    @property
    def max_tokens(self) -> int:
        return self.real.max_tokens


def build(size: int, embedder: RandomDocumentEmbedder) -> Library:
    folder = CACHE / f"chunks-{size}"
    settings = Settings(data_dir=folder, db=folder / "feedback.db")
    library = Library.open(settings, embedder=embedder)
    have = sum(d.chunks for d in library.documents())
    if have >= size:
        return library
    corpus = [json.loads(line) for line in (shared_data() / "scifact" / "corpus.jsonl").open()]
    copy = 0
    while have < size:
        uploads = []
        for start in range(0, len(corpus), 50):
            group = corpus[start : start + 50]
            body = "\n\n".join(f"## {d['title']}\n\n{d['text']}" for d in group)
            text = f"# Collection {copy}\n\n{body}"  # distinct bytes: a copy is a new document
            year = 1990 + (start // 50) % 30
            name = f"copy{copy:02d}-part{start // 50:03d}-{year}.md"
            uploads.append(Upload(name, text.encode(), DocumentMetadata(title=name)))
        report = library.add(uploads)
        have += sum(r.chunks for r in report.results)
        copy += 1
        print(f"  built {have} chunks", flush=True)
    return library


def timed(fn, queries: list[str]) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t) * 1000)
    return out


def run(size: int, queries: list[str], embedder: RandomDocumentEmbedder) -> dict[str, list[float]]:
    from rank_bm25 import BM25Okapi

    library = build(size, embedder)
    snapshot = library.retriever.snapshot()
    tokenizer = library.retriever.tokenizer
    docs = [d for d in library.documents() if d.status == "ready"]
    rng = random.Random(7)
    one_doc = [Filters(doc_ids=(rng.choice(docs).id,)) for _ in queries]
    years = [Filters(years=(rng.randint(1990, 2019),)) for _ in queries]
    for q in queries[:5]:  # warm the model, the HNSW index and the page cache
        library.search(q, k=10)
        library.search(q, k=10, filters=one_doc[0])

    results: dict[str, list[float]] = {}
    results["bm25 leg"] = timed(lambda q: library.search(q, k=10, legs=("bm25",)), queries)
    results["dense leg"] = timed(lambda q: library.search(q, k=10, legs=("dense",)), queries)
    results["hybrid"] = timed(lambda q: library.search(q, k=10), queries)
    shipped = library.retriever.config
    library.retriever.config = replace(shipped, exact_dense_max=0)  # HNSW at any size
    for q in queries[:5]:
        library.search(q, k=10)
    results["dense leg, HNSW"] = timed(lambda q: library.search(q, k=10, legs=("dense",)), queries)
    results["hybrid, HNSW"] = timed(lambda q: library.search(q, k=10), queries)
    library.retriever.config = shipped
    it = iter(one_doc)
    results["hybrid, one document"] = timed(
        lambda q: library.search(q, k=10, filters=next(it)), queries
    )
    it_years = iter(years)
    results["hybrid, one year"] = timed(
        lambda q: library.search(q, k=10, filters=next(it_years)), queries
    )
    results["query embedding"] = timed(lambda q: embedder.embed_query([q]), queries)
    matrix = snapshot.vectors_of(np.arange(snapshot.size))
    vectors = [embedder.embed_query([q])[0] for q in queries]
    it_vec = iter(vectors)
    results["exact numpy scan"] = timed(
        lambda q: np.argpartition(-(matrix @ next(it_vec)), 10)[:10], queries
    )
    tokens = {q: tokenizer.tokenize(q) for q in queries}
    results["BM25 top 10 (tokens given)"] = timed(
        lambda q: snapshot.bm25.top(tokens[q], 10), queries
    )
    corpus_tokens = [r[2].split() for r in library.registry.iter_ready_chunks()]
    oracle = BM25Okapi(corpus_tokens, k1=1.2, b=0.75, epsilon=0)
    results["rank-bm25 (tokens given)"] = timed(
        lambda q: np.argsort(-oracle.get_scores(tokens[q]))[:10], queries
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    queries = question_pool(args.queries)
    # Every search embeds its question afresh, as a new question does: without this the
    # embedder's memory of recent queries answered every pass after the first one, and the
    # "query embedding" row timed a dictionary lookup.
    embedder = RandomDocumentEmbedder(SentenceTransformerEmbedder(query_memory=0))
    for size in args.sizes:
        r = run(size, queries, embedder)
        print(f"\n== {size} chunks, {len(queries)} queries")
        for name, values in r.items():
            print(f"{name:<32} {summary(values)}")
        p50 = {name: percentile(v, 50) for name, v in r.items()}
        p95 = {name: percentile(v, 95) for name, v in r.items()}
        floor = p95["query embedding"] + p95["exact numpy scan"]
        speedup = p50["rank-bm25 (tokens given)"] / p50["BM25 top 10 (tokens given)"]
        print(f"BM25 speed-up over rank-bm25 (p50): {speedup:.1f}x")
        print(f"hybrid p95 / (embedding p95 + numpy scan p95): {p95['hybrid'] / floor:.2f}")
        print(f"hybrid p95, shipped / HNSW at any size: {p95['hybrid'] / p95['hybrid, HNSW']:.2f}")
        for label in ("one document", "one year"):
            ratio = p95[f"hybrid, {label}"] / p95["hybrid"]
            print(f"filtered ({label}) p95 / unfiltered p95: {ratio:.2f}")


if __name__ == "__main__":
    main()
