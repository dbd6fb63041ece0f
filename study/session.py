"""A study session: choose cards, grade answers, schedule them, and report mastery per section."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from study.cards import GLOSSARY_SECTION, Card, build_deck, find_card, glossary
from study.grading import Grade, Grader
from study.progress import CardProgress, ProgressStore
from study.schedule import Scheduler

MODES = ("mixed", "new", "due")


Place = tuple[str, int, int]  # section, first line, last line
Teacher = Callable[[Card], Place | None]


@dataclass(frozen=True)
class Feedback:
    card: Card
    grade: Grade
    next_due: datetime | None  # None when the answer was only checked, not recorded
    lines: dict[str, tuple[int, int]] = field(default_factory=dict)  # point text -> its handbook lines
    reread: Place | None = None  # the section that teaches the card, after a wrong answer

    def text(self) -> str:
        """What the learner reads: the grade, the points covered, missing and contradicted, where to re-read."""
        g, c = self.grade, self.card
        lines = [f"Grade: {g.score}/5" + (" (skipped)" if g.skipped else "")]
        if g.covered:
            lines.append("Covered: " + "; ".join(p.point.text.rstrip(".") for p in g.covered))
        if g.missing and g.score < 5:
            lines.append("Missing: " + "; ".join(p.point.text.rstrip(".") for p in g.missing))
        lines += [f"Close: {p.reason}" for p in g.missing if p.reason]  # a kind of the term, or what it is a kind of
        for p in g.contradicted:
            start, end = self.lines.get(p.point.text, (c.line_start, c.line_end))
            lines.append(
                f'Contradicts the handbook: you wrote "{p.said}", the handbook says "{p.point.text}" '
                f"({_span(start, end)}; {p.reason})"
            )
        lines.append("Reference answer:\n" + c.back.strip())
        if self.reread:
            lines.append(reread_line(self.reread))
            lines.append(f"  and the card's own answer: {c.section} ({_span(c.line_start, c.line_end)})")
        else:
            lines.append(f"Re-read: {c.section} ({_span(c.line_start, c.line_end)})")
        if self.next_due:
            lines.append(f"Next review: {self.next_due:%Y-%m-%d %H:%M} UTC")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The batch grader's JSON line: card, grade and each point's verdict with its handbook lines."""
        points = []
        for p in self.grade.points:
            start, end = self.lines.get(p.point.text, (self.card.line_start, self.card.line_end))
            points.append({**p.to_dict(), "line_start": start, "line_end": end})
        reread = None
        if self.reread:
            reread = dict(zip(("section", "line_start", "line_end"), self.reread, strict=True))
        return {
            "card": self.card.id,
            "kind": self.card.kind,
            "question": self.card.front,
            "grade": self.grade.score,
            "skipped": self.grade.skipped,
            "points": points,
            "reread": reread,
            "next_due": self.next_due.isoformat() if self.next_due else None,
        }


def reread_line(place: Place) -> str:
    section, start, end = place
    return f"Re-read: {section} ({_span(start, end)}), where this is taught"


def regraded_note(score: int, due: datetime, place: Place | None) -> str:
    """What the learner reads after giving their own grade: the new due date, and where to re-read if given."""
    note = f"Recorded your grade, {score}/5. Next review: {due:%Y-%m-%d %H:%M} UTC"
    return f"{note}\n{reread_line(place)}" if place else note


def _span(start: int, end: int) -> str:
    return f"handbook line {start}" if start == end else f"handbook lines {start}-{end}"


def point_lines(point: str, handbook_lines: list[str], start: int, end: int) -> tuple[int, int]:
    """The handbook line a point was taken from (its card's range when it cannot be found)."""
    key = re.sub(r"[^a-z0-9]+", "", point.lower())[:24]
    for number in range(start, min(end, len(handbook_lines)) + 1):
        if key and key in re.sub(r"[^a-z0-9]+", "", handbook_lines[number - 1].lower()):
            return number, number
    return start, end


class StudySession:
    """Owns the deck and the progress store; the grader grades, the scheduler plans reviews.

    `teacher` finds the section that teaches a card (retrieval with the question bank left out); it is asked
    only after a wrong answer, so a quiz that goes well never loads the index.
    """

    WRONG = 2  # a grade at or under this sends the learner to the teaching section

    def __init__(self, handbook_text: str, progress_db: Path | None, embedder: Any, teacher: Teacher | None = None):
        self.grader = Grader(embedder)
        self.reload(handbook_text)
        self.store = ProgressStore(progress_db) if progress_db else None
        self.scheduler = Scheduler()
        self.teacher = teacher
        self._before: dict[str, tuple[str, datetime]] = {}  # card id -> its state before this session's answer

    def reload(self, handbook_text: str) -> None:
        """A new deck from a changed handbook; progress is kept by card id (a hash of the card's text)."""
        self.deck = build_deck(handbook_text)
        self.grader.glossary = dict(glossary(handbook_text))
        self.by_id = {c.id: c for c in self.deck}
        self.handbook_lines = handbook_text.splitlines()

    def find(self, question: str) -> Card | None:
        return find_card(self.deck, question)

    def select(self, topic: str = "", count: int = 10, mode: str = "mixed", now: datetime | None = None) -> list[Card]:
        """Due cards first (most overdue first), then new ones in handbook order; `topic` filters both."""
        now = now or datetime.now(UTC)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        progress = self._store().all()
        needle = topic.lower().strip()
        cards = [c for c in self.deck if not needle or needle in c.section.lower() or needle in c.front.lower()]
        due = sorted(
            (c for c in cards if c.id in progress and progress[c.id].due <= now), key=lambda c: progress[c.id].due
        )
        new = [c for c in cards if c.id not in progress]
        chosen = {"mixed": due + new, "new": new, "due": due}[mode][:count]
        self.grader.prepare(c.back for c in chosen)  # now, while the learner reads the first question
        return chosen

    def check(self, card: Card, text: str) -> Feedback:
        """Grade one answer without recording it."""
        result = self.grader.grade(text, card.back)
        lines = {
            p.point.text: point_lines(p.point.text, self.handbook_lines, card.line_start, card.line_end)
            for p in result.points
        }
        reread = self.where_taught(card) if result.score <= self.WRONG else None
        return Feedback(card, result, None, lines, reread)

    def where_taught(self, card: Card) -> Place | None:
        """The section that teaches the card (not its own Q&A), if a teacher was given and finds one."""
        return self.teacher(card) if self.teacher else None

    def answer(self, card: Card, text: str, now: datetime | None = None) -> Feedback:
        """Grade, schedule and store one answer (committed before this returns)."""
        now = now or datetime.now(UTC)
        feedback = self.check(card, text)
        store = self._store()
        previous = store.get(card.id)
        before = previous.state if previous else self.scheduler.new_state()
        state, due = self.scheduler.review(before, feedback.grade.score, now)
        store.record(card.id, card.section, state, due, feedback.grade.score, text, now)
        self._before[card.id] = (before, now)
        return replace(feedback, next_due=due)

    def regrade(self, card: Card, score: int) -> datetime:
        """The learner's own grade for the answer just recorded, in place of the grader's; the next due date.

        The grader misses some misconceptions (eval/README.md), and a learner who has read the reference
        answer knows better: as in Anki, their grade decides. The card is rescheduled from its state before
        that answer, so correcting a grade is not a second review."""
        if not 0 <= score <= 5:
            raise ValueError("a grade is a whole number from 0 to 5")
        if card.id not in self._before:
            raise ValueError("answer this card first: only an answer recorded in this session can be regraded")
        before, when = self._before[card.id]
        state, due = self.scheduler.review(before, score, when)
        self._store().amend(card.id, state, due, score)
        return due

    def _store(self) -> ProgressStore:
        if self.store is None:
            raise ValueError("this session records nothing: give it a progress database")
        return self.store

    def mastery(self, now: datetime | None = None) -> list[dict[str, Any]]:
        return mastery(self.deck, self._store().all(), now or datetime.now(UTC))


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


def teacher(assistant: Callable[[], Any]) -> Teacher:
    """Where a card is taught: the first section retrieval finds for its question and answer with the question
    bank left out, that is neither the card's own section nor the glossary. `assistant` is called on first use,
    so the index is opened only when a learner needs it."""

    def find(card: Card) -> Place | None:
        found = assistant().retrieve(f"{card.front} {card.back}", exclude_bank=True, k=5)
        for hit in found.hits:
            path = hit.chunk.section_path
            if path != card.section_path and not path[0].startswith(GLOSSARY_SECTION + " "):
                return hit.chunk.section, hit.chunk.line_start, hit.chunk.line_end
        return None

    return find
