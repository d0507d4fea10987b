"""Vision index search: Folio's store + first stage + exact MaxSim re-scoring, against
brute-force float32 MaxSim over every page, in the same run.

Pages have real ColQwen2 shapes: 11 prompt-token vectors and 736 patch vectors of 128
dimensions (an A4 page at 768 image tokens is a 32 x 23 patch grid). The patch vectors are
pooled by 3 (245 vectors) as the indexer does, so a stored page is 256 float16 vectors plus
16 first-stage representatives. Two kinds of vectors:

- ``structured``: pages mix a shared "blank paper" vector with 8 of 2000 topic vectors (plus
  noise), queries are drawn from a target page's topics (plus more noise), so there is a real
  top-10 to recover, as with a trained model;
- ``random``: isotropic random unit vectors everywhere (timing only: every page scores
  almost the same, so its top-10 is nearly a coin toss and recall there means little).

    python bench/vision_maxsim.py                 # 10,000 pages, 50 queries, both kinds
    python bench/vision_maxsim.py --pages 2000 --data structured --sweep 64 128 200
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag_core.vision.pooling import normalise, pool_page, representatives
from rag_core.vision.search import maxsim_pages, search_pages, top_rows
from rag_core.vision.store import PageVectors, VisionStore

DIM = 128
PROMPT_TOKENS = 11
GRID = (32, 23)  # 736 patches
POOL_FACTOR = 3
REPS = 16
QUERY_TOKENS = 26  # "Query: " + ~12 word tokens + 10 padding tokens + "\n"
WORDS = 12  # the last 12 query tokens stand for the user's words
CANDIDATES = 128  # Folio's default (FOLIO_VISION_CANDIDATES)
K = 10


class Vectors:
    """Deterministic synthetic ColQwen2-like vectors."""

    def __init__(self, kind: str, seed: int = 0) -> None:
        self.kind = kind
        self.rng = np.random.default_rng(seed)
        self.topics = self.unit(2000)
        self.blank = self.unit(1)
        self.prompt = self.unit(PROMPT_TOKENS)
        self.query_fixed = self.unit(QUERY_TOKENS - WORDS)
        self.page_topics: list[np.ndarray] = []

    def unit(self, n: int) -> np.ndarray:
        return normalise(self.rng.standard_normal((n, DIM)).astype(np.float32))

    def noisy(self, centres: np.ndarray, noise: float) -> np.ndarray:
        jitter = self.rng.standard_normal(centres.shape).astype(np.float32) / np.sqrt(DIM)
        return normalise(centres + noise * jitter)

    def raw_page(self) -> tuple[np.ndarray, np.ndarray]:
        """An unpooled page: prompt tokens, then a 32 x 23 grid of patch vectors."""
        patches = GRID[0] * GRID[1]
        if self.kind == "random":
            vectors = self.unit(PROMPT_TOKENS + patches)
        else:
            topics = self.rng.integers(0, len(self.topics), 8)
            blank = int(self.rng.integers(90, 330))
            picks = self.topics[topics[self.rng.integers(0, 8, patches - blank)]]
            vectors = np.concatenate(
                [
                    self.noisy(self.prompt, 0.3),
                    self.noisy(np.repeat(self.blank, blank, 0), 0.5),
                    self.noisy(picks, 0.8),
                ]
            )
        return vectors, np.arange(len(vectors)) >= PROMPT_TOKENS

    def pooled_page(self) -> np.ndarray:
        """A page as stored after pooling by 3: 11 prompt vectors + 245 patch-cluster vectors."""
        pooled = GRID[0] * GRID[1] // POOL_FACTOR
        if self.kind == "random":
            return self.unit(PROMPT_TOKENS + pooled)
        topics = self.rng.integers(0, len(self.topics), 8)
        self.page_topics.append(topics)
        blank = int(self.rng.integers(30, 110))
        picks = self.topics[topics[self.rng.integers(0, 8, pooled - blank)]]
        return np.concatenate(
            [
                self.noisy(self.prompt, 0.3),
                self.noisy(np.repeat(self.blank, blank, 0), 0.4),
                self.noisy(picks, 0.6),
            ]
        )

    def query(self) -> np.ndarray:
        if self.kind == "random":
            return self.unit(QUERY_TOKENS)
        target = self.page_topics[int(self.rng.integers(len(self.page_topics)))]
        words = self.topics[target[self.rng.integers(0, 8, WORDS)]]
        return np.concatenate([self.noisy(self.query_fixed, 0.3), self.noisy(words, 2.0)])


def pooling_cost(pages: int = 20) -> None:
    vectors = Vectors("structured", seed=99)
    times, counts = [], []
    for _ in range(pages):
        raw, patches = vectors.raw_page()
        started = time.perf_counter()
        pooled = pool_page(raw, patches, GRID, POOL_FACTOR)
        representatives(pooled.vectors, REPS)
        times.append(time.perf_counter() - started)
        counts.append(len(pooled.vectors))
    print(
        f"pooling a page of {PROMPT_TOKENS}+{GRID[0] * GRID[1]} vectors by {POOL_FACTOR}: "
        f"{np.mean(counts):.0f} vectors kept ({np.mean(counts) / (PROMPT_TOKENS + 736):.1%}), "
        f"{np.median(times) * 1000:.0f} ms per page (pooling + representatives)"
    )


def run(
    kind: str, pages: int, queries: int, folder: Path, candidates: int, sweep: list[int]
) -> dict[str, float]:
    vectors = Vectors(kind, seed=1)
    store = VisionStore(folder / kind, "bench", reps=REPS).open()
    started = time.perf_counter()
    batch: list[PageVectors] = []
    labels = np.zeros(GRID[0] * GRID[1], np.int32)  # not used by search
    for page in range(pages):
        pooled = vectors.pooled_page()
        reps = representatives(pooled, REPS)
        batch.append(PageVectors(f"doc{page // 50:04d}", page % 50, pooled, reps, labels, GRID))
        if len(batch) == 500:
            store.add(batch)
            batch = []
    store.add(batch)
    build_s = time.perf_counter() - started
    stats = store.stats()
    started = time.perf_counter()
    matrix = store.matrix()
    load_s = time.perf_counter() - started
    exact = np.asarray(matrix.tokens, dtype=np.float32)  # brute force: all pages, float32, RAM
    counts = matrix.counts
    order = np.argsort(matrix.starts)
    assert (np.diff(matrix.starts[order]) == counts[order][:-1]).all()

    ours, brute, recall, agree, ours_cpu, brute_cpu = [], [], [], [], [], []
    some_docs = matrix.rows_for([f"doc{d:04d}" for d in range(0, pages // 50, 10)])
    filtered = []
    for q in range(queries + 3):
        query = vectors.query()
        c0, t0 = time.process_time(), time.perf_counter()
        found = search_pages(query, matrix.coarse, matrix.fetch, pages, K, candidates)
        c1, t1 = time.process_time(), time.perf_counter()
        scores = np.empty(len(counts), np.float32)
        scores[order] = maxsim_pages(query, exact, counts[order])
        best = top_rows(scores, K)
        c2, t2 = time.process_time(), time.perf_counter()
        t3 = time.perf_counter()
        search_pages(query, matrix.coarse, matrix.fetch, pages, K, candidates, some_docs)
        t4 = time.perf_counter()
        if q < 3:
            continue  # warm-up
        ours.append(t1 - t0)
        brute.append(t2 - t1)
        ours_cpu.append(c1 - c0)
        brute_cpu.append(c2 - c1)
        filtered.append(t4 - t3)
        recall.append(len({r for r, _ in found} & set(best.tolist())) / K)
        agree.append(max(abs(s - float(scores[r])) for r, s in found))

    result = {
        "p50": float(np.median(ours) * 1000),
        "p95": float(np.percentile(ours, 95) * 1000),
        "brute_p50": float(np.median(brute) * 1000),
        "brute_p95": float(np.percentile(brute, 95) * 1000),
        "filtered_p95": float(np.percentile(filtered, 95) * 1000),
        "cpu_p50": float(np.median(ours_cpu) * 1000),
        "cpu_p95": float(np.percentile(ours_cpu, 95) * 1000),
        "brute_cpu_p50": float(np.median(brute_cpu) * 1000),
        "recall": float(np.mean(recall)),
        "min_recall": float(np.min(recall)),
        "agree": float(np.max(agree)),
        "kb_per_page": stats.bytes_per_page / 1000,
    }
    print(f"\n== {kind}: {pages} pages, {queries} queries of {QUERY_TOKENS} tokens")
    print(
        f"store: {stats.pages} pages, {stats.live_rows / stats.pages:.0f} vectors per page, "
        f"{stats.bytes / 1e6:.0f} MB, {result['kb_per_page']:.1f} KB per page; "
        f"written in {build_s:.1f} s (representatives included), view loaded in "
        f"{load_s * 1000:.0f} ms"
    )
    print(
        f"Folio (first stage over {REPS} representatives per page, exact re-score of "
        f"{candidates}): "
        f"p50 {result['p50']:.1f} ms, p95 {result['p95']:.1f} ms"
    )
    print(
        f"brute-force float32 MaxSim over all pages: p50 {result['brute_p50']:.1f} ms, "
        f"p95 {result['brute_p95']:.1f} ms"
    )
    print(
        f"CPU time per query (both threads): Folio p50 {result['cpu_p50']:.1f} ms, p95 "
        f"{result['cpu_p95']:.1f} ms; brute force p50 {result['brute_cpu_p50']:.1f} ms"
    )
    print(
        f"speed-up at p50: {result['brute_p50'] / result['p50']:.1f}x; "
        f"filtered to {len(some_docs)} pages: p95 {result['filtered_p95']:.1f} ms"
    )
    print(
        f"recall@{K} vs brute force: mean {result['recall']:.3f}, worst query "
        f"{result['min_recall']:.1f}; scores of returned pages equal brute force within "
        f"{result['agree']:.1e}"
    )
    verdict = "PASS" if result["p95"] <= 100 and result["kb_per_page"] <= 90 else "FAIL"
    print(f"targets (p95 <= 100 ms, <= 90 KB per page): {verdict}")
    if sweep:
        print("candidates re-scored | recall@10 (worst) | CPU ms p50 / p95 | wall ms p50 / p95")
        tests = []
        for _ in range(queries):
            query = vectors.query()
            scores = np.empty(len(counts), np.float32)
            scores[order] = maxsim_pages(query, exact, counts[order])
            tests.append((query, set(top_rows(scores, K).tolist())))
        for n in sweep:
            hits, cpu, wall = [], [], []
            for query, best_set in tests:
                c0, t0 = time.process_time(), time.perf_counter()
                found = search_pages(query, matrix.coarse, matrix.fetch, pages, K, n)
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - t0)
                hits.append(len({r for r, _ in found} & best_set) / K)
            print(
                f"{n:>20} | {np.mean(hits):.3f} ({np.min(hits):.1f}) | "
                f"{np.median(cpu) * 1000:.0f} / {np.percentile(cpu, 95) * 1000:.0f} | "
                f"{np.median(wall) * 1000:.0f} / {np.percentile(wall, 95) * 1000:.0f}"
            )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--data", choices=["structured", "random", "both"], default="both")
    parser.add_argument("--candidates", type=int, default=CANDIDATES)
    parser.add_argument(
        "--sweep", type=int, nargs="*", default=[], help="also try these candidate counts"
    )
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    pooling_cost()
    kinds = ["structured", "random"] if args.data == "both" else [args.data]
    with tempfile.TemporaryDirectory() as folder:
        for kind in kinds:
            run(kind, args.pages, args.queries, Path(folder), args.candidates, args.sweep)
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
