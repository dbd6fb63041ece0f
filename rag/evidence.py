"""Evidence: the few handbook passages (a sentence, a bullet, a table row) that answer the question.

A 135M model cannot use 400 tokens of raw chunks; it can rephrase three short facts. And a learner is
best served by the handbook's own words, with line numbers. So retrieval's chunks are split into
passages, each scored against the question (MiniLM cosine plus the share of the question's content
terms it contains), and the best few become both the model's whole context and the "From the handbook"
block shown under the answer. A bank Q&A whose question matches the learner's is the best evidence
there is: its answer is taken whole.

Pure functions of plain data; the embedding function is passed in.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ingest.chunking import Chunk
from rag.definition import asked_term, bank_term, rows_named
from rag.formula import REQUEST_WORDS, asks_for_formula, before_math, has_math, mean_is_subject

# A bank question this similar to the learner's is the same question, reworded at most a little. Measured:
# none of the 87 learner-worded or 62 unanswerable questions of eval/data reaches 0.65 against a bank
# question, so the shortcut never answers a question the bank does not ask.
SAME_QUESTION = 0.72
# Weight of the exact-term share next to the cosine (embeddings miss rare terms such as "L1" or "ReLU").
TERM_WEIGHT = 0.25
# A passage this far below the best one is about something else.
SPREAD = 0.3
# Later-ranked chunks are less likely to be the teaching section. 0.03 until the query adapter made the
# first chunk right more often; 0.1 chosen on the fitting learner sets (eval/README.md, fourteenth round).
# Since the twentieth round the first passage comes from the first chunk anyway (`select`); the decay orders
# the other two.
RANK_DECAY = 0.1
# Passages that are a whole fenced block, shown as code: a section's only program, or a diagram.
WHOLE_BLOCKS = ("program", "diagram")
# A longer diagram is a page, not a passage (the handbook's run to 17 lines).
DIAGRAM_LINES = 20
# A table of at most this many rows is shown whole: its rows are alternatives read side by side (which
# distribution, which optimizer), and the best-scored row alone is often the wrong one. 49 of the
# handbook's 54 tables; the other five are the glossary and the notation sheet, looked up one row at a time.
TABLE_ROWS = 8
# Two items chosen of a list of at most this many are shown with the rest of it (`_whole_list`): 93 of the
# handbook's 98 lists ("Handling Outliers", "Communication Tips"); the other five have 7-10.
SHORT_LIST = 6

_DRAWING = re.compile(r"[\u2190-\u21ff\u2500-\u259f\u25a0-\u25ff]")
_BULLET = re.compile(r"^\s*(?:>\s*)*(?:[-*+]|\d+[.)])\s+")
_QUOTE = re.compile(r"^\s*>\s?")
_PIPE = re.compile(r"(?<!\\)\|")  # a cell border, not an escaped pipe inside a cell
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'*])")
_QUESTION_LINE = re.compile(r"^\*\*Q\d+\s*[:.]\s*(.+?)\*\*\s*$")
_WORD = re.compile(r"[a-z0-9][a-z0-9\-]*")
_STOP_WORDS = (
    "a an the of to in on for and or is are was were be been being do does did how what why when which who "
    "whom whose where can could should would will shall may might must i you we they it its this that these "
    "those my your our their me us them with without from by at as into about between vs versus than then "
    "so if not no yes there here also just more most some any each other such only very too much many get "
    "got use used using work works explain describe difference differences different mean means tell give "
    "good best way ways thing things happen happens something my"
)
_STOP = frozenset(_STOP_WORDS.split())


@dataclass(frozen=True)
class Passage:
    """One unit of evidence: `text` is shown verbatim; `plain` is what the model and the embedder read."""

    text: str
    plain: str
    section: str
    line_start: int
    line_end: int
    kind: str  # sentence / item / row / code / qa / program / diagram
    chunk_id: str = ""
    rank: int = 1  # the retrieval rank of its chunk
    question: str = ""  # for kind "qa": the bank question it answers
    label: str = ""  # the line that introduces its list or diagram ("**ReLU is Default Because**:")
    list_id: int = 0  # for a list item: 1 + the chunk line where its list starts (items of one list share it)
    table: str = ""  # for a row of a small table: the whole table as the handbook writes it
    table_lines: tuple[int, int] = (0, 0)  # and its handbook lines, header to last row
    marked: tuple[int, ...] = ()  # for a table shown whole: the handbook lines of the rows chosen from it
    picked: tuple[int, ...] = ()  # of those, in the first passage shown: the answer's pick (`whole_tables`)
    # What is shown in its place (`as_shown`): a bank answer's sentence or item shows the whole answer under its
    # question; two items of a short list show the whole list. The model reads this passage, not its whole.
    whole: Passage | None = None


@dataclass(frozen=True)
class Evidence:
    passage: Passage
    score: float

    def to_dict(self) -> dict[str, Any]:
        p = self.passage
        return {
            "text": p.text,
            "section": p.section,
            "line_start": p.line_start,
            "line_end": p.line_end,
            "kind": p.kind,
            "score": round(self.score, 4),
            "marked": list(p.marked),
            "picked": list(p.picked),
        }


def plain(text: str) -> str:
    """Markdown to reading text: no emphasis, bullets, quote marks or table pipes."""
    text = _DRAWING.sub(" ", text)
    text = "\n".join(_BULLET.sub("", _QUOTE.sub("", line)) for line in text.splitlines())
    text = re.sub(r"[*_`#]+", "", text)
    return " ".join(text.split())


def _locate(line: str, lines: Sequence[str] | None, lo: int, hi: int, fallback: int) -> int:
    """The 1-based handbook line holding `line`, searched within [lo, hi]; `fallback` if not found."""
    if lines:
        wanted = line.strip()
        for n in range(max(lo, 1), min(hi, len(lines)) + 1):
            if lines[n - 1].strip() == wanted:
                return n
    return fallback


def passages(
    chunk: Chunk, rank: int = 1, handbook_lines: Sequence[str] | None = None, programs: bool = False
) -> list[Passage]:
    """Split a chunk into passages: sentences of paragraphs, list items, table rows (header kept), code lines.

    A bank Q&A chunk also yields its whole answer as one passage (kind "qa"). Line numbers come from the
    handbook's own lines when given, else from the chunk's start plus the offset. A program is a passage of
    its own in a section that has nothing else, or with `programs` (a request for code), in any.
    """
    section = chunk.section
    lines = chunk.text.splitlines()
    out: list[Passage] = []

    def add(
        text: str,
        kind: str,
        offset: int,
        end_offset: int | None = None,
        question: str = "",
        flat: str = "",
        label: str = "",
        list_offset: int = -1,
    ) -> bool:
        flat = flat or (plain(text) if kind != "row" else text)
        if len(flat) < 12 or (kind != "qa" and flat.endswith(":") and len(flat.split()) <= 6):
            return False  # a label such as "**Solutions**:" says nothing alone
        step = kind == "item" and _STEP.match(text.splitlines()[-1])  # "5. Analyze results: Is it significant?"
        if kind != "qa" and not step and (flat.endswith("?") or flat.startswith(("Question:", "Situation:"))):
            # A question is not evidence for an answer, nor is the situation a scenario sets ("Your model accuracy
            # is only 65% on test set." opened two learners' questions); a step that asks one is part of a procedure.
            return False
        guess = chunk.line_start + offset
        start = _locate(lines[offset], handbook_lines, chunk.line_start - 2, chunk.line_end, guess)
        end = start
        if end_offset is not None and end_offset != offset:  # the chunker may have added or dropped blank lines
            guess = start + (end_offset - offset)
            end = _locate(lines[end_offset], handbook_lines, start + 1, chunk.line_end + 2, guess)
        shown = "\n".join(_QUOTE.sub("", line) for line in text.splitlines())  # quote marks: we quote it ourselves
        out.append(
            Passage(
                shown,
                flat,
                section,
                start,
                min(max(end, start), max(chunk.line_end, start)),
                kind,
                chunk.id,
                rank,
                question,
                label,
                list_offset + 1,
            )
        )
        return True

    if chunk.kind == "qa" and lines:
        match = _QUESTION_LINE.match(lines[0].strip())
        body = [i for i in range(1, len(lines)) if lines[i].strip()]
        if match and body:
            answer = "\n".join(lines[body[0] : body[-1] + 1])
            add(answer, "qa", body[0], body[-1], question=match.group(1).strip(), label=lines[0].strip())

    in_code = prose_code = False
    blocks: list[tuple[int, int, bool]] = []  # (first, last, is a program) of each fenced block, fences excluded
    header: list[str] = []
    table_first = -1  # the chunk line of the current table's header
    row_tables: dict[int, int] = {}  # a row passage's index in `out` -> its table's header line in the chunk
    # The line of the label that introduces the current list ("**ReLU is Default Because**:"); in a bank Q&A,
    # its question until a line of prose: "- Input data distributions" alone does not say it is what to monitor.
    # The question is shown above the item, not read with it (`_asks`): its topic words would lift every item
    # of the answer for any question on that topic ("Random Forest" brought Q10's items to a scaling question).
    lead = 0 if chunk.kind == "qa" and lines and _QUESTION_LINE.match(lines[0].strip()) else -1
    first_item = -1  # the first line of the current run of bullets
    for i, raw in enumerate(lines):
        line = raw.rstrip()
        if line.lstrip().startswith("```"):
            first_item = -1
            in_code = not in_code
            prose_code = in_code and line.strip() in ("```", "```text", "```math")  # not a program
            if in_code:
                blocks.append((i + 1, i, not prose_code))
            elif blocks and blocks[-1][1] < blocks[-1][0]:
                blocks[-1] = (blocks[-1][0], i - 1, blocks[-1][2])
            continue
        if not line.strip() or _QUESTION_LINE.match(line.strip()):
            header = [] if not line.strip() else header
            continue
        if in_code:
            # Formulas and definitions ("Total Error = Bias² + ..."), not a program or a diagram's labels.
            if prose_code and _is_formula(line):
                add(line.strip(), "code", i)
            continue
        if line.lstrip().startswith("|"):
            lead = first_item = -1
            if not header:
                header = [line]
                table_first = i
            elif _TABLE_RULE.match(line):
                header.append(line)
            else:
                if add(_row_text(header, line), "row", i):
                    row_tables[len(out) - 1] = table_first
            continue
        if _BULLET.match(line):
            first_item = i if first_item < 0 else first_item
            if lead < 0:
                add(line.strip(), "item", i, list_offset=first_item)
                continue
            # A bullet alone ("Computationally efficient") says nothing; with its label it answers.
            label = _QUOTE.sub("", lines[lead]).strip()
            gap = "\n…\n" if any(lines[j].strip() for j in range(lead + 1, i)) else "\n"
            flat = plain(line) if _asks(label) else f"{plain(label)} {plain(line)}"
            add(f"{label}{gap}{line.strip()}", "item", lead, i, flat=flat, label=label)
            continue
        first_item = -1
        said = plain(line)
        opens_list = said.endswith(":") and bool(_BULLET.match(next((x for x in lines[i + 1 :] if x.strip()), "")))
        lead = i if said.endswith(":") and (len(said.split()) <= 8 or opens_list) else -1
        sentences = _SENTENCE.split(_QUOTE.sub("", line).strip())
        # A sentence that opens a list ("Regularization adds penalty to loss function to prevent overfitting:")
        # is read with its items as their label, never shown alone with nothing after its colon.
        for sentence in sentences[:-1] if opens_list else sentences:
            add(sentence, "sentence", i)
    # A diagram (the confusion matrix, the 68-95-99.7 bell, the transformer's blocks) teaches as a whole and
    # its lines alone say nothing ("Actual Pos TP FN"): it is one passage, shown with the label that
    # introduces it, read as that label (else the section's title) and the diagram's words.
    for first, last, program in blocks:
        block = lines[first : last + 1]
        # The cells of a worked example ("1 0 1") are not words to match on.
        outline = " ".join(w for w in _DRAWING.sub(" ", "\n".join(block)).split() if not w.isdigit())
        if program or not block or len(block) > DIAGRAM_LINES or len(outline.split()) < 2:
            continue
        at = _label_before(lines, first - 1)
        label = _QUOTE.sub("", lines[at]).strip() if at >= 0 else ""
        name = plain(label).rstrip(":").strip() if label else chunk.section_path[-1]
        text = "\n".join([label, *block] if label else block)
        add(text, "diagram", at if at >= 0 else first, last, flat=f"{name}: {outline}", label=label)
    out = _with_tables(out, row_tables, lines, handbook_lines)
    if not out or programs:
        # A section that is only a program (the training loop, the EDA checklist, text preprocessing) would
        # lend nothing: the program becomes one passage, shown whole, read as its heading and its comments.
        for first, last, program in blocks:
            block = lines[first : last + 1]
            outline = _outline(block) or ("code" if programs else "")
            if program and outline:
                add("\n".join(block), "program", first, last, flat=f"{chunk.section_path[-1]}: {outline}")
    return out


def _with_tables(
    found: list[Passage], row_tables: dict[int, int], lines: Sequence[str], handbook_lines: Sequence[str] | None
) -> list[Passage]:
    """Each row of a table of at most TABLE_ROWS rows carries the whole table (`table`, `table_lines`).

    `row_tables` maps a row's index in `found` to its table's header line in the chunk. The table is read
    from the handbook when given: a long table split across chunks (the glossary) is not a small one."""
    tables: dict[int, list[int]] = {}
    for at, header in row_tables.items():
        tables.setdefault(header, []).append(at)
    out = list(found)
    for header, members in tables.items():
        first = found[members[0]]
        source, lo = (handbook_lines, first.line_start - 1) if handbook_lines else (lines, header + 2)
        if not 0 <= lo < len(source) or not _is_table_line(source[lo]):
            continue
        top, bottom = lo, lo
        while top > 0 and _is_table_line(source[top - 1]):
            top -= 1
        while bottom + 1 < len(source) and _is_table_line(source[bottom + 1]):
            bottom += 1
        if bottom - top - 1 > TABLE_ROWS:  # header and rule lines are not rows
            continue
        text = "\n".join(_QUOTE.sub("", line).strip() for line in source[top : bottom + 1])
        span = (top + 1, bottom + 1) if handbook_lines else (first.line_start - 2, found[members[-1]].line_end)
        for at in members:
            out[at] = replace(found[at], table=text, table_lines=span)
    return out


def _is_table_line(line: str) -> bool:
    return _QUOTE.sub("", line).lstrip().startswith("|")


def table_rows(text: str) -> list[str]:
    """A markdown table's rows as words, each read with its header ("Distribution: Poisson; Use Case: ...")."""
    lines = _table_lines(text)
    return [_row_text(lines[:1], row) for row in lines[1:]]


def _table_lines(text: str) -> list[str]:
    """A markdown table's header and rows, without its rule line."""
    return [line for line in text.splitlines() if line.strip() and not _TABLE_RULE.match(line)]


def _split_cells(line: str) -> list[str]:
    """A table line's cells as written; an escaped pipe ("Σ\\|y - ŷ\\| / n") stays inside its cell, unescaped."""
    return [c.replace("\\|", "|") for c in _PIPE.split(line.strip().strip("|"))]


def _asks(label: str) -> bool:
    """The label is a bank question's line ("**Q45: How do you monitor models in production?**")."""
    return bool(_QUESTION_LINE.match(label))


def reading(p: Passage) -> str:
    """What a learner reads of a passage as shown, in plain words (a table: every row)."""
    return ". ".join(table_rows(p.text)) if p.kind == "table" else p.plain


def _label_before(lines: Sequence[str], fence: int) -> int:
    """The line of the label ("**Confusion Matrix**:") right above the fence at `fence`, or -1."""
    before = [i for i in range(fence) if lines[i].strip()]
    if not before:
        return -1
    line = plain(lines[before[-1]])
    return before[-1] if line.endswith(":") and len(line.split()) <= 8 else -1


def _outline(program: Sequence[str]) -> str:
    """What a program says in words: its comments ("" with fewer than two)."""
    comments = _comments(program)
    return "; ".join(comments) if len(comments) >= 2 else ""


def _comments(code: Sequence[str]) -> list[str]:
    """A program's comments in order ("# 2. Missing Values" → "Missing Values"): the outline it teaches."""
    found = []
    for line in code:
        _, hash_, comment = line.partition("#")
        comment = re.sub(r"^\s*\d+[.)]\s*", "", comment).strip() if hash_ else ""
        if comment:
            found.append(comment)
    return found


def _is_formula(line: str) -> bool:
    """ "Total Error = Bias² + ...", "Q = Query (what I'm looking for)"; not "Fold 1: [Test] [Train] ..."."""
    if _DRAWING.search(line) or len(line.split()) < 3 or re.search(r"\[\w+\]\s*\[", line):
        return False
    return "=" in line or ":" in line


def _cells(line: str) -> list[str]:
    return [plain(c) for c in _split_cells(line)]


def aligned_table(text: str) -> list[str]:
    """A markdown table as aligned plain-text lines (a terminal shows no Markdown): the header, a rule, the
    rows, each cell as the handbook writes it, without bold or code marks.

    >>> print("\\n".join(aligned_table("| Test | Use |\\n|:---|:---|\\n| **ANOVA** | 3+ groups |")))
    Test   Use
    ─────  ─────────
    ANOVA  3+ groups
    """
    rows = [[re.sub(r"\*\*|`", "", c).strip() for c in _split_cells(line)] for line in _table_lines(text)]
    widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(max(map(len, rows), default=0))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False)).rstrip() for r in rows]
    return [out[0], "  ".join("─" * w for w in widths), *out[1:]] if out else []


def _row_text(header: list[str], row: str) -> str:
    """A table row read with its header: "Problem: High Bias; Solutions: More features, ..."."""
    names = _cells(header[0])
    values = _cells(row)
    if len(names) != len(values):
        return plain(row.replace("|", " "))
    return "; ".join(f"{n}: {v}" if n else v for n, v in zip(names, values, strict=True) if v)


def content_terms(text: str) -> set[str]:
    """The question's topic words, lightly stemmed (plural s dropped), stop and question words removed."""
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def term_share(question_terms: set[str], passage: Passage) -> float:
    if not question_terms:
        return 0.0
    words = content_terms(f"{passage.section} {passage.plain}")
    return len(question_terms & words) / len(question_terms)


def score_passages(
    question: str,
    question_vector: np.ndarray,
    candidates: Sequence[Passage],
    embed: Callable[[list[str]], np.ndarray],
) -> list[Evidence]:
    """Each passage's score: cosine to the question (read with its section title), plus exact terms,
    minus a little for a lower-ranked chunk. Best first."""
    if not candidates:
        return []
    texts = [embed_text(p) for p in candidates]
    vectors = np.asarray(embed(texts), dtype=np.float32)
    cosine = vectors @ np.asarray(question_vector, dtype=np.float32)
    terms = content_terms(question)
    scored = []
    for p, cos in zip(candidates, cosine, strict=True):
        s = float(cos) + TERM_WEIGHT * term_share(terms, p) - RANK_DECAY * (p.rank - 1)
        scored.append(Evidence(p, s))
    return sorted(scored, key=lambda e: -e.score)


def embed_text(p: Passage) -> str:
    # The section's own title gives a bare sentence ("Error from sensitivity to training data") its topic.
    title = p.section.split(" > ")[-1]
    return p.plain if p.kind in WHOLE_BLOCKS else f"{p.question or title}: {p.plain}"  # a block's outline has it


def same_question(question_vector: np.ndarray, bank: Sequence[Passage], embed: Callable) -> Passage | None:
    """The bank Q&A that asks the learner's question, if one does."""
    if not bank:
        return None
    vectors = np.asarray(embed([p.question for p in bank]), dtype=np.float32)
    sims = vectors @ np.asarray(question_vector, dtype=np.float32)
    best = int(np.argmax(sims))
    return bank[best] if sims[best] >= SAME_QUESTION else None


def select(scored: Sequence[Evidence], n: int = 3, per_chunk: int = 3, spread: float = SPREAD) -> list[Evidence]:
    """The best `n` passages within `spread` of the best, at most `per_chunk` from one chunk, none inside
    another.

    The first shown is the best passage of the first-ranked chunk (when it has one within `spread`): the
    reranker was fitted to put the teaching section first, and a passage of a neighbouring section can
    outscore it on words alone (eval/README.md, twentieth round). The rest follow by score.
    """
    if not scored:
        return []
    top = scored[0].score
    lead = next((e for e in scored if e.passage.rank == 1 and e.score >= top - spread), None)
    ordered = [lead, *(e for e in scored if e is not lead)] if lead is not None else list(scored)
    chosen: list[Evidence] = []
    used: dict[str, int] = {}
    for e in ordered:
        p = e.passage
        if e.score < top - spread:
            continue
        if used.get(p.chunk_id, 0) >= per_chunk:
            continue
        if any(p.plain in c.passage.plain or c.passage.plain in p.plain for c in chosen):
            continue
        chosen.append(e)
        used[p.chunk_id] = used.get(p.chunk_id, 0) + 1
        if len(chosen) == n:
            break
    return chosen


def _list_key(p: Passage, n: int) -> tuple[str, int]:
    """Which list an item belongs to: (chunk, label line), or (chunk, -first line) for a list without a label;
    anything else is its own group."""
    if p.kind == "item" and p.label:
        return (p.chunk_id, p.line_start)
    if p.kind == "item" and p.list_id:
        return (p.chunk_id, -p.list_id)
    return ("", n)


_STEP = re.compile(r"^\s*(?:>\s*)?\d+\.\s")  # "1. Standardize data": an item of a numbered list


def _steps(items: Sequence[Passage]) -> bool:
    """Every item is a step of a numbered list (its own line, the last of its text, starts "1. ")."""
    return all(_STEP.match(p.text.splitlines()[-1]) for p in items)


def _whole_list(items: list[Passage], pool: Sequence[Passage], key: tuple[str, int]) -> list[Passage]:
    """Two or more items of one list chosen: the whole list, when it is a numbered procedure ("…, 2. Compute the
    covariance, …, 5. Transform" reads as a procedure with holes, and "What are the steps of PCA?" lost step 1)
    or a short list (at most SHORT_LIST items): "Remove … Keep" under "Handling Outliers" hid the two ways
    between, capping and transforming. A short list's items are alternatives read side by side, as a small
    table's rows are, and a table is shown whole."""
    if len(items) < 2:
        return items
    members = [p for p in pool if _list_key(p, -1) == key]
    if _steps(items):
        members = [p for p in members if _steps([p])]
    elif len({p.line_end for p in members} | {p.line_end for p in items}) > SHORT_LIST:
        return items
    return sorted(
        {**{p.line_end: p for p in members}, **{p.line_end: p for p in items}}.values(), key=lambda p: p.line_end
    )


def merge_lists(chosen: Sequence[Evidence], pool: Sequence[Passage] = ()) -> list[Evidence]:
    """Items of one list read as one passage: its label once, then the chosen items in the handbook's order
    ("…" where items were left out). Three bullets under three copies of one label read as noise, and the
    model gets the list as the single fact it is. A list without a label ("- Simplified LSTM", "- Fewer
    parameters") is merged the same way, without the label line. Two steps of a numbered list chosen give
    all its steps; two items of a short list are shown with all its items (`whole`: the model reads the
    items chosen). Both from `pool`, the passages they were chosen from (`_whole_list`)."""
    groups: dict[tuple[str, int], list[Evidence]] = {}
    for n, e in enumerate(chosen):
        groups.setdefault(_list_key(e.passage, n), []).append(e)
    out = []
    for key, members in groups.items():
        if len(members) == 1:
            out.append(members[0])
            continue
        items = sorted((e.passage for e in members), key=lambda p: p.line_end)
        whole = _whole_list(items, pool, key)
        if _steps(items):
            items = whole
        merged = _merged(items)
        if len(whole) > len(items):
            merged = replace(merged, whole=_merged(whole))
        out.append(Evidence(merged, max(e.score for e in members)))
    return out


def _merged(items: Sequence[Passage]) -> Passage:
    """Items of one list (in the handbook's order) as one passage: the label once, "…" where items are left out."""
    first = items[0]
    lines = [first.label] if first.label else []
    previous = first.line_start if first.label else first.line_end - 1
    for p in items:
        if p.line_end > previous + 1:
            lines.append("…")
        lines.append(p.text.splitlines()[-1])
        previous = p.line_end
    label = "" if _asks(first.label) else plain(first.label)
    flat = " ".join(filter(None, [label, "; ".join(plain(p.text.splitlines()[-1]) for p in items)]))
    return replace(first, text="\n".join(lines), plain=flat, line_end=items[-1].line_end)


def whole_tables(evidence: Sequence[Evidence], mark: bool = True, question: str = "") -> list[Evidence]:
    """The evidence as shown: a row of a small table becomes the whole table (kind "table", its lines from
    header to last row), and a later row of a table already shown is not shown again. The rows chosen are
    marked, best first, unless `mark` is false: asked to list (`asks_for_list`), every row answers.

    In the first passage, the answer's pick is the row chosen first, and every chosen row the `question` names:
    a comparison ("t-test vs ANOVA") picks both its sides. The rest chosen are only alternatives.

    The model still reads the chosen rows one by one (`plain`), as before: given a table it picks a row no
    better than the score does, and its checked sentence cites [1] alone, which stays first."""
    out: list[Evidence] = []
    for e in evidence:
        p = e.passage
        if p.kind == "row" and p.table:
            shown = next((i for i, o in enumerate(out) if o.passage.table_lines == p.table_lines), None)
            if shown is not None:  # the table is shown already: its row is marked there
                o = out[shown]
                marked = (*o.passage.marked, p.line_start) if mark else ()
                out[shown] = Evidence(replace(o.passage, marked=marked), o.score)
                continue
            p = replace(
                p,
                kind="table",
                text=p.table,
                line_start=p.table_lines[0],
                line_end=p.table_lines[1],
                marked=(p.line_start,) if mark else (),
            )
        out.append(Evidence(p, e.score))
    if out and out[0].passage.marked:
        p = out[0].passage
        named = {p.line_start + offset for offset in rows_named(p.text, question)} & set(p.marked)
        out[0] = Evidence(replace(p, picked=tuple(m for m in p.marked if m == p.marked[0] or m in named)), out[0].score)
    return out


MARK = "▸"  # a row the answer picks (`Passage.picked`): the one the summary is about, the pick for "which ...?"
ALSO = "▹"  # another row chosen
# Under a table with both marks: of 34 "which ...?" questions each answered by one row (eval/data/rows_s30.jsonl),
# the first row marked was the answer for 25; the table showed 2.5 marked rows on average, all alike.
MARKS_NOTE = f"{MARK} closest match · {ALSO} also chosen"
ALSO_NOTE = f"{ALSO} rows chosen for the question"  # no row picked is shown: the first passage is no table


def mark(p: Passage, line: int) -> str:
    """The mark of a handbook line of a table shown whole: MARK for a row picked, ALSO for another chosen."""
    if line not in p.marked:
        return ""
    return MARK if line in p.picked else ALSO


def marks_note(shown: Sequence[Evidence]) -> str:
    """What the marks shown mean, said once under the passages, or "" when none needs saying: MARK alone
    explains itself, and a legend naming a MARK the learner cannot see ("why is High Variance not the
    closest match?") misleads."""
    if not any(set(e.passage.marked) - set(e.passage.picked) for e in shown):
        return ""
    return MARKS_NOTE if any(e.passage.picked for e in shown) else ALSO_NOTE


def marked_table(p: Passage) -> list[str]:
    """A table shown whole, aligned for a terminal, its chosen rows marked: the learner finds the row that
    answers among the others ("F1-Score" among six metrics), the rows picked (`mark`) apart from the rest.

    >>> table = "| Test | Use |\\n|:---|:---|\\n| **ANOVA** | 3+ groups |\\n| **t-test** | 2 groups |"
    >>> print("\\n".join(marked_table(Passage(table, "", "S", 10, 13, "table", marked=(13, 12), picked=(13,)))))
      Test    Use
      ──────  ─────────
    ▹ ANOVA   3+ groups
    ▸ t-test  2 groups
    """
    lines = aligned_table(p.text)
    return [f"{mark(p, p.line_start + i) or ' '} {line}" for i, line in enumerate(lines)]


def marked_markdown(p: Passage) -> list[str]:
    """A passage's Markdown lines with its chosen table rows marked in their first cell.

    >>> table = "| A | B |\\n|:---|:---|\\n| **x** | 1 |\\n| **y** | 2 |"
    >>> marked_markdown(Passage(table, "", "S", 5, 8, "table", marked=(7, 8), picked=(7,)))
    ['| A | B |', '|:---|:---|', '| ▸ **x** | 1 |', '| ▹ **y** | 2 |']
    """
    lines = p.text.splitlines()
    marks = [mark(p, p.line_start + i) for i in range(len(lines))]
    return [re.sub(r"^\|\s*", f"| {m} ", line, count=1) if m else line for m, line in zip(marks, lines, strict=True)]


# A request for code names it (a snippet, a template, Python), or asks how to do a thing in a library: "in
# torch", "with gensim"; "Is PyTorch or TensorFlow better?" names libraries and asks for the table.
_CODE_REQUEST = re.compile(
    r"\b(code|snippets?|python|templates?|syntax|script|one-liner|imports?)\b|\b(in|with|using)\s+(sklearn|"
    r"scikit-learn|pytorch|torch|tensorflow|keras|gensim|peft|mlflow|pandas|numpy|xgboost)\b",
    re.IGNORECASE,
)


def asks_for_code(question: str) -> bool:
    """Whether the learner asks for code, which the handbook's programs show and its prose does not.

    >>> asks_for_code("Show me code to standardize my features"), asks_for_code("How do I set up Adam in PyTorch?")
    (True, True)
    >>> asks_for_code("Why does standardizing help gradient descent?"), asks_for_code("Is PyTorch better than Keras?")
    (False, False)
    """
    return bool(_CODE_REQUEST.search(question))


# "list the activation functions", "what kinds of drift are there?", "which optimizers does the handbook cover?"
_LIST_REQUEST = re.compile(
    r"^\s*(?:please\s+)?(?:list|name|enumerate)\b|\b(?:types|kinds|sorts)\s+of\b"
    r"|\bwhat\s+(?:[\w-]+\s+){1,3}are\s+there\b"
    r"|\bwhich\s+(?:[\w-]+\s+){1,3}(?:are\s+there|are\s+(?:covered|listed)"
    r"|does\s+(?:the\s+handbook|it|section\s+\d+)\s+(?:list|cover|mention|describe))\b",
    re.IGNORECASE,
)


def asks_for_list(question: str) -> bool:
    """Whether the learner asks for a list ("which vector databases does section 18 list"): a table shown whole
    answers with every row, and marking the three the evidence chose would say the others do not count.

    >>> asks_for_list("list the activation functions"), asks_for_list("What kinds of drift are there?")
    (True, True)
    >>> asks_for_list("which optimizers does the handbook cover?"), asks_for_list("What is data drift?")
    (True, False)
    """
    return bool(_LIST_REQUEST.search(question))


def _names_subject(p: Passage, subject: list[str]) -> int:
    """How many of the question's subject words the passage gives a formula of: a row by its cells before the
    math, other passages by the heading of their section and the words before it ("F1-Score" names "f1" and
    "score"; "MSE" names "mean squared error", "R²" "r squared")."""
    row = p.kind == "row"
    text = before_math(p.plain, row) if row else f"{p.section.split(' > ')[-1]} {before_math(p.plain, row)}"
    words = set(_subject(text.replace("²", " squared ")))
    words |= {part for w in words for part in w.split("-")}
    covered = {w for w in subject if w in words}
    for k in (2, 3, 4):  # an acronym names the run of words it abbreviates
        for i in range(len(subject) - k + 1):
            if "".join(w[0] for w in subject[i : i + k]) in words:
                covered.update(subject[i : i + k])
    return len(covered)


def _subject(text: str, question: bool = False) -> list[str]:
    """Content words in order, keeping single letters ("R squared") and "mean", which a question may use as a
    verb ("What does X mean?") and a name of a formula as a noun ("Mean", "Mean Squared Error")."""
    keep = {"mean"} if not question or mean_is_subject(text) else set()
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP or w in keep]


def _within(inner: Passage, outer: Passage) -> bool:
    """`inner` is shown inside `outer` (the same section, within its lines)."""
    return inner.section == outer.section and outer.line_start <= inner.line_start and inner.line_end <= outer.line_end


def formula_first(question: str, chosen: Sequence[Evidence], scored: Sequence[Evidence], n: int) -> list[Evidence]:
    """`chosen` with the passage of `scored` that writes math and names the most of the question's subject moved
    (or brought) first, when the question asks for a formula (rag/formula.py); a passage it contains, or that
    contains it, is not shown twice. It keeps the best chosen score, so answerability reads the same evidence
    signal.

    >>> def ev(text, score, line):
    ...     return Evidence(Passage(text, text, "S > Metrics", line, line, "row"), score)
    >>> cheat = ev("Task: Binary; Primary: AUC-ROC, F1", 0.7, 1)
    >>> f1 = ev("Metric: F1-Score; Formula: 2 × (P×R)/(P+R)", 0.5, 5)
    >>> [e.passage.line_start for e in formula_first("What's the formula for F1?", [cheat], [cheat, f1], 3)]
    [5, 1]
    >>> formula_first("Why is F1 used?", [cheat], [cheat, f1], 3) == [cheat]
    True
    """
    if not asks_for_formula(question):
        return list(chosen)
    subject = [w for w in _subject(question, question=True) if w not in REQUEST_WORDS]
    # The passage naming the most subject terms; among those, a row or a formula line (where the handbook writes
    # its formulas) before prose ("ReLU is Default Because: ... some neurons = 0"), then the best scored.
    named = [
        (-_names_subject(e.passage, subject), e.passage.kind in ("sentence", "item"), i)
        for i, e in enumerate(scored)
        # Not a drawing's "224×224" (a CNN's layers, for "What does ReLU compute?") nor a program's "=".
        if e.passage.kind != "program" and not _DRAWING.search(e.passage.text) and has_math(e.passage.plain)
    ]
    count, _, best = min(named, default=(0, False, 0))
    if count == 0:
        return list(chosen)
    lead = scored[best].passage
    # Nor another row of its table: the table is shown whole with the formula's row marked ("the equation for
    # the sigmoid" marked Sigmoid, Tanh and Softmax), and the model reads the row that answers alone.
    rest = [
        e
        for e in chosen
        if not (_within(e.passage, lead) or _within(lead, e.passage))
        and not (lead.table and e.passage.table_lines == lead.table_lines)
    ]
    if len(rest) == len(chosen) and len(rest) >= n:  # brought in, not moved: it takes the last one's place
        rest = rest[:-1]
    return [Evidence(lead, max((e.score for e in chosen), default=0.0)), *rest]


def choose_evidence(
    question: str,
    question_vector: np.ndarray,
    chunks: Sequence[Chunk],
    embed: Callable[[list[str]], np.ndarray],
    n: int = 3,
    handbook_lines: Sequence[str] | None = None,
) -> list[Evidence]:
    """The evidence for a question from its retrieved chunks (best first): the answer of a bank question that
    asks it (the same term defined, or the same meaning) whole, else the `n` best passages."""
    every = [p for rank, c in enumerate(chunks, start=1) for p in passages(c, rank, handbook_lines)]
    bank = [p for p in every if p.kind == "qa"]
    term = asked_term(question)  # "Explain RAG" asks what "Explain RAG (Retrieval ...)." asks, in fewer words
    match = next((p for p in bank if term and bank_term(p.question) == term), None) or same_question(
        question_vector, bank, embed
    )
    # A bank answer without math does not answer a request for a formula ("How do you calculate precision and
    # recall?" reads like Q15, "When would you use precision vs recall?"): the formula comes first, if any.
    if match is not None and (has_math(match.plain) or not asks_for_formula(question)):
        return [Evidence(match, 1.0)]
    scored = score_passages(question, question_vector, [p for p in every if p.kind != "qa"], embed)
    if match is not None:
        return formula_first(question, [Evidence(match, 1.0)], scored, n)
    chosen = formula_first(question, merge_lists(select(scored, n), [e.passage for e in scored]), scored, n)
    chosen = whole_answers(chosen, bank)
    if asks_for_code(question) and chunks:
        # The first chunk's program comes first (the section ranked first teaches the answer): scored by words,
        # code loses to the prose around it (a program first for 5 of 21 answered code requests, eval/README.md).
        # It keeps the score of the best passage chosen, so answerability reads the same evidence signal.
        code = next((p for p in passages(chunks[0], 1, handbook_lines, programs=True) if p.kind == "program"), None)
        if code is not None:
            rest = [e for e in chosen if not (e.passage.chunk_id == code.chunk_id and e.passage.kind == "program")]
            return [Evidence(code, max((e.score for e in chosen), default=0.0)), *rest[: n - 1]]
    return chosen


def whole_answers(chosen: Sequence[Evidence], bank: Sequence[Passage]) -> list[Evidence]:
    r"""`chosen` with each sentence or item of a bank answer given that whole answer, under its question, to show
    in its place (`Passage.whole`, `as_shown`). The bank's answers are short (13-39 words) and written as one
    answer, and a piece alone leaves out what the rest says ("Much more efficient than full fine-tuning." for
    LoRA, without what LoRA is; "Randomly sets neurons to zero during training" for whether dropout stays on at
    prediction, which the answer's last sentence says). The model still reads the piece: given the whole
    answers, 5 of 290 of its summaries turned wrong and 3 right (eval/README.md, thirty-fifth round). A bank
    answer that asks the learner's question is chosen whole earlier (`choose_evidence`).

    >>> whole = Passage("Adds adapters. Much cheaper.", "Adds adapters. Much cheaper.", "Q", 7, 7, "qa", "c", 1,
    ...                 "What is LoRA?", "**Q7: What is LoRA?**")
    >>> piece = Evidence(Passage("Much cheaper.", "Much cheaper.", "Q", 7, 7, "sentence", "c", 1), 0.5)
    >>> two = as_shown(whole_answers([piece, piece], [whole]))
    >>> [(e.passage.plain, e.passage.kind, e.passage.line_start) for e in two]
    [('Adds adapters. Much cheaper.', 'qa', 6)]
    >>> p = whole_answers([piece], [whole])[0].passage
    >>> p.plain, p.whole.text
    ('Much cheaper.', '**Q7: What is LoRA?**\nAdds adapters. Much cheaper.')
    """
    answers = {p.chunk_id: p for p in bank}
    out: list[Evidence] = []
    for e in chosen:
        p, answer = e.passage, answers.get(e.passage.chunk_id)
        if answer is not None and p.kind != "qa":
            label = answer.label or f"**{answer.question}**"
            whole = replace(answer, text=f"{label}\n{answer.text}", line_start=answer.line_start - 1)
            e = Evidence(replace(p, whole=whole), e.score)
        out.append(e)
    return out


def as_shown(evidence: Sequence[Evidence]) -> list[Evidence]:
    """Each passage as the learner reads it: its `whole` in its place, once (two pieces of one answer show it
    once, where the first was)."""
    out: list[Evidence] = []
    seen: set[tuple[str, int, int]] = set()
    for e in evidence:
        p = e.passage.whole or e.passage
        key = (p.chunk_id, p.line_start, p.line_end)
        if key not in seen:
            seen.add(key)
            out.append(Evidence(p, e.score))
    return out


class CachedEmbeddings:
    """Unit vectors of short texts, each embedded once: a chunk's passages recur across questions, so after a
    few questions evidence selection and reranking embed almost nothing. With a `path` (beside the embedding
    model's export, so the vectors belong to that model) they are kept for the next process too: a one-shot
    `hbrag ask` then reranks without embedding the candidates' passages (about 0.4 s). New vectors are
    written once, by `flush` (the web chat's warm-up) or when the process exits, never per question."""

    def __init__(self, embedder: Any, max_items: int = 50_000, path: Path | None = None) -> None:
        self.embedder = embedder
        self.max_items = max_items
        self.path = path
        self._cache: dict[str, np.ndarray] = {}  # by the text's digest
        self._lock = threading.Lock()
        self._unsaved = False
        if path is not None:
            self._read(path)
            atexit.register(self.flush)

    def __call__(self, texts: list[str]) -> np.ndarray:
        keys = [_digest(t) for t in texts]
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._cache}
        if missing:
            vectors = np.asarray(self.embedder.embed_documents(list(missing.values())), dtype=np.float32)
            with self._lock:
                if len(self._cache) + len(missing) > self.max_items:
                    self._cache.clear()
                self._cache.update(zip(missing, vectors, strict=True))
                self._unsaved = True
        return np.asarray([self._cache[k] for k in keys], dtype=np.float32).reshape(len(texts), -1)

    def __len__(self) -> int:
        return len(self._cache)

    def _read(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as data:
                self._cache.update(zip(data["keys"].tolist(), data["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            pass  # none yet, or unreadable: it is rebuilt as texts are embedded

    def flush(self) -> None:
        """Write new vectors, replacing the file atomically (a reader never sees half of it); a read-only
        place just means no reuse."""
        with self._lock:
            if self.path is None or not self._unsaved:
                return
            tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.npz")
            try:
                np.savez(tmp, keys=np.array(list(self._cache)), vectors=np.stack(list(self._cache.values())))
                os.replace(tmp, self.path)
                self._unsaved = False
            except OSError:
                tmp.unlink(missing_ok=True)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
