"""Check the study grader on labelled answers, and choose its constants on the fit part only.

`eval/data/grading.jsonl` holds, per card, five answers written by reading the handbook: good, partial,
misconception (right vocabulary, wrong claim), off-topic and empty. A third of the cards carry
`"split": "check"`: `fit_params` never sees them, and the figures that count are theirs.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from eval.dataset import DATA_DIR
from study.cards import Card, find_card
from study.grading import PARAMS, Grader
from study.schedule import rating_for

GRADING_FILE = DATA_DIR / "grading.jsonl"
LABELS = ("good", "partial", "misconception", "off-topic", "empty")
# The order a grade should follow; both kinds of wrong answer sit together below partial.
RANK = {"good": 3, "partial": 2, "misconception": 1, "off-topic": 1, "empty": 0}
GRID = {
    "w_cos": (0.6, 0.8, 1.0),
    "lo": (0.1, 0.15, 0.2, 0.3),
    "hi": (0.6, 0.7, 0.8),
    "align": (0.25, 0.3, 0.35, 0.45),
    "gamma": (0.4, 0.6, 0.8, 1.0),
}


def load_rows(deck: list[Card], path: Path = GRADING_FILE) -> list[dict[str, Any]]:
    """The labelled answers, each with its card found by its question as the deck shows it."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row = json.loads(line)
        card = find_card(deck, row["front"])
        if card is None:
            raise ValueError(f"{path.name} line {n}: no card reads {row['front']!r} (the handbook changed?)")
        rows.append({**row, "card": card})
    return rows


def grade_rows(grader: Grader, rows: list[dict[str, Any]], params: dict[str, float] | None = None) -> list[dict]:
    """Each row graded and timed as a quiz serves it: the cards' references embedded when they are dealt
    (`Grader.prepare`), so the time is the answer's own."""
    grader.prepare(row["card"].back for row in rows)
    out = []
    for row in rows:
        start = time.perf_counter()
        result = grader.grade(row["answer"], row["card"].back, params)
        out.append({**row, "grade": result.score, "ms": 1000 * (time.perf_counter() - start), "result": result})
    return out


def summarise(graded: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean grade per label, how often a card's grades come in order, Spearman with the label, latency."""
    from scipy.stats import spearmanr

    by_label: dict[str, list[int]] = defaultdict(list)
    by_card: dict[str, dict[str, int]] = defaultdict(dict)
    for g in graded:
        by_label[g["label"]].append(g["grade"])
        by_card[g["card"].id][g["label"]] = g["grade"]
    cards = [c for c in by_card.values() if all(label in c for label in LABELS)]
    rho = spearmanr([g["grade"] for g in graded], [RANK[g["label"]] for g in graded]).statistic
    return {
        "cards": len(by_card),
        "answers": len(graded),
        **{f"mean_{label}": round(float(np.mean(by_label[label])), 2) for label in LABELS if by_label[label]},
        "ordered": round(float(np.mean([c["good"] > c["partial"] > c["misconception"] for c in cards])), 3),
        "ordered_both_wrong": round(
            float(np.mean([c["good"] > c["partial"] > max(c["misconception"], c["off-topic"]) for c in cards])), 3
        ),
        "spearman": round(float(rho), 3),
        "misconception_at_most_1": round(float(np.mean([c["misconception"] <= 1 for c in cards])), 3),
        # What the schedule does with a misconception: Good or Easy means "come back in days or weeks".
        "misconception_passed": round(
            float(np.mean([_passes(g["grade"]) for g in graded if g["label"] == "misconception"])), 3
        ),
        "ms_p50": round(float(np.median([g["ms"] for g in graded])), 1),
        "ms_p95": round(float(np.percentile([g["ms"] for g in graded], 95)), 1),
    }


def _passes(score: int) -> bool:
    return rating_for(score).name in ("Good", "Easy")


def objective(summary: dict[str, Any]) -> float:
    """Spearman, less what each target misses by: wrong <= 1.5, partial 2-3.5, good >= 4, order."""
    miss = (
        max(summary["mean_misconception"] - 1.5, 0)
        + max(summary["mean_off-topic"] - 1.5, 0)
        + max(2.0 - summary["mean_partial"], 0)
        + max(summary["mean_partial"] - 3.5, 0)
        + max(4.0 - summary["mean_good"], 0)
        + max(0.8 - summary["ordered"], 0)
    )
    return summary["spearman"] - 0.5 * miss


def fit_params(grader: Grader, rows: list[dict[str, Any]], progress: bool = True) -> tuple[dict[str, float], dict]:
    """The grid point with the best objective on `rows` (pass the fit part only), and its summary there."""
    from tqdm import tqdm

    fit_rows = [r for r in rows if r.get("split", "fit") == "fit"]
    best: tuple[float, dict[str, float], dict] = (-np.inf, dict(PARAMS), {})
    combos = list(itertools.product(*GRID.values()))
    for values in tqdm(combos, desc="grid", disable=not progress, leave=False):
        params = {**PARAMS, **dict(zip(GRID, values, strict=True))}
        if params["hi"] <= params["lo"]:
            continue
        summary = summarise(grade_rows(grader, fit_rows, params))
        score = objective(summary)
        if score > best[0]:
            best = (score, params, summary)
    return best[1], best[2]


def worst(graded: list[dict[str, Any]], limit: int = 10) -> list[dict[str, Any]]:
    """The answers graded furthest from their label's place (a misconception at 3, a good answer at 1)."""
    target = {"good": 4.5, "partial": 2.75, "misconception": 0.5, "off-topic": 0.5, "empty": 0}

    def rows():
        for g in graded:
            yield {
                "split": g.get("split", "fit"),
                "label": g["label"],
                "grade": g["grade"],
                "question": g["card"].front,
                "answer": g["answer"],
                "verdicts": [p.to_dict() for p in g["result"].points],
            }

    return sorted(rows(), key=lambda r: -abs(r["grade"] - target[r["label"]]))[:limit]
