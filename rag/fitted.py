"""Read a fitted model file (the answerability model, the reranker) strictly: a file of another format or
with other features is an error naming the command that refits it, never a guess."""

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
