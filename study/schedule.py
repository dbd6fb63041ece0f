"""Spaced repetition with FSRS (the `fsrs` package, Anki's scheduler), fed by the 0-5 grades.

Grade to rating: 0-1 -> Again (forgotten), 2-3 -> Hard (partly recalled), 4 -> Good, 5 -> Easy.

A 3 is an answer with key points missing, and it is the grade a missed misconception gets most often (18 of
the 131 misconceptions on the grading splits nothing was fitted on; 17 got 4, 6 got 5): as Hard, a reviewed
card comes back sooner than as Good (27 days instead of 39 after an Easy first answer), and good answers
(4-5) keep their intervals (eval/README.md, twenty-second round).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def rating_for(score: int) -> Any:
    from fsrs import Rating

    if score <= 1:
        return Rating.Again
    if score <= 3:
        return Rating.Hard
    if score == 4:
        return Rating.Good
    return Rating.Easy


class Scheduler:
    """A thin owner of one `fsrs.Scheduler`, so the CLI, the UI and the tests share one configuration."""

    def __init__(self) -> None:
        import fsrs

        self._fsrs = fsrs
        self._scheduler = fsrs.Scheduler(enable_fuzzing=False)

    def new_state(self) -> str:
        return self._fsrs.Card().to_json()

    def review(self, state_json: str, score: int, now: datetime) -> tuple[str, datetime]:
        """The card's next state (as JSON) and its next due date after a review graded `score`."""
        card = self._fsrs.Card.from_json(state_json)
        card, _log = self._scheduler.review_card(card, rating_for(score), review_datetime=now)
        return card.to_json(), card.due
