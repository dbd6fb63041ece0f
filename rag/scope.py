"""A question that names a section: "What does section 9 say about dropout?", "In the NLP section, ...".

A learner reading the handbook refers to it by its numbers or its titles. Searched like any question, that
one was answered from the bank's Q20, and Section 9's own Regularization Techniques table was not even among the
sources. The named section is searched first when it mentions what the question asks about; when it does not ("What does
section 2 say about dropout?"), the answer says so and shows where the handbook does teach it, and a number the
handbook lacks gets its range. A title's words must name one section alone: "the learning section" (6, 7 or 9?)
names none, and the question is searched as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from rag.definition import mentioned

_NUMBER = r"(?:section|sec\.?|chapter|§)\s*(?P<number>\d{1,3})(?:\.\d+)*\b"  # "section 5.2" is in section 5
NUMBERED = re.compile(_NUMBER.replace("?P<number>", ""), re.IGNORECASE)
_WORDS = r"(?P<name>(?:(?!the\b)[\w&/-]+\s+){0,3}?(?!the\b)[\w&/-]+)"
# "section 9", "sec 7", "§3"; "the deep learning section", "the section on model deployment", "the glossary".
_NAMED = (
    rf"(?:{_NUMBER}|the\s+{_WORDS}\s+section\b"
    rf"|the\s+section\s+(?:on|about)\s+{_WORDS.replace('name', 'topic')}"
    r"(?=\s+(?:say|says|said|tell|tells|explain|explains|cover|covers|describe|describes)\b|\s*[,:;?.!]|\s*$)"
    r"|the\s+(?P<glossary>glossary)\b)"
)
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


def named_section(question: str, titles: Mapping[int, str] | None = None) -> Scope | None:
    """The section a question names, by number or by its title's words among `titles` (number -> heading), and
    the question without the mention; None when it names none (a title's words must name one section alone).

    >>> named_section("What does section 9 say about dropout?").question
    'What does the handbook say about dropout?'
    >>> s = named_section("In section 6, what is said about the bias-variance tradeoff?"); s.number, s.question
    (6, 'what is said about the bias-variance tradeoff?')
    >>> named_section("how does attention work in section 12?").question, named_section("sec 7: PCA?").question
    ('how does attention work?', 'PCA?')
    >>> titles = {6: "Section 6 — Supervised Learning", 9: "Section 9 — Deep Learning Fundamentals"}
    >>> s = named_section("What does the deep learning section say about dropout?", titles); s.number, s.question
    (9, 'What does the handbook say about dropout?')
    >>> named_section("What does the learning section say?", titles), named_section("What is dropout?", titles)
    (None, None)
    >>> named_section("What does section 5.2 say about scaling?").question
    'What does the handbook say about scaling?'
    """
    for pattern, instead in ((_LEADING, ""), (_TRAILING, ""), (_INSIDE, "the handbook")):
        found = pattern.search(question)
        number = _number(found, titles or {}) if found else 0
        if found and number >= 0:
            rest = f"{question[: found.start()]}{instead}{question[found.end() :]}"
            return Scope(number, " ".join(rest.split()) or question)
    return None


def _number(found: re.Match[str], titles: Mapping[int, str]) -> int:
    """The number a mention names, or -1 when its words name no section alone (or several)."""
    if found.group("number"):
        return int(found.group("number"))
    words = _words(found.group("name") or found.group("topic") or found.group("glossary"))
    named = [n for n, title in titles.items() if words <= _words(title.partition("—")[2])]
    return named[0] if len(named) == 1 else -1


def _words(text: str) -> set[str]:
    """A title's words, lower case and singular ("LLMs" is "llm"), "&", "/" and brackets dropped: "the ML
    section" names both "Mathematics for ML" and "ML/AI Tools & Frameworks", so neither."""
    return {re.sub(r"(?<=\w{3})s$", "", w) for w in re.findall(r"[\w-]+", text.lower())}


def section_number(heading: str) -> int:
    """The number of a top-level heading ("Section 9 — Deep Learning Fundamentals" → 9), 0 for none."""
    match = _HEADING.match(heading)
    return int(match.group(1)) if match else 0
