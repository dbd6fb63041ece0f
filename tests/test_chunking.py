"""The chunker on crafted Markdown and on the real handbook."""

from __future__ import annotations

import re

import pytest

from ingest.chunking import chunk_markdown
from ingest.markdown import parse_sections

CRAFTED = """# Title

Preamble that is not an answer source.

## Table of Contents

### Section 1 — Alpha

## Section 1 — Alpha

### Code

Intro paragraph.

```python
# 1. Not a heading
df.head()
```

### Table

| Term | Definition |
|:---|:---|
| **A** | first |
| **B** | second |

## Section 19 — Questions

### Group

**Q1: What is one?**
> One is a number.

**Q2: What is two?**
> - Two is
> - a number too

## Section 17 — Scenarios

### Scenario 1: Same Name

Body of the first.

## Section 20 — Scenario-Based Questions

### Scenario 1: Same Name

Body of the second.
"""


@pytest.fixture
def crafted():
    return chunk_markdown(CRAFTED)


def test_heading_inside_code_fence_is_code(crafted):
    paths = [c.section_path for c in crafted]
    assert ("Section 1 — Alpha", "Code") in paths
    assert not any("1. Not a heading" in part for p in paths for part in p)
    code_chunk = next(c for c in crafted if c.section_path[-1] == "Code")
    assert "# 1. Not a heading" in code_chunk.text and "Intro paragraph." in code_chunk.text


def test_table_of_contents_and_preamble_are_not_chunked(crafted):
    assert all(c.section_path[0] != "Table of Contents" for c in crafted)
    assert all("Preamble" not in c.text for c in crafted)


def test_table_chunk_kind_and_lines(crafted):
    table = next(c for c in crafted if c.section_path[-1] == "Table")
    assert table.kind == "table"
    lines = CRAFTED.splitlines()
    assert lines[table.line_start - 1].startswith("| Term")
    assert lines[table.line_end - 1] == "| **B** | second |"


def test_each_question_is_its_own_chunk(crafted):
    qa = [c for c in crafted if c.kind == "qa"]
    assert [c.qid for c in qa] == ["Q1", "Q2"]
    assert qa[1].text.startswith("**Q2") and "a number too" in qa[1].text
    assert "Q2" not in qa[0].text


def test_repeated_headings_stay_distinguishable(crafted):
    scenarios = [c for c in crafted if c.kind == "scenario"]
    assert len(scenarios) == 2
    assert len({c.section for c in scenarios}) == 2
    assert len({c.id for c in crafted}) == len(crafted)


def test_line_numbers_point_at_the_text(crafted):
    lines = CRAFTED.splitlines()
    for chunk in crafted:
        first_line = chunk.text.splitlines()[0]
        assert lines[chunk.line_start - 1] == first_line
        assert lines[chunk.line_end - 1] == chunk.text.splitlines()[-1]


def test_long_table_is_split_with_header_repeated():
    rows = "\n".join(f"| **T{i}** | definition number {i} of a long glossary |" for i in range(60))
    md = f"## Section 21 — Key Terminologies & Glossary\n\n### A-Z\n\n| Term | Definition |\n|:---|:---|\n{rows}\n"
    chunks = chunk_markdown(md, max_chars=600)
    assert len(chunks) > 2
    assert all(c.text.startswith("| Term | Definition |\n|:---|:---|") for c in chunks)
    lines = md.splitlines()
    for c in chunks:
        assert lines[c.line_end - 1] == c.text.splitlines()[-1]
    body = [r for c in chunks for r in c.text.splitlines()[2:]]
    assert body == rows.splitlines()


def test_long_section_never_splits_a_block():
    paras = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(10))
    md = f"## Section 1 — A\n\n### Long\n\n{paras}\n\n```\n" + "code line\n" * 80 + "```\n"
    chunks = chunk_markdown(md, max_chars=700)
    assert len(chunks) > 3
    for c in chunks:
        assert c.text.count("```") in (0, 2)
        assert all(p.startswith(("Paragraph", "```", "code line")) for p in c.text.split("\n\n"))


def test_parse_sections_heading_levels():
    sections = parse_sections("# T\n## A\ntext\n### B\nmore\n#### C\ndeep\n## D\nx\n")
    assert [s.path for s in sections] == [("A",), ("A", "B"), ("A", "B", "C"), ("D",)]


# --- the real handbook -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def handbook_chunks(handbook_text):
    return chunk_markdown(handbook_text)


def test_every_question_of_the_bank_is_its_own_chunk(handbook_chunks):
    qids = [c.qid for c in handbook_chunks if c.kind == "qa"]
    assert sorted(qids, key=lambda q: int(q[1:])) == [f"Q{i}" for i in range(1, 51)]
    for c in handbook_chunks:
        if c.kind == "qa":
            assert len(re.findall(r"\*\*Q\d+:", c.text)) == 1


def test_no_chunk_is_empty_or_crosses_a_section(handbook_chunks, handbook_text):
    lines = handbook_text.splitlines()
    heading_lines = {i + 1 for i, line in enumerate(lines) if re.match(r"^#{2,3} ", line)}
    in_fence = False
    for i, line in enumerate(lines, start=1):  # headings inside fences are not headings
        if line.startswith("```"):
            in_fence = not in_fence
        elif in_fence:
            heading_lines.discard(i)
    for c in handbook_chunks:
        assert c.text.strip()
        assert not any(c.line_start <= h <= c.line_end for h in heading_lines), c.section


def test_table_of_contents_is_never_a_chunk(handbook_chunks):
    toc_end = next(c.line_start for c in handbook_chunks)
    assert toc_end > 130  # the ToC spans lines 8-136
    assert all(c.section_path[0] != "Table of Contents" for c in handbook_chunks)


def test_scenario_sets_are_distinct(handbook_chunks):
    scen = [c for c in handbook_chunks if c.kind == "scenario"]
    assert {c.section_path[0][:10] for c in scen} == {"Section 17", "Section 20"}
    assert len({c.section for c in scen}) == len(scen) == 15


def test_ids_are_stable_and_unique(handbook_chunks, handbook_text):
    again = chunk_markdown(handbook_text)
    assert [c.id for c in again] == [c.id for c in handbook_chunks]
    assert len({c.id for c in handbook_chunks}) == len(handbook_chunks)


def test_a_bank_chunk_is_titled_by_its_question(handbook_chunks):
    """Two answers of "LLM Questions" read as the two questions they answer, in the lists a learner scans."""
    by_qid = {c.qid: c for c in handbook_chunks if c.qid}
    assert by_qid["Q37"].title == f"{by_qid['Q37'].section} > Q37: Explain RAG (Retrieval Augmented Generation)."
    prose = next(c for c in handbook_chunks if c.kind == "prose")
    assert prose.title == prose.section
