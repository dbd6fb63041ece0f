"""Parse the handbook's Markdown into sections of top-level blocks, with 1-based line ranges.

We use markdown-it-py rather than regexes so that a `#` line inside a fenced code block stays code,
and so that every block (paragraph, list, table, fence, quote) comes with its exact source lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt

# Sections that are navigation, not an answer source: never chunked, never retrieved.
SKIPPED_SECTIONS = frozenset({"Table of Contents"})
_PAIR_ROW = re.compile(r"^\|\s*(.+?)\s*\|\s*(.+?)\s*\|\s*$")

_BLOCK_KINDS = {
    "paragraph_open": "paragraph",
    "bullet_list_open": "list",
    "ordered_list_open": "list",
    "blockquote_open": "quote",
    "table_open": "table",
    "fence": "code",
    "code_block": "code",
    "hr": "hr",
    "html_block": "html",
}


@dataclass(frozen=True)
class Block:
    """One top-level Markdown block: `kind` is paragraph/list/quote/table/code/hr/html."""

    kind: str
    line_start: int  # 1-based, inclusive
    line_end: int  # 1-based, inclusive
    text: str


@dataclass
class Section:
    """A heading (H2 or deeper) and the blocks directly under it, before the next heading."""

    path: tuple[str, ...]
    level: int
    line_start: int
    blocks: list[Block] = field(default_factory=list)


def parse_sections(markdown: str) -> list[Section]:
    """Split `markdown` into sections keyed by their heading path from the H2 down.

    Content above the first H2 (the title and its preamble) and the Table of Contents are dropped:
    they are about the handbook, not answers in it.

    >>> [s.path for s in parse_sections("# T\\n## A\\ntext\\n### B\\nmore\\n")]
    [('A',), ('A', 'B')]
    """
    lines = markdown.splitlines()
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []  # (level, title) of the open headings, H2 and deeper
    current: Section | None = None
    for i, token in enumerate(tokens):
        if token.level != 0 or token.map is None or token.nesting == -1:
            continue
        start, end = token.map
        if token.type == "heading_open":
            level = int(token.tag[1:])
            title = tokens[i + 1].content.strip()
            if level == 1:
                stack, current = [], None
                continue
            stack = [(lv, t) for lv, t in stack if lv < level] + [(level, title)]
            path = tuple(t for _, t in stack)
            if path[0] in SKIPPED_SECTIONS:
                current = None
                continue
            current = Section(path=path, level=level, line_start=start + 1)
            sections.append(current)
            continue
        kind = _BLOCK_KINDS.get(token.type)
        if current is None or kind is None:
            continue
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1  # a list's range may run over the blank line that closes it
        text = "\n".join(lines[start:end])
        current.blocks.append(Block(kind, start + 1, end, text))
    return sections


@dataclass(frozen=True)
class SectionSpan:
    """A heading with everything under it (its subsections included), for reading the handbook."""

    path: tuple[str, ...]
    level: int
    line_start: int
    line_end: int


def section_spans(markdown: str) -> list[SectionSpan]:
    """Each section from its heading to just before the next heading of the same or a higher level."""
    sections = parse_sections(markdown)
    total = len(markdown.splitlines())
    spans = []
    for i, s in enumerate(sections):
        end = next((n.line_start - 1 for n in sections[i + 1 :] if n.level <= s.level), total)
        spans.append(SectionSpan(s.path, s.level, s.line_start, end))
    return spans


def table_pairs(table: str) -> list[tuple[int, str, str]]:
    """(line offset, term, definition) for each body row of a two-column table ("| **Epoch** | One complete
    pass |"); the header and separator rows are skipped wherever they are, so a table cut into chunks parses too.

    >>> table_pairs("| Term | Meaning |\\n|:---|:---|\\n| **Epoch** | One full pass |\\n| **Loss** | Error |\\n\\n---")
    [(2, 'Epoch', 'One full pass'), (3, 'Loss', 'Error')]
    """
    out = []
    lines = table.splitlines()
    for offset, line in enumerate(lines):
        match = _PAIR_ROW.match(line)
        if not match or set(match.group(1)) <= set(":-| "):
            continue
        following = lines[offset + 1].strip() if offset + 1 < len(lines) else ""
        if following.startswith("|") and set(following) <= set(":-| "):
            continue  # a header row: the separator follows it (a blank line after the last row is no separator)
        out.append((offset, match.group(1).replace("**", "").strip(), match.group(2).strip()))
    return out
