"""Evidence selection and the guards on the model's words: pure functions on hand-written inputs,
then the real MiniLM on the real handbook."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.chunking import Chunk
from rag.evidence import (
    TABLE_ROWS,
    Evidence,
    Passage,
    aligned_table,
    content_terms,
    passages,
    plain,
    reading,
    select,
    whole_tables,
)
from rag.guard import Gate, clean, gated, split_sentences

TABLE = Chunk(
    "t1",
    "| Distribution | Use Case |\n|:---|:---|\n| **Poisson** | Count of events in fixed interval |\n"
    "| **Binomial** | Successes in n trials |",
    ("Section 2 — Statistics", "Probability Distributions"),
    "table",
    10,
    13,
)
PROSE = Chunk(
    "p1",
    "**Solutions**:\n- **Dropout**: randomly zero neurons.\n- Early stopping halts training.\n\n"
    "Regularization adds a penalty. It keeps weights small. What is next?",
    ("Section 9 — DL", "Regularization"),
    "prose",
    20,
    25,
)
QA = Chunk(
    "q6",
    "**Q6: Explain the bias-variance tradeoff.**\n> - **Bias**: Error from oversimplified assumptions\n"
    "> - **Variance**: Error from sensitivity to training data",
    ("Section 19 — Questions", "Machine Learning Questions"),
    "qa",
    30,
    32,
    "Q6",
)


PROGRAM = Chunk(
    "c1",
    "```python\nfor x, y in loader:\n    # Forward pass\n    loss = f(model(x), y)\n    # 2. Backward pass\n"
    "    loss.backward()  # gradients\n```",
    ("Section 15 — Training", "Training Loop (PyTorch)"),
    "code",
    40,
    46,
)


def test_a_section_that_is_only_a_program_lends_it_whole_read_as_its_comments():
    (program,) = passages(PROGRAM)
    assert program.kind == "program" and program.text.startswith("for x, y") and "```" not in program.text
    assert program.plain == "Training Loop (PyTorch): Forward pass; Backward pass; gradients"
    assert (program.line_start, program.line_end) == (41, 45)  # the code's lines, not its fences
    # Beside prose, a program is not evidence: the prose says it in words.
    mixed = Chunk(
        "c2", "Gradients flow backwards through the graph.\n\n" + PROGRAM.text, PROGRAM.section_path, "prose", 1, 9
    )
    assert [p.kind for p in passages(mixed)] == ["sentence"]


def test_a_section_that_is_only_a_diagram_lends_it_whole_read_as_its_labels():
    diagram = Chunk(
        "d1",
        "```\n┌──────────────┐\n│ Data ──→ Training │\n└──────────────┘\n```",
        ("Section 16 — MLOps", "ML Pipeline Architecture"),
        "code",
        50,
        54,
    )
    (passage,) = passages(diagram)
    assert passage.kind == "diagram" and passage.plain == "ML Pipeline Architecture: Data Training"
    assert passage.text.startswith("┌") and (passage.line_start, passage.line_end) == (51, 53)


LABELLED = Chunk(
    "d2",
    "**Confusion Matrix**:\n\n```\n          Predicted\nActual Pos  TP  FN\n       Neg  FP  TN\n```\n\n"
    "| Metric | Formula |\n|:---|:---|\n| **Recall** | TP / (TP+FN) |\n\n```\n1 0 1\n0 1 0\n```",
    ("Section 6 — Supervised Learning", "Classification Metrics"),
    "prose",
    60,
    72,
)


def test_a_diagram_among_prose_is_one_passage_shown_under_its_label():
    """Its lines alone say nothing ("Actual Pos TP FN"): whole, it is what a confusion-matrix question wants."""
    kinds = {p.kind: p for p in passages(LABELLED)}
    diagram = kinds["diagram"]
    assert diagram.plain == "Confusion Matrix: Predicted Actual Pos TP FN Neg FP TN"
    assert diagram.label == "**Confusion Matrix**:" and diagram.text.splitlines()[0] == diagram.label
    assert (diagram.line_start, diagram.line_end) == (60, 65)  # from its label to the block's last line
    assert "row" in kinds  # the table beside it still lends its rows
    # A block of bare numbers (a worked example's cells) has no words to be read by.
    assert [p.kind for p in passages(LABELLED)].count("diagram") == 1

    from rag.assistant import Answer

    shown = Answer("q", evidence=[Evidence(diagram, 0.5)]).evidence_markdown()
    assert "> **Confusion Matrix**:\n> ```\n>           Predicted\n> Actual Pos  TP  FN" in shown


def test_a_program_is_shown_as_code_not_as_markdown_headings():
    from rag.assistant import Answer

    (program,) = passages(PROGRAM)
    shown = Answer("q", evidence=[Evidence(program, 0.5)]).evidence_markdown()
    assert "> ```python\n> for x, y in loader:" in shown and ">     # Forward pass" in shown


def test_table_rows_keep_their_header():
    rows = [p for p in passages(TABLE) if p.kind == "row"]
    assert [p.plain for p in rows] == [
        "Distribution: Poisson; Use Case: Count of events in fixed interval",
        "Distribution: Binomial; Use Case: Successes in n trials",
    ]
    assert [p.line_start for p in rows] == [12, 13]  # the rows' own lines, not the chunk's start


def test_a_small_table_is_shown_whole_and_the_model_reads_its_rows():
    """Rows are alternatives read side by side: the first chosen row is shown as its whole table, with its
    lines from header to last row; a later row of it is not shown again. The model's evidence is unchanged."""
    poisson, binomial = [p for p in passages(TABLE) if p.kind == "row"]
    chosen = [Evidence(binomial, 0.8), _ev("a sentence", 0.75), Evidence(poisson, 0.7)]
    shown = whole_tables(chosen)
    assert [e.passage.kind for e in shown] == ["table", "sentence"]
    table = shown[0].passage
    assert table.plain == binomial.plain and table.text == TABLE.text
    assert (table.line_start, table.line_end) == (10, 13)
    assert reading(table) == f"{poisson.plain}. {binomial.plain}"  # what the learner reads, as the eval scores it
    assert [e.passage.kind for e in chosen] == ["row", "sentence", "row"]  # what the model reads


def test_the_rows_chosen_from_a_table_shown_whole_are_marked_the_first_apart():
    """A whole table of six metrics answered "What's the formula for the F1 score?" with nothing to say which
    row: the chosen rows are marked, in the terminal and in the web chat's Markdown, and listed in --json. The
    row chosen first in the first passage (the one the summary is about) is marked apart from the others, and the
    marks are explained once: a "which ...?" question showed 2.5 marked rows alike, and the first was the answer
    for 25 of 34."""
    from rag.assistant import Answer
    from rag.evidence import ALSO, ALSO_NOTE, MARK, MARKS_NOTE, marked_markdown, marked_table, marks_note

    poisson, binomial = [p for p in passages(TABLE) if p.kind == "row"]
    table = whole_tables([Evidence(binomial, 0.8), Evidence(poisson, 0.7)])[0]
    assert table.passage.marked == (binomial.line_start, poisson.line_start)
    printed = {line[0]: line.split()[1] for line in marked_table(table.passage) if line[0] in (MARK, ALSO)}
    assert printed == {MARK: "Binomial", ALSO: "Poisson"}
    markdown = "\n".join(marked_markdown(table.passage))
    assert f"| {MARK} **Binomial**" in markdown and f"| {ALSO} **Poisson**" in markdown
    assert table.to_dict()["marked"] == [binomial.line_start, poisson.line_start]
    assert table.to_dict()["picked"] == [binomial.line_start]
    web = Answer("q", evidence=[Evidence(binomial, 0.8), Evidence(poisson, 0.7)]).evidence_markdown()
    assert f"> | {MARK} **Binomial** |" in web and f"> | {ALSO} **Poisson** |" in web and MARKS_NOTE in web
    only = whole_tables([Evidence(poisson, 0.7)])[0].passage
    assert [line.split()[1] for line in marked_table(only) if line.startswith(MARK)] == ["Poisson"]
    assert ALSO not in "".join(marked_table(only))
    # A table shown after the first passage has no pick of the answer: its rows are all "also chosen".
    later = whole_tables([_ev("a sentence", 0.9), Evidence(binomial, 0.8), Evidence(poisson, 0.7)])[1].passage
    assert MARK not in "".join(marked_table(later)) and ALSO in "".join(marked_markdown(later))
    # Under it, the legend names only the mark shown: no "closest match" the learner cannot find.
    assert marks_note([_ev("a sentence", 0.9), Evidence(later, 0.8)]) == ALSO_NOTE
    after = Answer("q", evidence=[_ev("a sentence", 0.9), Evidence(binomial, 0.8), Evidence(poisson, 0.7)])
    assert ALSO_NOTE in after.evidence_markdown() and MARKS_NOTE not in after.evidence_markdown()
    # A comparison picks both its sides: neither is only an alternative to the other.
    both = whole_tables([Evidence(binomial, 0.8), Evidence(poisson, 0.7)], question="Binomial or Poisson?")[0]
    assert set(both.passage.picked) == set(both.passage.marked) and ALSO not in "".join(marked_table(both.passage))
    assert marks_note([both]) == "" and marks_note([table]) == MARKS_NOTE
    assert MARKS_NOTE not in Answer("q", evidence=[Evidence(poisson, 0.7)]).evidence_markdown()


def test_a_table_shown_for_a_list_request_marks_no_row():
    """ "which vector databases does section 18 list" marked three of its six databases, as if the others did not
    count: asked for a list, the whole table answers, shown unmarked."""
    from rag.assistant import Answer
    from rag.evidence import MARK

    poisson, binomial = [p for p in passages(TABLE) if p.kind == "row"]
    rows = [Evidence(binomial, 0.8), Evidence(poisson, 0.7)]
    listed = Answer("Which distributions are there?", evidence=rows)
    assert listed.shown_evidence[0].passage.marked == () and listed.to_dict()["evidence"][0]["marked"] == []
    assert MARK not in listed.evidence_markdown() and listed.shown_evidence[0].passage.kind == "table"
    asked = Answer("When is the Poisson distribution used?", evidence=rows)
    assert asked.shown_evidence[0].passage.marked == (binomial.line_start, poisson.line_start)


def test_a_table_reads_its_escaped_pipes_and_prints_aligned_for_a_terminal():
    """ "Σ\\|y - ŷ\\| / n" is one cell (the handbook escapes the pipes of absolute values): read with its header,
    and printed in aligned columns without Markdown for the CLI."""
    import doctest

    import rag.evidence

    text = "| Metric | Formula |\n|:---|:---|\n| **MAE** | Σ\\|y - ŷ\\| / n |\n| **RMSE** | √MSE |"
    metrics = Chunk("m1", text, ("Section 6", "Regression Algorithms"), "table", 1, 4)
    assert [p.plain for p in passages(metrics)] == ["Metric: MAE; Formula: Σ|y - ŷ| / n", "Metric: RMSE; Formula: √MSE"]
    assert aligned_table(text) == ["Metric  Formula", "──────  ────────────", "MAE     Σ|y - ŷ| / n", "RMSE    √MSE"]
    shown = aligned_table("| Method | Example |\n|:---|:---|\n| **One-Hot** | Color → [is_red, `is_blue`] |")
    assert shown[2] == "One-Hot  Color → [is_red, is_blue]"  # the handbook's symbols kept, only bold and code marks go
    assert doctest.testmod(rag.evidence).failed == 0


def test_a_long_table_stays_one_row_at_a_time():
    """The glossary is looked up, not compared: a table longer than TABLE_ROWS is never shown whole."""
    rows = "".join(f"| **T{i}** | Term number {i} defined |\n" for i in range(TABLE_ROWS + 1))
    glossary = Chunk("g1", "| Term | Definition |\n|:---|:---|\n" + rows, ("Section 21", "Glossary"), "table", 1, 11)
    found = passages(glossary)
    assert len(found) == TABLE_ROWS + 1 and all(p.kind == "row" and not p.table for p in found)
    assert whole_tables([Evidence(found[0], 0.5)])[0].passage.kind == "row"


def test_prose_splits_into_items_and_sentences_without_labels_or_questions():
    got = [(p.kind, p.plain) for p in passages(PROSE)]
    assert ("item", "Solutions: Dropout: randomly zero neurons.") in got  # a bullet keeps its list's label
    assert ("sentence", "Regularization adds a penalty.") in got and ("sentence", "It keeps weights small.") in got
    assert ("sentence", "Solutions:") not in got and not any(text.endswith("?") for _, text in got)


def test_a_long_sentence_that_opens_a_list_is_its_label_not_a_passage_alone():
    chunk = Chunk(
        "q8",
        "**Q8: What is regularization and why is it used?**\n"
        "> Regularization adds penalty to loss function to prevent overfitting:\n"
        "> - L1 (Lasso): Adds |weights|, produces sparse models\n"
        "> - L2 (Ridge): Adds weights², shrinks weights toward zero",
        ("Section 19 — Questions", "Machine Learning Questions"),
        "qa",
        1677,
        1680,
        "Q8",
    )
    got = [p for p in passages(chunk) if p.kind != "qa"]
    assert not any(p.plain.endswith(":") for p in got)  # never shown with nothing after its colon
    l2 = next(p for p in got if "Ridge" in p.plain)
    assert l2.kind == "item" and l2.plain.startswith("Regularization adds penalty to loss function")
    assert l2.text.splitlines()[0] == "Regularization adds penalty to loss function to prevent overfitting:"


def test_a_bank_answer_s_item_is_shown_under_its_question_and_read_without_it():
    from rag.evidence import merge_lists

    chunk = Chunk(
        "q45",
        "**Q45: How do you monitor models in production?**\n> - Prediction latency\n> - Prediction error rates\n"
        "> - Input data distributions",
        ("Section 19 — Questions", "MLOps Questions"),
        "qa",
        1861,
        1864,
        "Q45",
    )
    items = [p for p in passages(chunk) if p.kind == "item"]
    last = items[-1]
    assert last.text == "**Q45: How do you monitor models in production?**\n…\n- Input data distributions"
    assert (last.line_start, last.line_end) == (1861, 1864)
    assert last.plain == "Input data distributions"  # the question's topic words do not lift its items
    merged = merge_lists([Evidence(items[0], 0.9), Evidence(last, 0.8)])
    assert len(merged) == 1 and merged[0].passage.text.splitlines()[0].startswith("**Q45:")
    assert merged[0].passage.plain == "Prediction latency; Input data distributions"


def test_a_bank_answer_is_one_whole_passage_with_its_question():
    whole = [p for p in passages(QA) if p.kind == "qa"]
    assert len(whole) == 1 and whole[0].question == "Explain the bias-variance tradeoff."
    assert whole[0].text.startswith("- **Bias**") and ">" not in whole[0].text  # quote marks are ours to add
    assert (whole[0].line_start, whole[0].line_end) == (31, 32)


def test_line_numbers_come_from_the_handbook_when_given():
    lines = ["x"] * 40
    lines[21] = "- Early stopping halts training."  # line 22, not chunk start + offset
    lines[19] = "**Solutions**:"
    item = next(p for p in passages(PROSE, handbook_lines=lines) if "Early" in p.plain)
    assert (item.line_start, item.line_end) == (20, 22)  # from its list's label to its own line
    assert item.text == "**Solutions**:\n…\n- Early stopping halts training."  # "…": an item left out


def test_items_of_one_list_are_shown_once_under_their_label():
    from rag.evidence import merge_lists

    items = [p for p in passages(PROSE) if p.kind == "item"]
    merged = merge_lists([Evidence(items[1], 0.9), _ev("Regularization adds a penalty.", 0.8), Evidence(items[0], 0.7)])
    assert [e.passage.kind for e in merged] == ["item", "sentence"]
    assert (
        merged[0].passage.text
        == "**Solutions**:\n- **Dropout**: randomly zero neurons.\n- Early stopping halts training."
    )
    assert merged[0].passage.plain == "Solutions: Dropout: randomly zero neurons.; Early stopping halts training."
    assert merged[0].score == 0.9 and (merged[0].passage.line_start, merged[0].passage.line_end) == (20, 22)


def test_plain_and_terms():
    assert plain("> - **Bias**: `x`") == "Bias: x"
    assert content_terms("What is the difference between L1 and L2 regularization?") == {"l1", "l2", "regularization"}


def _ev(text: str, score: float, chunk: str = "c", rank: int = 1) -> Evidence:
    return Evidence(Passage(text, text, "S", 1, 1, "sentence", chunk, rank), score)


def test_select_keeps_the_best_within_reach_and_no_duplicates():
    scored = [_ev("alpha beta", 0.9), _ev("alpha beta", 0.85), _ev("gamma", 0.8), _ev("far away", 0.4)]
    assert [e.passage.plain for e in select(scored, n=3)] == ["alpha beta", "gamma"]


def test_select_leads_with_the_first_ranked_chunk():
    """A neighbouring section's passage can outscore the teaching section's on words; the reranker's first
    chunk is shown first, the rest by score, and a first chunk with nothing within reach does not lead."""
    neighbour = _ev("works locally, fails in production", 0.9, "b", rank=2)
    scored = [neighbour, _ev("high variance: overfitting", 0.75, "a"), _ev("bias is underfitting", 0.7, "a")]
    assert [e.passage.plain for e in select(scored, n=2)] == [
        "high variance: overfitting",
        "works locally, fails in production",
    ]
    far = [neighbour, _ev("far below", 0.5, "a")]
    assert [e.passage.plain for e in select(far, n=2)] == ["works locally, fails in production"]


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("[1] Section 6 — Supervised Learning > Bias", ""),  # a pasted source header
        ("**Bias** is error [1] and [4].", "Bias is error [1] and."),  # markup and a source that does not exist
        ("Dropout zeroes neurons [2", "Dropout zeroes neurons"),
    ],
)
def test_clean(sentence, expected):
    assert clean(sentence, 3) == expected


def test_split_sentences_keeps_the_unfinished_rest():
    assert split_sentences("One is done. Two is") == (["One is done."], "Two is")


class _Vectors:
    """Unit vectors by keyword, plus a little for every other word: enough to drive the gate exactly."""

    AXES = ("dropout", "bias", "cake")

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = []
        for t in texts:
            words = t.lower().split()
            other = sum(not any(a in w for a in self.AXES) for w in words)
            v = np.array([*(t.lower().count(a) for a in self.AXES), 0.15 * other], dtype=float) + 1e-3
            out.append(v / np.linalg.norm(v))
        return np.asarray(out)


def test_gate_keeps_grounded_sentences_cites_them_and_drops_the_rest():
    embed = _Vectors()
    gate = Gate(embed(["dropout zeroes neurons", "bias is underfitting"]), embed, first_only=False)
    sentences = [
        "Dropout helps a net generalize well. ",
        "Cake is tasty with cream. ",
        "[7] Bias means a model is far too simple and rigid.",
    ]
    text = "".join(gated(iter(sentences), gate, limit=3))
    assert text == "Dropout helps a net generalize well [1]. Bias means a model is far too simple and rigid [2]."
    assert [why for _, why in gate.dropped] == ["not grounded"]


def test_the_summary_is_the_first_sentence_that_passes_and_the_model_stops_there():
    embed = _Vectors()
    gate = Gate(embed(["dropout zeroes neurons", "bias is underfitting"]), embed)
    read = []

    def model():
        for piece in ("Cake is tasty with cream. ", "Dropout helps a net generalize well. ", "Bias is simple. "):
            read.append(piece)
            yield piece

    stream = model()
    assert "".join(gated(stream, gate)) == "Dropout helps a net generalize well [1]."  # the cake sentence failed
    assert len(read) == 2  # the third piece was never asked for: the caller closes the stream, the model stops


def test_the_summary_must_be_about_the_first_passage():
    """A first passing sentence about another passage ends the summary: the model is stopped and no later
    sentence is shown, though it would pass."""
    embed = _Vectors()
    passages = embed(["dropout zeroes neurons", "bias is underfitting"])
    read = []

    def model():
        for piece in ("Bias means a model is far too simple. ", "Dropout helps a net generalize well. "):
            read.append(piece)
            yield piece

    gate = Gate(passages, embed)
    assert "".join(gated(model(), gate, limit=3)) == ""
    assert gate.closed and [why for _, why in gate.dropped] == ["about another passage than the first"]
    assert len(read) == 1
    gate = Gate(passages, embed)
    assert list(gated(iter(["Dropout and bias both matter here [1][2]. "]), gate)) == []  # [1] and another
    gate = Gate(passages, embed)
    kept = list(gated(iter(["Dropout helps a net generalize well [1]. "]), gate))
    assert kept == ["Dropout helps a net generalize well [1]."]


def test_gate_notices_a_refusal():
    embed = _Vectors()
    gate = Gate(embed(["dropout zeroes neurons"]), embed)
    assert list(gated(iter(["The handbook does not cover this."]), gate)) == []
    assert gate.refused and not gate.kept


@pytest.mark.slow
def test_real_evidence_for_a_table_question(assistant):
    """A learner's wording of a distribution question gets the handbook's Poisson row first, shown as its whole
    table with the table's handbook lines, and no row of that table shown twice."""
    q = "Which distribution models the number of events in a fixed time?"
    found = assistant.retrieve(q, exclude_bank=True)
    evidence = assistant.evidence_for(q, found.hits)
    assert evidence[0].passage.kind == "row" and evidence[0].passage.plain.startswith("Distribution: Poisson")
    shown = whole_tables(evidence)
    first = shown[0].passage
    assert first.kind == "table" and first.plain == evidence[0].passage.plain
    lines = assistant.handbook_lines[first.line_start - 1 : first.line_end]
    assert first.text.splitlines() == [line.strip() for line in lines] and "| **Binomial** |" in first.text
    assert not any(e.passage.line_start == first.line_start for e in shown[1:])


@pytest.mark.slow
def test_real_evidence_for_a_diagram_question_is_the_diagram(assistant):
    """The handbook draws the confusion matrix; before diagrams were passages, this question got a cheat-sheet
    row that only names it."""
    q = "What does a confusion matrix tell me about my classifier?"
    found = assistant.retrieve(q)
    evidence = assistant.evidence_for(q, found.hits)
    assert evidence[0].passage.kind == "diagram" and evidence[0].passage.label == "**Confusion Matrix**:"


@pytest.mark.parametrize(
    ("question", "code"),
    [
        ("Show me code to standardize my features with scikit-learn", "StandardScaler()"),
        ("How do I set up the Adam optimizer in PyTorch?", "torch.optim.Adam"),
    ],
)
def test_a_request_for_code_is_answered_by_the_program_first(assistant, question, code):
    """Scored by words, a program lost to the prose and tables around it: a code request got a program first
    for 4 of 23 questions (eval/data/code_s25.jsonl), each from a section that is only a program."""
    found = assistant.retrieve(question)
    evidence = assistant.evidence_for(question, found.hits)
    first = evidence[0].passage
    assert first.kind == "program" and code in first.text and first.section == found.hits[0].chunk.section
    assert len(evidence) > 1  # the section's prose still follows
    prose = assistant.evidence_for("How does Adam differ from plain SGD?", found.hits)
    assert prose[0].passage.kind != "program"  # the same chunks, asked about without wanting code


@pytest.mark.parametrize(
    ("question", "formula"),
    [
        ("What's the formula for the F1 score?", "2 × (P×R)/(P+R)"),
        ("What equation does gradient descent use to update the weights each step?", "θ_new = θ_old"),
        ("How do you calculate precision and recall? I always mix them up", "TP / (TP+FP)"),
        ("What's the formula for log loss?", "-Σ(y log(p))"),  # its row's chunk was not retrieved
        ("What does ReLU compute when its input is negative?", "max(0, x)"),  # a row before "neurons = 0"
    ],
)
def test_a_request_for_a_formula_shows_the_formula_first(assistant, question, formula):
    """Scored by meaning, the prose around a formula won: the cheat sheet that lists F1, the "Concept" sentence
    of gradient descent, and the bank answer on when to use precision or recall (eval/data/formulas_s27.jsonl:
    the formula first for 20 of 29 answered)."""
    answer = list(assistant.stream(question, summary=False))[-1]
    assert not answer.declined and formula in answer.shown_evidence[0].passage.text
    why = list(assistant.stream("Why is the F1 score used on imbalanced data?", summary=False))[-1]
    assert "2 × (P×R)/(P+R)" not in why.shown_evidence[0].passage.text  # not asked for, not put first


def test_a_formula_s_table_marks_its_row_alone(assistant):
    """ "the equation for the sigmoid" marked Sigmoid, Tanh and Softmax in the table shown whole: the other rows
    of the formula's table were chosen too, and the model read all three."""
    answer = list(assistant.stream("what's the equation for the sigmoid", summary=False))[-1]
    table = answer.shown_evidence[0].passage
    assert table.kind == "table" and table.marked == (813,)  # the Sigmoid row
    assert [e.passage.plain for e in answer.evidence if e.passage.table_lines == table.table_lines] == [
        "Function: Sigmoid; Formula: 1/(1+e⁻ˣ); Output Range: (0, 1); Use Case: Binary output, probability"
    ]


def test_the_row_that_writes_an_asked_formula_answers_it_by_construction(assistant):
    """ "what's the formula for tanh" was declined, its table's row among the closest passages."""
    answer = list(assistant.stream("what's the formula for tanh", summary=False))[-1]
    assert not answer.declined and "(eˣ-e⁻ˣ)/(eˣ+e⁻ˣ)" in answer.evidence[0].passage.text


@pytest.mark.slow
def test_real_bank_question_is_answered_by_its_own_answer_whole(assistant):
    found = assistant.retrieve("What is dropout?")
    evidence = assistant.evidence_for("What is dropout?", found.hits)
    assert len(evidence) == 1 and evidence[0].passage.kind == "qa"
    assert "Randomly sets neurons to zero" in evidence[0].passage.text


def test_gate_drops_claims_the_evidence_does_not_make():
    from rag.guard import supported_share, terms

    vocabulary = frozenset(terms("What is the bias-variance tradeoff? Bias: error from oversimplified assumptions"))
    assert supported_share("Bias is error from oversimplified assumptions.", vocabulary) == 1.0
    assert supported_share("It balances model performance, accuracy and interpretability.", vocabulary) < 0.5
    embed = _Vectors()
    gate = Gate(embed(["bias is underfitting from simple models"]), embed, vocabulary=vocabulary)
    assert list(gated(iter(["Bias trades model performance against interpretability and accuracy."]), gate)) == []
    assert gate.dropped[0][1] == "words not in the evidence"


def test_gate_drops_a_number_the_evidence_does_not_state():
    """ "approximately 1.843 inches" was shown for "how much data falls within two standard deviations?"."""
    from rag.guard import numbers

    evidence = "95% of data within 2σ of mean. Dropout: p = 0.5"
    embed = _Vectors()
    gate = Gate(embed(["dropout zeroes neurons"]), embed, known_numbers=numbers(evidence))
    kept = list(gated(iter(["Dropout zeroes neurons with p 0.5 [1]. ", "Dropout zeroes 1,843 neurons."]), gate, 3))
    assert kept == ["Dropout zeroes neurons with p 0.5 [1]."]
    assert gate.dropped == [("Dropout zeroes 1,843 neurons.", "a number not in the evidence")]


def test_gate_drops_a_sentence_that_mixes_table_rows():
    from rag.guard import distinctive_rows

    rows = [
        "Distribution: Poisson; Use Case: Count of events in fixed interval",
        "Distribution: Binomial; Use Case: Number of successes in n trials",
    ]
    own = distinctive_rows(rows, "Which distribution counts events?")
    assert "poisson" in own[0][0] and "trial" in own[1][1] and "distribut" not in own[0][0] | own[0][1]
    embed = _Vectors()
    gate = Gate(embed(["dropout poisson", "dropout binomial"]), embed, row_words=own)
    assert list(gated(iter(["Dropout Poisson counts successes in n trials."]), gate)) == []
    assert gate.dropped[0][1] == "mixes table rows"


def test_one_shared_word_is_not_a_mix_of_rows():
    from rag.guard import distinctive_rows, mixes_rows, terms

    rows = [
        "Distribution: Poisson; Use Case: Count of events in fixed interval",
        "Distribution: Exponential; Use Case: Time between events",
    ]
    own = distinctive_rows(rows, "how many events happen in an hour?")
    right = "The Poisson distribution counts events in a fixed interval, typically measured by time."
    assert not mixes_rows(terms(right), own)
    assert mixes_rows(terms("Poisson models the time between events."), own) is False  # one claim word
    assert mixes_rows(terms("The exponential distribution counts events in a fixed interval."), own)


def test_a_number_of_another_row_is_a_mix_of_rows():
    """ "a t-test to compare the means of 3+ groups" was shown: the t-test's row says two groups, ANOVA's 3+."""
    from rag.guard import distinctive_rows, mixes_rows, number_claims, terms

    rows = [
        "Test: t-test; Use Case: Compare means of two groups",
        "Test: Chi-square; Use Case: Categorical variable independence",
        "Test: ANOVA; Use Case: Compare means of 3+ groups",
    ]
    own = distinctive_rows(rows, "How do I check whether two groups of customers spend different amounts?")
    assert own[2][1] == {"#3"}

    def said(sentence: str) -> set[str]:
        return terms(sentence) | number_claims(sentence)

    assert mixes_rows(said("You can use a t-test to compare the means of 3+ groups [1]."), own)
    assert not mixes_rows(said("You can use a t-test to compare the means of two groups [1]."), own)
    assert not mixes_rows(said("ANOVA compares the means of 3+ groups, a t-test two [1]."), own)  # names both
    # A number the question states is not another row's claim.
    asked = distinctive_rows(rows, "How do I compare 3 groups?")
    assert not mixes_rows(said("A t-test compares 3 groups [1]."), asked)


def test_a_sentence_cut_off_by_the_token_limit_is_not_shown():
    embed = _Vectors()
    gate = Gate(embed(["dropout zeroes neurons"]), embed)
    assert "".join(gated(iter(["Dropout helps a net generalize well. Dropout also helps with"]), gate, 3)) == (
        "Dropout helps a net generalize well [1]."
    )
    assert gate.dropped[-1][1] == "unfinished"


def test_gate_drops_a_passage_pasted_and_a_sentence_of_the_question_s_own_words():
    from rag.guard import is_pasted, terms

    passage = "Bias: Error from oversimplified assumptions (underfitting) Variance: Error from sensitivity"
    assert is_pasted("**Bias**: error from oversimplified assumptions (underfitting).", passage)
    assert not is_pasted("Bias is the error that oversimplified assumptions cause.", passage)
    question = "What does dropout do?"
    evidence = "Dropout randomly zeroes neurons during training to prevent overfitting."
    embed = _Vectors()
    gate = Gate(
        embed([evidence]),
        embed,
        vocabulary=frozenset(terms(f"{question} {evidence}")),
        asked=frozenset(terms(question)),
        passage_texts=(evidence,),
    )
    echo = "Dropout is what dropout does."
    answer = "Dropout prevents overfitting: dropout zeroes neurons."
    pasted = "Dropout randomly zeroes neurons during training."
    assert "".join(gated(iter([f"{echo} {answer} {pasted}"]), gate, 3)) == (
        "Dropout prevents overfitting: dropout zeroes neurons [1]."
    )
    assert [why for _, why in gate.dropped] == ["only the question's words", "copy of a passage"]


def test_a_sentence_ending_in_a_quote_is_a_sentence():
    done, rest = split_sentences('It is called "precision-recall AUC." It needs care. And')
    assert done == ['It is called "precision-recall AUC."', "It needs care."] and rest == "And"


def test_gate_drops_table_cells_a_near_copy_and_a_sentence_about_another_question():
    from rag.guard import row_fields, token_share, uses_fields

    rows = ["Optimizer: Adam; Description: Momentum + RMSprop; When to Use: Default choice"]
    fields = row_fields(rows)
    assert fields == {"optimizer", "description", "when to use"}
    assert uses_fields("Optimizer: SGD; Description: Baseline with momentum.", fields)
    assert not uses_fields("Adam is the default choice of optimizer.", fields)  # the word, not a label
    passage = "Creating variations of training images (rotation, flip, crop, color jitter) to increase dataset size."
    near = "Creating variations of training images (rotation, flip) to increase dataset size."
    assert token_share(near, passage) == 1
    assert token_share("Augmentation makes more images so a small dataset goes further.", passage) < 0.5
    embed = _Vectors()
    gate = Gate(
        embed(["dropout zeroes neurons", "cake with dropout"]),
        embed,
        fields=fields,
        passage_texts=("dropout zeroes neurons", "cake with dropout"),
        question_vector=embed(["dropout"])[0],
    )
    sentences = [
        "Optimizer: Dropout; Description: zeroes random neurons.",  # table cells
        "Dropout zeroes neurons, dropout zeroes neurons.",  # the passage's words only
        "Cake cake cake cake with cream, a dropout dessert.",  # grounded in passage 2, far from the question
        "Dropout switches off random units while training.",
    ]
    assert (
        "".join(gated(iter([" ".join(sentences)]), gate, 3)) == "Dropout switches off random units while training [1]."
    )
    assert [why for _, why in gate.dropped] == ["table cells pasted", "copy of a passage", "not about the question"]


def test_two_steps_of_a_procedure_show_all_its_steps():
    """ "What are the steps of PCA?" showed "…, 2. Compute covariance matrix, …, 5. Transform data": a procedure
    with holes. Two steps chosen show the whole numbered list, a last step that asks a question included; a
    bulleted list keeps its "…"."""
    from rag.evidence import merge_lists

    steps = Chunk(
        "ab",
        "**Steps**:\n1. **Define metric**: Conversion rate\n2. **Calculate sample size**: Need enough power\n"
        "3. **Randomize users**: Control vs Treatment\n4. **Analyze results**: Is difference significant?",
        ("Section 2", "A/B Testing"),
        "prose",
        287,
        291,
    )
    found = [p for p in passages(steps) if p.kind == "item"]
    assert len(found) == 4 and found[3].plain.endswith("significant?")
    merged = merge_lists([Evidence(found[1], 0.9), Evidence(found[2], 0.8)], found)
    assert merged[0].passage.text.splitlines() == [
        "**Steps**:",
        "1. **Define metric**: Conversion rate",
        "2. **Calculate sample size**: Need enough power",
        "3. **Randomize users**: Control vs Treatment",
        "4. **Analyze results**: Is difference significant?",
    ]
    assert (merged[0].passage.line_start, merged[0].passage.line_end) == (287, 291) and merged[0].score == 0.9
    alone = merge_lists([Evidence(found[1], 0.9)], found)
    assert alone[0].passage.text == "**Steps**:\n…\n2. **Calculate sample size**: Need enough power"


def test_items_of_a_list_without_a_label_are_one_passage():
    from rag.evidence import merge_lists

    gru = Chunk(
        "g1",
        "- Simplified LSTM\n- Fewer parameters (faster training)\n- Two gates: Reset and Update\n\n"
        "GRUs train faster than LSTMs.\n\n- A second list item",
        ("Section 11 — RNN", "GRU"),
        "prose",
        1006,
        1012,
    )
    found = [p for p in passages(gru) if p.kind == "item"]
    assert len({p.list_id for p in found[:3]}) == 1 and found[3].list_id != found[0].list_id
    merged = merge_lists([Evidence(found[2], 0.9), Evidence(found[0], 0.8), Evidence(found[3], 0.7)])
    assert [e.passage.text for e in merged] == [
        "- Simplified LSTM\n…\n- Two gates: Reset and Update",
        "- A second list item",
    ]
    assert merged[0].passage.plain == "Simplified LSTM; Two gates: Reset and Update"
    assert (merged[0].passage.line_start, merged[0].passage.line_end) == (1006, 1008)


def test_the_handbook_s_words_come_first_and_the_model_s_follow_labelled_as_its_own():
    from rag.assistant import SUMMARY_LABEL, Answer

    evidence = [_ev("Dropout randomly zeroes neurons.", 0.9)]
    summary = Answer(question="What is dropout?", text="Dropout switches off units [1].", evidence=evidence)
    shown = summary.shown()
    assert shown.startswith("**From the handbook**") and "Dropout randomly zeroes neurons." in shown
    assert shown.endswith(f"_{SUMMARY_LABEL}_\n\nDropout switches off units [1].")
    fallback = Answer(question="What is dropout?", text="No summary ...", evidence=evidence, fallback="not-grounded")
    assert SUMMARY_LABEL not in fallback.shown() and fallback.shown().endswith("\n\nNo summary ...")
    assert fallback.shown().startswith("**From the handbook**")
    # A decline says what the passages under it are before showing them.
    closest = Answer(question="q", text="I could not find ...", evidence=evidence, declined=True, refused=True)
    assert closest.shown().startswith("I could not find ...\n\n**Closest in the handbook**")


def test_a_retrieved_section_is_marked_quoted_only_when_a_passage_comes_from_it():
    from rag.assistant import Answer
    from rag.retrieve import Hit

    item = next(p for p in passages(PROSE) if "Dropout" in p.text)
    answer = Answer(question="What is dropout?", evidence=[Evidence(item, 0.9)])
    assert answer.quoted(Hit(1, PROSE, 0.8))
    assert not answer.quoted(Hit(2, TABLE, 0.7))
    # The same lines under another section (a different chunk that happens to overlap in numbers) are not it.
    other = Chunk("x", "text", ("Section 3",), "prose", PROSE.line_start, PROSE.line_end)
    assert not answer.quoted(Hit(3, other, 0.6))


class _MustNotEmbed:
    def embed_documents(self, texts):
        raise AssertionError(f"embedded again: {texts}")


def test_embedded_passages_are_kept_for_the_next_process(query_embedder, tmp_path):
    from rag.evidence import CachedEmbeddings

    path = tmp_path / "texts.npz"
    texts = ["Dropout: Randomly zero neurons", "Bagging: Parallel"]
    cache = CachedEmbeddings(query_embedder, path=path)
    first = cache(texts)
    cache.flush()  # the web chat's warm-up, or the end of the process
    again = CachedEmbeddings(_MustNotEmbed(), path=path)(list(reversed(texts)))
    assert np.allclose(again, first[::-1])
    assert not list(tmp_path.glob(".*.npz"))  # written through a temporary file, then replaced
    path.write_bytes(b"not an npz")  # a damaged file is rebuilt, not an error
    rebuilt = CachedEmbeddings(query_embedder, path=path)
    assert np.allclose(rebuilt(texts), first, atol=1e-6)
    rebuilt.flush()
    assert len(CachedEmbeddings(_MustNotEmbed(), path=path)) == 2


def test_a_sentence_naming_a_table_row_cites_that_row():
    """An uncited sentence gets the row it names, not the passage its vector is closest to; a sentence that
    cites one row and names another is dropped ("use one-hot encoding [1]" where [1] is binary encoding), also
    beside its own row's name."""
    from rag.guard import distinctive_rows

    rows = [
        "Method: Binary Encoding; Use Case: High cardinality dropout",
        "Method: Target Encoding; Use Case: Replace with target mean",
        "Method: One-Hot Encoding; Use Case: Nominal categories",
    ]
    subjects = tuple(subject for subject, _ in distinctive_rows(rows, "How do I encode zip codes?"))
    embed = _Vectors()
    gate = Gate(embed(["dropout dropout", "dropout cake", "bias cake"]), embed, row_subjects=subjects, first_only=False)
    kept = list(gated(iter(["For dropout you can use one-hot encoding here. "]), gate))
    assert kept and kept[0].rstrip().endswith("[3].")  # closest by vector is [1]; it names row 3
    gate = Gate(embed(["dropout dropout", "dropout cake", "bias cake"]), embed, row_subjects=subjects)
    assert list(gated(iter(["For dropout you can use one-hot encoding here [1]. "]), gate)) == []
    assert gate.dropped[0][1] == "names a row it does not cite"
    gate = Gate(embed(["dropout dropout", "dropout cake", "bias cake"]), embed, row_subjects=subjects)
    assert list(gated(iter(["For dropout you can use binary encoding here [1]. "]), gate))
    # Its own row named, with another's stitched in: still a row it does not cite.
    gate = Gate(embed(["dropout dropout", "dropout cake", "bias cake"]), embed, row_subjects=subjects)
    assert list(gated(iter(["For dropout use binary encoding, a kind of one-hot encoding [1]. "]), gate)) == []
    assert gate.dropped[0][1] == "names a row it does not cite"


def test_guard_module_examples():
    import doctest

    import rag.guard

    result = doctest.testmod(rag.guard)
    assert result.failed == 0 and result.attempted >= 3


def test_the_situation_a_scenario_sets_is_not_evidence_for_its_answer(assistant):
    """ "What should I try first when my model's accuracy is low?" opened on Scenario 1's "Situation: Your model
    accuracy is only 65% on test set.", which restates the question; its debugging steps answer it."""
    answer = list(assistant.stream("What should I try first when my model's accuracy is low?", summary=False))[-1]
    assert not answer.declined and answer.evidence[0].passage.text.startswith("**Systematic Debugging**")
    assert not any("Situation" in e.passage.text for e in answer.evidence)


@pytest.mark.parametrize(
    ("question", "asks", "says"),
    [
        # Its first sentence alone was shown; the last one answers.
        ("does dropout stay switched on when the network makes predictions?", "Q20:", "At inference, all neurons"),
        # "Much more efficient than full fine-tuning." was shown alone, without what LoRA is.
        ("what are the advantages of LoRA?", "Q38:", "add small trainable matrices to frozen model"),
    ],
)
def test_a_piece_of_a_bank_answer_is_shown_as_the_whole_answer_under_its_question(assistant, question, asks, says):
    answer = list(assistant.stream(question, summary=False))[-1]
    first = answer.shown_evidence[0].passage
    assert first.text.startswith(f"**{asks}") and says in first.text and says in first.plain
    assert assistant.handbook_lines[first.line_start - 1].strip() == first.label  # its question's own line
    assert [e.passage.chunk_id for e in answer.shown_evidence].count(first.chunk_id) == 1  # the answer once
    assert f"[1] _{first.section} · lines {first.line_start}-{first.line_end}_" in answer.evidence_markdown()
    # The model reads the piece chosen, as before: given whole answers, more of its summaries went wrong.
    read = answer.evidence[0].passage
    assert read.chunk_id == first.chunk_id and read.whole == first and read.plain != first.plain


def test_two_items_of_a_short_list_show_the_whole_list(assistant):
    """ "Remove … Keep" under "Handling Outliers" hid the two ways between: capping and transforming."""
    answer = list(assistant.stream("how do I deal with outliers?", summary=False))[-1]
    shown = next(e.passage for e in answer.shown_evidence if "Handling Outliers" in e.passage.text)
    assert "…" not in shown.text and all(w in shown.text for w in ("Remove", "Cap/Floor", "Transform", "Keep"))
    assert (shown.line_start, shown.line_end) == (454, 458) and "Winsorization" in shown.plain
    read = next(e.passage for e in answer.evidence if "Handling Outliers" in e.passage.text)
    assert read.whole == shown and "…" in read.text  # the model reads the items chosen
