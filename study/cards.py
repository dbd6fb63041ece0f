"""The deck: question-bank Q&As, scenarios, and glossary terms both ways, derived from the handbook.

A card's id is a hash of its front and back, so a changed handbook keeps the progress of every card
whose text did not change, and a card whose text changed starts afresh.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ingest.markdown import parse_sections, table_pairs
from ingest.questions import parse_question_bank

GLOSSARY_SECTION = "Section 21"


@dataclass(frozen=True)
class Card:
    id: str
    kind: str  # question / scenario / term / definition
    front: str  # what the learner is asked
    back: str  # the reference answer
    section_path: tuple[str, ...]  # where to re-read
    line_start: int
    line_end: int

    @property
    def section(self) -> str:
        return " > ".join(self.section_path)


def card_id(kind: str, front: str, back: str) -> str:
    return hashlib.sha1(f"{kind}\n{front}\n{back}".encode()).hexdigest()[:16]


def _card(kind: str, front: str, back: str, path: tuple[str, ...], start: int, end: int) -> Card:
    return Card(card_id(kind, front, back), kind, front, back, path, start, end)


def glossary(markdown: str) -> list[tuple[str, str]]:
    """(term, definition) for every glossary row: the terms a "Which term means ...?" answer is checked against."""
    return [(term, definition) for term, definition, _, _ in glossary_terms(markdown)]


def glossary_terms(markdown: str) -> list[tuple[str, str, tuple[str, ...], int]]:
    """(term, definition, section path, line) for every row of the glossary tables."""
    out = []
    for section in parse_sections(markdown):
        if not section.path[0].startswith(GLOSSARY_SECTION + " "):
            continue
        for block in section.blocks:
            if block.kind != "table":
                continue
            for offset, term, definition in table_pairs(block.text):
                out.append((term, definition, section.path, block.line_start + offset))
    return out


def build_deck(markdown: str) -> list[Card]:
    """Every card of the handbook, in handbook order."""
    deck = []
    for q in parse_question_bank(markdown):
        kind = "question" if q.id.startswith("Q") else "scenario"
        front = q.question if kind == "question" else f"Scenario: {q.question}. What would you do?"
        deck.append(_card(kind, front, q.reference, q.section_path, q.line_start, q.line_end))
    for term, definition, path, line in glossary_terms(markdown):
        deck.append(_card("term", f"What is {term}?", definition, path, line, line))
        deck.append(_card("definition", f"Which term means: {definition}?", term, path, line, line))
    return deck


def _normal(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip("?.! ")


def find_card(deck: list[Card], question: str) -> Card | None:
    """The card whose question reads as `question` (case and spacing aside), as the deck shows it; where two differ
    only in case, the one written exactly so: the glossary's "What is Transfer Learning?" beside the bank's "What
    is transfer learning?" (the glossary's had been unreachable by its question)."""
    wanted = _normal(question)
    found = [c for c in deck if _normal(c.front) == wanted]
    return next((c for c in found if c.front == question.strip()), found[0] if found else None)
