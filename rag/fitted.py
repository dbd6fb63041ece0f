"""Fitted logistic models in files (the answerability model, the reranker): standardised features, weights
and an intercept, and what they were fitted on. Read strictly: a file of another format or with other
features is an error naming the command that refits it, never a guess."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest.errors import HbragError


def read_fitted(path: Path, fmt: int, features: Sequence[str], what: str, command: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HbragError(f"{what} {path} is unreadable: run `{command}`") from exc
    if data.get("format") != fmt or tuple(data.get("features", ())) != tuple(features):
        raise HbragError(f"{what} {path} is of another version: run `{command}`")
    return data


def logistic_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The fields every fitted logistic model has, as read from its file."""
    return {
        "weights": {k: float(v) for k, v in data["weights"].items()},
        "intercept": float(data["intercept"]),
        "mean": {k: float(v) for k, v in data["mean"].items()},
        "scale": {k: float(v) for k, v in data["scale"].items()},
        "fitted_on": dict(data.get("fitted_on", {})),
    }


def to_json(model: Any, fmt: int, features: Sequence[str], **extra: Any) -> str:
    """The file's text: format and features first, then the model's own fields and any extra ones."""
    fields = {k: getattr(model, k) for k in ("weights", "intercept", "mean", "scale")}
    return json.dumps(
        {"format": fmt, "features": list(features), **extra, **fields, "fitted_on": model.fitted_on}, indent=1
    )
