"""Exact BM25 top k without scoring every row that holds a question's common words (MaxScore).

A question's rarest terms decide its best rows; its common ones ("2", "effect", "year"),
which at 1M rows hold hundreds of thousands of postings each, can only add a little to any
row. MaxScore (Turtle and Flood, 1995; the dynamic pruning Lucene and PISA use) bounds what
each term can add to one row, scores the terms with the largest bounds first, and stops
reading postings once the bounds of the terms left add up to less than the k-th best score
found so far: a row holding none of the terms read cannot reach the top k. The rows read are
then scored in full by looking their other terms up, dropping every row whose score so far
plus what its remaining terms could add stays under the k-th best.

The result is exactly ``top_k`` over a full score array (``LiveField.scores``): the same
rows, the same float32 scores (each row's terms summed in float64 in the question's order,
as ``np.bincount`` sums them there), ties broken by row. Bounds and thresholds only decide
what is read, with a margin for rounding, never a score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag_core.index.bm25 import top_k

# Pruning compares bounds summed in float64 with scores summed in float64 from float32 parts:
# a relative margin far above their rounding keeps every row whose score might tie the k-th.
_MARGIN = 1e-4
# For a first threshold, the rows each of the first terms gives most to are scored in full.
SEED = 1024
SEED_TERMS = 3
# A binary search per row beats a pass over a term's postings while the rows are fewer than
# this part of them.
LOOKUP_RATIO = 32


@dataclass(frozen=True)
class TermPostings:
    """One query term of one field: the rows holding it (ascending, unique) and a function
    giving its float32 contribution to the rows at given positions of ``rows``; ``bound``:
    no row gets more from it; ``field``: terms of one field are summed before fields are."""

    rows: np.ndarray
    contribution: Callable[[np.ndarray], np.ndarray]
    bound: float
    field: int = 0


def top_rows(terms: Sequence[TermPostings], k: int) -> list[tuple[int, float]]:
    """The best ``k`` (row, score) with a positive score, best first, equal scores the first
    row first: what ``bm25.top_k`` gives over the rows' summed contributions.

    ``terms`` in the question's order (the order the full scoring adds them in)."""
    terms = [t for t in terms if len(t.rows)]
    if k <= 0 or not terms:
        return []
    candidates = _candidates(terms, k)  # ascending: ties by position are ties by row
    return [(int(candidates[i]), s) for i, s in top_k(_exact(terms, candidates), k)]


def _kth(values: np.ndarray, k: int) -> float:
    """The k-th largest of ``values`` (0 where there are fewer)."""
    if values.size < k:
        return 0.0
    return float(np.partition(values, values.size - k)[values.size - k])


def _candidates(terms: Sequence[TermPostings], k: int) -> np.ndarray:
    """Rows (ascending) that include every row of the exact top ``k``."""
    order = sorted(range(len(terms)), key=lambda i: (-terms[i].bound, len(terms[i].rows)))
    terms = [terms[i] for i in order]
    bounds = np.array([t.bound for t in terms], dtype=np.float64) * (1 + _MARGIN)
    left = np.concatenate([np.cumsum(bounds[::-1])[::-1], [0.0]])  # the bound of terms i..
    size = max(int(t.rows[-1]) for t in terms) + 1
    # A first threshold from the rows the first terms favour most, scored in full: the k-th
    # best of any rows' scores is at most the k-th best of all. ``cut``: it, less the margin.
    read_whole: dict[int, np.ndarray] = {}  # term -> its contribution to each of its rows

    def whole(i: int) -> np.ndarray:
        if i not in read_whole:
            read_whole[i] = terms[i].contribution(np.arange(len(terms[i].rows)))
        return read_whole[i]

    favoured = []
    for i in range(min(SEED_TERMS, len(terms))):
        if i and len(terms[i].rows) > SEED * LOOKUP_RATIO:
            break  # a common term: reading it whole may not be needed at all
        best = whole(i)
        if len(best) > SEED:
            favoured.append(terms[i].rows[np.argpartition(-best, SEED - 1)[:SEED]])
        else:
            favoured.append(terms[i].rows)
    seed_rows = np.unique(np.concatenate(favoured))
    cut = _kth(_exact(terms, seed_rows).astype(np.float64), k) * (1 - _MARGIN)
    # The essential terms, largest bounds first, are read whole: a row holding none of them
    # scores at most the bound of the others, and is out once that is under the threshold.
    read = 1
    while read < len(terms) and not cut > left[read]:
        read += 1
    rows: np.ndarray
    scores: np.ndarray
    if read == 1:
        rows, scores = terms[0].rows, np.asarray(whole(0), dtype=np.float64)
    else:
        partial = np.bincount(
            np.concatenate([t.rows for t in terms[:read]]),
            weights=np.concatenate([whole(i) for i in range(read)]),
        )
        # Only rows whose partial score and the bound of the terms left reach the threshold.
        need = cut - left[read]
        kept = np.flatnonzero(partial >= need if need > 0 else partial > 0)
        rows, scores = kept.astype(terms[0].rows.dtype), partial[kept]  # rows as postings
    # The terms not read are looked up for the rows that could still reach the threshold,
    # the largest bound first, rows dropping out as the bound of what is left shrinks: by
    # binary search where the rows are few beside the term's postings, else in one pass
    # over the postings through a row -> position map (rows that dropped out stay in it,
    # ``alive`` says which count; their partial scores still bound the threshold below).
    slots: np.ndarray | None = None
    alive = np.ones(len(rows), dtype=bool)
    for position in range(read, len(terms)):
        alive &= scores + left[position] >= cut
        term = terms[position]
        if int(alive.sum()) * LOOKUP_RATIO < len(term.rows):
            if not alive.all():
                rows, scores, alive, slots = rows[alive], scores[alive], alive[alive], None
            at, found = _lookup(term.rows, rows)
            scores[found] += term.contribution(at[found])
        else:
            if slots is None:
                slots = np.full(size, -1, dtype=np.int32)
                slots[rows] = np.arange(len(rows), dtype=np.int32)
            where = slots[term.rows]
            at = np.flatnonzero(where >= 0)
            scores[where[at]] += term.contribution(at)
        cut = max(cut, _kth(scores, k) * (1 - _MARGIN))
    alive &= scores >= max(cut, _kth(scores, k) * (1 - _MARGIN))
    return rows[alive]


def _lookup(held: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``rows`` in ``held`` (both ascending) and which rows are there."""
    at = np.searchsorted(held, rows)
    np.minimum(at, len(held) - 1, out=at)
    return at, held[at] == rows


def _exact(terms: Sequence[TermPostings], rows: np.ndarray) -> np.ndarray:
    """The float32 scores of ``rows``: each field's terms summed in float64 in order and
    rounded to float32, the fields then added in float32 (as the full scoring does)."""
    total: np.ndarray | None = None
    for field in dict.fromkeys(t.field for t in terms):
        sums = np.zeros(len(rows), dtype=np.float64)
        for term in (t for t in terms if t.field == field):
            at, found = _lookup(term.rows, rows)
            sums[found] += term.contribution(at[found])
        part = sums.astype(np.float32)
        total = part if total is None else total + part
    assert total is not None
    return total
