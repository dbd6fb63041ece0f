"""The question bank, the gold mapping, and small end-to-end eval runs with the real models."""

from __future__ import annotations

import json
import math
import subprocess

import pytest

from eval.dataset import DATA_DIR, hit_key, load_gold, question_bank, unanswerable
from ingest.index import IndexStore
from ingest.questions import parse_question_bank
from tests.conftest import HBRAG, banded


def test_parser_finds_the_whole_bank(handbook_text):
    bank = parse_question_bank(handbook_text)
    assert [q.id for q in bank] == [f"Q{i}" for i in range(1, 51)] + [f"S{i}" for i in range(1, 11)]
    assert all(q.question and q.reference.strip() for q in bank)
    q6 = next(q for q in bank if q.id == "Q6")
    assert q6.question == "Explain the bias-variance tradeoff." and "Variance" in q6.reference
    assert not q6.reference.startswith(">")


def test_every_gold_path_exists_in_the_index(built_index, handbook_text):
    sections = {c.section for c, bank in IndexStore.open(built_index).all_chunks() if not bank}
    gold = load_gold()
    assert set(gold) == {q.id for q in question_bank(handbook_text).questions}
    missing = {qid: p for qid, paths in gold.items() for p in paths if p not in sections}
    assert not missing


LEARNER_SETS = sorted(p.stem for p in DATA_DIR.glob("learners_*.jsonl"))


@pytest.mark.parametrize("name", ["paraphrases", *LEARNER_SETS])
def test_every_learner_gold_key_exists_in_the_index(built_index, name):
    """A misspelt section path or bank id would count as a retrieval miss for ever."""
    from eval.dataset import DATA_DIR, load_questions_file

    keys = {hit_key(c.section, c.qid) for c, _ in IndexStore.open(built_index).all_chunks()}
    keys |= {c.section for c, _ in IndexStore.open(built_index).all_chunks()}
    questions = load_questions_file(DATA_DIR / f"{name}.jsonl").questions
    missing = {q.id: g for q in questions for g in q.gold if g not in keys}
    assert questions and all(q.gold for q in questions) and not missing


def test_own_chunk_keys_exist(built_index, handbook_text):
    keys = {hit_key(c.section, c.qid) for c, _ in IndexStore.open(built_index).all_chunks()}
    assert {q.own for q in question_bank(handbook_text).questions} <= keys


def test_unanswerable_set():
    data = unanswerable()
    assert len(data.questions) >= 30 and not any(q.answerable for q in data.questions)


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


def test_retrieval_eval_end_to_end(cli_env, runs_dir):
    out = subprocess.run(
        [*HBRAG, "eval", "retrieval", "--limit", "6", "--runs-dir", str(runs_dir), "--json"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    (run,) = runs_dir.iterdir()
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert {r["setting"] for r in rows} == {"full", "heldout"}
    assert all(r["retrieved_ids"] for r in rows)
    summary = json.loads((run / "summary.json").read_text())
    default, learner = summary["configs"]  # the bank, and learners' paraphrases
    assert 0 <= summary["configs"][default]["heldout"]["recall@5"] <= 1
    assert summary["configs"][learner]["full"]["questions"] >= 80
    assert summary["refusal"]["unanswerable_questions"] >= 30
    assert 0 <= summary["refusal"]["false_refusal_rate_paraphrases"] <= 1
    report = (run / "report.md").read_text()
    for png in ("metrics_by_config.png", "recall_by_section.png", "latency.png"):
        assert (run / png).stat().st_size > 1000 and f"({png})" in report


def test_fail_under_exits_non_zero(cli_env, runs_dir):
    out = subprocess.run(
        [*HBRAG, "eval", "retrieval", "--limit", "3", "--runs-dir", str(runs_dir), "--fail-under", "recall@5=1.01"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 1 and "recall@5" in out.stderr and "under 1.01" in out.stderr


def _eval_answers(cli_env, runs_dir, *args: str) -> subprocess.CompletedProcess:
    """`hbrag eval answers` with short answers, as JSON, into the test's runs directory."""
    command = [*HBRAG, "eval", "answers", *args, "--max-tokens", "48", "--runs-dir", str(runs_dir), "--json"]
    return subprocess.run(command, env=cli_env, capture_output=True, text=True, timeout=900)


def test_answer_eval_end_to_end(cli_env, runs_dir):
    """Held out: the bank is neither retrieved nor evidence; prose, evidence and the answer as shown scored apart."""
    out = _eval_answers(cli_env, runs_dir, "--limit", "3", "--setting", "heldout")
    assert out.returncode == 0, out.stderr
    (run,) = runs_dir.iterdir()
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 9 and {r["mode"] for r in rows} == {"closed-book", "rag", "oracle"}
    for r in rows:
        assert -1 <= r["shown_similarity"] <= 1
        assert (r["groundedness"] is None) == (r["mode"] == "closed-book" or r["declined"])
        assert r["citations_valid"] and not r["header_dump"]
        assert not any(e["section"].startswith(("Section 19", "Section 20")) for e in r["evidence"])
    assert all(r["retrieved_ids"] for r in rows if r["mode"] == "rag")
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["modes"]) == {"closed-book", "rag/heldout", "oracle/heldout"}
    assert (run / "metrics_by_mode.png").exists() and "Worst 10" in (run / "report.md").read_text()


def test_answer_eval_on_learner_wording(cli_env, runs_dir, tmp_path, runtime):
    """A question file without references: counted as answered, declined, fell back, header dumps; with gold
    sections, whether the handbook passages shown come from them."""
    missing = "Section 4 — Exploratory Data Analysis (EDA) > Handling Missing Data"
    rows = [
        {
            "id": "blanks",
            "q": "Some of my columns have lots of blanks, what can I do?",
            "gold": [missing],
            "sides": [["drop"], ["Median"]],  # read as "should I drop them or fill them with the median?"
        },
        {"id": "mona", "q": "Who painted the Mona Lisa?"},
        {
            "id": "wrong-gold",
            "q": "What is dropout in a neural network?",
            "gold": [missing],
            "sides": [["dropout"], ["mode"]],
        },
        {"id": "units", "q": "Why turn off random units during training?", "gold": ["qa:Q20"]},
        {
            "id": "synthetic",
            "q": "How can I make up extra rows of the rare group instead of copying the old ones?",
            "gold": ["Section 5 — Feature Engineering > Handling Imbalanced Data"],
        },
    ]
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # The band put between these questions' own probabilities, so the test holds whatever the next refit gives
    # them. None of the four is in the query adapter's fitting sets, so the eval's out-of-fold adapter reads
    # them as served ("blanks" is, and sits far above any threshold).
    model = banded(runtime.assistant, rows[1]["q"], rows[4]["q"], [rows[2]["q"], rows[3]["q"]])
    (band := tmp_path / "answerable-band.json").write_text(model.to_json())
    env = {**cli_env, "HBRAG_ANSWERABILITY_MODEL": str(band)}
    out = _eval_answers(env, runs_dir, "--questions", str(questions), "--mode", "rag")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)["summary"]["modes"]["rag/full"]
    assert summary["questions"] == 5 and summary["declined_rate"] == 0.4 and summary["closest_rate"] == 0.2
    assert summary["header_dumps"] == 0 and summary["invalid_citations"] == 0
    (run,) = runs_dir.iterdir()
    by_id = {r["id"]: r for r in map(json.loads, (run / "results.jsonl").read_text().splitlines())}
    assert by_id["blanks"]["evidence_on_gold"] == 1.0 and by_id["blanks"]["evidence_any_gold"] == 1.0
    assert by_id["wrong-gold"]["evidence_any_gold"] == 0.0  # dropout is not taught under missing data
    # Both sides of a comparison named in the passages shown, where the set gives its sides.
    assert by_id["blanks"]["sides_shown"] == 1.0 and by_id["wrong-gold"]["sides_shown"] == 0.0
    assert math.isnan(by_id["units"]["sides_shown"]) and summary["sides_shown"] == 0.5
    assert by_id["blanks"]["first_program"] == 0.0 and math.isnan(by_id["mona"]["first_program"])
    assert math.isnan(by_id["mona"]["evidence_on_gold"])  # declined: nothing shown, nothing judged
    assert not by_id["mona"]["closest"] and math.isnan(by_id["mona"]["closest_on_gold"])
    # Declined in everyday words, the closest passages shown, judged apart from the answered questions.
    assert by_id["synthetic"]["closest"] and by_id["synthetic"]["closest_on_gold"] == 1.0
    assert math.isnan(by_id["synthetic"]["evidence_on_gold"]) and summary["closest_on_gold"] == 1.0
    assert summary["evidence_any_gold"] == pytest.approx(2 / 3)
    assert "evidence_on_gold" in (run / "report.md").read_text()
    # "Did you mean ...?" is judged wherever the gold has a bank answer: dropout's Q20 is among the three.
    assert by_id["units"]["suggestion_on_gold"] == 1.0 and math.isnan(by_id["synthetic"]["suggestion_on_gold"])
    assert summary["suggestion_on_gold"] == 1.0


def test_the_shown_evidence_record_reads_every_labelled_set_and_diffs():
    """benchmarks/shown.py: the regression check over every labelled question; keys are unique per set."""
    import doctest

    import benchmarks.shown

    assert doctest.testmod(benchmarks.shown).failed == 0
    keys = [k for k, _ in benchmarks.shown.labelled_questions()]
    assert len(keys) == len(set(keys)) > 1000 and not any(k.startswith("grading") for k in keys)
    assert any(k.startswith("keywords_s26.jsonl:") for k in keys)
