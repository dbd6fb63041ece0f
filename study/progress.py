"""The learner's progress in SQLite: one row per card state, one per review, each answer one transaction.

A quiz killed mid-way loses at most the answer in flight: every graded answer commits before the next
card is shown.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest.errors import HbragError

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS cards (
    card_id TEXT PRIMARY KEY,
    section TEXT NOT NULL,
    state TEXT NOT NULL,
    due TEXT NOT NULL,
    reviews INTEGER NOT NULL DEFAULT 0,
    last_score INTEGER
);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    card_id TEXT NOT NULL,
    reviewed_at TEXT NOT NULL,
    score INTEGER NOT NULL,
    answer TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_card ON reviews(card_id);
"""


@dataclass(frozen=True)
class CardProgress:
    card_id: str
    section: str
    state: str
    due: datetime
    reviews: int
    last_score: int | None


class ProgressStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            with self._db:
                self._db.executescript(_SCHEMA)
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version == 0:
                    self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                elif version != SCHEMA_VERSION:
                    raise HbragError(f"progress database {self.path} has version {version}; expected {SCHEMA_VERSION}")
        except (sqlite3.DatabaseError, OSError) as exc:
            raise HbragError(f"cannot open the progress database {self.path}: {exc}") from exc

    def get(self, card_id: str) -> CardProgress | None:
        row = self._db.execute(
            "SELECT card_id, section, state, due, reviews, last_score FROM cards WHERE card_id = ?", (card_id,)
        ).fetchone()
        return _progress(row) if row else None

    def all(self) -> dict[str, CardProgress]:
        rows = self._db.execute("SELECT card_id, section, state, due, reviews, last_score FROM cards")
        return {r[0]: _progress(r) for r in rows}

    def record(
        self,
        card_id: str,
        section: str,
        state: str,
        due: datetime,
        score: int,
        answer: str,
        now: datetime | None = None,
    ) -> None:
        """Store one graded answer and the card's new state, atomically."""
        now = now or datetime.now(UTC)
        with self._db:
            self._db.execute(
                "INSERT INTO reviews (card_id, reviewed_at, score, answer) VALUES (?, ?, ?, ?)",
                (card_id, now.isoformat(), score, answer),
            )
            self._db.execute(
                """INSERT INTO cards (card_id, section, state, due, reviews, last_score) VALUES (?, ?, ?, ?, 1, ?)
                   ON CONFLICT(card_id) DO UPDATE SET section = excluded.section, state = excluded.state,
                   due = excluded.due, reviews = cards.reviews + 1, last_score = excluded.last_score""",
                (card_id, section, state, due.isoformat(), score),
            )

    def amend(self, card_id: str, state: str, due: datetime, score: int) -> None:
        """Put the learner's own grade on the card's last review, and the state it leads to, atomically: the
        review stays one review (a self-grade corrects the grader, it is not a second answer)."""
        with self._db:
            found = self._db.execute(
                "UPDATE reviews SET score = ? WHERE id = (SELECT MAX(id) FROM reviews WHERE card_id = ?)",
                (score, card_id),
            ).rowcount
            if not found:
                raise HbragError(f"card {card_id} has no review to amend")
            self._db.execute(
                "UPDATE cards SET state = ?, due = ?, last_score = ? WHERE card_id = ?",
                (state, due.isoformat(), score, card_id),
            )

    def review_count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM reviews").fetchone()[0]

    def close(self) -> None:
        self._db.close()


def _progress(row: Iterable) -> CardProgress:
    card_id, section, state, due, reviews, last = row
    return CardProgress(card_id, section, state, datetime.fromisoformat(due), reviews, last)
