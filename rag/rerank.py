"""Put the section that teaches the answer first: a small logistic model over the fused candidates' signals.

Fusion ranks by two lists, dense and BM25, that each read a chunk whole. A learner's everyday question
("Do I need to put my columns on the same scale before training a random forest?") often finds the
teaching section in the top five but not first: a neighbour sharing a word wins. Read together, other
signals tell them apart: how well the chunk's best passage and its title (heading, or bank question) match
the question, where dense and BM25 each ranked it, the share of the question's terms it holds, its kind.
The weights live in `rerank.json` beside this file, fitted by `hbrag eval rerank --fit` on the labelled
sets named in it (leave-one-set-out figures in eval/README.md). Applying it needs no scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.evidence import SAME_QUESTION
from rag.fitted import logistic_fields, read_fitted, to_json

KINDS = ("qa", "prose", "table", "scenario", "code", "glossary")
FEATURES = (
    "dense",  # cosine of the question to the chunk
    "dense_gap",  # ... minus the best candidate's
    "bm25",  # BM25 score over the best candidate's
    "fused_rank",  # log(1 + position) in the fused list
    "dense_rank",  # log(1 + position) in the dense list (DEPTH when absent)
    "bm25_rank",
    "passage",  # cosine of the question to the chunk's best passage, read with its title
    "passage_gap",
    "title",  # cosine of the question to the chunk's title: its heading, or its bank question
    "title_gap",
    "terms",  # share of the question's content terms in the chunk
    "votes",  # share of the candidates from the same section
    "length",  # log of the chunk's words
    *(f"kind_{k}" for k in KINDS),
)
POOL = 10  # fused candidates reranked; the rest keep their fused order
# Each list's first few are reranked too, wherever fusion put them: a learner's everyday words can make a
# chunk dense's first and BM25's absent ("centre it around zero" for Feature Scaling), and fusion then ranks
# it below ten chunks both lists found.
EACH = 3
DEPTH = 30  # the rank given to a candidate one list did not return
MODEL_FILE = Path(__file__).resolve().parent / "rerank.json"
FORMAT = 1


def pool_of(fused: Sequence[int], dense: Sequence[int], bm25: Sequence[int]) -> tuple[list[int], list[int]]:
    """The candidates the reranker reorders (the fused top POOL, then each list's top EACH not among them)
    and the rest, in fused order.

    >>> pool_of([5, 6, 7], [9, 5], [6, 8])  # with POOL 10, every fused candidate is in the pool
    ([5, 6, 7, 9, 8], [])
    """
    pool = list(fused[:POOL])
    for i in [*dense[:EACH], *bm25[:EACH]]:
        if i not in pool:
            pool.append(i)
    chosen = set(pool)
    return pool, [i for i in fused if i not in chosen]


@dataclass(frozen=True)
class Candidates:
    """What is known of the pool's chunks, position by position (all arrays of the pool's length)."""

    dense: np.ndarray
    bm25: np.ndarray
    dense_rank: Sequence[int]  # position in the dense list, or DEPTH
    bm25_rank: Sequence[int]
    passage: np.ndarray
    title: np.ndarray
    terms: np.ndarray
    sections: Sequence[str]
    kinds: Sequence[str]
    words: Sequence[int]


def features(c: Candidates) -> np.ndarray:
    """One row per candidate, columns in FEATURES order (pure, so fitting and serving read the same)."""
    n = len(c.sections)
    best_bm25 = max(float(np.max(c.bm25)), 1e-9) if n else 1.0
    rows = []
    for j in range(n):
        rows.append(
            [
                c.dense[j],
                c.dense[j] - c.dense.max(),
                c.bm25[j] / best_bm25,
                math.log1p(j),
                math.log1p(c.dense_rank[j]),
                math.log1p(c.bm25_rank[j]),
                c.passage[j],
                c.passage[j] - c.passage.max(),
                c.title[j],
                c.title[j] - c.title.max(),
                c.terms[j],
                list(c.sections).count(c.sections[j]) / n,
                math.log(max(c.words[j], 1)),
                *(float(c.kinds[j] == k) for k in KINDS),
            ]
        )
    return np.asarray(rows, dtype=np.float64).reshape(n, len(FEATURES))


def order(scores: Sequence[float], pinned: int | None = None) -> list[int]:
    """Pool positions by score, best first (ties keep the fused order); `pinned` goes first whatever it scored.

    >>> order([0.1, 0.9, 0.5])
    [1, 2, 0]
    >>> order([0.1, 0.9, 0.5], pinned=0)
    [0, 1, 2]
    """
    ranked = sorted(range(len(scores)), key=lambda j: -scores[j])
    return ranked if pinned is None else [pinned, *(j for j in ranked if j != pinned)]


def pinned(x: np.ndarray) -> int | None:
    """The candidate that is a bank Q&A asking what the learner asked (its title at least SAME_QUESTION close),
    the closest if several: its answer is the best evidence there is, so it stays first."""
    title, qa = x[:, FEATURES.index("title")], x[:, FEATURES.index("kind_qa")]
    same = [j for j in range(len(x)) if qa[j] == 1.0 and title[j] >= SAME_QUESTION]
    return max(same, key=lambda j: title[j]) if same else None


@dataclass(frozen=True)
class RerankModel:
    """Standardised features and logistic weights; a candidate's score is its log-odds of teaching the answer."""

    weights: dict[str, float]
    intercept: float
    mean: dict[str, float]
    scale: dict[str, float]
    fitted_on: dict[str, object]

    def scores(self, x: np.ndarray) -> np.ndarray:
        w = np.array([self.weights[f] for f in FEATURES])
        mu = np.array([self.mean[f] for f in FEATURES])
        sd = np.array([self.scale[f] or 1.0 for f in FEATURES])
        return ((x - mu) / sd) @ w + self.intercept

    def rerank(self, pool: Sequence[int], x: np.ndarray, rest: Sequence[int]) -> list[int]:
        """The pool in this model's order (`x` its feature rows), then the rest as they came."""
        return [pool[j] for j in self.order(x)] + list(rest)

    def order(self, x: np.ndarray) -> list[int]:
        """Pool positions, best first."""
        return order(self.scores(x).tolist(), pinned(x))

    def to_json(self) -> str:
        return to_json(self, FORMAT, FEATURES, pool=POOL, each=EACH)

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> RerankModel:
        """Read strictly: a file of another format or with other features is an error, not a guess."""
        data = read_fitted(path, FORMAT, FEATURES, "reranker", "hbrag eval rerank --fit")
        return cls(**logistic_fields(data))
