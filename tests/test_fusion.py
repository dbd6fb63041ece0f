"""Fusion, MMR and merging as pure functions, with rankings checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from rag.fusion import merge_adjacent, mmr, reciprocal_rank_fusion


def test_rrf_hand_checked():
    # k=0: a = 1/1 + 1/3, b = 1/2 + 1/1, c = 1/3, d = 1/2
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d", "a"]], k=0)
    assert [item for item, _ in fused] == ["b", "a", "d", "c"]
    assert dict(fused)["b"] == pytest.approx(1.5) and dict(fused)["a"] == pytest.approx(4 / 3)


def test_rrf_weights_change_the_winner():
    rankings = [["dense_top", "x", "shared"], ["bm25_top", "y", "shared"]]
    assert reciprocal_rank_fusion(rankings, weights=[2.0, 1.0], k=1)[0][0] == "dense_top"
    assert reciprocal_rank_fusion(rankings, weights=[1.0, 2.0], k=1)[0][0] == "bm25_top"


def test_rrf_ties_broken_by_tie_break_then_first_seen():
    rankings = [["x", "y"], ["y", "x"]]
    assert [i for i, _ in reciprocal_rank_fusion(rankings, k=60)] == ["x", "y"]
    assert [i for i, _ in reciprocal_rank_fusion(rankings, k=60, tie_break={"y": 0.9, "x": 0.1})] == ["y", "x"]


def test_rrf_rejects_mismatched_weights():
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 2.0])


def test_mmr_skips_a_near_copy():
    q = np.array([1.0, 0.0, 0.0])
    a = np.array([0.95, 0.31, 0.0])
    a_copy = a.copy()
    b = np.array([0.8, 0.0, 0.6])
    cands = np.stack([a, a_copy, b])
    assert mmr(q, cands, 2, lambda_mult=1.0) == [0, 1]  # pure relevance keeps the copy
    assert mmr(q, cands, 2, lambda_mult=0.5) == [0, 2]  # diversity takes the other passage
    assert mmr(q, cands, 0) == [] and mmr(q, np.zeros((0, 3)), 3) == []


def test_merge_adjacent_groups_neighbours_in_document_order():
    def neighbour(a, b):
        return b == a + 1

    assert merge_adjacent([5, 9, 4, 6], neighbour) == [[4, 5, 6], [9]]
    assert merge_adjacent([1, 3], neighbour) == [[1], [3]]
    assert merge_adjacent([], neighbour) == []
