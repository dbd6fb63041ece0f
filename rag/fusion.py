"""Pure ranking functions: reciprocal rank fusion, maximal marginal relevance, merging adjacent chunks.

Each takes plain ids, scores and vectors, so it can be checked by hand on tiny inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T", bound=Hashable)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[T]],
    weights: Sequence[float] | None = None,
    k: int = 60,
    tie_break: Mapping[T, float] | None = None,
) -> list[tuple[T, float]]:
    """Fuse ranked lists: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1.

    Ties (common when an item sits at the same ranks in mirrored lists) are broken by `tie_break`
    (higher first, for example the dense similarity), then by first appearance.

    >>> reciprocal_rank_fusion([["a", "b"], ["b", "c"]], k=1)
    [('b', 0.8333333333333333), ('a', 0.5), ('c', 0.3333333333333333)]
    """
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[T, float] = {}
    first_seen: dict[T, int] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
            first_seen.setdefault(item, len(first_seen))
    tie = tie_break or {}
    return sorted(scores.items(), key=lambda kv: (-kv[1], -tie.get(kv[0], 0.0), first_seen[kv[0]]))


def mmr(
    query: Sequence[float],
    candidates: Sequence[Sequence[float]],
    k: int,
    lambda_mult: float = 0.7,
) -> list[int]:
    """Maximal marginal relevance: pick `k` candidate indices, trading relevance against redundancy.

    With unit vectors, relevance is the dot product with the query; each pick maximises
    lambda * relevance - (1 - lambda) * (max similarity to what was already picked).
    """
    if k <= 0 or len(candidates) == 0:
        return []
    q = np.asarray(query, dtype=np.float32)
    c = np.asarray(candidates, dtype=np.float32)
    relevance = c @ q
    similarity = c @ c.T
    picked = [int(np.argmax(relevance))]
    while len(picked) < min(k, len(c)):
        redundancy = similarity[:, picked].max(axis=1)
        score = lambda_mult * relevance - (1 - lambda_mult) * redundancy
        score[picked] = -np.inf
        picked.append(int(np.argmax(score)))
    return picked


def merge_adjacent(
    ranked: Sequence[T],
    neighbour: Callable[[T, T], bool],
) -> list[list[T]]:
    """Group ranked items so that neighbours (the next chunk of one section) become one source.

    A group sits at the rank of its best member and lists members in document order (the caller's
    `neighbour(a, b)` is true when b directly follows a).

    >>> merge_adjacent([3, 7, 2], lambda a, b: b == a + 1)
    [[2, 3], [7]]
    """
    groups: list[list[T]] = []
    for item in ranked:
        for group in groups:
            if neighbour(group[-1], item):
                group.append(item)
                break
            if neighbour(item, group[0]):
                group.insert(0, item)
                break
        else:
            groups.append([item])
    return groups
