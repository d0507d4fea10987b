"""Vector helpers shared by the text and vision embedders."""

from __future__ import annotations

import numpy as np


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Float32 rows (last axis) of unit length; an all-zero row stays zero."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.asarray(vectors / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def rocchio(query: np.ndarray, feedback: np.ndarray, weight: float) -> np.ndarray:
    """Rocchio pseudo-relevance feedback: ``query + weight * mean(feedback rows)``, unit
    length. ``feedback`` holds the (unit) vectors of the results taken as relevant."""
    if feedback.size == 0 or weight == 0:
        return normalise(query)
    return normalise(query + weight * feedback.mean(axis=0))
