"""Files of questions: JSON lines with a "q" key (and whatever else a caller wants), or plain lines.

A "question" key is read as "q": it is what `hbrag ask --json` writes and `hbrag quiz --batch` reads, so a
learner who feeds one command's file to another is not told the file is bad."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ingest.errors import HbragError


def read_questions(path: Path) -> list[dict[str, Any]]:
    """One dict per non-empty line, each with at least "q" and "line"; a bad line is a one-line error."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise HbragError(f"cannot read questions from {path}: {exc}") from exc
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if not line.lstrip().startswith("{"):
            rows.append({"q": line.strip(), "line": number})
            continue
        try:
            row = json.loads(line)
            rows.append({**row, "q": str(row["q"] if "q" in row else row["question"]), "line": number})
        except (ValueError, KeyError, TypeError) as exc:
            raise HbragError(f'{path}:{number}: expected a JSON object with a "q" or "question" key') from exc
    return rows
