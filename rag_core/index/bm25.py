"""BM25 over pre-tokenised chunks with bm25s: eager sparse scores, saved, memory-mapped on load.

``BM25Index(method="atire", idf_method="robertson")`` reproduces rank-bm25's
``BM25Okapi(epsilon=0)`` (tests/test_bm25_index.py checks this against rank-bm25).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def top_k(scores: np.ndarray, k: int, offset: int = 0) -> list[tuple[int, float]]:
    """Best ``k`` (row, score) with a positive score, best first (equal scores: the first
    row first); rows shifted by ``offset``."""
    if k <= 0 or scores.size == 0:
        return []
    # Only rows with a positive score compete: a BM25 query's matches are often a fraction
    # of the rows, and partitioning them alone is cheaper than partitioning every row.
    # Among rows tied at the k-th score, the first rows are kept.
    candidates = np.flatnonzero(scores > 0)
    if candidates.size > k:
        values = scores[candidates]
        kth = np.partition(values, candidates.size - k)[candidates.size - k]
        above = candidates[values > kth]
        tied = candidates[values == kth][: k - above.size]
        candidates = np.concatenate([above, tied])
    order = candidates[np.lexsort((candidates, -scores[candidates]))]
    return [(int(i) + offset, float(scores[i])) for i in order]


class BM25Index:
    def __init__(
        self,
        method: str = "lucene",
        k1: float = 1.2,
        b: float = 0.75,
        idf_method: str | None = None,
        dtype: str = "float32",
    ) -> None:
        self.dtype = dtype
        self.method = method
        self.k1 = k1
        self.b = b
        self.idf_method = idf_method
        self._bm25: Any = None
        self.size = 0

    def build(self, corpus_tokens: Sequence[Sequence[str]]) -> BM25Index:
        import bm25s

        bm25 = bm25s.BM25(
            k1=self.k1, b=self.b, method=self.method, idf_method=self.idf_method, dtype=self.dtype
        )
        # Rows without a single term between them (e.g. routing names that are all ids) make
        # an index of that many rows that matches nothing; bm25s cannot index them.
        if any(corpus_tokens):
            bm25.index([list(t) for t in corpus_tokens], show_progress=False)
            self._bm25 = bm25
        else:
            self._bm25 = None
        self.size = len(corpus_tokens)
        return self

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self._bm25 is not None:
            self._bm25.save(str(folder), show_progress=False)
        (folder / "bm25.size").write_text(str(self.size))

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> BM25Index:
        import bm25s

        size = int((folder / "bm25.size").read_text())
        if not (folder / "params.index.json").exists():  # no rows, or no terms in any row
            return cls().build([[]] * size)
        bm25 = bm25s.BM25.load(str(folder), mmap=mmap, show_progress=False)
        index = cls(bm25.method, bm25.k1, bm25.b, bm25.idf_method)
        index._bm25 = bm25
        index.size = size
        return index

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every row for the query (0 for rows sharing no term)."""
        if self._bm25 is None:
            return np.zeros(self.size, dtype=np.float32)
        vocab = self._bm25.vocab_dict
        known = [t for t in query_tokens if t in vocab]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        scores: np.ndarray = self._bm25.get_scores(known)
        return scores

    def search(
        self,
        query_tokens: Sequence[str],
        k: int,
        ranges: Sequence[tuple[int, int]] | None = None,
    ) -> list[tuple[int, float]]:
        """Top ``k`` rows, optionally only within ``ranges`` of rows ``[start, stop)``."""
        return top_in_ranges(self.scores(query_tokens), k, ranges)


def top_in_ranges(
    scores: np.ndarray, k: int, ranges: Sequence[tuple[int, int]] | None
) -> list[tuple[int, float]]:
    """``top_k`` over all rows, or over the rows of ``ranges`` only."""
    if ranges is None:
        return top_k(scores, k)
    if not ranges:
        return []
    rows = np.concatenate([np.arange(a, b) for a, b in ranges])
    best = top_k(scores[rows], k)
    return [(int(rows[i]), s) for i, s in best]
