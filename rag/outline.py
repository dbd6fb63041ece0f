"""Questions about the handbook itself: "what's in section 9?", "summarize section 12", "what topics does the
handbook cover?". Searched, "summarize section 9" showed Prompt Engineering (Section 13) and the handbook-wide
question was declined. The answer is the handbook's own outline: the subsections' headings with their lines,
each of which can be asked about by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from ingest.markdown import SectionSpan, section_spans
from rag.scope import named_section, section_number

# A request about the outline has no other words than these ("what does section 9 cover?", "table of
# contents"); "What does section 9 say about dropout?" is a question about dropout.
_OUTLINE_WORDS = frozenset(
    "what what's whats which is are in does do the a an of cover covers covered summarize summarise summary "  # noqa: SIM905
    "outline overview give me show list topics topic contents content about tell handbook book guide it please "
    "can you could explain teach teaches table sections chapters there inside go over briefly quick all".split()
)
_WHOLE = frozenset({"handbook", "book", "guide", "topics", "contents", "sections", "chapters"})
_WORD = re.compile(r"[\w'’]+")


def asks_outline(question: str, titles: Mapping[int, str] | None = None) -> tuple[bool, int]:
    """Whether a question asks for the outline, and of which section (0: the whole handbook), named by number or
    by its title's words among `titles` (rag/scope.py).

    >>> asks_outline("summarize section 9"), asks_outline("What topics does the handbook cover?")
    ((True, 9), (True, 0))
    >>> asks_outline("What does section 9 say about dropout?"), asks_outline("What is covered?")
    ((False, 0), (False, 0))
    >>> asks_outline("what's in the NLP section?", {12: "Section 12 — Natural Language Processing (NLP)"})
    (True, 12)
    """
    scope = named_section(question, titles)
    rest = scope.question if scope else question
    words = {w.lower().replace("’", "'") for w in _WORD.findall(rest)}
    if not words <= _OUTLINE_WORDS:
        return False, 0
    if scope:
        return True, scope.number
    return bool(words & _WHOLE), 0


@lru_cache(maxsize=2)
def _spans(handbook: str) -> tuple[SectionSpan, ...]:
    """The numbered sections and the Quick Reference, parsed once per handbook text."""
    return tuple(s for s in section_spans(handbook) if section_number(s.path[0]) or s.path[0] == "Quick Reference")


def outline(handbook: str, number: int) -> str:
    """The outline as Markdown: a numbered section's subsections, or every section (0), with their lines."""
    spans = _spans(handbook)
    tops = [s for s in spans if s.level == 2]
    if not tops:
        return "The handbook has no numbered sections to list."
    if number == 0:
        numbered = sum(1 for s in tops if section_number(s.path[0]))
        extra = " and a Quick Reference" if numbered < len(tops) else ""
        lines = [f"The handbook has {numbered} numbered sections{extra}:"]
        lines += [f"- {s.path[0]} (lines {s.line_start}-{s.line_end})" for s in tops]
        lines.append('Ask "what is in section 9?" for the topics of one.')
        return "\n".join(lines)
    top = next((s for s in tops if section_number(s.path[0]) == number), None)
    if top is None:
        numbers = sorted(section_number(s.path[0]) for s in tops if section_number(s.path[0]))
        return f"The handbook's sections are numbered {numbers[0]} to {numbers[-1]}; there is no section {number}."
    subs = [s for s in spans if s.level == 3 and s.path[0] == top.path[0]]
    lines = [f"{top.path[0]} (lines {top.line_start}-{top.line_end}) covers:"]
    lines += [f"- {s.path[-1]} (lines {s.line_start}-{s.line_end})" for s in subs]
    if subs:
        lines.append(f'Ask about any of them by name ("{subs[0].path[-1].lower()}").')
    return "\n".join(lines)
