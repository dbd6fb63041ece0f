"""Fit and check the query adapter (rag/adapter.py), leave-one-set-out.

The examples are the reranker's fitting sets (the bank and the learner sets in eval.dataset.RANKING_FIT_FILES), in
both settings: a question's positives are its gold chunks, among the chunks its setting allows (`heldout`
leaves the bank out). The matrix starts at the identity and minimises the softmax loss of the gold chunks
over all the index's chunks, plus `strength` times its squared distance from the identity, so a question
unlike any it was fitted on moves little. The strength is chosen by leave-one-set-out dense hit@1 on the
fitting sets only; sets passed with `--questions` are only reported.

The reranker and the answerability model read what the adapter ranks, so they are fitted on vectors moved
by an adapter fitted without the question's set (`out_of_fold`): fitted on the shipped adapter, they would
learn to trust a dense score that is perfect only on questions it has seen.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from eval.dataset import RANKING_FIT_FILES, Dataset, file_digests
from eval.metrics import dedupe, hit_at_k, mrr_at_k
from eval.rerank import SETTINGS
from rag.adapter import TEMPERATURE, QueryAdapter
from rag.retrieve import Retriever

STRENGTHS = (0.1, 0.03, 0.01, 0.003, 0.001)  # the pull toward the identity; chosen by leave-one-set-out
EPOCHS = 100  # full-batch Adam steps; 100 and 300 gave the same figures on the fitting sets
LEARNING_RATE = 0.01
SEED = 0


class OutOfFold:
    """An adapter per question, for fitting what reads the adapter's output (the reranker, declining): a
    question the adapter was fitted on is moved by one fitted without its set, any other by `default`.
    Keyed by the question's vector, which is what an adapter is called with."""

    def __init__(self, folds: dict[bytes, QueryAdapter], default: QueryAdapter) -> None:
        self.folds = folds
        self.default = default

    @staticmethod
    def key(vector: np.ndarray) -> bytes:
        return np.round(np.asarray(vector, dtype=np.float32), 5).tobytes()

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        return self.folds.get(self.key(vector), self.default)(vector)


def examples(retriever: Retriever, sets: dict[str, Dataset], keys: list[str]) -> list[dict]:
    """Every judged question in both settings: {set, setting, question, gold, vector, positive, allowed}."""
    rows = []
    everything = np.ones(len(keys), dtype=bool)
    for name, data in sets.items():
        for setting in SETTINGS:
            allowed = ~retriever.bank if setting == "heldout" else everything
            for q in data.questions:
                gold = q.gold_keys(setting)
                positive = np.array([k in gold for k in keys]) & allowed
                if positive.any():
                    rows.append(
                        {"set": name, "setting": setting, "question": q.question, "gold": gold}
                        | {"vector": retriever.embed(q.question), "positive": positive, "allowed": allowed}
                    )
    return rows


def fit_matrix(rows: list[dict], vectors: np.ndarray, strength: float) -> np.ndarray:
    """The matrix (d x d) for these examples against the index's chunk vectors (deterministic: CPU, seeded)."""
    import torch

    torch.manual_seed(SEED)
    x = torch.tensor(np.stack([r["vector"] for r in rows]), dtype=torch.float32)
    positive = torch.tensor(np.stack([r["positive"] for r in rows]))
    allowed = torch.tensor(np.stack([r["allowed"] for r in rows]))
    chunks = torch.tensor(vectors, dtype=torch.float32)
    identity = torch.eye(x.shape[1])
    matrix = identity.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([matrix], lr=LEARNING_RATE)
    for _ in range(EPOCHS):
        moved = x @ matrix.T
        logits = (moved / moved.norm(dim=1, keepdim=True)) @ chunks.T / TEMPERATURE
        logits = logits.masked_fill(~allowed, -1e9)
        gold = torch.logsumexp(logits.masked_fill(~positive, -1e9), dim=1)
        loss = (torch.logsumexp(logits, dim=1) - gold).mean() + strength * ((matrix - identity) ** 2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return matrix.detach().numpy().astype(np.float32)


def ranked(row: dict, keys: list[str], vectors: np.ndarray, adapter: QueryAdapter | None) -> list[str]:
    """The question's distinct keys by dense cosine (moved by the adapter, if any), among allowed chunks."""
    query = adapter(row["vector"]) if adapter is not None else row["vector"]
    scores = np.where(row["allowed"], vectors @ query, -np.inf)
    return dedupe([keys[i] for i in np.argsort(-scores, kind="stable") if row["allowed"][i]])


def scores(rows: list[dict], keys: list[str], vectors: np.ndarray, adapter: QueryAdapter | None) -> dict:
    got = [(ranked(r, keys, vectors, adapter), r["gold"]) for r in rows]
    return {
        "hit@1": round(float(np.mean([hit_at_k(k, g, 1) for k, g in got])), 3),
        "hit@5": round(float(np.mean([hit_at_k(k, g, 5) for k, g in got])), 3),
        "mrr@10": round(float(np.mean([mrr_at_k(k, g, 10) for k, g in got])), 3),
        "questions": len(rows),
    }


def before_after(rows: list[dict], keys: list[str], vectors: np.ndarray, name: str, adapter: QueryAdapter):
    """Per setting of one set: dense figures with the plain question vector and with the adapter's."""
    out = []
    for setting in SETTINGS:
        part = [r for r in rows if r["set"] == name and r["setting"] == setting]
        if part:
            before, after = scores(part, keys, vectors, None), scores(part, keys, vectors, adapter)
            out.append({"set": name, "setting": setting, "before": before, "after": after})
    return out


def folds(rows: list[dict], vectors: np.ndarray, strength: float) -> dict[str, QueryAdapter]:
    """For each set, an adapter fitted on the others."""
    names = dict.fromkeys(r["set"] for r in rows)
    return {n: QueryAdapter(fit_matrix([r for r in rows if r["set"] != n], vectors, strength), {}) for n in names}


def leave_one_set_out(rows: list[dict], keys: list[str], vectors: np.ndarray, strength: float) -> list[dict]:
    return [
        row for name, adapter in folds(rows, vectors, strength).items()
        for row in before_after(rows, keys, vectors, name, adapter)
    ]  # fmt: skip


def choose_strength(
    rows: list[dict], keys: list[str], vectors: np.ndarray
) -> tuple[float, dict[float, float], list[dict]]:
    """The strength with the best mean leave-one-set-out hit@1 (a tie goes to the stronger pull), the means
    by strength, and the chosen strength's leave-one-set-out rows."""
    results = {s: leave_one_set_out(rows, keys, vectors, s) for s in STRENGTHS}
    means = {s: round(float(np.mean([r["after"]["hit@1"] for r in rs])), 4) for s, rs in results.items()}
    best = max(STRENGTHS, key=lambda s: (means[s], s))
    return best, means, results[best]


def out_of_fold(rows: list[dict], vectors: np.ndarray, default: QueryAdapter) -> OutOfFold:
    """The shipped adapter, except for the questions it was fitted on: each moved by its set's fold."""
    strength = float(default.fitted_on.get("strength", STRENGTHS[0]))
    by_set = folds(rows, vectors, strength)
    return OutOfFold({OutOfFold.key(r["vector"]): by_set[r["set"]] for r in rows}, default)


def fitted_on(manifest: Any, strength: float, means: dict[float, float]) -> dict[str, Any]:
    """What the adapter holds for: the index's handbook and embedding model (checked when it is loaded)."""
    files = [*RANKING_FIT_FILES, "gold.json"]
    return {
        "files": file_digests(files),
        "handbook_sha256": manifest.handbook_sha256,
        "embedding_model": manifest.embedding_model,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "strength": strength,
        "leave_one_set_out_hit@1": {str(s): m for s, m in means.items()},
        "temperature": TEMPERATURE,
        "epochs": EPOCHS,
    }


def install_out_of_fold(runtime: Any) -> None:
    """Make an eval over the fitting sets honest: each of their questions is moved by an adapter fitted
    without its set, every other question by the shipped one (no adapter: nothing to do)."""
    from eval.dataset import question_bank
    from eval.rerank import chunk_keys, fit_sets
    from ingest.pipeline import read_handbook

    retriever = runtime.assistant.retriever  # first: it builds a missing index, which the adapter is judged by
    if runtime.adapter is None:
        return
    sets = fit_sets(question_bank(read_handbook(runtime.settings.handbook)))
    rows = examples(retriever, sets, chunk_keys(retriever))
    retriever.adapter = out_of_fold(rows, retriever.vectors, runtime.adapter)
