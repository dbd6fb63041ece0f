"""The query adapter: its pure parts, the shipped matrix, and the ranking it gives over the real index and
MiniLM (what declining reads must not move)."""

from __future__ import annotations

import hashlib
import json
import subprocess

import numpy as np
import pytest

from eval.adapter import STRENGTHS, OutOfFold, fit_matrix, out_of_fold
from eval.dataset import DATA_DIR
from ingest.errors import HbragError
from ingest.pipeline import read_handbook, sha256
from rag.adapter import ADAPTER_FILE, QueryAdapter
from rag.retrieve import RetrievalOptions
from tests.conftest import HANDBOOK, HBRAG, first_section


def test_the_identity_keeps_a_vector_and_a_matrix_moves_it_renormalised():
    v = np.array([0.6, 0.8, 0.0], dtype=np.float32)
    assert np.allclose(QueryAdapter(np.eye(3, dtype=np.float32), {})(v), v)
    moved = QueryAdapter(np.diag([1.0, 0.0, 1.0]).astype(np.float32), {})(v)
    assert np.allclose(moved, [1.0, 0.0, 0.0]) and moved.dtype == np.float32


def test_fitting_moves_a_question_to_its_gold_chunk_and_the_pull_to_the_identity_holds_it(monkeypatch):
    # Three chunks; two questions written "in other words" sit nearest chunk 0 but are taught by chunk 1.
    chunks = np.eye(3, dtype=np.float32)
    x = np.array([[0.8, 0.6, 0.0], [0.75, 0.55, 0.37]], dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    rows = [
        {"set": "a", "vector": v, "positive": np.array([False, True, False]), "allowed": np.ones(3, bool)} for v in x
    ]
    assert all(int(np.argmax(chunks @ v)) == 0 for v in x)
    learnt = QueryAdapter(fit_matrix(rows, chunks, strength=0.001), {})
    assert all(int(np.argmax(chunks @ learnt(v))) == 1 for v in x)
    held = QueryAdapter(fit_matrix(rows, chunks, strength=100.0), {})
    assert all(int(np.argmax(chunks @ held(v))) == 0 for v in x)  # held near the identity, nothing moves
    assert np.abs(held.matrix - np.eye(3)).sum() < np.abs(learnt.matrix - np.eye(3)).sum()


def test_out_of_fold_moves_a_fitted_question_by_its_set_s_fold_and_any_other_by_the_default():
    a = QueryAdapter(np.diag([1.0, 0.0]).astype(np.float32), {})
    default = QueryAdapter(np.eye(2, dtype=np.float32), {})
    seen, unseen = np.array([0.6, 0.8], dtype=np.float32), np.array([0.8, 0.6], dtype=np.float32)
    chooser = OutOfFold({OutOfFold.key(seen): a}, default)
    assert np.allclose(chooser(seen), [1.0, 0.0])
    assert np.allclose(chooser(unseen), unseen)


def test_save_load_and_strict_reading(tmp_path):
    adapter = QueryAdapter(np.eye(4, dtype=np.float32) * 2, {"strength": 0.01})
    path = tmp_path / "adapter.npz"
    adapter.save(path)
    assert list(tmp_path.iterdir()) == [path]  # written beside and renamed: no temporary file left
    back = QueryAdapter.load(path)
    assert np.array_equal(back.matrix, adapter.matrix) and back.fitted_on == {"strength": 0.01}
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(HbragError, match="unreadable"):
        QueryAdapter.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "old.npz", format=0, matrix=np.eye(2), fitted_on="{}")
    with pytest.raises(HbragError, match="another version"):
        QueryAdapter.load(tmp_path / "old.npz")


def test_the_shipped_adapter_names_the_handbook_and_data_it_was_fitted_on():
    adapter = QueryAdapter.load()
    assert adapter.handbook == sha256(read_handbook(HANDBOOK))  # the handbook changed: refit it
    files = adapter.fitted_on["files"]
    for kept_apart in ("learners_s36.jsonl", "unanswerable_s36.jsonl", "unanswerable.jsonl"):
        assert kept_apart not in files
    for name, digest in files.items():  # a changed set needs `hbrag eval adapter --fit`
        assert hashlib.sha256((DATA_DIR / name).read_bytes()).hexdigest()[:16] == digest, name
    assert adapter.fitted_on["strength"] in STRENGTHS


def test_an_adapter_fitted_on_another_handbook_is_not_used(runtime, monkeypatch, tmp_path):
    from rag.runtime import Runtime

    other = tmp_path / "adapter.npz"
    shipped = QueryAdapter.load()
    QueryAdapter(shipped.matrix, shipped.fitted_on | {"handbook_sha256": "0" * 64}).save(other)
    monkeypatch.setattr("rag.adapter.ADAPTER_FILE", other)
    said: list[str] = []
    fresh = Runtime(runtime.settings, notify=said.append)
    assert fresh.adapter is None and "another handbook" in said[0]
    info = _info(runtime.settings.index_dir)  # `hbrag info` says so too, rather than naming the file
    assert info["query_adapter"] == "off (fitted on another handbook)"
    monkeypatch.setattr("rag.adapter.ADAPTER_FILE", ADAPTER_FILE)
    assert Runtime(runtime.settings).adapter is not None
    assert _info(runtime.settings.index_dir)["query_adapter"] == str(ADAPTER_FILE)


def _info(index_dir) -> dict:
    from click.testing import CliRunner

    from ui.cli import cli

    out = CliRunner().invoke(cli, ["info", "--json", "--index-dir", str(index_dir)])
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


# Everyday phrasings (in no eval set) whose teaching sections MiniLM alone does not rank first.
CASES = [
    (
        "How can I tell the people who use my app have started behaving differently than my training data?",
        ("Model Monitoring",),
    ),
    ("Can I reuse a network trained on millions of photos for my small dataset?", ("Transfer Learning",)),
]


@pytest.mark.parametrize(("question", "sections"), CASES)
def test_the_teaching_section_comes_first_in_dense_ranking_only_with_the_adapter(assistant, plain, question, sections):
    options = RetrievalOptions(k=3, retriever="dense", rerank=False)
    assert assistant.retriever.adapter is not None
    assert assistant.retriever.search(question, options).hits[0].chunk.section_path[-1] in sections
    assert plain.search(question, options).hits[0].chunk.section_path[-1] not in sections


def test_a_hit_s_score_and_what_declining_reads_stay_the_plain_cosine(assistant, plain):
    question = CASES[0][0]
    options = RetrievalOptions(k=5)
    moved, kept = assistant.retriever.search(question, options), plain.search(question, options)
    assert moved.signals["dense"] == pytest.approx(kept.signals["dense"])
    assert moved.signals["bm25"] == kept.signals["bm25"] and moved.signals["unknown"] == kept.signals["unknown"]
    query = plain.embed(question)
    for hit in moved.hits[:1]:
        assert hit.score == pytest.approx(float(plain.vectors[plain.position[hit.chunk.id]] @ query), abs=1e-5)


def test_out_of_fold_gives_a_fitted_question_another_vector_than_the_shipped_adapter(plain):
    shipped = QueryAdapter.load()
    v = plain.embed("a question")
    rows = [
        {"set": s, "vector": plain.embed(q), "positive": plain.bank.copy(), "allowed": np.ones(len(plain.bank), bool)}
        for s, q in (("one", "a question"), ("two", "another question"))
    ]
    chooser = out_of_fold(rows, plain.vectors, shipped)
    assert not np.allclose(chooser(v), shipped(v))
    assert np.allclose(chooser(plain.embed("a third one")), shipped(plain.embed("a third one")))


def test_no_adapter_flag_and_info(cli_env):
    question = CASES[0][0]
    firsts = [first_section(cli_env, flag, "--retriever", "dense", question) for flag in ("--adapter", "--no-adapter")]
    teaching = CASES[0][1]
    assert firsts[0].endswith(teaching) and not firsts[1].endswith(teaching)
    env = cli_env | {"HBRAG_ADAPTER": "0"}
    info = subprocess.run([*HBRAG, "info", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert json.loads(info.stdout)["query_adapter"] == "off"


@pytest.mark.slow
@pytest.mark.timeout(3600)  # out-of-fold refits: 55 sets took up to 30 min in CI; 19 since the 37th round
def test_leave_one_set_out_and_a_set_never_fitted_on(cli_env, tmp_path):
    out = subprocess.run(
        [*HBRAG, "eval", "adapter", "--json", "--questions", str(DATA_DIR / "learners_s36.jsonl")]
        + ["--runs-dir", str(tmp_path)],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=3300,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    rows = got["leave_one_set_out"]
    assert {"bank", "paraphrases", "learners_s9", "learners_s36 (not fitted on)"} <= {r["set"] for r in rows}
    learner = [r for r in rows if r["set"] != "bank"]
    # Each set judged by an adapter fitted without it: learners' wording reaches its section first more often.
    assert sum(r["after"]["hit@1"] for r in learner) > sum(r["before"]["hit@1"] for r in learner)
    assert got["fitted_on"]["strength"] in STRENGTHS
    assert not (tmp_path / "adapter.npz").exists() and ADAPTER_FILE.exists()  # no --fit: nothing written
    (run,) = tmp_path.iterdir()
    assert (run / "hit1_before_after.png").stat().st_size > 0
    assert "learners_s36 (not fitted on)" in (run / "report.md").read_text()


def test_did_you_mean_ranks_the_bank_by_the_moved_vector(assistant, plain):
    """The chatbot question's bank answer (Q37, RAG) is offered only when the adapter moves the question."""
    question = "Can I let a chatbot look up my notes before answering?"
    rag = "Explain RAG (Retrieval Augmented Generation)."
    assert rag in assistant.suggestions(question)
    retriever, assistant.retriever = assistant.retriever, plain
    try:
        assert rag not in assistant.suggestions(question)
    finally:
        assistant.retriever = retriever


def test_entropy_doctests_and_what_it_reads(assistant):
    """A covered question's matches gather on its section once moved; a missing topic in everyday words
    and an out-of-field question stay scattered. Held out, it reads the chunks the setting allows."""
    import doctest

    import rag.adapter

    assert doctest.testmod(rag.adapter).failed == 0
    search = assistant.retriever.search
    covered = search("Should I scale my features before a random forest?", RetrievalOptions()).signals
    missing = search("How does a computer get so good at chess by searching moves ahead?", RetrievalOptions())
    outside = search("What is the capital of France?", RetrievalOptions()).signals
    assert covered["entropy"] < missing.signals["entropy"] and covered["entropy"] < outside["entropy"]
    question = "How does a computer get so good at chess by searching moves ahead?"
    held = search(question, RetrievalOptions(exclude_bank=True)).signals["entropy"]
    assert held != missing.signals["entropy"]


def test_an_eval_before_any_ingest_builds_the_index_and_keeps_the_adapter(settings, embedder, query_embedder, tmp_path):
    """`hbrag eval ...` on a fresh machine asks for the adapter before the retriever: the index is built
    first, so the adapter is judged against it rather than dropped as "fitted on another handbook"."""
    from dataclasses import replace

    from eval.adapter import install_out_of_fold
    from rag.runtime import Runtime

    said: list[str] = []
    rt = Runtime(replace(settings, index_dir=tmp_path / "index"), notify=said.append)
    rt.embedder, rt.query_embedder = embedder, query_embedder
    install_out_of_fold(rt)
    assert isinstance(rt.assistant.retriever.adapter, OutOfFold)
    assert not any("another handbook" in m for m in said) and any("building it" in m for m in said)
