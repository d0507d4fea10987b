"""MaxSim search checked exactly against a brute-force reference (float64, loop by loop)."""

from __future__ import annotations

import numpy as np
import pytest

from rag_core.vision.pooling import normalise, representatives
from rag_core.vision.search import (
    coarse_scores,
    maxsim,
    maxsim_pages,
    search_pages,
    top_rows,
)


def brute_force(query: np.ndarray, pages: list[np.ndarray]) -> list[float]:
    """MaxSim the slow way: every query token against every page vector, in float64."""
    scores = []
    for page in pages:
        total = 0.0
        for q in query.astype(np.float64):
            total += max(float(np.dot(q, t)) for t in page.astype(np.float64))
        scores.append(total)
    return scores


def random_pages(rng: np.random.Generator, count: int, dim: int = 16) -> list[np.ndarray]:
    """Unit vectors stored as float16 (as the store keeps them), pages of varying length."""
    return [
        normalise(rng.standard_normal((int(rng.integers(1, 30)), dim))).astype(np.float16)
        for _ in range(count)
    ]


def numpy_coarse(reps: np.ndarray):
    """The float32 first stage, as ``search_pages`` calls it."""
    return lambda query, rows: coarse_scores(query, reps if rows is None else reps[rows])


class Pages:
    """The ``fetch`` side of the store for in-memory pages."""

    def __init__(self, pages: list[np.ndarray]) -> None:
        self.pages = pages
        self.fetched: list[np.ndarray] = []

    def __call__(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.fetched.append(np.asarray(rows))
        chosen = [self.pages[r] for r in rows]
        return np.concatenate(chosen).astype(np.float32), np.asarray([len(p) for p in chosen])


def test_maxsim_matches_brute_force():
    rng = np.random.default_rng(1)
    pages = random_pages(rng, 20)
    query = normalise(rng.standard_normal((7, 16)))
    reference = brute_force(query, pages)
    one_by_one = [maxsim(query, p.astype(np.float32)) for p in pages]
    together = maxsim_pages(
        query, np.concatenate(pages).astype(np.float32), [len(p) for p in pages]
    )
    np.testing.assert_allclose(one_by_one, reference, rtol=0, atol=1e-5)
    np.testing.assert_allclose(together, reference, rtol=0, atol=1e-5)


def test_maxsim_by_hand():
    query = np.array([[1.0, 0.0], [0.0, 1.0]])
    page = np.array([[0.6, 0.8], [1.0, 0.0], [-1.0, 0.0]])
    assert maxsim(query, page) == pytest.approx(1.0 + 0.8)
    assert maxsim_pages(query, page, [1, 2]).tolist() == pytest.approx([0.6 + 0.8, 1.0 + 0.0])


def test_a_page_without_vectors_is_refused():
    with pytest.raises(ValueError, match="at least one vector"):
        maxsim_pages(np.ones((1, 2)), np.ones((2, 2)), [2, 0])


def test_search_with_every_page_as_candidate_is_exactly_brute_force():
    rng = np.random.default_rng(2)
    pages = random_pages(rng, 60)
    reps = np.stack([representatives(p.astype(np.float32), 4) for p in pages])
    for _ in range(5):
        query = normalise(rng.standard_normal((5, 16)))
        reference = brute_force(query, pages)
        expected = sorted(range(len(pages)), key=lambda i: (-reference[i], i))[:10]
        found = search_pages(
            query, numpy_coarse(reps), Pages(pages), len(pages), k=10, candidates=len(pages)
        )
        assert [row for row, _ in found] == expected
        np.testing.assert_allclose(
            [s for _, s in found], [reference[i] for i in expected], rtol=0, atol=1e-5
        )


def test_first_stage_keeps_candidates_and_rescoring_is_exact():
    rng = np.random.default_rng(3)
    pages = random_pages(rng, 80)
    reps = np.stack([representatives(p.astype(np.float32), 4) for p in pages])
    query = normalise(rng.standard_normal((6, 16)))
    fetch = Pages(pages)
    found = search_pages(query, numpy_coarse(reps), fetch, len(pages), k=5, candidates=12)
    [rows] = fetch.fetched
    coarse = coarse_scores(query, reps)
    assert sorted(rows.tolist()) == sorted(top_rows(coarse, 12).tolist())  # only these were read
    reference = brute_force(query, pages)
    expected = sorted(rows.tolist(), key=lambda i: (-reference[i], i))[:5]
    assert [row for row, _ in found] == expected
    np.testing.assert_allclose([s for _, s in found], [reference[i] for i in expected], atol=1e-5)


def test_search_respects_the_allowed_rows():
    rng = np.random.default_rng(4)
    pages = random_pages(rng, 30)
    reps = np.stack([representatives(p.astype(np.float32), 4) for p in pages])
    query = normalise(rng.standard_normal((4, 16)))
    allowed = np.array([3, 7, 11, 20])
    coarse, n = numpy_coarse(reps), len(pages)
    found = search_pages(query, coarse, Pages(pages), n, k=10, candidates=2, rows=allowed)
    assert len(found) == 2 and {row for row, _ in found} <= set(allowed.tolist())
    subset = coarse_scores(query, reps[allowed])  # the two best of the allowed rows
    assert sorted(r for r, _ in found) == sorted(allowed[top_rows(subset, 2)].tolist())
    assert search_pages(query, coarse, Pages(pages), n, 10, 5, rows=np.array([])) == []


def test_the_column_layout_computes_the_same_first_stage():
    from rag_core.vision.search import coarse_scores_columns

    rng = np.random.default_rng(8)
    reps = normalise(rng.standard_normal((40, 4, 8)))
    query = normalise(rng.standard_normal((5, 8)))
    columns = np.ascontiguousarray(reps.reshape(-1, 8).T)
    np.testing.assert_allclose(
        coarse_scores_columns(query, columns, 4), coarse_scores(query, reps), atol=1e-6
    )


def test_coarse_scores_equal_maxsim_when_representatives_are_the_page():
    rng = np.random.default_rng(5)
    pages = [normalise(rng.standard_normal((4, 8))) for _ in range(10)]
    query = normalise(rng.standard_normal((3, 8)))
    np.testing.assert_allclose(
        coarse_scores(query, np.stack(pages)), [maxsim(query, p) for p in pages], atol=1e-6
    )


def test_top_rows_orders_best_first_and_breaks_ties_by_row():
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.9])
    assert top_rows(scores, 3).tolist() == [1, 4, 0]
    assert top_rows(scores, 10).tolist() == [1, 4, 0, 2, 3]
    assert top_rows(scores, 0).tolist() == []


def test_fuse_pages_by_hand():
    from rag_core.retrieve.retriever import fuse_pages
    from rag_core.types import LegTrace, PageHit

    text = (PageHit("a", "a.pdf", 0, 0.9, 1), PageHit("b", "b.pdf", 3, 0.5, 2))
    vision = LegTrace("vision", 2.0, "on", "", (("c:1", 14.0), ("a:0", 12.5)), 1.0)
    pages = fuse_pages(text, vision, {"a": "a.pdf", "b": "b.pdf", "c": "scan.pdf"}, k=10)
    assert [(p.doc_id, p.page, p.doc_name, p.rank) for p in pages] == [
        ("a", 0, "a.pdf", 1),  # 1/11 + 2/12
        ("c", 1, "scan.pdf", 2),  # 2/11
        ("b", 3, "b.pdf", 3),  # 1/12
    ]
    assert [p.score for p in pages] == pytest.approx([1 / 11 + 2 / 12, 2 / 11, 1 / 12])
    assert [(lr.leg, lr.rank, lr.score) for lr in pages[0].legs] == [
        ("text", 1, 0.9),
        ("vision", 2, 12.5),
    ]
