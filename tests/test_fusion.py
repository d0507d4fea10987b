import pytest

from rag_core.retrieve.fusion import reciprocal_rank_fusion, score_fusion, zscore_fusion
from rag_core.types import LegRank


def test_rrf_scores_are_the_weighted_sum_of_reciprocal_ranks():
    fused = reciprocal_rank_fusion(
        {"bm25": [("a", 9.0), ("b", 5.0)], "dense": [("b", 0.9), ("c", 0.8)]}, k=60
    )
    assert [f.key for f in fused] == ["b", "a", "c"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1].score == pytest.approx(1 / 61)
    assert fused[2].score == pytest.approx(1 / 62)
    assert fused[0].legs == (LegRank("bm25", 2, 5.0), LegRank("dense", 1, 0.9))


def test_rrf_weights_and_zero_weight_leg_keeps_ranks_without_a_say():
    rankings = {"bm25": [("a", 1.0), ("b", 0.5)], "dense": [("b", 0.9), ("a", 0.1)]}
    fused = reciprocal_rank_fusion(rankings, {"bm25": 1.0, "dense": 0.0}, k=1)
    assert [f.key for f in fused] == ["a", "b"]
    assert fused[0].score == pytest.approx(1 / 2)
    assert fused[1].legs == (LegRank("bm25", 2, 0.5), LegRank("dense", 1, 0.9))
    fused = reciprocal_rank_fusion(rankings, {"bm25": 1.0, "dense": 3.0}, k=1)
    assert [f.key for f in fused] == ["b", "a"]


def test_rrf_ties_break_on_best_rank_then_key():
    fused = reciprocal_rank_fusion({"x": [("b", 1.0), ("a", 1.0)], "y": [("a", 1.0), ("b", 1.0)]})
    assert fused[0].score == fused[1].score
    assert [f.key for f in fused] == ["a", "b"]


def test_rrf_of_nothing_is_empty():
    assert reciprocal_rank_fusion({}) == []
    assert reciprocal_rank_fusion({"bm25": []}) == []


def test_score_fusion_min_max_normalises_each_leg():
    fused = score_fusion(
        {
            "bm25": [("a", 10.0), ("b", 6.0), ("c", 2.0)],
            "dense": [("c", 0.9), ("b", 0.7), ("a", 0.5)],
        }
    )
    scores = {f.key: f.score for f in fused}
    assert scores == pytest.approx({"a": 1.0, "b": 0.5 + 0.5, "c": 1.0})
    assert [f.key for f in fused] == ["a", "c", "b"]  # ties by best rank, then key


def test_score_fusion_single_result_leg_counts_fully():
    fused = score_fusion({"bm25": [("a", 3.0)], "dense": []}, {"bm25": 0.5})
    assert [(f.key, f.score) for f in fused] == [("a", 0.5)]


def test_zscore_fusion_normalises_each_leg_by_its_mean_and_std():
    # bm25: mean 6, population std sqrt(32/3); dense: mean 2.2/3.
    fused = zscore_fusion(
        {
            "bm25": [("a", 10.0), ("b", 6.0), ("c", 2.0)],
            "dense": [("c", 0.9), ("b", 0.7), ("a", 0.6)],
        }
    )
    z_bm25 = 4.0 / (32 / 3) ** 0.5
    dense_mean = (0.9 + 0.7 + 0.6) / 3
    dense_std = (sum((v - dense_mean) ** 2 for v in (0.9, 0.7, 0.6)) / 3) ** 0.5
    expected = {
        "a": z_bm25 + (0.6 - dense_mean) / dense_std,
        "b": 0.0 + (0.7 - dense_mean) / dense_std,
        "c": -z_bm25 + (0.9 - dense_mean) / dense_std,
    }
    assert {f.key: f.score for f in fused} == pytest.approx(expected)
    assert [f.key for f in fused] == sorted(expected, key=lambda key: -expected[key])


def test_zscore_fusion_counts_a_missing_key_at_the_legs_lowest_z():
    fused = zscore_fusion(
        {"bm25": [("a", 3.0), ("b", 1.0)], "dense": [("b", 0.5), ("c", 0.1)]},
        {"bm25": 2.0, "dense": 1.0},
    )
    # Each leg: two values, z = +1 and -1.
    assert {f.key: f.score for f in fused} == pytest.approx(
        {"a": 2.0 * 1 + 1.0 * -1, "b": 2.0 * -1 + 1.0 * 1, "c": 2.0 * -1 + 1.0 * -1}
    )
    assert [f.key for f in fused] == ["a", "b", "c"]  # a and b tie: a's best rank is 1
    assert fused[1].legs == (LegRank("bm25", 2, 1.0), LegRank("dense", 1, 0.5))


def test_zscore_fusion_of_equal_scores_is_zero_and_of_nothing_is_empty():
    fused = zscore_fusion({"bm25": [("a", 2.0), ("b", 2.0)]})
    assert [(f.key, f.score) for f in fused] == [("a", 0.0), ("b", 0.0)]
    assert zscore_fusion({}) == [] and zscore_fusion({"dense": []}) == []
