"""Token pooling of page embeddings (pure functions).

A ColQwen2 page is ~750 vectors: ~11 for the prompt's text tokens and one per 28x28 patch of
the page. Hierarchical token pooling (Clavié et al., 2024, "Reducing the Footprint of
Multi-Vector Retrieval with Minimal Performance Impact via Token Pooling") merges similar
patch vectors: with a pool factor of 3 it kept 97.8% of ColPali's ViDoRe quality with a third
of the vectors. The clustering here is the published procedure (Ward linkage over the rows of
the cosine-distance matrix, cut into ``n // factor`` clusters, each replaced by its normalised
mean). Only patch vectors are pooled: the prompt's tokens summarise the whole page and are
kept as they are. Each patch remembers its cluster, so a heatmap can still be drawn per patch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag_core.vectors import normalise


@dataclass(frozen=True, slots=True)
class PooledPage:
    """A page's vectors after pooling.

    ``vectors`` holds the kept prompt-token vectors first, then one vector per patch cluster;
    ``labels[i]`` is the row of ``vectors`` standing for patch ``i`` (row-major over ``grid``).
    """

    vectors: np.ndarray  # (n, dim) float32, unit rows
    labels: np.ndarray  # (rows * cols,) int32
    grid: tuple[int, int]  # (rows, cols) of patches over the page image


def cluster_tokens(vectors: np.ndarray, clusters: int) -> np.ndarray:
    """Labels ``0..c-1`` (``c <= clusters``) from Ward linkage over cosine-distance rows.

    The published procedure hands the rows of ``D = 1 - V V^T`` to ``linkage`` as points.
    Their Euclidean distances are those between rows of ``S = V V^T`` (the 1 cancels), so
    ``|S_i - S_j|^2 = G_ii + G_jj - 2 G_ij`` with ``G = S S``: one matrix product instead
    of ``pdist`` over n-dimensional rows (2-3x faster at n = 736, same clusters).
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    n = len(vectors)
    if clusters >= n:
        return np.arange(n, dtype=np.int32)
    if clusters <= 1:
        return np.zeros(n, dtype=np.int32)
    v = np.asarray(vectors, dtype=np.float32)
    similarity = v @ v.T
    gram = similarity @ similarity
    diagonal = np.diag(gram)
    squared = np.maximum(diagonal[:, None] + diagonal[None, :] - 2.0 * gram, 0.0)
    np.fill_diagonal(squared, 0.0)
    condensed = np.sqrt(squareform(squared.astype(np.float64), checks=False))
    tree = linkage(condensed, method="ward")
    return _by_first_member(fcluster(tree, t=clusters, criterion="maxclust"))


def _by_first_member(raw: np.ndarray) -> np.ndarray:
    """Cluster labels renumbered ``0..c-1`` in order of each cluster's first member."""
    _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return np.asarray(order[inverse], dtype=np.int32)


def cluster_means(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """One normalised mean per label ``0..labels.max()``."""
    count = int(labels.max()) + 1 if len(labels) else 0
    sums = np.zeros((count, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, vectors.astype(np.float64))
    return normalise(sums)


def pool_page(
    vectors: np.ndarray, patches: np.ndarray, grid: tuple[int, int], factor: int
) -> PooledPage:
    """Pool a page's patch vectors by ``factor``; prompt-token vectors are kept."""
    if factor < 1:
        raise ValueError("the pool factor must be 1 or more")
    vectors = normalise(np.asarray(vectors, dtype=np.float32))
    patches = np.asarray(patches, dtype=bool)
    rows, cols = grid
    if int(patches.sum()) != rows * cols:
        raise ValueError(f"{int(patches.sum())} patch vectors do not fill a {rows}x{cols} grid")
    kept = vectors[~patches]
    patch_vectors = vectors[patches]
    if factor == 1:
        labels = np.arange(len(patch_vectors), dtype=np.int32)
        pooled = patch_vectors
    else:
        labels = cluster_tokens(patch_vectors, max(1, len(patch_vectors) // factor))
        pooled = cluster_means(patch_vectors, labels)
    return PooledPage(
        vectors=np.concatenate([kept, pooled]).astype(np.float32),
        labels=(labels + len(kept)).astype(np.int32),
        grid=(rows, cols),
    )


def representatives(vectors: np.ndarray, count: int) -> np.ndarray:
    """``count`` vectors that summarise a page for the first search stage.

    Ward clusters of the page's vectors, each replaced by its normalised mean; a page with
    fewer clusters repeats its first one (a repeated row cannot change a maximum).
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) <= count:
        reps = vectors
    else:
        tree = linkage(vectors.astype(np.float64), method="ward")
        labels = _by_first_member(fcluster(tree, t=count, criterion="maxclust"))
        reps = cluster_means(vectors, labels)
    if len(reps) < count:
        reps = np.concatenate([reps, np.repeat(reps[:1], count - len(reps), axis=0)])
    return np.asarray(reps, dtype=np.float32)
