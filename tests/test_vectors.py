"""Vector helpers (pure functions)."""

from __future__ import annotations

import numpy as np

from rag_core.vectors import normalise, rocchio


def test_rocchio_moves_the_query_towards_the_feedback_centroid_and_stays_unit_length():
    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    feedback = normalise(np.array([[0.0, 1.0, 0.0], [0.0, 0.6, 0.8]], dtype=np.float32))
    moved = rocchio(query, feedback, 0.5)
    assert np.isclose(np.linalg.norm(moved), 1.0)
    expected = normalise(query + 0.5 * feedback.mean(axis=0))
    assert np.allclose(moved, expected)
    # Closer to each feedback vector than the query was, and still closest to the query.
    for row in feedback:
        assert moved @ row > query @ row
    assert moved @ query > moved @ feedback.mean(axis=0) / np.linalg.norm(feedback.mean(axis=0))


def test_rocchio_without_feedback_or_weight_is_the_query():
    query = np.array([3.0, 4.0], dtype=np.float32)
    assert np.allclose(rocchio(query, np.zeros((0, 2), dtype=np.float32), 0.3), [0.6, 0.8])
    assert np.allclose(rocchio(query, np.ones((2, 2), dtype=np.float32), 0.0), [0.6, 0.8])
