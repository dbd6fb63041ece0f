"""Calibrate the groundedness threshold on the handbook itself.

Supported pairs: each sentence of a bank question's reference answer against the sentences of its
gold teaching sections (the answer is taught there). Unsupported pairs: the same sentence against the
gold sections of a different, randomly drawn question. A good threshold separates the two.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from eval.dataset import Dataset, hit_key
from eval.metrics import sentences


def groundedness_curve(
    embedder: Any, chunks: list, dataset: Dataset, thresholds: list[float], seed: int = 7
) -> list[dict[str, float]]:
    """For each threshold: share of supported sentences accepted, and of unsupported ones rejected."""
    by_key: dict[str, list[str]] = {}
    for c in chunks:
        by_key.setdefault(hit_key(c.section, c.qid), []).extend(sentences(c.text))
    judged = [q for q in dataset.questions if q.gold]
    rng = random.Random(seed)
    supported: list[float] = []
    unsupported: list[float] = []
    cache: dict[str, np.ndarray] = {}

    def vectors(texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in cache]
        if missing:
            cache.update(zip(missing, np.asarray(embedder.embed_documents(missing)), strict=True))
        return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, 384))

    for q in judged:
        other = rng.choice([o for o in judged if not set(o.gold) & set(q.gold)])
        ref = vectors(sentences(q.reference))
        if len(ref) == 0:
            continue
        for gold, out in ((q.gold, supported), (other.gold, unsupported)):
            src = vectors([s for key in gold for s in by_key.get(key, [])])
            if len(src):
                out.extend((ref @ src.T).max(axis=1).tolist())
    return [
        {
            "threshold": t,
            "supported_accepted": float(np.mean([s >= t for s in supported])),
            "unsupported_rejected": float(np.mean([s < t for s in unsupported])),
            "pairs": len(supported),
        }
        for t in thresholds
    ]
