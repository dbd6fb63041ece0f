"""Study grading by key points: points and clauses, contradiction signals, the grader on the labelled answers,
`hbrag quiz --batch --json`, the re-read pointer, and calibration that never sees the check part."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from eval import grading as grading_eval
from study.cards import build_deck, find_card, glossary
from study.contradiction import flip, negation, numbers, reversed_roles, swapped_label, transposed
from study.grading import Grader, is_skip, kinds, named_term
from study.points import clauses, key_points, stem
from study.session import StudySession, point_lines
from tests.conftest import HBRAG

Q6 = "Explain the bias-variance tradeoff."
POSITIONAL = "Transformers process all tokens in parallel (no inherent position), encodings add position information"
ATTENTION = "Computes weighted sum of values where weights are based on similarity between query and keys."
SWAPPED = "High bias means the model overfits because it is too sensitive to the training data."


@pytest.fixture(scope="module")
def grader(query_embedder):
    return Grader(query_embedder)


@pytest.fixture(scope="module")
def deck(handbook_text):
    return build_deck(handbook_text)


def test_key_points_keep_bullets_labels_and_headings():
    reference = (
        "Regularization adds penalty to loss function:\n- L1 (Lasso): Adds |weights|, sparse\n"
        "- L2 (Ridge): Adds weights²\n**When to use Batch**:\n- Predictions not time-sensitive\n"
        "- Example: Nightly churn predictions\n**Prevention**:"
    )
    points = key_points(reference)
    assert [p.text for p in points] == [
        "Regularization adds penalty to loss function",
        "L1 (Lasso): Adds |weights|, sparse",
        "L2 (Ridge): Adds weights²",
        "Predictions not time-sensitive",
        "Example: Nightly churn predictions",
    ]
    # "Example" says what kind of item a bullet is; the heading says whose it is, the role a learner can swap.
    assert [p.label for p in points] == ["", "L1 (Lasso)", "L2 (Ridge)", "When to use Batch", "When to use Batch"]
    assert key_points("Underfitting")[0].text == "Underfitting"  # a term card's answer is one point


def test_clauses_cut_where_a_new_claim_starts():
    assert clauses("Bagging is parallel and boosting is sequential; both are ensembles.") == [
        "Bagging is parallel",
        "boosting is sequential",
        "both are ensembles",
    ]


@pytest.mark.parametrize(
    ("check", "point", "clause", "fires"),
    [
        (flip, "Lower temperature means more deterministic output", "A higher temperature is more deterministic", 1),
        (flip, "Lower temperature means more deterministic output", "A low temperature makes it deterministic", 0),
        (flip, "Much more efficient than full fine-tuning", "It fine-tunes with fewer parameters", 0),
        (flip, "Underfitting", "Overfitting", 1),
        (flip, "TP / (True positives + False negatives)", "true positives divided by TP plus false positives", 1),
        (flip, "TP / (True positives + False negatives)", "true positives divided by TP plus false negatives", 0),
        (flip, "True positives / (True positives + False positives)", "It is about false positives", 0),
        # Everyday phrases read as the word of the pair they mean.
        (flip, "Transformers process all tokens in parallel", "transformers read the tokens one at a time", 1),
        (flip, "Transformers process all tokens in parallel", "they process all the tokens at the same time", 0),
        (negation, "Use AUC-ROC, not accuracy", "Accuracy is the best metric, use it", 1),
        (negation, "No vanishing gradient for positive values", "it avoids vanishing gradients", 0),
        # An aside the point negates while it uses the word plainly too; "only" agrees with "never".
        (negation, POSITIONAL, "It tells the model the position of each token", 0),
        (negation, "Validation: Time-based split (no shuffle!)", "Validation: shuffle the rows, then split", 1),
        (negation, "Test: Final evaluation (never touch during development)", "the test set is touched only once", 0),
        (negation, "Test: Final evaluation (never touch during development)", "you touch the test set to tune", 1),
        (reversed_roles, "Predict context from word", "predicts the word from its context", 1),
        (reversed_roles, "Predict context from word", "predicts the context from a word", 0),
        # A converse says the same thing; a synonym of the relation still reverses.
        (reversed_roles, "Creates representation from input", "turns the input into a representation", 0),
        (
            reversed_roles,
            "Probability of the data assuming the null is true",
            "probability of the null given the data",
            1,
        ),
        # A denied need negates its subject; "rather than" negates what follows it.
        (negation, "ensure statistical significance before rollout", "statistical significance is not needed", 1),
        (negation, "ensure statistical significance before rollout", "statistical significance is needed first", 0),
        (negation, "Track code version and data version", "the code and data versions don't need tracking", 1),
        (negation, "Use AUC-ROC, not accuracy", "evaluate with AUC-ROC rather than accuracy", 0),
        (negation, "Search based on meaning, not keywords", "matches on meaning rather than on exact keywords", 0),
        (negation, "Metrics: CTR, engagement, revenue", "judge it by training loss rather than CTR", 1),
        # "learning" of "learning rate" is not the "learned" a right answer denies.
        (negation, "Configuration set before training (learning rate, layers)", "set before training, not learned", 0),
        # Articles do not count in a negation's reach: "does not need all the data" denies "data".
        (negation, "Memory efficient (doesn't need all data in memory)", "It does not need all the data in memory", 0),
        (negation, "Memory efficient (doesn't need all data in memory)", "It needs all the data in memory", 1),
        (flip, "Increasing minority class samples", "Removing samples from the majority class", 1),
        (flip, "Increasing minority class samples", "Adding copies of minority class samples", 0),
        # A scale's two ends: any word of one is an opposite of any word of the other, about the same thing.
        (flip, "Higher learning rates possible", "you have to use a much smaller learning rate", 1),
        (flip, "Reducing number of features while preserving information", "Adding more features to the data", 1),
        (flip, "Higher learning rates possible", "you can use a larger learning rate", 0),
        # ReLU's glossary line: "min(0, x)" scored 5/5 (grading split fresh10).
        (flip, "Rectified Linear Unit: max(0, x)", "it outputs min(0, x), so positive inputs become zero", 1),
        (flip, "Rectified Linear Unit: max(0, x)", "it outputs max(0, x), zero for negative inputs", 0),
        # ... but not where one side uses both ends about different things.
        (flip, "Lower temperature (0.1) = more deterministic", "a low temperature makes it more deterministic", 0),
        (flip, "Regularization adds penalty to loss to prevent overfitting", "adds a penalty to reduce overfitting", 0),
        # A three-word definition is its own context for a named pair; "more" qualifies, it is not the point.
        (flip, "Filling in missing values", "Deleting every row that has a missing value", 1),
        (flip, "Filling in missing values", "Filling each gap with the column mean", 0),
        (transposed, ATTENTION, "a weighted sum of the queries, weights from similarity between values and keys", 1),
        (transposed, ATTENTION, "a weighted sum of the values, weights from similarity between query and keys", 0),
        (transposed, ATTENTION, "a weighted sum of the values, weights from similarity between keys and query", 0),
        (numbers, "If p < 0.05 reject the null", "reject the null when p < 0.5", 1),
        (numbers, "If p < 0.05 reject the null", "below 0.05 we reject the null", 0),
    ],
)
def test_contradiction_signals(check, point, clause, fires):
    assert bool(check(point, clause)) == bool(fires)


def test_a_facet_is_negated_by_the_point_it_was_cut_from():
    whole = "Without activation functions, neural networks are just linear transformations."
    clause = "Without activation functions a neural network is just a stack of linear transformations"
    facet = "neural networks are just linear transformations."
    assert negation(facet, clause) and not negation(facet, clause, whole)


def test_an_everyday_phrase_is_quoted_as_the_learner_wrote_it():
    reason = flip("Transformers process all tokens in parallel", "transformers read the tokens one at a time")
    assert reason == "one at a time instead of parallel"


def test_swapped_label_reads_the_clause_subject():
    assert swapped_label("Bias", ["Variance"], "variance is error from simple assumptions")
    assert not swapped_label("Bias", ["Variance"], "bias is error from simple assumptions, unlike variance")
    # A clause naming this point's own label too is about it ("... features with a gradient boosting model").
    assert not swapped_label("Model", ["Feature computation"], "supply features with a gradient boosting model")
    # A longer label holding this one's words is a kind of it: "Prompting" is still told from "Fine-tuning".
    siblings = ["Prompting", "Few-shot prompting"]
    assert swapped_label("Fine-tuning", siblings, "Prompting updates the model's weights") == (
        "says Prompting where the handbook says Fine-tuning"
    )


def test_a_point_about_the_labels_is_not_a_role_to_swap(grader, deck):
    """Q3's "Example: Type I = ...; Type II = ..." names both labels; a right answer does not contradict it."""
    card = find_card(deck, "What's the difference between Type I and Type II errors?")
    right = grader.grade("Type I is a false positive and Type II is a false negative.", card.back)
    swapped = grader.grade("Type I is a false negative and Type II is a false positive.", card.back)
    assert not right.contradicted and right.score >= 3
    assert swapped.contradicted and swapped.score <= 1


@pytest.mark.parametrize("answer", ["", "   ", "I don't know", "idk", "skip", "?", "no idea."])
def test_skips_are_misses_without_error(answer, grader):
    result = grader.grade(answer, "Dropout randomly zeroes neurons during training.")
    assert is_skip(answer) and result.score == 0 and result.skipped and result.missing


def test_a_confident_swap_scores_low_and_says_which_point(grader, deck):
    card = find_card(deck, Q6)
    right = grader.grade(
        "Bias is error from oversimplified assumptions, so it underfits; variance is "
        "sensitivity to the training data, so it overfits.",
        card.back,
    )
    wrong = grader.grade(SWAPPED, card.back)
    assert right.score >= 4 and not right.contradicted
    assert wrong.score <= 1 and [p.point.label for p in wrong.contradicted] == ["Bias"]
    assert "overfits" in wrong.contradicted[0].said


@pytest.mark.parametrize(
    ("answer", "wrong"),
    [
        ("The probability that the null hypothesis is true.", True),  # P(H0), where the handbook gives P(data | H0)
        ("The chance that the alternative hypothesis is false", True),  # the same, its opposite named
        ("If the null were true, the chance of seeing results at least this extreme.", False),
    ],
)
def test_the_p_value_read_as_the_chance_the_null_is_true_is_contradicted(grader, deck, answer, wrong):
    """The textbook misreading scored 4 of 5 with both points "covered": it uses the card's words."""
    result = grader.grade(answer, find_card(deck, "Explain p-value in simple terms.").back)
    if wrong:
        assert result.score <= 1 and result.contradicted
    else:
        assert result.score >= 3 and not result.contradicted


def test_the_contradiction_module_s_examples():
    import doctest

    import study.contradiction

    assert doctest.testmod(study.contradiction).failed == 0


def test_grades_follow_the_labels_on_the_labelled_answers(grader, deck):
    rows = grading_eval.load_rows(deck)
    summary = grading_eval.summarise(grading_eval.grade_rows(grader, rows))
    # A card may have a second set of five answers in a later split.
    assert summary["cards"] >= 40 and summary["answers"] == 5 * len({(r["split"], r["card"].id) for r in rows})
    assert summary["mean_good"] > summary["mean_partial"] > summary["mean_misconception"] > summary["mean_empty"] == 0
    assert summary["mean_partial"] > summary["mean_off-topic"]


def test_labelled_answers_cover_every_card_kind_and_keep_a_check_third(deck):
    rows = grading_eval.load_rows(deck)
    cards = {r["card"].id: r for r in rows}
    assert {r["card"].kind for r in rows} == {"question", "scenario", "term", "definition"}
    held_out = {cid for cid, r in cards.items() if r["split"] != "fit"}
    assert len(held_out) * 3 >= len(cards) and {r["split"] for r in rows} == {
        "fit",
        "check",
        "fresh",
        "fresh2",
        "fresh3",
        "fresh4",
        "fresh5",
        "fresh6",
        "fresh7",
        "fresh8",
        "fresh9",
        "fresh10",
        "fresh11",
        "fresh12",
    }
    assert all({r["label"] for r in rows if r["card"].id == cid} == set(grading_eval.LABELS) for cid in cards)


def test_calibration_never_reads_the_check_part(grader, deck, monkeypatch):
    monkeypatch.setattr(grading_eval, "GRID", {"lo": (0.1, 0.3), "gamma": (0.6, 1.0)})
    rows = grading_eval.load_rows(deck)
    scrambled = [{**r, "answer": "I don't know"} if r["split"] != "fit" else r for r in rows]
    first = grading_eval.fit_params(grader, rows, progress=False)
    second = grading_eval.fit_params(grader, scrambled, progress=False)
    assert first[0] == second[0] and first[1]["spearman"] == second[1]["spearman"]
    assert first[1]["cards"] == len({r["card"].id for r in rows if r["split"] == "fit"})


def test_each_point_carries_its_handbook_line(handbook_text, deck):
    card = find_card(deck, Q6)
    lines = handbook_text.splitlines()
    start, end = point_lines("Variance: Error from sensitivity to training data", lines, card.line_start, card.line_end)
    assert start == end and "**Variance**" in lines[start - 1]


def test_feedback_names_the_contradiction_and_the_teaching_section(handbook_text, query_embedder, assistant):
    from study.session import teacher

    session = StudySession(handbook_text, None, query_embedder, teacher(lambda: assistant))
    feedback = session.check(session.find("explain the Bias-Variance tradeoff"), SWAPPED)
    text = feedback.text()
    assert 'Contradicts the handbook: you wrote "High bias means the model overfits"' in text
    assert feedback.reread and "Bias-Variance Tradeoff" in feedback.reread[0] and "Section 19" not in feedback.reread[0]
    assert "Re-read: " + feedback.reread[0] in text and feedback.next_due is None


def _batch(cli_env, path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        HBRAG + ["quiz", "--batch", str(path), "--json", *extra],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_two_cards_whose_questions_differ_in_case_are_each_found(deck):
    """The glossary's "What is Transfer Learning?" resolved to the bank's Q23, so it could not be named."""
    term, bank = find_card(deck, "What is Transfer Learning?"), find_card(deck, "What is transfer learning?")
    assert term.kind == "term" and bank.kind == "question" and term.back != bank.back
    assert find_card(deck, "what is transfer learning") is bank  # written neither way: the first, as before


def test_quiz_batch_json_grades_each_line_and_records_nothing(cli_env, tmp_path):
    rows = [
        {"question": Q6, "answer": SWAPPED},
        {"question": "What is quantum chromodynamics?", "answer": "quarks"},
        {"question": "What is max pooling?", "answer": "It keeps the maximum value of each region to downsample."},
    ]
    path = tmp_path / "answers.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    out = _batch(cli_env, path)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 1 and "2 line(s)" in out.stderr
    assert [("error" in line) for line in lines] == [False, True, False, True]
    swapped, unknown, pooling, _ = lines
    assert swapped["grade"] <= 1 and swapped["reread"]["section"].endswith("Bias-Variance Tradeoff")
    assert {p["verdict"] for p in swapped["points"]} >= {"contradicted", "covered"}
    assert all(p["line_start"] >= 1667 and p["line_end"] <= 1670 for p in swapped["points"])
    assert "no card" in unknown["error"] and pooling["grade"] >= 3
    assert not Path(cli_env["HBRAG_PROGRESS_DB"]).exists()  # nothing recorded without --progress-db

    db = tmp_path / "kept.sqlite"
    recorded = _batch(cli_env, path, "--progress-db", str(db))
    assert db.exists() and json.loads(recorded.stdout.splitlines()[0])["next_due"]


def test_a_contrast_with_its_sides_swapped_is_caught_and_a_right_one_is_not():
    from study.contradiction import swapped_pair

    reference = ["Bagging trains models in parallel", "Boosting trains models sequentially"]
    swapped = "Bagging trains models sequentially and boosting trains them in parallel."
    assert swapped_pair(reference[0], reference, swapped) == (
        "ties bagging to sequentially; the handbook ties it to parallel",
        "Bagging trains models sequentially",
    )
    assert swapped_pair(reference[0], reference, "Bagging trains in parallel, boosting sequentially.") == ("", "")
    # A word of a pair with no parallel statement of the other side is not a contrast to swap.
    lone = ["Controls randomness of output", "Lower values mean more deterministic text"]
    assert swapped_pair(lone[0], lone, "It makes the output more deterministic.") == ("", "")


def test_the_grader_caps_a_swapped_contrast(grader):
    reference = "- **Bagging**: trains models in parallel\n- **Boosting**: trains models sequentially"
    swapped = grader.grade("Bagging trains models sequentially, while boosting trains them in parallel.", reference)
    right = grader.grade("Bagging trains models in parallel, while boosting trains them sequentially.", reference)
    assert swapped.score <= 1 and any(p.verdict == "contradicted" for p in swapped.points)
    assert right.score >= 4 and not any(p.reason for p in right.points)


def test_named_term_is_the_whole_answer_not_a_word_inside_it():
    terms = ["One-hot Encoding", "Bias (ML)", "MSE"]
    assert named_term("one-hot encoding", terms) == "One-hot Encoding" and named_term("The MSE.", terms) == "MSE"
    assert named_term("Bias", terms) == "Bias (ML)" and named_term("High bias", terms) == ""


@pytest.mark.parametrize(
    ("front", "answer", "other"),
    [
        (
            "Which term means: Dense vector representation of discrete objects (words, users)?",
            "One-hot encoding",
            "One-hot Encoding",
        ),
        ("Which term means: Harmonic mean of precision and recall?", "Precision.", "Precision"),
        ("Which term means: Model too simple to capture patterns?", "High bias", ""),  # a term inside an answer
        ("What is Overfitting?", "Underfitting", ""),  # a "What is X?" card is graded on its definition
    ],
)
def test_a_term_card_answered_with_another_term_is_contradicted(
    handbook_text, deck, query_embedder, front, answer, other
):
    back = find_card(deck, front).back
    result = Grader(query_embedder, glossary(handbook_text)).grade(answer, back)
    reasons = [p.reason for p in result.contradicted if "another term" in p.reason]
    if other:
        assert result.score <= 1 and reasons == [f"{other} is another term: {dict(glossary(handbook_text))[other]}"]
        assert not Grader(query_embedder).grade(answer, back).contradicted  # without the glossary it is only vague
    else:
        assert not reasons


@pytest.mark.parametrize(
    ("front", "answer", "other"),
    [
        (
            "What is Underfitting?",
            "When the model memorizes the training data and does poorly on new data.",
            "Overfitting",
        ),
        (
            "What is Gradient Descent?",
            "Computing gradients with the chain rule, layer by layer backwards.",
            "Backpropagation",
        ),
        ("What is Dropout?", "Randomly turning off some neurons during training.", ""),  # its own definition, reworded
        ("What is Learning Rate?", "A number you set before training.", ""),  # vague: a hyperparameter, no other term
        ("What is Gradient Descent?", "A way to train a model.", ""),  # near Inference only in words many terms use
    ],
)
def test_a_definition_card_answered_with_another_terms_definition_is_contradicted(
    handbook_text, deck, query_embedder, front, answer, other
):
    back = find_card(deck, front).back
    result = Grader(query_embedder, glossary(handbook_text)).grade(answer, back)
    reasons = [p.reason for p in result.contradicted if p.reason.startswith("that describes")]
    if other:
        assert result.score <= 1 and reasons == [f"that describes {other}: {dict(glossary(handbook_text))[other]}"]
    else:
        assert not reasons


@pytest.mark.parametrize(
    ("front", "answer", "wrong"),
    [
        ("What is Softmax?", "A function that returns max(0, x) for every score it is given.", True),  # ReLU's
        ("What is Zero-shot Learning?", "Training a model on thousands of labelled examples of the very task.", True),
        ("What is Beam Search?", "A way of decoding text from a language model.", False),  # vague, not another's
        (
            "What is Perceptron?",
            "The simplest unit of a neural network: a weighted sum passed through an activation.",
            False,
        ),
    ],
)
def test_a_definition_as_close_to_another_terms_as_to_its_own_is_wrong(
    handbook_text, deck, query_embedder, front, answer, wrong
):
    """Both wrong ones scored 4/5: the answer uses words that mark another definition out and reads as close to it
    as to its own. A near tie names no term ("reads as another term's definition"): it says the answer is not this
    definition, not which one it is (eval/README.md, thirty-fourth round)."""
    result = Grader(query_embedder, glossary(handbook_text)).grade(answer, find_card(deck, front).back)
    if wrong:
        assert result.score <= 1 and [p.reason for p in result.contradicted] == [
            "that reads as another term's definition as much as this one's"
        ]
    else:
        assert result.score >= 2 and not result.contradicted


def test_a_point_naming_another_role_is_not_itself_a_role(grader, deck):
    """A Hybrid point that names Batch ("Precompute what you can (batch)") does not make "batch for nightly jobs"
    a swap; the swapped examples still are one."""
    back = find_card(deck, "Scenario: Real-Time vs Batch Prediction. What would you do?").back
    right = grader.grade("Batch for nightly jobs, real-time for fraud detection.", back)
    swapped = grader.grade("Use real-time prediction for the nightly churn scores and batch for fraud detection.", back)
    assert not right.contradicted
    assert swapped.score <= 1 and any("When to use" in p.reason for p in swapped.contradicted)


def test_transposed_terms_name_the_swap_as_written():
    said = "Attention takes a weighted sum of the queries, with weights from the similarity of the values and keys."
    assert transposed(ATTENTION, said) == "swaps queries and values"


def test_an_acronym_plural_stems_to_the_acronym():
    assert stem("CNNs") == stem("CNN") == "cnn" and stem("LLMs") == "llm"
    assert stem("bias") == "bias" and stem("class") == "class"  # an ending "s" is an acronym's only without vowels


def test_the_glossary_says_which_term_is_a_kind_of_another(handbook_text):
    found = kinds(dict(glossary(handbook_text)))
    assert found[("LSTM", "RNN")] == "LSTM is a variant of RNN"  # "Long Short-Term Memory, RNN variant ..."
    assert found[("Dropout", "Regularization")]  # "Regularization by randomly zeroing ..."
    assert found[("Learning Rate", "Hyperparameter")]  # "Configuration set before training (learning rate, layers)"
    assert found[("Word Embedding", "Embedding")] == "Word Embedding is more specific than Embedding"
    # Words as written: "Decoding strategy" is no Decoder; "(weights, biases)" does not list Bias (ML).
    assert ("Beam Search", "Decoder") not in found and ("Bias (ML)", "Parameter") not in found


@pytest.mark.parametrize(
    ("front", "answer", "close"),
    [
        ("Which term means: Recurrent Neural Network for sequential data?", "LSTM", True),  # a variant: partly right
        ("Which term means: Long Short-Term Memory, RNN variant for long sequences?", "RNN", True),  # its broader term
        ("Which term means: Recurrent Neural Network for sequential data?", "CNN", False),  # another term: wrong
        ("What is Dropout?", "Something that helps against overfitting.", True),  # describes Regularization
        ("Which term means: Dense vector representation of words?", "Embedding", True),  # Word Embedding's head
    ],
)
def test_a_kind_of_the_term_is_partly_right_not_a_contradiction(
    handbook_text, deck, query_embedder, front, answer, close
):
    session = StudySession(handbook_text, None, query_embedder)
    feedback = session.check(find_card(deck, front), answer)
    if close:
        assert 2 <= feedback.grade.score <= 3 and not feedback.grade.contradicted
        reason = feedback.grade.missing[0].reason
        assert f"Close: {reason}" in feedback.text() and (" of " in reason or " than " in reason)
    else:
        assert feedback.grade.score <= 1 and feedback.grade.contradicted and "Close: " not in feedback.text()
