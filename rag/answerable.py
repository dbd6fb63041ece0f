"""Does the handbook answer this question? A small logistic model over retrieval's signals.

One dense-similarity threshold cannot tell a learner's everyday wording of a covered topic from a topic
the handbook only names: both score 0.25-0.45. Several signals together can: the best dense similarity,
the best BM25 score, whether dense and BM25 agree on the top section, how much of the question's rarest
vocabulary occurs in the retrieved text, the reranker's best score (rag/rerank.py: how likely a
candidate teaches the answer; it replaced the best evidence score, tenth round), and how rare in English
the question's rarest word the handbook never uses is (rag/unknown.py: "Wilcoxon", not "spreadsheet";
eleventh round), and how much that word lifts the question's best match (`lift`: "chatbot" brings the
question nearer the LLM sections, "Kalman" brings it nowhere; thirteenth round), and how scattered the
question's matches are once the query adapter moves it (`entropy`: fitted on answerable questions, the
adapter gathers a covered one onto its section and leaves a missing topic spread over many; fourteenth
round). The weights
and the threshold live in `answerable.json` beside this file, fitted by `hbrag eval decline --fit` on
the labelled sets named in it (cross-validated figures in eval/README.md). Applying it needs no
scikit-learn: it is a dot product.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rag.fitted import logistic_fields, read_fitted, to_json

FEATURES = ("dense", "bm25", "agree", "coverage", "rerank", "unknown", "lift", "entropy")
MODEL_FILE = Path(__file__).resolve().parent / "answerable.json"
FORMAT = 6


@dataclass(frozen=True)
class AnswerabilityModel:
    """Standardised features, logistic weights, the probability under which the assistant declines, and the
    lower one (`floor`) under which a decline shows nothing: between the two, the question is declined but
    the closest passages are shown, because most such questions are a learner's everyday wording of a
    covered topic or an in-field topic the handbook only touches, while out-of-field ones score below."""

    weights: dict[str, float]
    intercept: float
    mean: dict[str, float]
    scale: dict[str, float]
    threshold: float
    fitted_on: dict[str, object]
    floor: float = 1.0  # 1.0 or above `threshold`: a decline never shows passages

    def probability(self, signals: Mapping[str, float]) -> float:
        z = self.intercept
        for name in FEATURES:
            value = float(signals.get(name, 0.0))
            z += self.weights[name] * (value - self.mean[name]) / (self.scale[name] or 1.0)
        return 1.0 / (1.0 + math.exp(-z))

    def answerable(self, signals: Mapping[str, float]) -> bool:
        return self.probability(signals) >= self.threshold

    def shows_closest(self, signals: Mapping[str, float]) -> bool:
        """For a declined question: whether its closest passages are still worth showing."""
        return self.probability(signals) >= self.floor

    def to_json(self) -> str:
        return to_json(self, FORMAT, FEATURES, threshold=self.threshold, floor=self.floor)

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> AnswerabilityModel:
        """Read strictly: a file of another format or with other features is an error, not a guess."""
        data = read_fitted(path, FORMAT, FEATURES, "answerability model", "hbrag eval decline --fit")
        return cls(**logistic_fields(data), threshold=float(data["threshold"]), floor=float(data["floor"]))
