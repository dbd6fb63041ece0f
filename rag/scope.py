"""A question that names a numbered section: "What does section 9 say about dropout?".

A learner reading the handbook refers to it by its numbers. Searched like any question, that one was answered
from the bank's Q20, and Section 9's own Regularization Techniques table was not even among the sources. The
named section is searched first when it mentions what the question asks about; when it does not ("What does
section 2 say about dropout?"), the answer says so and shows where the handbook does teach it, and a number the
handbook lacks gets its range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.definition import mentioned

_NAMED = r"(?:section|sec\.?|chapter|§)\s*(\d{1,3})\b"
NUMBERED = re.compile(_NAMED, re.IGNORECASE)
# Where the mention stands decides what is left: "In section 6, what is ...?" and "... in section 6?" lose it
# with its preposition; "What does section 9 say about X?" reads "What does the handbook say about X?".
_LEADING = re.compile(rf"^\s*(?:(?:in|from|according\s+to|per|for)\s+)?(?:the\s+)?{_NAMED}\s*[,:;.\-–—]*\s*", re.I)
_TRAILING = re.compile(rf"\s*,?\s*(?:in|from|of|according\s+to)\s+(?:the\s+)?{_NAMED}\s*(?=[?.!]*\s*$)", re.I)
_INSIDE = re.compile(rf"(?:the\s+)?{_NAMED}", re.IGNORECASE)
_HEADING = re.compile(r"Section (\d+)\b")

TAUGHT = "taught"  # the named section mentions what the question asks about: it is searched first
ELSEWHERE = "elsewhere"  # it does not: the whole handbook is searched, and the answer says so
MISSING = "missing"  # the handbook has no section of that number


@dataclass(frozen=True)
class Scope:
    """The section a question names, what is left of the question without it, and what was found there."""

    number: int
    question: str  # the question without the mention: what is searched and what the model reads
    status: str = ""  # TAUGHT, ELSEWHERE or MISSING
    title: str = ""  # the section's heading ("Section 9 — Deep Learning Fundamentals"), when it exists
    terms: tuple[str, ...] = ()  # the handbook's terms the question names, as it writes them, that the section
    # mentions (TAUGHT) or never does (ELSEWHERE)
    keys: tuple[str, ...] = ()  # the same terms as the handbook's index of terms writes them (rag/definition.py)
    numbers: tuple[int, int] = (0, 0)  # the handbook's first and last section numbers (for MISSING)

    def note(self) -> str:
        """What the learner reads above the passages when the named section is not what they show."""
        if self.status == MISSING:
            first, last = self.numbers
            return f"The handbook's sections are numbered {first} to {last}; there is no section {self.number}."
        if self.status == ELSEWHERE:
            what = " or ".join(f'"{t}"' for t in self.terms) if self.terms else "this"
            return f"{self.title} does not mention {what}; below is where the handbook does."
        return ""

    def shows(self, text: str) -> bool:
        """Whether a passage of the section searched first (its heading path and text) names a term the question
        asks about: "What does section 21 say backpropagation is?" is answered by the glossary's Backpropagation
        row by construction."""
        return self.status == TAUGHT and bool(self.keys) and bool(mentioned(text, self.keys))

    def to_dict(self) -> dict[str, object]:
        return {"section": self.number, "title": self.title, "status": self.status, "note": self.note()}


def named_section(question: str) -> Scope | None:
    """The section a question names by number, and the question without it (None when it names none).

    >>> named_section("What does section 9 say about dropout?").question
    'What does the handbook say about dropout?'
    >>> s = named_section("In section 6, what is said about the bias-variance tradeoff?"); s.number, s.question
    (6, 'what is said about the bias-variance tradeoff?')
    >>> named_section("how does attention work in section 12?").question, named_section("sec 7: PCA?").question
    ('how does attention work?', 'PCA?')
    >>> named_section("What is dropout?") is None
    True
    """
    found = NUMBERED.search(question)
    if found is None:
        return None
    rest = _LEADING.sub("", question, count=1)
    if rest == question:
        rest = _TRAILING.sub("", question, count=1)
    if rest == question:
        rest = _INSIDE.sub("the handbook", question, count=1)
    return Scope(int(found.group(1)), " ".join(rest.split()) or question)


def section_number(heading: str) -> int:
    """The number of a top-level heading ("Section 9 — Deep Learning Fundamentals" → 9), 0 for none."""
    match = _HEADING.match(heading)
    return int(match.group(1)) if match else 0
