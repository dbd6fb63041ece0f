"""Grade a learner's answer against the reference on a 0-5 scale from measurable signals.

    similarity  = cosine of MiniLM embeddings of answer and reference, mapped linearly from
                  [SIM_FLOOR, SIM_CEIL] onto [0, 1]
    coverage    = share of the reference's key terms (content words, stemmed) found in the answer
    raw         = W_SIM * similarity + (1 - W_SIM) * coverage
    grade       = round(5 * raw), then capped by length sanity: an empty answer, "I don't know" or a
                  skip is 0; an answer of fewer than MIN_WORDS words is at most 2.

The constants were calibrated on `eval/data/grading.jsonl` (good / partial / wrong / empty answers
for a dozen cards): see `tests/test_study.py` and the study section of the README. The local model never
decides a grade.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

SIM_FLOOR = 0.15
SIM_CEIL = 0.70
W_SIM = 0.5
MIN_WORDS = 3
MAX_KEY_TERMS = 8

_SKIPS = re.compile(r"^\s*(|skip|pass|idk|i\s*don'?t\s*know|no\s*idea|not\s*sure|\?+|-+)\s*[.!]*\s*$", re.I)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+\-]*")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "for",
        "with",
        "by",
        "as",
        "is",
        "are",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "from",
        "at",
        "into",
        "than",
        "then",
        "so",
        "such",
        "can",
        "could",
        "should",
        "would",
        "will",
        "may",
        "might",
        "must",
        "do",
        "does",
        "did",
        "not",
        "no",
        "yes",
        "if",
        "when",
        "which",
        "what",
        "who",
        "why",
        "how",
        "where",
        "while",
        "also",
        "more",
        "most",
        "less",
        "least",
        "very",
        "much",
        "many",
        "each",
        "any",
        "all",
        "some",
        "other",
        "same",
        "use",
        "used",
        "using",
        "uses",
        "e",
        "g",
        "eg",
        "i",
        "e",
        "ie",
        "via",
        "per",
        "vs",
        "versus",
        "about",
        "between",
        "your",
        "you",
        "we",
        "our",
        "their",
        "there",
        "here",
        "has",
        "have",
        "had",
        "get",
        "gets",
        "make",
        "makes",
        "one",
        "two",
        "three",
        "new",
        "like",
        "only",
        "just",
        "both",
        "either",
        "neither",
    ]
)


@dataclass(frozen=True)
class Grade:
    score: int  # 0..5
    similarity: float
    coverage: float
    covered: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    skipped: bool = False


def is_skip(answer: str) -> bool:
    return bool(_SKIPS.match(answer or ""))


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def _stem(word: str) -> str:
    return _stemmer().stemWord(word.lower())


def key_terms(reference: str, limit: int = MAX_KEY_TERMS) -> list[str]:
    """The reference's content words, bold terms first, most frequent next, one per stem."""
    bold = {_stem(w) for span in re.findall(r"\*\*(.+?)\*\*", reference) for w in _WORD.findall(span)}
    seen: dict[str, str] = {}
    counts: dict[str, int] = {}
    for w in _WORD.findall(reference.replace("**", "")):
        if w.lower() in _STOP or len(w) < 3:
            continue
        stem = _stem(w)
        seen.setdefault(stem, w)
        counts[stem] = counts.get(stem, 0) + 1
    first = {stem: i for i, stem in enumerate(seen)}
    order = sorted(seen, key=lambda st: (st not in bold, -counts[st], first[st]))
    return [seen[s] for s in order[:limit]]


def coverage(answer: str, terms: list[str]) -> tuple[float, list[str], list[str]]:
    stems = {_stem(w) for w in _WORD.findall(answer)}
    covered = [t for t in terms if _stem(t) in stems]
    missing = [t for t in terms if _stem(t) not in stems]
    return (len(covered) / len(terms) if terms else 0.0), covered, missing


def combine(similarity: float, cover: float, words: int) -> int:
    """The 0-5 grade from the two signals and the answer's length (pure, for calibration)."""
    sim = float(np.clip((similarity - SIM_FLOOR) / (SIM_CEIL - SIM_FLOOR), 0.0, 1.0))
    score = round(5 * (W_SIM * sim + (1 - W_SIM) * cover))
    if words < MIN_WORDS:
        score = min(score, 2)
    return max(0, min(5, score))


def grade(answer: str, reference: str, embedder: object) -> Grade:
    """Grade `answer` against `reference`; `embedder` gives normalised vectors (`embed_documents`)."""
    terms = key_terms(reference)
    if is_skip(answer):
        return Grade(0, 0.0, 0.0, [], terms, skipped=True)
    vectors = np.asarray(embedder.embed_documents([answer, reference]))  # type: ignore[attr-defined]
    similarity = float(vectors[0] @ vectors[1])
    cover, covered, missing = coverage(answer, terms)
    return Grade(combine(similarity, cover, len(answer.split())), similarity, cover, covered, missing)
