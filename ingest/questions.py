"""The handbook's question bank: the `**Qn: ...**` questions of Section 19 and the scenarios of Section 20.

Parsed from the handbook itself, so the eval and the study mode follow the handbook as it changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.markdown import parse_sections

QUESTIONS_SECTION = "Section 19"
SCENARIOS_SECTION = "Section 20"

_QUESTION = re.compile(r"^\*\*Q(\d+)\s*[:.]\s*(.+?)\*\*\s*$", re.S)
_SCENARIO = re.compile(r"^Scenario\s+(\d+)\s*[:.—-]\s*(.+)$")


@dataclass(frozen=True)
class BankQuestion:
    """One question of the bank with its reference answer and where it stands in the handbook."""

    id: str  # "Q6", or "S3" for scenario 3 of Section 20
    question: str
    reference: str
    section_path: tuple[str, ...]
    line_start: int
    line_end: int

    @property
    def section(self) -> str:
        return " > ".join(self.section_path)


def in_question_bank(section_path: tuple[str, ...]) -> bool:
    """Chunks of these sections are left out of the `heldout` eval: they contain the answers verbatim."""
    return bool(section_path) and section_path[0].startswith((QUESTIONS_SECTION + " ", SCENARIOS_SECTION + " "))


def asked(first_line: str, section_path: tuple[str, ...]) -> str:
    """What a bank chunk asks, from its first line and heading: its `**Qn: ...**` question, or the title of
    its Section 20 scenario ("Cold Start Problem in Recommendations")."""
    question = _QUESTION.match(first_line.strip())
    if question:
        return " ".join(question.group(2).split())
    scenario = _SCENARIO.match(section_path[-1]) if section_path else None
    return scenario.group(2).strip() if scenario else (section_path[-1] if section_path else "")


def _unquote(text: str) -> str:
    return "\n".join(re.sub(r"^>\s?", "", line) for line in text.splitlines()).strip()


def parse_question_bank(markdown: str) -> list[BankQuestion]:
    """All questions of Sections 19 and 20, in handbook order."""
    out: list[BankQuestion] = []
    for section in parse_sections(markdown):
        top = section.path[0]
        blocks = [b for b in section.blocks if b.kind != "hr"]
        if top.startswith(QUESTIONS_SECTION + " "):
            current: list = []
            for block in [*blocks, None]:
                match = _QUESTION.match(block.text) if block is not None and block.kind == "paragraph" else None
                if (match or block is None) and current:
                    head, body = current[0], current[1:]
                    q = _QUESTION.match(head.text)
                    assert q is not None
                    out.append(
                        BankQuestion(
                            id=f"Q{q.group(1)}",
                            question=" ".join(q.group(2).split()),
                            reference="\n\n".join(_unquote(b.text) for b in body),
                            section_path=section.path,
                            line_start=head.line_start,
                            line_end=(body or [head])[-1].line_end,
                        )
                    )
                    current = []
                if match:
                    current = [block]
                elif current and block is not None:
                    current.append(block)
        elif top.startswith(SCENARIOS_SECTION + " ") and len(section.path) > 1 and blocks:
            match = _SCENARIO.match(section.path[-1])
            if match:
                out.append(
                    BankQuestion(
                        id=f"S{match.group(1)}",
                        question=match.group(2).strip(),
                        reference="\n\n".join(b.text for b in blocks),
                        section_path=section.path,
                        line_start=blocks[0].line_start,
                        line_end=blocks[-1].line_end,
                    )
                )
    return out
