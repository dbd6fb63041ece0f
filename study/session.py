"""A study session: choose cards, grade answers, schedule them, and report mastery per section."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from study.cards import Card, build_deck
from study.grading import Grade, grade
from study.progress import CardProgress, ProgressStore
from study.schedule import Scheduler

MODES = ("mixed", "new", "due")


@dataclass(frozen=True)
class Feedback:
    card: Card
    grade: Grade
    next_due: datetime

    def text(self) -> str:
        """What the learner reads after answering: grade, what was right, what was missing, where to re-read."""
        g, c = self.grade, self.card
        lines = [f"Grade: {g.score}/5" + (" (skipped)" if g.skipped else "")]
        if g.covered:
            lines.append("You covered: " + ", ".join(g.covered))
        if g.missing and g.score < 5:
            lines.append("Missing: " + ", ".join(g.missing))
        lines.append("Reference answer:\n" + c.back.strip())
        lines.append(f"Re-read: {c.section} (handbook lines {c.line_start}-{c.line_end})")
        lines.append(f"Next review: {self.next_due:%Y-%m-%d %H:%M} UTC")
        return "\n".join(lines)


class StudySession:
    """Owns the deck and the progress store; the embedder grades, the scheduler plans reviews."""

    def __init__(self, handbook_text: str, progress_db: Path, embedder: Any) -> None:
        self.reload(handbook_text)
        self.store = ProgressStore(progress_db)
        self.scheduler = Scheduler()
        self.embedder = embedder

    def reload(self, handbook_text: str) -> None:
        """A new deck from a changed handbook; progress is kept by card id (a hash of the card's text)."""
        self.deck = build_deck(handbook_text)
        self.by_id = {c.id: c for c in self.deck}

    def select(self, topic: str = "", count: int = 10, mode: str = "mixed", now: datetime | None = None) -> list[Card]:
        """Due cards first (most overdue first), then new ones in handbook order; `topic` filters both."""
        now = now or datetime.now(UTC)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        progress = self.store.all()
        needle = topic.lower().strip()
        cards = [c for c in self.deck if not needle or needle in c.section.lower() or needle in c.front.lower()]
        due = sorted(
            (c for c in cards if c.id in progress and progress[c.id].due <= now), key=lambda c: progress[c.id].due
        )
        new = [c for c in cards if c.id not in progress]
        chosen = {"mixed": due + new, "new": new, "due": due}[mode]
        return chosen[:count]

    def answer(self, card: Card, text: str, now: datetime | None = None) -> Feedback:
        """Grade, schedule and store one answer (committed before this returns)."""
        now = now or datetime.now(UTC)
        result = grade(text, card.back, self.embedder)
        previous = self.store.get(card.id)
        state = previous.state if previous else self.scheduler.new_state()
        state, due = self.scheduler.review(state, result.score, now)
        self.store.record(card.id, card.section, state, due, result.score, text, now)
        return Feedback(card, result, due)

    def mastery(self, now: datetime | None = None) -> list[dict[str, Any]]:
        return mastery(self.deck, self.store.all(), now or datetime.now(UTC))


def mastery(deck: list[Card], progress: dict[str, CardProgress], now: datetime) -> list[dict[str, Any]]:
    """Per handbook section: cards, reviewed, due now, and mastery (mean last grade / 5, unseen as 0)."""
    rows: dict[str, dict[str, Any]] = {}
    for c in deck:
        row = rows.setdefault(c.section, {"section": c.section, "cards": 0, "reviewed": 0, "due": 0, "score": 0})
        row["cards"] += 1
        p = progress.get(c.id)
        if p:
            row["reviewed"] += 1
            row["due"] += p.due <= now
            row["score"] += p.last_score or 0
    out = []
    for row in rows.values():
        score = row.pop("score")
        out.append({**row, "mastery": round(score / (5 * row["cards"]), 3)})
    return out
