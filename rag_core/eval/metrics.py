"""Retrieval metrics over ranked ids (pure functions). Ranks count from 1."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import mean


def ndcg_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """nDCG@k with graded relevance (BEIR's definition: gain = grade, log2 discount)."""
    dcg = sum(relevance.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in relevance.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & relevant) / len(relevant)


def all_found_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """1 when every relevant id is in the top ``k`` (all-evidence recall), else 0."""
    return 1.0 if relevant and relevant <= set(ranked[:k]) else 0.0


def hit_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return 1.0 if set(ranked[:k]) & relevant else 0.0


def reciprocal_rank(ranked: Sequence[str], relevant: set[str]) -> float:
    for i, doc in enumerate(ranked):
        if doc in relevant:
            return 1.0 / (i + 1)
    return 0.0


def average(values: Sequence[float]) -> float:
    return mean(values) if values else 0.0


def dedupe(ranked: Sequence[str]) -> list[str]:
    """First occurrence of each id, order kept (chunks -> documents or pages)."""
    return list(dict.fromkeys(ranked))
