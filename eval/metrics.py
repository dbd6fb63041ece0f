"""Scoring functions of plain data: ranking metrics, answer overlap, groundedness, citations.

Ranking metrics use binary relevance over a ranking of distinct keys (section paths): a second
chunk of a section already ranked adds nothing. `tests/test_metrics.py` checks them against ranx.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from rag.prompt import cited_numbers


def dedupe(ranked: Sequence[str]) -> list[str]:
    """The ranking with repeated keys removed, first occurrence kept."""
    return list(dict.fromkeys(ranked))


def recall_at_k(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """Share of the gold keys found in the top k (0 when there is no gold)."""
    if not gold:
        return 0.0
    return len(set(dedupe(ranked)[:k]) & gold) / len(gold)


def hit_at_k(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """1 when any gold key is in the top k, else 0: "the teaching section is first" for k=1. Recall@1 cannot
    reach 1 when a question has two gold sections."""
    return float(bool(set(dedupe(ranked)[:k]) & gold))


def mrr_at_k(ranked: Sequence[str], gold: set[str], k: int = 10) -> float:
    """1 / rank of the first gold key in the top k, else 0."""
    for rank, key in enumerate(dedupe(ranked)[:k], start=1):
        if key in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], gold: set[str], k: int = 10) -> float:
    """Binary-relevance nDCG: DCG of the ranking over the DCG of the ideal one."""
    if not gold:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 1) for rank, key in enumerate(dedupe(ranked)[:k], start=1) if key in gold)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (linear interpolation, as numpy's default); 0 for no values."""
    return float(np.percentile(np.asarray(values, dtype=float), p)) if len(values) else 0.0


_WORD = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style bag-of-words F1 between an answer and the reference."""
    pred, ref = tokens(prediction), tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 from the maintained `rouge-score` implementation (with stemming)."""
    return _rouge_scorer().score(reference, prediction)["rougeL"].fmeasure


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_MARKUP = re.compile(r"[*`#>|]+|^\s*[-•]\s*|\[\d+\]")


def sentences(text: str, min_chars: int = 12) -> list[str]:
    """Split into sentences and list items, markup removed; fragments under `min_chars` are dropped."""
    out = []
    for part in _SENTENCE_END.split(text):
        clean = " ".join(_MARKUP.sub(" ", part).split())
        if len(clean) >= min_chars:
            out.append(clean)
    return out


def groundedness(answer_vectors: np.ndarray, source_vectors: np.ndarray, threshold: float) -> float:
    """Share of answer sentences whose best cosine to some source sentence reaches `threshold`.

    Vectors are unit-normalised rows. No answer sentences: 1.0 (nothing unsupported was said).
    """
    if len(answer_vectors) == 0:
        return 1.0
    if len(source_vectors) == 0:
        return 0.0
    best = (np.asarray(answer_vectors) @ np.asarray(source_vectors).T).max(axis=1)
    return float((best >= threshold).mean())


def citation_validity(answer: str, n_sources: int) -> tuple[bool, bool]:
    """(cites anything, every cited [n] is a source that was given)."""
    cited = cited_numbers(answer)
    return bool(cited), all(1 <= n <= n_sources for n in cited)


def names_sides(text: str, sides: Sequence[Sequence[str]]) -> bool:
    """Whether `text` names every side of a comparison, each side by any of its words (whole words, a plural
    allowed, any case): what the learner must see to compare "X or Y".

    >>> names_sides("Mode: Categorical; Median: skewed data", [["mean", "median"], ["mode"]])
    True
    >>> names_sides("A model of the mean", [["mean"], ["mode"]])
    False
    """
    return all(
        any(re.search(rf"(?<!\w){re.escape(w)}(?:e?s)?(?!\w)", text, re.IGNORECASE) for w in side) for side in sides
    )


def evidence_on_gold(keys: Sequence[str], gold: set[str]) -> tuple[float, float]:
    """(the first passage shown comes from a gold section or bank answer, any passage does).

    What a learner reads first under an answer, judged without the model; NaN when nothing is judged
    (no gold for the question, or no evidence: a decline).
    """
    if not gold or not keys:
        return float("nan"), float("nan")
    return float(keys[0] in gold), float(any(k in gold for k in keys))


def evidence_on_lines(spans: Sequence[tuple[int, int]], lines: Sequence[int]) -> tuple[float, float]:
    """(the first passage shown holds a gold line, any passage does): finer than the section, it tells the
    right row of a table from its neighbours. NaN when the question gives no lines or nothing was shown.

    >>> evidence_on_lines([(226, 228), (235, 235)], [235])
    (0.0, 1.0)
    """
    if not lines or not spans:
        return float("nan"), float("nan")
    holds = [any(start <= n <= end for n in lines) for start, end in spans]
    return float(holds[0]), float(any(holds))


def pointed_on_lines(first: tuple[int, int], marked: Sequence[int], lines: Sequence[int]) -> float:
    """The first thing shown points at a gold line: the row marked first in a table shown whole (a whole table
    holds every row, so `evidence_on_lines` counts it for any of them), else the first passage's lines. NaN
    when the question gives no lines.

    >>> pointed_on_lines((1055, 1061), [1060, 1061], [1061]), pointed_on_lines((1842, 1844), [], [1844])
    (0.0, 1.0)
    """
    if not lines:
        return float("nan")
    if marked:
        return float(marked[0] in lines)
    return evidence_on_lines([first], lines)[0]


def mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0
