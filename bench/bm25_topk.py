"""BM25 top k by MaxScore against the full scoring, on a cached ``bench/index_scale.py`` library.

    python bench/bm25_topk.py [--size 1000000] [--queries 100] [--k 100]

For each of the bench's questions, the chunk field's and the section field's top ``--k`` (no
filter; filtered to 300 random documents, statistics over them; the rows of 3 random
documents; both) by ``LiveField.top`` and by ``top_in_ranges(LiveField.scores)``: prints one
JSON line with how many rankings differ (must be 0), the postings each question's terms hold
against those MaxScore scored whole (mean and p95), and p50/p95 in ms of both ways for the
chunk field and the section field unfiltered and the chunk field filtered to 300 documents,
timed in turn in one process.
"""

from __future__ import annotations

import argparse
import json
import random
import time

import index_scale as ix
import numpy as np
from _common import percentile, question_pool
from query_latency import RandomDocumentEmbedder

from rag_core.embed.embeddings import SentenceTransformerEmbedder
from rag_core.index import maxscore
from rag_core.index.bm25 import top_in_ranges
from rag_core.library import Library


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--k", type=int, default=100)
    args = parser.parse_args()
    embedder = RandomDocumentEmbedder(SentenceTransformerEmbedder(query_memory=0))
    library = Library.open(ix.settings_for(args.size), embedder=embedder)
    retriever, k = library.retriever, args.k
    snapshot = retriever.snapshot()
    rng = random.Random(7)
    docs = list(snapshot.doc_ranges)
    queries = []
    for question in question_pool(args.queries):
        words = retriever.tokenizer.tokenize(question)
        chunk, _ = retriever.tokenizer.fields(question, words, snapshot.chinese)
        queries.append(((snapshot.bm25, chunk), (snapshot.sections, words)))
    differ = checked = 0
    scopes = []
    held: list[float] = []
    read: list[float] = []
    for pair in queries:
        scope = snapshot.ranges_for(rng.sample(docs, min(300, len(docs))))
        named = snapshot.ranges_for(rng.sample(docs, min(3, len(docs))))
        scopes.append(scope)
        for field, tokens in pair:
            for where, rows in ((None, None), (scope, scope), (None, named), (scope, named)):
                full = top_in_ranges(field.scores(tokens, where), k, rows)
                differ += field.top(tokens, k, where, rows) != full
                checked += 1
        field, tokens = pair[0]
        terms = field.postings(tokens) or []
        held.append(sum(len(t.rows) for t in terms))
        read.append(_read_whole(terms, k))
    spent: dict[str, list[float]] = {}
    for _ in range(2):
        for pair, scope in zip(queries, scopes, strict=True):
            timed = (("bm25", *pair[0], None), ("section", *pair[1], None))
            for name, field, tokens, where in (*timed, ("bm25_filtered", *pair[0], scope)):
                started = time.perf_counter()
                top_in_ranges(field.scores(tokens, where), k, where)
                spent.setdefault(f"{name}_full", []).append(time.perf_counter() - started)
                started = time.perf_counter()
                field.top(tokens, k, where, where)
                spent.setdefault(f"{name}_maxscore", []).append(time.perf_counter() - started)
    out: dict[str, object] = {"rankings": checked, "differ": differ}
    out["postings_held_mean_p95"] = [round(float(np.mean(held))), round(percentile(held, 95))]
    out["postings_read_whole_mean_p95"] = [round(float(np.mean(read))), round(percentile(read, 95))]
    for key, values in spent.items():
        ms = [v * 1000 for v in values]
        out[f"{key}_ms_p50_p95"] = [round(percentile(ms, 50), 1), round(percentile(ms, 95), 1)]
    print(json.dumps(out))


def _read_whole(terms: list[maxscore.TermPostings], k: int) -> int:
    """How many postings ``maxscore.top_rows`` scores whole (a term read, not looked up)."""
    whole = [0]

    def counted(term: maxscore.TermPostings) -> maxscore.TermPostings:
        def contribution(at: np.ndarray) -> np.ndarray:
            if len(at) == len(term.rows):
                whole[0] += len(at)
            return term.contribution(at)

        return maxscore.TermPostings(term.rows, contribution, term.bound, term.field)

    maxscore.top_rows([counted(t) for t in terms], k)
    return whole[0]


if __name__ == "__main__":
    main()
