"""The unknown-word signal: the question's word the handbook never uses, weighed by how rare it is in English."""

from __future__ import annotations

import pytest

from rag.unknown import RAREST, unknown_word, vocabulary

VOCAB = vocabulary(
    ["## Regularization\nL1 regularization minimizes weights; the colors of a scatter plot analyze data."]
)


@pytest.mark.parametrize(
    "question",
    [
        "How does regularisation work?",  # British spelling of the handbook's word
        "Why minimise the weights?",
        "What do the colours in a plot mean?",
        "How do I analyse my data?",
        "What is L1?",
        "Is it a plot?",  # short and common words never count
    ],
)
def test_the_handbook_s_own_words_in_any_spelling_are_known(question):
    assert unknown_word(question, VOCAB) == ("", 0.0)


def test_the_rarest_absent_word_is_named_as_written():
    word, strength = unknown_word("How do I detect heteroscedasticity in my spreadsheet?", VOCAB)
    assert word == "heteroscedasticity" and 3.0 < strength <= RAREST
    everyday, weaker = unknown_word("What goes in my spreadsheet?", VOCAB)
    assert everyday == "spreadsheet" and 0.0 < weaker < strength  # an everyday word the handbook lacks counts less


def test_a_plural_counts_as_its_singular_and_a_hyphenated_name_by_its_unknown_part():
    assert unknown_word("Why do drownings rise?", VOCAB)[1] == pytest.approx(
        unknown_word("Why does drowning?", VOCAB)[1]
    )
    word, strength = unknown_word("Is a Kaplan-Meier plot an L1-regularization?", VOCAB)
    assert word == "Kaplan-Meier" and strength > 1.0
    assert unknown_word("What is L1-regularization?", VOCAB) == ("", 0.0)


@pytest.mark.parametrize("apostrophe", ["'", "\u2019"])
def test_a_contraction_is_everyday_english_whatever_its_apostrophe(apostrophe):
    """ "shouldn't" splits into "shouldn" (Zipf 2.3), which once declined a learner's question on its own."""
    word, strength = unknown_word(f"Why shouldn{apostrophe}t I analyse the weights?", VOCAB)
    assert word == "shouldn't" and strength < 0.5
    rare, _ = unknown_word(f"Why doesn{apostrophe}t Cochran's test use the weights?", VOCAB)
    assert rare == "Cochran"  # a name with a possessive stays a rare word


def test_the_module_s_examples():
    import doctest

    import rag.unknown

    assert doctest.testmod(rag.unknown).failed == 0


def test_a_hyphenated_handbook_term_is_the_handbook_s_own_word(assistant):
    """ "t-SNE" was checked part by part against whole words, so "sne" was missing and a learner's question
    was declined "which never uses the word "t-SNE"", a term of the handbook's own table."""
    vocab = vocabulary(["| **t-SNE** | Non-linear | 2D/3D visualization |", "TF-IDF weighs terms"])
    assert unknown_word("What is t-SNE?", vocab) == ("", 0.0)
    assert unknown_word("What is TF-IDF?", vocab) == ("", 0.0)
    found = assistant.retriever.search("Should I plot my data with t-SNE or UMAP?", assistant.options())
    assert found.unknown == "" and found.signals["unknown"] == 0.0
