"""Retrieval over the real index with the real MiniLM."""

from __future__ import annotations

import pytest

from rag.retrieve import RetrievalOptions

CASES = [
    ("What is the bias-variance tradeoff?", "Bias-Variance Tradeoff"),
    ("What gates does an LSTM cell have?", "LSTM (Long Short-Term Memory)"),
    ("How should I handle missing values in a dataset?", "Handling Missing Data"),
    ("What is retrieval augmented generation?", "RAG (Retrieval Augmented Generation)"),
    ("When should I use precision instead of recall?", "Classification Metrics"),
    ("How does dropout regularize a neural network?", "Regularization Techniques"),
]


@pytest.mark.parametrize(("question", "section"), CASES)
@pytest.mark.parametrize("retriever", ["dense", "hybrid"])
def test_expected_section_in_top_3(assistant, question, section, retriever):
    hits = assistant.retriever.search(question, RetrievalOptions(k=3, retriever=retriever, exclude_bank=True)).hits
    assert section in [h.chunk.section_path[-1] for h in hits], [h.chunk.section for h in hits]


def test_hits_carry_metadata_and_scores(assistant, handbook_text):
    lines = handbook_text.splitlines()
    hits = assistant.retrieve("Explain gradient descent", k=5).hits
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    for h in hits:
        d = h.to_dict()
        assert set(d) == {
            "rank",
            "id",
            "score",
            "section_path",
            "section",
            "kind",
            "line_start",
            "line_end",
            "text",
        }
        assert 0 < d["score"] <= 1
        assert lines[d["line_start"] - 1] == d["text"].splitlines()[0]


def test_heldout_excludes_the_question_bank(assistant):
    hits = assistant.retriever.search("Explain the bias-variance tradeoff.", RetrievalOptions(k=10, exclude_bank=True))
    assert all(not h.chunk.section.startswith(("Section 19", "Section 20")) for h in hits.hits)
