"""Metric functions on tiny hand-computed cases, and against ranx on random rankings."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from eval.metrics import (
    citation_validity,
    evidence_on_lines,
    groundedness,
    hit_at_k,
    mrr_at_k,
    ndcg_at_k,
    percentile,
    pointed_on_lines,
    recall_at_k,
    rouge_l,
    sentences,
    token_f1,
)


def test_recall_hand_computed():
    assert recall_at_k(["a", "b", "c"], {"b", "d"}, 1) == 0.0
    assert recall_at_k(["a", "b", "c"], {"b", "d"}, 2) == 0.5
    assert recall_at_k(["b", "b", "d"], {"b", "d"}, 2) == 1.0  # repeats collapse: d is second distinct key
    assert recall_at_k([], {"b"}, 5) == 0.0  # empty retrieval
    assert recall_at_k(["a"], set(), 5) == 0.0  # no relevant item


def test_hit_hand_computed():
    assert hit_at_k(["a", "b", "c"], {"b", "d"}, 1) == 0.0
    assert hit_at_k(["b", "a", "c"], {"b", "d"}, 1) == 1.0  # recall@1 is 0.5 here: two gold keys
    assert hit_at_k(["a", "a", "b"], {"b"}, 2) == 1.0  # repeats collapse
    assert hit_at_k([], {"b"}, 5) == 0.0 and hit_at_k(["a"], set(), 5) == 0.0


def test_mrr_hand_computed():
    assert mrr_at_k(["a", "b", "c"], {"c"}) == pytest.approx(1 / 3)
    assert mrr_at_k(["a", "a", "c"], {"c"}) == pytest.approx(1 / 2)
    assert mrr_at_k(["a", "b"], {"z"}) == 0.0
    assert mrr_at_k([], {"z"}) == 0.0
    assert mrr_at_k(["a"] * 3 + ["z"], {"z"}, k=1) == 0.0


def test_ndcg_hand_computed():
    # relevant at ranks 1 and 3 of 2 gold: (1 + 1/log2(4)) / (1 + 1/log2(3))
    assert ndcg_at_k(["g1", "x", "g2"], {"g1", "g2"}) == pytest.approx((1 + 0.5) / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["x", "y"], {"g"}) == 0.0
    assert ndcg_at_k(["g"], {"g"}) == 1.0
    assert ndcg_at_k([], set()) == 0.0


def test_percentile_and_ties():
    assert percentile([10, 20, 30, 40], 50) == 25
    assert percentile([5, 5, 5], 95) == 5
    assert percentile([], 95) == 0.0


def test_against_ranx():
    ranx = pytest.importorskip("ranx")
    rng = random.Random(7)
    qrels, run, ours = {}, {}, {"recall@5": [], "hit_rate@1": [], "mrr@10": [], "ndcg@10": []}
    for q in range(40):
        docs = [f"d{i}" for i in range(30)]
        gold = set(rng.sample(docs, rng.randint(1, 4)))
        ranked = rng.sample(docs, 15)
        qrels[f"q{q}"] = {d: 1 for d in gold}
        run[f"q{q}"] = {d: float(15 - i) for i, d in enumerate(ranked)}
        ours["recall@5"].append(recall_at_k(ranked, gold, 5))
        ours["hit_rate@1"].append(hit_at_k(ranked, gold, 1))
        ours["mrr@10"].append(mrr_at_k(ranked, gold, 10))
        ours["ndcg@10"].append(ndcg_at_k(ranked, gold, 10))
    scores = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), list(ours))
    for metric, values in ours.items():
        assert np.mean(values) == pytest.approx(scores[metric], abs=1e-9), metric


def test_token_f1_and_rouge():
    assert token_f1("the cat sat", "the cat sat") == 1.0
    assert token_f1("cat", "dog") == 0.0
    assert token_f1("the cat", "the cat sat down") == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert token_f1("", "") == 1.0 and token_f1("", "x") == 0.0
    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == pytest.approx(1.0)
    assert 0 < rouge_l("the cat sat", "the cat sat on the mat") < 1


def test_sentences_and_groundedness():
    assert sentences("**Bias**: error from assumptions. Short.\n- Variance: error from data [1]") == [
        "Bias : error from assumptions.",
        "Variance: error from data",
    ]
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    s = np.array([[1.0, 0.0]])
    assert groundedness(a, s, 0.9) == 0.5
    assert groundedness(np.zeros((0, 2)), s, 0.9) == 1.0
    assert groundedness(a, np.zeros((0, 2)), 0.9) == 0.0


def test_citation_validity():
    assert citation_validity("As [1] and [2] say.", 2) == (True, True)
    assert citation_validity("As [3] says.", 2) == (True, False)
    assert citation_validity("No citations.", 2) == (False, True)


def test_evidence_on_gold_judges_the_first_passage_and_any_passage():
    from eval.metrics import evidence_on_gold

    assert evidence_on_gold(["A", "qa:Q6"], {"qa:Q6"}) == (0.0, 1.0)
    assert evidence_on_gold(["qa:Q6", "B"], {"qa:Q6", "A"}) == (1.0, 1.0)
    assert evidence_on_gold(["B"], {"A"}) == (0.0, 0.0)
    assert all(math.isnan(x) for x in evidence_on_gold([], {"A"}) + evidence_on_gold(["A"], set()))


def test_evidence_on_lines_tells_the_right_row_from_its_table():
    """A passage holds a gold line when its line range covers it: a whole table holds every row's line, a
    single row only its own. Nothing to judge without gold lines or without evidence."""
    import doctest

    import eval.metrics

    assert evidence_on_lines([(228, 228), (224, 228)], [227]) == (0.0, 1.0)  # Poisson's row, then its table
    assert evidence_on_lines([(224, 228)], [226, 227]) == (1.0, 1.0)
    assert all(math.isnan(v) for v in evidence_on_lines([(224, 228)], []) + evidence_on_lines([], [227]))
    assert doctest.testmod(eval.metrics).failed == 0


def test_pointed_on_lines_judges_the_row_a_whole_table_marks_first():
    """A table shown whole holds every row, so only the row it marks first says which one the learner is pointed
    to (GloVe marked above FastText for words never seen in training); a passage without marks points at its
    own lines."""
    assert pointed_on_lines((1055, 1061), [1061, 1060], [1061]) == 1.0
    assert pointed_on_lines((1055, 1061), [1060, 1061], [1061]) == 0.0
    assert pointed_on_lines((1055, 1061), [], [1061]) == 1.0  # a list question: the table, unmarked
    assert pointed_on_lines((1842, 1844), [], [1415]) == 0.0
    assert math.isnan(pointed_on_lines((1055, 1061), [1061], []))
