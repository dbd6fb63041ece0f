"""A definition question ("What is DBSCAN?") and the table row that names its subject.

The handbook's tables name a term in their first column and say what it is in the others (the glossary,
the algorithm, metric and tool tables). Such a row answers "What is X?" for its term by construction, as a
bank question asked again is answered by its own answer. A short question matches a long table chunk
weakly, so the answerability model declined about a third of them (eval/README.md, twenty-third round).
Only the whole subject counts: "a denoising autoencoder" is not "Autoencoder", so a topic the handbook
lacks is not made answerable by a term inside its name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ingest.markdown import table_pairs

# "What is an RNN?", "What are GANs", "what's SHAP", "What does perplexity mean?", "Define latent space."
_DEFINITION = re.compile(
    r"^(?:what\s+(?:is|are|does)|what's|define|explain|meaning\s+of)\s+(?:an?\s+|the\s+)?"
    r"(?P<subject>.+?)(?:\s+mean)?\s*[?.!]*$",
    re.IGNORECASE,
)


def _key(term: str) -> str:
    """A term as a question may write it: no gloss in brackets ("Ridge (L2)"), no bold, lower case, singular."""
    term = re.sub(r"\s*\(.*?\)", "", term.replace("**", "")).strip().lower()
    return re.sub(r"(?<=[a-z0-9]{3})s$", "", term)


def asked_term(question: str) -> str:
    """What a definition question asks for, as `_key` writes it, or "" for any other question.

    >>> asked_term("What are GANs?"), asked_term("What does perplexity mean?"), asked_term("Why ReLU?")
    ('gan', 'perplexity', '')
    """
    match = _DEFINITION.match(question.strip())
    return _key(match.group("subject")) if match else ""


# What a bank question adds to its term: "... and why is it used?", "... in transformers", "... in simple terms".
_QUALIFIER = re.compile(r"\s+(?:in\s+|and\s+(?:why|how|what)\b).*$", re.IGNORECASE)


def bank_term(question: str) -> str:
    """The term a bank question defines, without what it adds: "Explain RAG (Retrieval Augmented
    Generation)." is asked again by "What is RAG?", whose words alone are too few to match it by meaning.

    >>> bank_term("What is regularization and why is it used?"), bank_term("Explain p-value in simple terms.")
    ('regularization', 'p-value')
    >>> bank_term("Explain RAG (Retrieval Augmented Generation).") == asked_term("Explain RAG")
    True
    >>> bank_term("What is the difference between BERT and GPT?"), bank_term("How do you version ML models?")
    ('difference between bert and gpt', '')
    """
    match = _DEFINITION.match(question.strip())
    return _key(_QUALIFIER.sub("", match.group("subject"))) if match else ""


def names(plain: str, term: str) -> bool:
    """Whether a row's text as the model reads it ("Algorithm: DBSCAN; Pros: ...") names `term` (an
    `asked_term`) in its first column; for a small table shown whole, any of its rows.

    >>> names("Algorithm: DBSCAN; Pros: Finds arbitrary shapes", asked_term("What is DBSCAN?"))
    True
    >>> names("Term: RMSE; Definition: Root Mean Squared Error", asked_term("What is MSE?"))
    False
    >>> names("Term: Autoencoder; Definition: ...", asked_term("What is a denoising autoencoder?"))
    False
    """
    return bool(term) and any(_key(line.split("; ", 1)[0].partition(": ")[2]) == term for line in plain.splitlines())


def row_terms(text: str) -> set[str]:
    """The terms (as `_key` writes them) a text's tables name in the first column of their body rows.

    >>> sorted(row_terms("| Method | Type |\\n|:---|:---|\\n| **PCA** | Linear |\\n| **UMAP** | Non-linear |"))
    ['pca', 'umap']
    """
    return {_key(term) for _, term, _ in table_pairs(text)}


def mentioned(question: str, terms: Iterable[str]) -> list[tuple[str, str]]:
    """The terms (as `_key` writes them) a question names anywhere, each with its words as the question writes
    them, in the question's order; a term inside a longer one named ("regression" in "logistic regression")
    does not count again.

    >>> mentioned("Is an SVM better than logistic regressions?", ["regression", "logistic regression", "svm"])
    [('svm', 'SVM'), ('logistic regression', 'logistic regressions')]
    """
    found: list[tuple[int, int, str]] = []
    for term in sorted(set(terms), key=len, reverse=True):
        match = re.search(rf"(?<![\w-]){re.escape(term)}(?:e?s)?(?![\w-])", question, re.IGNORECASE)
        if len(term) > 1 and match and not any(a <= match.start() < b for a, b, _ in found):
            found.append((match.start(), match.end(), term))
    return [(term, question[a:b]) for a, b, term in sorted(found)]
