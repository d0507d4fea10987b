"""Hierarchical token pooling and first-stage representatives."""

from __future__ import annotations

import numpy as np
import pytest

from rag_core.vision.pooling import cluster_tokens, normalise, pool_page, representatives
from rag_core.vision.search import maxsim


def page(rng: np.random.Generator, prompt: int, grid: tuple[int, int], dim: int = 16):
    patches = grid[0] * grid[1]
    vectors = normalise(rng.standard_normal((prompt + patches, dim)))
    mask = np.array([False] * prompt + [True] * patches)
    return vectors, mask


def test_factor_three_keeps_prompt_tokens_and_a_third_of_the_patches():
    rng = np.random.default_rng(0)
    vectors, mask = page(rng, prompt=5, grid=(6, 8))
    pooled = pool_page(vectors, mask, (6, 8), factor=3)
    assert pooled.vectors.shape == (5 + 48 // 3, 16)
    np.testing.assert_allclose(pooled.vectors[:5], vectors[:5], atol=1e-6)  # prompt tokens kept
    assert pooled.labels.shape == (48,) and set(pooled.labels.tolist()) == set(range(5, 21))
    for row in range(5, 21):  # every pooled vector is the normalised mean of its patches
        members = vectors[5:][pooled.labels == row]
        np.testing.assert_allclose(pooled.vectors[row], normalise(members.mean(0)), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(pooled.vectors, axis=1), 1.0, atol=1e-6)


def test_factor_one_is_the_identity():
    rng = np.random.default_rng(1)
    vectors, mask = page(rng, prompt=2, grid=(3, 3))
    pooled = pool_page(vectors, mask, (3, 3), factor=1)
    np.testing.assert_allclose(pooled.vectors, vectors, atol=1e-7)
    assert pooled.labels.tolist() == list(range(2, 11))


def test_repeated_patches_pool_back_to_the_distinct_ones_and_maxsim_is_unchanged():
    rng = np.random.default_rng(2)
    distinct = normalise(rng.standard_normal((8, 16)))
    patches = np.repeat(distinct, 3, axis=0)  # each patch vector three times
    vectors = np.concatenate([normalise(rng.standard_normal((2, 16))), patches])
    mask = np.array([False, False] + [True] * 24)
    pooled = pool_page(vectors, mask, (4, 6), factor=3)
    assert len(pooled.vectors) == 2 + 8
    labels = pooled.labels.reshape(8, 3)
    assert (labels == labels[:, :1]).all() and len(set(labels[:, 0].tolist())) == 8
    query = normalise(rng.standard_normal((5, 16)))
    assert maxsim(query, pooled.vectors) == pytest.approx(maxsim(query, vectors), abs=1e-6)


def test_cluster_labels_are_numbered_by_first_member():
    rng = np.random.default_rng(3)
    labels = cluster_tokens(normalise(rng.standard_normal((30, 8))), 7)
    firsts = [int(np.argmax(labels == c)) for c in range(int(labels.max()) + 1)]
    assert labels[0] == 0 and firsts == sorted(firsts) and labels.max() == 6


def test_clusters_are_those_of_the_published_procedure():
    """Ward linkage with the rows of the cosine-distance matrix as points (colpali-engine's
    HierarchicalTokenPooler), computed here without pdist: the same partition."""
    from scipy.cluster.hierarchy import fcluster, linkage

    rng = np.random.default_rng(6)
    for n, clusters in ((120, 40), (300, 100)):
        vectors = normalise(rng.standard_normal((n, 32)))
        distances = 1.0 - vectors.astype(np.float64) @ vectors.T.astype(np.float64)
        raw = fcluster(linkage(distances, method="ward", metric="euclidean"), clusters, "maxclust")
        ours = cluster_tokens(vectors, clusters)
        pairs_ours = ours[:, None] == ours[None, :]
        pairs_published = raw[:, None] == raw[None, :]
        assert (pairs_ours == pairs_published).all()


def test_bad_inputs_are_refused():
    rng = np.random.default_rng(4)
    vectors, mask = page(rng, prompt=1, grid=(2, 2))
    with pytest.raises(ValueError, match="do not fill a 3x2 grid"):
        pool_page(vectors, mask, (3, 2), factor=3)
    with pytest.raises(ValueError, match="pool factor"):
        pool_page(vectors, mask, (2, 2), factor=0)


def test_representatives_have_a_fixed_count():
    rng = np.random.default_rng(5)
    many = normalise(rng.standard_normal((40, 8)))
    reps = representatives(many, 6)
    assert reps.shape == (6, 8)
    np.testing.assert_allclose(np.linalg.norm(reps, axis=1), 1.0, atol=1e-6)
    few = normalise(rng.standard_normal((3, 8)))
    padded = representatives(few, 6)
    np.testing.assert_array_equal(padded[:3], few)
    np.testing.assert_array_equal(padded[3:], np.repeat(few[:1], 3, axis=0))
    query = normalise(rng.standard_normal((4, 8)))
    assert maxsim(query, padded) == pytest.approx(maxsim(query, few))  # padding changes nothing
