"""The `hbrag` command end to end, as a user runs it (a real subprocess, the real models)."""

from __future__ import annotations

import itertools
import json
import re
import subprocess

import pytest

from tests.conftest import HANDBOOK, HBRAG, RARE_CLASS


def hbrag(args, env, stdin=None, timeout=300):
    return subprocess.run(HBRAG + args, env=env, input=stdin, capture_output=True, text=True, timeout=timeout)


def test_ask_json_end_to_end(cli_env, handbook_text):
    out = hbrag(["ask", "What is a p-value?", "--json", "--max-tokens", "60", "--temperature", "0"], cli_env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["question"] == "What is a p-value?"
    assert data["answer"].strip() and data["refused"] is False
    assert set(data["timings"]) >= {"retrieve_ms", "ttft_ms", "total_ms", "tokens", "tokens_per_s"}
    lines = handbook_text.splitlines()
    assert data["sources"]
    for source in data["sources"]:
        cited = "\n".join(lines[source["line_start"] - 1 : source["line_end"]])
        assert source["text"].splitlines()[0] in cited and source["text"].splitlines()[-1] in cited
    assert any("p-value" in s["text"].lower() for s in data["sources"])
    for source in data["sources"]:  # listed by title as the CLI lists it: a bank answer by its question
        assert source["title"].startswith(source["section"])
        assert source["kind"] != "qa" or re.search(r" > Q\d+: \S", source["title"])
    assert any(s["kind"] == "qa" for s in data["sources"])  # the bank's Q2 answers it
    assert data["evidence"]  # the handbook's own words, each at its own line
    for e in data["evidence"]:
        assert e["text"].splitlines()[0].strip() in lines[e["line_start"] - 1]


def test_ask_prints_the_handbook_s_words_first_and_the_model_s_summary_under_them(cli_env):
    from rag.assistant import SUMMARY_LABEL

    out = hbrag(["ask", "What does dropout do during training?", "--max-tokens", "60", "--temperature", "0"], cli_env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("From the handbook:")  # the first line of the answer, no blank line before it
    # Either the model's checked sentences, labelled as its own, or the note saying why there are none: once,
    # after the last passage and before the sections retrieved.
    model = [m for m in (SUMMARY_LABEL, "No summary from the model this time") if m in out.stdout]
    assert len(model) == 1 and out.stdout.count(model[0]) == 1
    evidence, rest = out.stdout.split(model[0])
    assert "[1]" in evidence and "Sections retrieved" in rest and "From the handbook" not in rest


def test_retrieve_batch_json(cli_env, tmp_path):
    batch = tmp_path / "q.jsonl"
    # "question" is what `ask --json` writes and `quiz --batch` reads: it was "a bad line" here.
    batch.write_text('{"q": "What is dropout?"}\nWhat is XGBoost?\n\n{"question": "What is PCA?"}\n')
    out = hbrag(["retrieve", "--batch", str(batch), "--json", "--k", "2"], cli_env)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["q"] for r in rows] == ["What is dropout?", "What is XGBoost?", "What is PCA?"]
    assert all(len(r["hits"]) == 2 and r["hits"][0]["rank"] == 1 for r in rows)


def test_ask_batch_json_keeps_order(cli_env, tmp_path):
    batch = tmp_path / "q.txt"
    batch.write_text("What is the capital of France?\nWhat is overfitting?\n")
    out = hbrag(["ask", "--batch", str(batch), "--json", "--max-tokens", "24"], cli_env)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["question"] for r in rows] == ["What is the capital of France?", "What is overfitting?"]
    assert rows[0]["refused"] is True and rows[1]["answer"]


def test_no_summary_shows_the_handbook_s_words_without_the_model(cli_env, tmp_path):
    """--no-summary never loads the model: a model path that does not exist is not even looked at."""
    missing = ["--model", str(tmp_path / "nowhere.gguf")]
    out = hbrag(["ask", "--no-summary", *missing, "What is dropout?"], cli_env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.lstrip().startswith("From the handbook:") and "neurons" in out.stdout
    assert "summary" not in out.stdout and "no model summary" in out.stderr
    with_summary = hbrag(["ask", *missing, "What is dropout?"], cli_env)
    assert with_summary.returncode == 1 and "nowhere.gguf" in with_summary.stderr


def test_the_row_that_answers_is_marked_in_a_table_printed_whole(cli_env):
    out = hbrag(["ask", "--no-summary", "What's the formula for the F1 score?"], cli_env)
    assert out.returncode == 0, out.stderr
    marked = [line.split() for line in out.stdout.splitlines() if line.lstrip().startswith(("▸", "▹"))]
    assert marked[0][:2] == ["▸", "F1-Score"] and "(P×R)/(P+R)" in marked[0]  # [1], the metrics table, leads
    assert "Accuracy" not in {words[1] for words in marked}  # a row not chosen is not marked
    if any(words[0] == "▹" for words in marked):  # a table with rows chosen after the first says what they are
        assert "▸ closest match · ▹ also chosen" in out.stdout


def test_the_marks_legend_names_only_the_marks_shown(cli_env):
    """The first passage a diagram, a row of a later table marked ▹: the legend said "▸ closest match" with no ▸
    anywhere on screen."""
    out = hbrag(["ask", "--no-summary", "my model overfits the training data, how do I fix high variance?"], cli_env)
    assert out.returncode == 0, out.stderr
    marks = {line.split()[0] for line in out.stdout.splitlines() if line.lstrip().startswith(("▸", "▹"))}
    assert marks == {"▹"}  # High Variance, in the Problem/Solutions table after the diagram
    assert "▹ rows chosen for the question" in out.stdout and "closest match" not in out.stdout


def test_a_section_that_never_mentions_the_topic_is_named_above_the_passages(cli_env):
    out = hbrag(["ask", "--no-summary", "In section 10, what is said about LoRA?"], cli_env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert (
        lines[0]
        == 'Section 10 — Convolutional Neural Networks (CNN) does not mention "LoRA"; below is where the handbook does.'
    )
    assert lines[1] == "From the handbook:" and "Low-rank" in out.stdout
    scoped = json.loads(hbrag(["ask", "--json", "--no-summary", "section 7: what's PCA for?"], cli_env).stdout)
    assert scoped["scope"] == {
        "section": 7,
        "title": "Section 7 — Unsupervised Learning",
        "status": "taught",
        "note": "",
    }
    assert scoped["evidence"][0]["section"].startswith("Section 7 — Unsupervised Learning > ")


def test_a_greeting_or_thanks_gets_a_reply_not_a_decline(cli_env, tmp_path):
    """ "hi" and "thanks!" were declined as topics the handbook lacks, with three unrelated sections listed."""
    out = hbrag(["ask", "hi"], cli_env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Hello! Ask me anything the handbook teaches") and "Nearest sections" not in out.stdout
    batch = tmp_path / "q.txt"
    batch.write_text("thanks!\nquiz me on statistics\nhi, what is dropout?\n")
    rows = [
        json.loads(line)
        for line in hbrag(["ask", "--batch", str(batch), "--json", "--no-summary"], cli_env).stdout.splitlines()
    ]
    assert [r.get("chat") for r in rows] == ["thanks", "quiz", None]
    assert rows[0]["sources"] == [] and rows[0]["suggestions"] == [] and rows[0]["answer"].startswith("You're welcome")
    assert 'hbrag quiz --topic "statistics"' in rows[1]["answer"]
    assert not rows[2]["declined"] and "neurons" in rows[2]["evidence"][0]["text"]  # a greeting before a question


def test_a_decline_names_the_nearest_sections_once(cli_env):
    out = hbrag(["ask", "How long should I boil an egg for a runny yolk?"], cli_env)
    assert out.returncode == 0, out.stderr
    opening = out.stdout.splitlines()[0]
    assert opening.startswith("I could not find this in the handbook") and opening.endswith("listed below.")
    listed = out.stdout.split("Nearest sections:")[1].splitlines()[1:]
    first = listed[0].strip("- ").split("  (")[0]
    assert first.startswith("Section") and out.stdout.count(first) == 1


def test_a_decline_names_the_word_the_handbook_never_uses(cli_env):
    out = hbrag(["ask", "How does a Kalman filter track a moving object?"], cli_env)
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]  # declined, with or without the closest passages (where the band lies)
    assert first.startswith("I could not find") and 'which never uses the word "Kalman".' in first


def test_a_doubtful_decline_prints_the_closest_passages(cli_env, doubtful_model):
    out = hbrag(["ask", RARE_CLASS], {**cli_env, "HBRAG_ANSWERABILITY_MODEL": doubtful_model})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("I could not find a clear answer in the handbook.")
    assert "Closest in the handbook:" in out.stdout and "Handling Imbalanced Data" in out.stdout
    assert "declined without calling the model" in out.stderr


def test_an_answer_the_model_was_not_asked_about_says_so_not_zero_tokens(cli_env):
    """A list first gets no summary; its timing line read "first token 0 ms, 0 tokens at 0.0/s, total 0.0 s"."""
    out = hbrag(["ask", "How much memory do I save by training with 16-bit numbers instead of 32-bit?"], cli_env)
    assert out.returncode == 0, out.stderr
    assert "a list, whose own lines answer" in out.stdout and "50% less memory" in out.stdout
    assert "(the model was not asked; retrieval" in out.stderr and "first token" not in out.stderr


def test_chat_keeps_answering_and_understands_follow_ups(cli_env):
    out = hbrag(["chat", "--max-tokens", "24"], cli_env, stdin="What is a GAN?\nand how is it trained?\nexit\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("From the handbook:") == 2
    listed = out.stdout.split("Sections retrieved (read further there):")
    assert len(listed) == 3
    # Unnumbered ([n] is the quoted passages'), and the section the evidence came from says so.
    indented = (itertools.takewhile(lambda s: s.startswith("  "), part.splitlines()[1:]) for part in listed[1:])
    sections = [line for block in indented for line in block]
    assert sections and all(line.startswith("  - ") for line in sections)
    assert any(line.endswith("· quoted above") for line in sections)
    assert "(searching for: how is GAN trained?)" in out.stderr


def test_ask_builds_a_missing_index(cli_env, tmp_path):
    cli_env["HBRAG_INDEX_DIR"] = str(tmp_path / "fresh")
    out = hbrag(["retrieve", "What is PCA?", "--k", "1"], cli_env)
    assert out.returncode == 0, out.stderr
    assert "No index" in out.stderr and "Dimensionality Reduction" in out.stdout


def test_info_json(cli_env):
    out = hbrag(["info", "--json"], cli_env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["built"] and data["chunks"] > 100 and data["llm"].endswith(".gguf")
    assert data["reranker"].endswith("rerank.json") and data["answerability_model"].endswith("answerable.json")
    off = json.loads(hbrag(["info", "--json"], cli_env | {"HBRAG_RERANK": "0"}).stdout)
    assert off["reranker"] == "off"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "   "], "question is empty"),
        (["ask", "x" * 5000], "limit is 2,000"),
        (["ask", "What is PCA?", "--model", "/nonexistent/model.gguf"], "model file not found"),
        (["ask", "What is PCA?", "--model", str(HANDBOOK)], "not a GGUF file"),
        (["ingest", "--handbook", "/nonexistent/handbook.md"], "handbook not found"),
        (["ask"], "no question given"),
    ],
)
def test_error_paths(cli_env, args, message):
    out = hbrag(args, cli_env)
    assert out.returncode == 1
    assert message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_corrupt_index_dir(cli_env, tmp_path):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    cli_env["HBRAG_INDEX_DIR"] = str(corrupt)
    out = hbrag(["retrieve", "What is PCA?"], cli_env)
    assert out.returncode == 1 and "unreadable" in out.stderr and "Traceback" not in out.stderr
    assert (corrupt / "chroma.sqlite3").read_bytes() == b"this is not a database" * 100


def test_help_and_info_import_neither_torch_nor_llama_cpp(cli_env):
    probe = (
        "import sys; from click.testing import CliRunner; from ui.cli import cli; "
        "r1 = CliRunner().invoke(cli, ['--help']); r2 = CliRunner().invoke(cli, ['info']); "
        "assert r1.exit_code == 0 and r2.exit_code == 0, (r1.output, r2.output); "
        "print(sorted(m for m in ('torch', 'llama_cpp', 'sentence_transformers', 'gradio') if m in sys.modules))"
    )
    out = subprocess.run([HBRAG[0], "-c", probe], env=cli_env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
