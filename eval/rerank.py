"""Fit and check the reranker (rag/rerank.py), leave-one-set-out.

Each labelled set (the question bank, and the learner-worded sets) is judged by a model fitted on the
others, in both settings (`full`: the bank in the index; `heldout`: left out). A candidate is positive when
its key (section path, or `qa:Qn`) is gold for the question. Sets passed with `--questions` are only
reported, by the model fitted on all the fitting sets: they are never fitted on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from eval.dataset import RANKING_FIT_FILES, Dataset, data_sets, file_digests, hit_key
from eval.metrics import dedupe, hit_at_k, mrr_at_k
from rag.rerank import EACH, FEATURES, POOL, RerankModel
from rag.retrieve import RetrievalOptions, Retriever

SETTINGS = ("full", "heldout")
C = 1.0  # the regularisation; 0.1 and 1 gave the same leave-one-set-out figures (eval/README.md)


def fit_sets(bank: Dataset) -> dict[str, Dataset]:
    return {"bank": bank, **data_sets(RANKING_FIT_FILES)}


def collect(retriever: Retriever, options: RetrievalOptions, sets: dict[str, Dataset], progress: bool = True):
    """Every judged question in both settings: {set, setting, id, question, gold, fused, pool, x}."""
    from tqdm import tqdm

    rows = []
    for name, data in sets.items():
        for setting in SETTINGS:
            opts = replace(options, exclude_bank=setting == "heldout", retriever="hybrid")
            for q in tqdm(data.questions, desc=f"candidates {name}/{setting}", disable=not progress, leave=False):
                gold = q.gold_keys(setting)
                if not gold:
                    continue
                fused, pool, rest, x = retriever.pool_features(q.question, opts)
                rows.append(
                    {"set": name, "setting": setting, "id": q.id, "question": q.question, "gold": gold}
                    | {"fused": fused, "pool": pool, "rest": rest, "x": x}
                )
    return rows


def fit(rows: list[dict], keys: list[str], fitted_on: dict[str, Any]) -> RerankModel:
    """Logistic regression on standardised features, over the pools that hold a gold candidate."""
    from sklearn.linear_model import LogisticRegression

    xs, ys = [], []
    for r in rows:
        y = np.array([keys[i] in r["gold"] for i in r["pool"]])
        if y.any():
            xs.append(r["x"])
            ys.append(y)
    x, y = np.vstack(xs), np.concatenate(ys)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    clf = LogisticRegression(C=C, max_iter=5000).fit((x - mean) / scale, y)
    return RerankModel(
        weights=dict(zip(FEATURES, clf.coef_[0].tolist(), strict=True)),
        intercept=float(clf.intercept_[0]),
        mean=dict(zip(FEATURES, mean.tolist(), strict=True)),
        scale=dict(zip(FEATURES, scale.tolist(), strict=True)),
        fitted_on=fitted_on,
    )


def ranked(row: dict, keys: list[str], model: RerankModel | None) -> list[str]:
    """The question's distinct keys in order: fused, or with its pool reranked."""
    order = row["fused"]
    if model is not None and len(row["pool"]) > 1:
        order = model.rerank(row["pool"], row["x"], row["rest"])
    return dedupe([keys[i] for i in order])


def scores(rows: Iterable[dict], keys: list[str], model: RerankModel | None) -> dict[str, float]:
    rows = list(rows)
    got = [(ranked(r, keys, model), r["gold"]) for r in rows]
    return {
        "hit@1": round(float(np.mean([hit_at_k(k, g, 1) for k, g in got])), 3),
        "hit@5": round(float(np.mean([hit_at_k(k, g, 5) for k, g in got])), 3),
        "mrr@10": round(float(np.mean([mrr_at_k(k, g, 10) for k, g in got])), 3),
        "questions": len(rows),
    }


def before_after(rows: list[dict], keys: list[str], name: str, model: RerankModel) -> list[dict]:
    """Per setting of one set: the fused order's figures and the reranked ones."""
    out = []
    for setting in SETTINGS:
        part = [r for r in rows if r["set"] == name and r["setting"] == setting]
        if part:
            out.append(
                {"set": name, "setting": setting, "before": scores(part, keys, None)}
                | {"after": scores(part, keys, model)}
            )
    return out


def leave_one_set_out(rows: list[dict], keys: list[str]) -> list[dict]:
    """Every set judged by a model fitted without it."""
    out = []
    for name in dict.fromkeys(r["set"] for r in rows):
        out += before_after(rows, keys, name, fit([r for r in rows if r["set"] != name], keys, {}))
    return out


def fitted_on() -> dict[str, Any]:
    files = [*RANKING_FIT_FILES, "gold.json"]
    return {
        "files": file_digests(files),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "pool": POOL,
        "each": EACH,
        "C": C,
    }


def chunk_keys(retriever: Retriever) -> list[str]:
    return [hit_key(c.section, c.qid) for c in retriever.chunks]
