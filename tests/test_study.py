"""Study mode: grading on the labelled set, FSRS scheduling, progress that survives processes and kills."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from study.cards import build_deck
from study.progress import ProgressStore
from study.schedule import Scheduler, rating_for
from study.session import StudySession
from tests.conftest import HBRAG


def test_deck_from_the_handbook(handbook_text):
    deck = build_deck(handbook_text)
    kinds = {k: sum(c.kind == k for c in deck) for k in ("question", "scenario", "term", "definition")}
    assert kinds["question"] == 50 and kinds["scenario"] == 10 and kinds["term"] == kinds["definition"] > 60
    assert len({c.id for c in deck}) == len(deck)
    lines = handbook_text.splitlines()
    term = next(c for c in deck if c.kind == "term" and "Dropout" in c.front)
    assert "Dropout" in lines[term.line_start - 1] and term.back in lines[term.line_start - 1]


@pytest.mark.parametrize(
    ("score", "rating"), [(0, "Again"), (1, "Again"), (2, "Hard"), (3, "Hard"), (4, "Good"), (5, "Easy")]
)
def test_grade_to_rating(score, rating):
    assert rating_for(score).name == rating


def test_due_dates_follow_the_grades():
    scheduler = Scheduler()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    dues = {s: scheduler.review(scheduler.new_state(), s, now)[1] for s in range(6)}
    assert dues[0] <= dues[2] <= dues[3] < dues[5]
    assert dues[5] - now >= timedelta(days=1)  # an easy first answer is not asked again today
    state, due = scheduler.review(scheduler.new_state(), 5, now)
    _, second = scheduler.review(state, 5, due)
    assert second - due > due - now  # intervals grow with repeated success
    # A 3 (key points missing, where missed misconceptions land) brings a reviewed card back sooner than a 4.
    assert scheduler.review(state, 3, due)[1] < scheduler.review(state, 4, due)[1]


def test_dealt_cards_are_prepared_and_grade_as_they_would_unprepared(handbook_text, query_embedder, tmp_path):
    """`select` embeds the dealt cards' references in one batch while the learner reads; the grades and
    verdicts are the same as a grader that embeds each reference on first use."""
    from study.grading import Grader

    session = StudySession(handbook_text, tmp_path / "p.sqlite", query_embedder)
    cards = session.select(topic="Statistics", count=4)
    assert len(cards) == 4 and {c.back for c in cards} <= set(session.grader._references)
    cold = Grader(query_embedder, session.grader.glossary)
    for card in cards:
        answer = card.back.split(".")[0]
        warm, fresh = session.grader.grade(answer, card.back), cold.grade(answer, card.back)
        assert warm.score == fresh.score and [p.verdict for p in warm.points] == [p.verdict for p in fresh.points]


def test_the_learners_own_grade_replaces_the_graders_without_a_second_review(handbook_text, query_embedder, tmp_path):
    """A misconception the grader passes: the learner, having read the reference, records 0 instead."""
    session = StudySession(handbook_text, tmp_path / "p.sqlite", query_embedder)
    card = next(c for c in session.deck if c.front == "What is Dimensionality Reduction?")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="answer this card first"):
        session.regrade(card, 0)
    graded = session.answer(card, "Adding more features to the data so that the classes become separable.", now)
    due = session.regrade(card, 0)
    saved = session.store.get(card.id)
    assert saved.last_score == 0 and saved.reviews == 1 and session.store.review_count() == 1
    assert due == saved.due == session.scheduler.review(session.scheduler.new_state(), 0, now)[1]
    assert graded.grade.score == 0 or due < graded.next_due  # a lower grade brings the card back sooner
    assert session.regrade(card, 5) > due  # and a higher one later: always from the state before the answer
    with pytest.raises(ValueError, match="0 to 5"):
        session.regrade(card, 6)


def test_changed_handbook_keeps_progress_on_unchanged_cards(handbook_text, embedder, tmp_path):
    db = tmp_path / "p.sqlite"
    session = StudySession(handbook_text, db, embedder)
    q6 = next(c for c in session.deck if c.front == "Explain the bias-variance tradeoff.")
    q1 = next(c for c in session.deck if c.front == "What is the Central Limit Theorem?")
    session.answer(q6, "Bias underfits, variance overfits.")
    session.answer(q1, "Sample means become normal.")
    changed = handbook_text.replace("The CLT states that", "The Central Limit Theorem says that")
    again = StudySession(changed, db, embedder)
    progress = again.store.all()
    assert q6.id in {c.id for c in again.deck} and progress[q6.id].reviews == 1
    new_q1 = next(c for c in again.deck if c.front == "What is the Central Limit Theorem?")
    assert new_q1.id != q1.id and again.store.get(new_q1.id) is None


def test_quiz_through_piped_stdin_then_progress_in_another_process(cli_env):
    # An answer, then the learner's own grade after the reference (0: they judge it wrong), then stop.
    answers = "Bias is error from simple assumptions (underfitting); variance from sensitivity (overfitting)\n0\nq\n"
    out = subprocess.run(
        HBRAG + ["quiz", "--count", "3", "--topic", "bias-variance"],
        env=cli_env,
        input=answers,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "Q: Explain the bias-variance tradeoff." in out.stdout and "Grade: " in out.stdout
    assert "1 card(s) answered" in out.stdout and "Recorded your grade, 0/5" in out.stdout
    # The grader passed the answer, so only the learner's 0 sends them to the section that teaches it.
    taught = [line for line in out.stdout.splitlines() if line.endswith("where this is taught")]
    graded = int(out.stdout.split("Grade: ")[1].split("/5")[0])
    assert graded > 2 and len(taught) == 1
    assert taught[0].startswith("Re-read: Section 6 — Supervised Learning > Bias-Variance Tradeoff (handbook lines")
    shown = json.loads(
        subprocess.run(HBRAG + ["progress", "--json"], env=cli_env, capture_output=True, text=True, timeout=120).stdout
    )
    ml = next(r for r in shown if r["section"].endswith("Machine Learning Questions"))
    assert ml["reviewed"] == 1 and ml["mastery"] == 0
    assert ProgressStore(cli_env["HBRAG_PROGRESS_DB"]).review_count() == 1


def test_killed_quiz_keeps_earlier_answers(cli_env, tmp_path):
    proc = subprocess.Popen(
        HBRAG + ["quiz", "--count", "5", "--new-only"],
        env=cli_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin and proc.stdout
    graded = 0
    deadline = time.monotonic() + 240
    proc.stdin.write("the mean of samples is normal\n\n")  # an answer, then Enter keeps its grade
    proc.stdin.write("probability of data as extreme under the null\n")
    proc.stdin.flush()
    while graded < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        graded += line.startswith("Grade: ")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert graded == 2
    assert ProgressStore(cli_env["HBRAG_PROGRESS_DB"]).review_count() == 2


def test_progress_plot(cli_env, tmp_path):
    png = tmp_path / "mastery.png"
    out = subprocess.run(
        HBRAG + ["progress", "--plot", str(png)], env=cli_env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and png.stat().st_size > 2000


@pytest.mark.slow
def test_study_tab_through_gradio_client(served):
    from gradio_client import Client

    client = Client(served, verbose=False)
    card, _, _, _, _ = client.predict("Deep Learning Questions", api_name="/study_next")
    assert "Deep Learning Questions" in card and "###" in card
    feedback, table = client.predict("Gradients shrink as they flow back through many layers", api_name="/study_answer")
    assert "/5" in feedback and "Reference answer" in feedback and "Re-read" in feedback
    assert any(row[0].endswith("Deep Learning Questions") and row[2] >= 1 for row in table["data"])

    def mastery(table: dict) -> int:
        return int(next(r for r in table["data"] if r[0].endswith("Deep Learning Questions"))[4].rstrip("%"))

    graded = int(feedback.split("/5")[0].split()[-1])
    note, regraded = client.predict("0", api_name="/study_regrade")
    assert "Recorded your grade, 0/5" in note and "where this is taught" in note
    assert graded == 0 or mastery(regraded) < mastery(table)  # the learner's own 0 is now the card's last grade
