"""Follow-up questions become standalone questions before retrieval."""

from __future__ import annotations

import pytest

from rag.followup import is_follow_up, standalone_question, topic_of


@pytest.mark.parametrize(
    ("question", "previous", "expected"),
    [
        ("and how do I fix it?", ["What is overfitting?"], "how do I fix overfitting?"),
        ("How does it work?", ["What is batch normalization?"], "How does batch normalization work?"),
        ("why does that matter?", ["Explain the bias-variance tradeoff."], "why does bias-variance tradeoff matter?"),
        ("and LightGBM?", ["How does XGBoost work?"], "How does LightGBM work?"),  # the same question, of LightGBM
        ("What about underfitting?", ["What is overfitting?"], "What is underfitting?"),
        ("and what about Adam?", ["What is overfitting?"], "What is Adam?"),
        ("and in deep learning?", ["What is overfitting?"], "What is overfitting in deep learning?"),  # narrowed
        ("what about for images?", ["Explain data augmentation."], "for images (data augmentation)?"),
        ("what about L1?", ["When should I use L2 regularization?"], "L1 (I use L2 regularization)?"),  # no clean topic
        # A request that names no subject asks about the previous one's.
        ("Can you give an example?", ["What is overfitting?"], "Can you give an example (overfitting)?"),
        (
            "What's the formula?",
            ["Explain the bias-variance tradeoff."],
            "What's the formula (bias-variance tradeoff)?",
        ),
        ("Why?", ["What is dropout?"], "Why (dropout)?"),
        ("Can you give an example of bagging?", ["What is overfitting?"], "Can you give an example of bagging?"),
        ("What is dropout?", ["What is overfitting?"], "What is dropout?"),  # stands alone
        ("and how do I fix it?", [], "and how do I fix it?"),  # nothing to lean on
    ],
)
def test_standalone_question(question, previous, expected):
    assert standalone_question(question, previous) == expected


def test_long_questions_are_not_follow_ups():
    assert not is_follow_up("Can you explain how it is that gradient boosting differs from bagging in practice today?")
    assert is_follow_up("what about it?")


def test_topic_of():
    assert topic_of("What is the Central Limit Theorem?") == "Central Limit Theorem"
    assert topic_of("Explain dropout.") == "dropout"
