"""Fit and check the answerability model (rag/answerable.py) on the labelled sets, cross-validated.

Positives: learners' own wording of covered questions (eval.dataset.LEARNER_FIT_FILES: a learner's rare
everyday word, "spreadsheet" or "chatbot", must be seen among answerable questions, or the unknown-word
signal declines it) and the question bank with the bank held out of retrieval (so a bank question must be
answered from the teaching sections, as a learner's reworded question would). Negatives: the unanswerable
sets in NEGATIVE_FILES, in the field (topics the handbook names but never teaches, common interview topics
it lacks) and outside it. Figures are from stratified k-fold: each question is judged by a model (and
threshold) fitted without it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from eval.dataset import LEARNER_FIT_FILES, Dataset, EvalQuestion, data_sets, file_digests
from rag.answerable import FEATURES, AnswerabilityModel
from rag.assistant import DOUBTFUL, Assistant

# The threshold declines at most this share of each answerable group of the training fold. Measured
# (eval/README.md): no threshold on these signals declines 90 % of the in-field unanswerable questions
# without also declining a quarter of learners' answerable ones, so a learner's question comes first;
# the evidence shown and the grounded-sentence guard carry an in-field question the handbook only names.
MAX_FALSE_DECLINES = 0.05
# A declined question still shows its closest passages unless it scores like a question from outside the
# field: at most this share of the out-of-field questions of the fitting data would be shown passages.
MAX_OUT_SHOWN = 0.10
FOLDS = 5
# Cross-validation is repeated over this many fold assignments and its shares averaged: with one assignment, three
# learner questions becoming answerable by construction (left out of the fit) moved the in-field share declined
# from 61.0 to 66.7 % and the learners' from 2.1 to 2.9 % (thirty-fourth round), with no question's signals changed.
REPEATS = 10
# The unanswerable questions fitted on: each later set was first kept apart to check the one before.
NEGATIVE_FILES = (
    "unanswerable.jsonl",
    "unanswerable_s11.jsonl",
    "unanswerable_s12.jsonl",
    "unanswerable_s13.jsonl",
    "unanswerable_s16.jsonl",
    "unanswerable_s17.jsonl",
    "unanswerable_s18.jsonl",
    "unanswerable_s33.jsonl",
    "unanswerable_s35.jsonl",
)


def collect(assistant: Assistant, groups: dict[str, tuple[Dataset, bool]], progress: bool = True) -> list[dict]:
    """Signals for every question: {group, id, question, label, certain, <features>}; `certain`: answerable by
    construction, as the assistant judges it (a bank question asked again, "What is X?" with X's table row)."""
    from tqdm import tqdm

    rows = []
    for group, (data, exclude_bank) in groups.items():
        for q in tqdm(data.questions, desc=f"signals {group}", disable=not progress, leave=False):
            found = assistant.retrieve(q.question, exclude_bank=exclude_bank)
            evidence, signals = assistant.signals(q.question, found)
            row = {"group": group, "id": q.id, "question": q.question, "label": int(q.answerable)}
            row["certain"] = bool(assistant.by_construction(q.question, evidence)[1])
            rows.append(row | {f: float(signals.get(f, 0.0)) for f in FEATURES})
    return rows


def fit(rows: list[dict], fitted_on: dict[str, Any]) -> AnswerabilityModel:
    """Logistic regression on standardised features; the threshold declines at most MAX_FALSE_DECLINES of
    the answerable questions."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([[r[f] for f in FEATURES] for r in rows], dtype=float)
    y = np.array([r["label"] for r in rows])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000).fit((x - mean) / scale, y)
    model = AnswerabilityModel(
        weights=dict(zip(FEATURES, map(float, clf.coef_[0]), strict=True)),
        intercept=float(clf.intercept_[0]),
        mean=dict(zip(FEATURES, map(float, mean), strict=True)),
        scale=dict(zip(FEATURES, map(float, scale), strict=True)),
        threshold=0.5,
        fitted_on=fitted_on,
    )
    # The threshold sits at the MAX_FALSE_DECLINES quantile of each answerable group's probabilities, the
    # lowest of them: learners' wording outnumbers the bank's terse questions ("What is max pooling?") and
    # would otherwise set it alone.
    groups: dict[str, list[float]] = {}
    for r in rows:
        if r["label"]:
            groups.setdefault(r.get("group", ""), []).append(model.probability(r))
    threshold = min((_quantile(ps) for ps in groups.values()), default=0.5)
    outside = [model.probability(r) for r in rows if r.get("group") == "unanswerable-out"]
    return AnswerabilityModel(**{**model.__dict__, "threshold": threshold, "floor": floor(outside, threshold)})


def _quantile(probabilities: list[float]) -> float:
    """The probability under which MAX_FALSE_DECLINES of these answerable questions fall."""
    ranked = sorted(probabilities)
    return float(ranked[int(np.floor(MAX_FALSE_DECLINES * len(ranked)))])


def floor(outside: list[float], threshold: float) -> float:
    """The lowest probability at which a declined question still shows passages: just above all but the
    top MAX_OUT_SHOWN of the out-of-field questions. Without out-of-field data, declines show nothing."""
    if not outside:
        return 1.0
    ranked = sorted(outside, reverse=True)
    m = int(np.floor(MAX_OUT_SHOWN * len(ranked)))
    return min(threshold, float(np.nextafter(ranked[m], 1.0)))


def cross_validate(rows: list[dict], folds: int = FOLDS, seed: int = 0) -> list[dict]:
    """Each row judged by a model fitted on the other folds (`judge`)."""
    from sklearn.model_selection import StratifiedKFold

    fit_rows = [r for r in rows if not r["certain"]]
    labels = [f"{r['label']}:{r['group']}" for r in fit_rows]
    out = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(fit_rows)), labels):
        model = fit([fit_rows[i] for i in train], {})
        out += [judge(model, fit_rows[i]) for i in test]
    return out + [judge(None, r) for r in rows if r["certain"]]


def repeated(rows: list[dict], repeats: int = REPEATS) -> tuple[dict[str, dict[str, float]], list[dict]]:
    """The shares of `rates` averaged over `repeats` fold assignments, each group's share declined also as its
    lowest and highest (`declined_min`, `declined_max`); and the rows as the first assignment judged them."""
    runs = [cross_validate(rows, seed=seed) for seed in range(repeats)]
    each = [rates(judged) for judged in runs]
    out = {}
    for group, first in each[0].items():
        shares = {k: float(np.mean([r[group][k] for r in each])) for k in ("declined", "closest_shown", "summarised")}
        declined = [r[group]["declined"] for r in each]
        out[group] = shares | {
            "declined_min": min(declined),
            "declined_max": max(declined),
            "questions": first["questions"],
        }
    return out, runs[0]


def judge(model: AnswerabilityModel | None, row: dict) -> dict:
    """The row with `p`, `declined`, `closest` (declined, its closest passages shown) and `summarised`
    (answered at better than even odds: the only answers the model writes for), as the assistant judges it.
    A question answerable by construction is always answered (a bank answer or the term's table row is the evidence)."""
    if row["certain"] or model is None:
        return {**row, "p": 1.0, "declined": False, "closest": False, "summarised": True}
    p = model.probability(row)
    declined = p < model.threshold
    closest = declined and p >= model.floor
    return {**row, "p": p, "declined": declined, "closest": closest, "summarised": not declined and p >= DOUBTFUL}


def rates(judged: Iterable[dict]) -> dict[str, dict[str, float]]:
    """Per group: the share declined, the share declined with the closest passages shown, the share the model
    is asked to summarise (what reaches it from a topic the handbook lacks is what it may answer from memory),
    and the count."""
    by: dict[str, list[dict]] = {}
    for r in judged:
        by.setdefault(r["group"], []).append(r)
    return {
        g: {
            "declined": float(np.mean([r["declined"] for r in v])),
            "closest_shown": float(np.mean([r.get("closest", False) for r in v])),
            "summarised": float(np.mean([r.get("summarised", False) for r in v])),
            "questions": len(v),
        }
        for g, v in by.items()
    }


def datasets(bank: Dataset, gold_judged: set[str]) -> dict[str, tuple[Dataset, bool]]:
    """The labelled groups and whether the bank is held out of retrieval for them."""
    # A learner set's question about a topic the handbook lacks ("what does AdaBoost do?") is a negative.
    worded = [q for d in data_sets(LEARNER_FIT_FILES).values() for q in d.questions]
    neg = [q for d in data_sets(NEGATIVE_FILES).values() for q in d.questions] + [q for q in worded if not q.answerable]
    heldout = [q for q in bank.questions if q.id in gold_judged]
    learners = [q for q in worded if q.answerable]
    return {
        "learner": (Dataset(learners, "learner"), False),
        "bank-heldout": (Dataset(heldout, "bank-heldout"), True),
        "unanswerable-in": (Dataset([q for q in neg if _field(q) == "in"], "in"), False),
        "unanswerable-out": (Dataset([q for q in neg if _field(q) != "in"], "out"), False),
    }


def _field(q: EvalQuestion) -> str:
    return q.field


def fitted_on() -> dict[str, Any]:
    files = [*LEARNER_FIT_FILES, *NEGATIVE_FILES, "gold.json"]
    return {
        "files": file_digests(files),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "max_false_declines": MAX_FALSE_DECLINES,
    }
