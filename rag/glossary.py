"""The handbook's glossary as a bridge from a learner's everyday words to the terms its sections use.

"Why does my model do great on training data but terrible on new data?" shares no word with the section
that teaches it ("High Variance (Overfitting) ... Low training error, High test error"), but it is close to
a glossary definition written in plain words ("Overfitting: Model memorizes training data, poor
generalization"). The terms of the closest definitions are added to the BM25 query only: the dense search
already reads meaning, and BM25 then finds the sections that use the term. Nothing is added when no
definition is close, so a question in the handbook's own words searches as it always did.

The cut and the count were chosen on the learner sets the reranker is fitted on (eval/README.md).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ingest.chunking import Chunk
from ingest.markdown import table_pairs

MIN_SIMILARITY = 0.35  # cosine of the question to "Term: definition"
MAX_TERMS = 2


def entries(chunks: Iterable[Chunk]) -> list[tuple[str, str]]:
    """(term, "Term: definition") for every row of the index's glossary chunks, in index order."""
    return [
        (term, f"{term}: {definition}")
        for c in chunks
        if c.kind == "glossary"
        for _, term, definition in table_pairs(c.text)
    ]


def expand(
    question: str,
    similarities: np.ndarray,
    terms: list[str],
    min_similarity: float = MIN_SIMILARITY,
    n: int = MAX_TERMS,
) -> str:
    """The question with the terms of its `n` closest definitions at least `min_similarity` close appended.

    >>> expand("great on training, bad on new data", np.array([0.1, 0.5, 0.4]), ["MAE", "Overfitting", "Bias"])
    'great on training, bad on new data Overfitting Bias'
    >>> expand("how do I bake bread", np.array([0.1, 0.2, 0.3]), ["MAE", "Overfitting", "Bias"])
    'how do I bake bread'
    """
    chosen = [terms[i] for i in np.argsort(-similarities, kind="stable")[:n] if similarities[i] >= min_similarity]
    return " ".join([question, *chosen])
