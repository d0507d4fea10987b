"""Rank fusion (pure functions). A ranking is a leg's ``[(key, score), ...]``, best first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rag_core.types import LegRank

Ranking = Sequence[tuple[str, float]]


@dataclass(frozen=True, slots=True)
class Fused:
    key: str
    score: float
    legs: tuple[LegRank, ...]


def reciprocal_rank_fusion(
    rankings: Mapping[str, Ranking], weights: Mapping[str, float] | None = None, k: int = 60
) -> list[Fused]:
    """``score(d) = sum_leg weight_leg / (k + rank_leg(d))`` with ranks counted from 1.

    Legs missing from ``weights`` weigh 1; a weight of 0 keeps the leg's ranks in the
    result but gives it no say. Ties go to the better best rank, then to the key.
    """
    scores: dict[str, float] = {}
    legs: dict[str, list[LegRank]] = {}
    for leg, ranking in rankings.items():
        weight = 1.0 if weights is None else weights.get(leg, 1.0)
        for rank, (key, score) in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
            legs.setdefault(key, []).append(LegRank(leg, rank, score))
    return _ordered(scores, legs)


def score_fusion(
    rankings: Mapping[str, Ranking], weights: Mapping[str, float] | None = None
) -> list[Fused]:
    """Weighted sum of min-max normalised scores; a key absent from a leg scores 0 there."""
    scores: dict[str, float] = {}
    legs: dict[str, list[LegRank]] = {}
    for leg, ranking in rankings.items():
        if not ranking:
            continue
        weight = 1.0 if weights is None else weights.get(leg, 1.0)
        values = [score for _, score in ranking]
        low, high = min(values), max(values)
        spread = high - low
        for rank, (key, score) in enumerate(ranking, start=1):
            normalised = (score - low) / spread if spread > 0 else 1.0
            scores[key] = scores.get(key, 0.0) + weight * normalised
            legs.setdefault(key, []).append(LegRank(leg, rank, score))
    return _ordered(scores, legs)


def zscore_fusion(
    rankings: Mapping[str, Ranking], weights: Mapping[str, float] | None = None
) -> list[Fused]:
    """Weighted sum of z-score normalised scores: ``(score - mean) / std`` over each leg's
    candidates (population std). A key absent from a leg counts that leg's lowest z-score
    there (it ranked below every candidate), not 0, which would be the leg's average; a leg
    whose scores are all equal gives every key 0.
    """
    normalised: dict[str, dict[str, float]] = {}
    floors: dict[str, float] = {}
    legs: dict[str, list[LegRank]] = {}
    for leg, ranking in rankings.items():
        if not ranking:
            continue
        values = [score for _, score in ranking]
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
        normalised[leg] = {}
        for rank, (key, score) in enumerate(ranking, start=1):
            normalised[leg].setdefault(key, (score - mean) / std if std > 0 else 0.0)
            legs.setdefault(key, []).append(LegRank(leg, rank, score))
        floors[leg] = min(normalised[leg].values())
    scores: dict[str, float] = {}
    for key in legs:
        scores[key] = sum(
            (1.0 if weights is None else weights.get(leg, 1.0)) * by_key.get(key, floors[leg])
            for leg, by_key in normalised.items()
        )
    return _ordered(scores, legs)


def _ordered(scores: dict[str, float], legs: dict[str, list[LegRank]]) -> list[Fused]:
    def order(key: str) -> tuple[float, int, str]:
        return (-scores[key], min(lr.rank for lr in legs[key]), key)

    return [Fused(key, scores[key], tuple(legs[key])) for key in sorted(scores, key=order)]
