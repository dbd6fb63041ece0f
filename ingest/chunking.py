"""Turn parsed sections into retrieval chunks that never cut through a table, a code block or a Q&A pair.

One chunk per section (H3, or H2 without H3) when it fits; a longer section is packed from its natural
units: blocks, each `**Qn: ...**` question with its answer, glossary table rows (header repeated).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ingest.markdown import Block, Section, parse_sections
from ingest.questions import asked

# Bump when the chunking changes, so existing indexes are rebuilt rather than silently mixed.
CHUNKER_VERSION = "2"
# About 250 MiniLM word pieces: the embedding model truncates at 256, and the LLM reads every
# character of a source at ~230 tokens/s, so a source should be a focused passage, not a chapter.
MAX_CHARS = 1000

_QUESTION = re.compile(r"^\*\*Q(\d+)\s*[:.]")
_SCENARIO = re.compile(r"^Scenario\s+\d+\b")
_DRAWING = re.compile(r"[\u2190-\u21ff\u2500-\u259f\u25a0-\u25ff]+")


@dataclass(frozen=True)
class Chunk:
    """A passage of the handbook with where it came from; `text` is shown, `embed_text` is embedded."""

    id: str
    text: str
    section_path: tuple[str, ...]
    kind: str  # prose / qa / table / code / glossary / scenario
    line_start: int
    line_end: int
    qid: str = ""  # "Q6" for the question-bank chunk of question 6

    @property
    def section(self) -> str:
        return " > ".join(self.section_path)

    @property
    def title(self) -> str:
        """How a reader finds it in a list: its section, and a bank chunk's question after it, so two answers of
        "LLM Questions" read as the two questions they answer."""
        return f"{self.section} > {self.qid}: {self.asks}" if self.qid else self.section

    @property
    def asks(self) -> str:
        """What a bank chunk asks: its question, or its scenario's title (ingest/questions.py)."""
        return asked(self.text.split("\n", 1)[0], self.section_path)

    @property
    def embed_text(self) -> str:
        # The heading path carries the topic that the passage itself often leaves implicit; box-drawing
        # diagrams are noise to the embedding model (their labels stay).
        body = " ".join(_DRAWING.sub(" ", self.text).split())
        return f"{self.section}\n\n{body}"


@dataclass
class _Unit:
    blocks: list[Block] = field(default_factory=list)
    qid: str = ""

    @property
    def chars(self) -> int:
        return sum(len(b.text) for b in self.blocks)


def chunk_markdown(markdown: str, max_chars: int = MAX_CHARS) -> list[Chunk]:
    """Chunk a whole handbook. Ids are unique and stable for unchanged text under an unchanged path."""
    chunks = [c for s in parse_sections(markdown) for c in chunk_section(s, max_chars)]
    return _dedupe_ids(chunks)


def chunk_section(section: Section, max_chars: int = MAX_CHARS) -> list[Chunk]:
    """Chunk one section; the section's kind decides what its natural units are."""
    blocks = [b for b in section.blocks if b.kind != "hr"]
    if not blocks:
        return []
    top, title = section.path[0], section.path[-1]
    if "Glossary" in top:
        return [_make(section.path, "glossary", [b]) for b in _split_tables(blocks, max_chars, always=True)]
    if _SCENARIO.match(title) and len(section.path) > 1:
        return [_make(section.path, "scenario", blocks)]
    units = list(_question_units(blocks)) if any(_QUESTION.match(b.text) for b in blocks) else None
    if units is not None:
        return [_make(section.path, "qa" if u.qid else _kind(u.blocks), u.blocks, u.qid) for u in units]
    packed = _pack(_glued_units(_split_tables(blocks, max_chars)), max_chars)
    return [_make(section.path, _kind(group), group) for group in packed]


def _make(path: tuple[str, ...], kind: str, blocks: list[Block], qid: str = "") -> Chunk:
    text = "\n\n".join(b.text for b in blocks)
    digest = hashlib.sha1(json.dumps([list(path), text]).encode()).hexdigest()[:16]
    return Chunk(digest, text, path, kind, blocks[0].line_start, blocks[-1].line_end, qid)


def _kind(blocks: list[Block]) -> str:
    kinds = {b.kind for b in blocks}
    if kinds == {"code"}:
        return "code"
    if kinds == {"table"}:
        return "table"
    return "prose"


def _question_units(blocks: list[Block]) -> Iterator[_Unit]:
    """Each `**Qn: ...**` paragraph starts a unit that runs to the next question."""
    unit = _Unit()
    for block in blocks:
        match = _QUESTION.match(block.text) if block.kind == "paragraph" else None
        if match and unit.blocks:
            yield unit
            unit = _Unit()
        if match:
            unit.qid = f"Q{match.group(1)}"
        unit.blocks.append(block)
    if unit.blocks:
        yield unit


def _glued_units(blocks: list[Block]) -> list[list[Block]]:
    """A paragraph that introduces what follows ("**Components**:") stays with the next block."""
    units: list[list[Block]] = []
    glue = False
    for block in blocks:
        if glue and units:
            units[-1].append(block)
        else:
            units.append([block])
        glue = block.kind == "paragraph" and block.text.rstrip().endswith(":")
    return units


def _pack(units: Iterable[list[Block]], max_chars: int) -> list[list[Block]]:
    """Greedily fill chunks with whole units up to `max_chars`; an oversized unit stands alone."""
    groups: list[list[Block]] = []
    size = 0
    for unit in units:
        chars = sum(len(b.text) for b in unit)
        if groups and size + chars <= max_chars:
            groups[-1].extend(unit)
            size += chars
        else:
            groups.append(list(unit))
            size = chars
    return groups


def _split_tables(blocks: list[Block], max_chars: int, always: bool = False) -> list[Block]:
    """Split long tables by rows, repeating the header, so each piece reads as a table on its own."""
    out: list[Block] = []
    for block in blocks:
        if block.kind != "table" or (len(block.text) <= max_chars and not always):
            out.append(block)
            continue
        lines = block.text.splitlines()
        header, rows = lines[:2], lines[2:]
        budget = max(max_chars - sum(len(h) + 1 for h in header), 1)
        start = 0
        while start < len(rows):
            end, size = start, 0
            while end < len(rows) and (end == start or size + len(rows[end]) + 1 <= budget):
                size += len(rows[end]) + 1
                end += 1
            first = block.line_start if start == 0 else block.line_start + 2 + start
            text = "\n".join(header + rows[start:end])
            out.append(Block("table", first, block.line_start + 1 + end, text))
            start = end
    return out


def _dedupe_ids(chunks: list[Chunk]) -> list[Chunk]:
    """Identical text under an identical path would collide: suffix repeats with their ordinal."""
    seen: dict[str, int] = {}
    out = []
    for chunk in chunks:
        n = seen.get(chunk.id, 0)
        seen[chunk.id] = n + 1
        out.append(chunk if n == 0 else Chunk(**{**chunk.__dict__, "id": f"{chunk.id}-{n}"}))
    return out
