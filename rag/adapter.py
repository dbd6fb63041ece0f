"""A learned linear map on the question's vector, so a learner's everyday words land near the section that
teaches them.

MiniLM reads "my model was great in testing but falls apart with real customers" far from "Model Works
Locally, Fails in Production": the words differ and the handbook's own terms never appear. A square matrix,
fitted on labelled learner questions against the index's chunk vectors and held close to the identity,
moves a question's vector toward where such questions' teaching sections lie (an "embedding adapter"); the
chunk vectors are untouched, so nothing is re-indexed. It serves the ranking: the dense list, the
reranker's dense features and "Did you mean". A hit's score and the best-cosine declining signal stay the
plain cosine, since the map is fitted to answerable questions and pulls any question toward some section;
what declining reads from it is how scattered the moved question's matches stay (`entropy`).

The matrix lives in `adapter.npz` beside this file with what it was fitted on (the handbook's hash among
it): an index built from another handbook gets no adapter. Fitted by `hbrag eval adapter --fit`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ingest.errors import HbragError

if TYPE_CHECKING:
    from ingest.index import Manifest

ADAPTER_FILE = Path(__file__).resolve().parent / "adapter.npz"
FORMAT = 1
# Cosines are divided by it in the fitting softmax (MiniLM's cosines to one question span about 0.2), and in
# `entropy`, which reads the same distribution.
TEMPERATURE = 0.05
FIT_COMMAND = "hbrag eval adapter --fit"


@dataclass(frozen=True)
class QueryAdapter:
    """`matrix @ question vector`, renormalised: cosines against the chunk vectors stay cosines."""

    matrix: np.ndarray
    fitted_on: dict[str, Any]

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        moved = self.matrix @ vector
        return (moved / max(float(np.linalg.norm(moved)), 1e-12)).astype(np.float32)

    @property
    def handbook(self) -> str:
        return str(self.fitted_on.get("handbook_sha256", ""))

    def mismatch(self, manifest: Manifest | None) -> str:
        """Why this adapter cannot move questions for the index `manifest` describes (none: not built), or ""."""
        if manifest is None or self.handbook != manifest.handbook_sha256:
            return "fitted on another handbook"
        if self.fitted_on.get("embedding_model") != manifest.embedding_model:
            return "fitted for another embedding model"
        return ""

    @classmethod
    def load(cls, path: Path = ADAPTER_FILE) -> QueryAdapter:
        try:
            with np.load(path, allow_pickle=False) as data:
                fmt, matrix, meta = int(data["format"]), data["matrix"], str(data["fitted_on"])
        except (OSError, KeyError, ValueError) as exc:
            raise HbragError(f"the query adapter {path} is unreadable: run `{FIT_COMMAND}`") from exc
        if fmt != FORMAT or matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise HbragError(f"the query adapter {path} is of another version: run `{FIT_COMMAND}`")
        return cls(matrix.astype(np.float32), json.loads(meta))

    def save(self, path: Path = ADAPTER_FILE) -> None:
        """Written beside the target and renamed over it: a failed write never leaves half a file."""
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, format=FORMAT, matrix=self.matrix, fitted_on=json.dumps(self.fitted_on))
        os.replace(tmp, path)


def entropy(cosines: np.ndarray, temperature: float = TEMPERATURE) -> float:
    """How scattered a question's matches are: the entropy (nats) of the softmax the adapter was fitted
    with, over the chunks' cosines. The adapter gathers a covered question onto its section (low); a topic
    the handbook lacks stays spread (high), however it is worded.

    >>> round(entropy(np.array([0.9, 0.1, 0.1, 0.1])), 3)
    0.0
    >>> round(entropy(np.array([0.3, 0.3, 0.3, 0.3])), 3) == round(float(np.log(4)), 3)
    True
    """
    if not len(cosines):
        return 0.0
    z = np.asarray(cosines, dtype=np.float64) / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    return float(-(p * np.log(np.clip(p, 1e-300, None))).sum())
