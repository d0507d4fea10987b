"""MaxScore top k (``LiveField.top``, ``top_of_fields``) is exactly the top k of a full scoring.

The oracle is ``top_in_ranges`` over ``LiveField.scores``, itself checked against bm25s and
rank-bm25 (tests/test_bm25_index.py, tests/test_segments.py): the same rows, the same float32
scores, ties broken by row, over segments with removed rows, with filters (statistics over
the filtered rows) and row ranges, over two fields added together, for each BM25 variant.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pytest
from bm25s.scoring import _select_tfc_scorer

from rag_core.index import maxscore
from rag_core.index.bm25 import top_in_ranges
from rag_core.index.postings import (
    _NORMED,
    BM25Params,
    LiveField,
    build_postings,
    top_of_fields,
)

VOCAB = [f"w{i}" for i in range(400)]
ZIPF = [1 / (i + 1) for i in range(len(VOCAB))]


def _field(rng: random.Random, params: BM25Params) -> LiveField:
    """One to four segments of Zipf-distributed rows (some repeated whole, as boilerplate
    pages are), half of them with removed rows."""
    parts, live = [], []
    for _ in range(rng.randint(1, 4)):
        rows = [rng.choices(VOCAB, ZIPF, k=rng.randint(1, 60)) for _ in range(rng.randint(1, 400))]
        rows += [list(rows[0])] * rng.randint(0, 30)  # exact duplicates: ties at every depth
        parts.append(build_postings(rows))
        live.append(None if rng.random() < 0.5 else np.array([rng.random() < 0.8 for _ in rows]))
    return LiveField(tuple(parts), tuple(live), params)


def _full(
    fields: Sequence[tuple[LiveField, Sequence[str]]],
    k: int,
    scope: list[tuple[int, int]] | None,
    ranges: list[tuple[int, int]] | None,
) -> list[tuple[int, float]]:
    total = fields[0][0].scores(fields[0][1], scope)
    for live, tokens in fields[1:]:
        total = total + live.scores(tokens, scope)
    return top_in_ranges(total, k, ranges)


def _span(rng: random.Random, size: int) -> list[tuple[int, int]]:
    start = rng.randrange(size)
    return [(start, rng.randrange(start, size + 1))]


@pytest.mark.parametrize("method", ["lucene", "robertson", "atire", "bm25l", "bm25+"])
def test_the_top_k_is_the_full_scoring_s(method: str) -> None:
    rng = random.Random(method)
    checked = 0
    for _ in range(60):
        field = _field(rng, BM25Params(method=method))
        if field.size == 0:
            continue
        other = LiveField(field.parts, field.live, BM25Params(method=method, k1=0.9, b=0.6))
        query = [*rng.choices(VOCAB, ZIPF, k=rng.randint(1, 12)), "unknown"]
        fields: list[tuple[LiveField, Sequence[str]]] = [(field, query)]
        if rng.random() < 0.5:  # a second field, its scores added (Chinese read both ways)
            fields.append((other, rng.choices(VOCAB, k=3)))
        scope = _span(rng, field.size) if rng.random() < 0.4 else None
        ranges = scope
        if rng.random() < 0.4:  # the documents a question names, inside the filters' rows
            ranges = sorted(_span(rng, field.size) + _span(rng, field.size))
            ranges = [r for i, r in enumerate(ranges) if i == 0 or r[0] >= ranges[i - 1][1]]
        for k in (1, 7, 100, 1000):
            assert top_of_fields(fields, k, scope, ranges) == _full(fields, k, scope, ranges)
            checked += 1
    assert checked > 150


def test_a_rare_term_spares_the_common_term_s_postings() -> None:
    """The point of it: the common term is looked up for the few rows the rare one holds,
    not scored over its thousands of postings."""
    rows = [["common", "filler"] for _ in range(40_000)]
    rows += [["common", "rare", "rare"] for _ in range(20)] + [["rare"]] * 5
    field = LiveField((build_postings(rows),), (None,), BM25Params())
    terms = field.postings(["rare", "common"])
    assert terms is not None
    scored: list[int] = []

    def counting(term: maxscore.TermPostings) -> maxscore.TermPostings:
        def contribution(at: np.ndarray) -> np.ndarray:
            scored.append(len(at))
            return term.contribution(at)

        return maxscore.TermPostings(term.rows, contribution, term.bound, term.field)

    found = maxscore.top_rows([counting(t) for t in terms], 10)
    assert found == top_in_ranges(field.scores(["rare", "common"]), 10, None)
    assert len(found) == 10 and all(row >= 40_000 for row, _ in found)  # the rare term's rows
    assert sum(scored) < 1000  # not the common term's 40,020 postings


def test_no_query_term_in_the_library_finds_nothing() -> None:
    field = LiveField((build_postings([["a"], ["b"]]),), (None,), BM25Params())
    assert field.top(["zzz"], 10) == []
    assert field.top([], 10) == []
    assert field.top(["a"], 0) == []
    assert field.top(["a"], 10, ranges=[]) == []


@pytest.mark.parametrize("method", sorted(_NORMED))
def test_the_term_frequency_part_is_bm25s_s_bit_for_bit(method: str) -> None:
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 30, 10_000).astype(np.float32)
    lengths = rng.integers(1, 900, 10_000).astype(np.float32)
    k1, b, avg = 1.2, 0.75, float(lengths.mean())
    field = LiveField((), (), BM25Params(method=method, k1=k1, b=b))
    ours = _NORMED[method](counts, field._norm(lengths, avg), k1)
    theirs = _select_tfc_scorer(method)(tf_array=counts, l_d=lengths, l_avg=avg, k1=k1, b=b)
    assert ours.dtype == theirs.dtype
    assert np.array_equal(ours, theirs)
