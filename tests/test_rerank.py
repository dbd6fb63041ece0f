"""The reranker: its pure parts, the shipped model, and the order it gives over the real index and MiniLM."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace

import numpy as np
import pytest

from eval.dataset import DATA_DIR
from ingest.errors import HbragError
from rag.evidence import SAME_QUESTION
from rag.rerank import EACH, FEATURES, POOL, Candidates, RerankModel, features, order, pinned, pool_of
from rag.retrieve import RetrievalOptions
from tests.conftest import HBRAG, first_section


def _candidates(**changes) -> Candidates:
    base = dict(
        dense=np.array([0.5, 0.4, 0.3]),
        bm25=np.array([4.0, 0.0, 2.0]),
        dense_rank=[0, 2, 30],
        bm25_rank=[1, 30, 0],
        passage=np.array([0.6, 0.7, 0.2]),
        title=np.array([0.3, 0.5, 0.8]),
        terms=np.array([0.5, 0.0, 1.0]),
        sections=["A", "B", "A"],
        kinds=["prose", "table", "qa"],
        words=[100, 50, 20],
    )
    return Candidates(**(base | changes))


def test_features_read_each_candidate_against_the_best_of_its_pool():
    x = features(_candidates())
    col = {f: x[:, n] for n, f in enumerate(FEATURES)}
    assert x.shape == (3, len(FEATURES))
    assert col["dense_gap"].tolist() == pytest.approx([0.0, -0.1, -0.2])
    assert col["bm25"].tolist() == [1.0, 0.0, 0.5]  # over the pool's best
    assert col["passage_gap"].tolist() == pytest.approx([-0.1, 0.0, -0.5])
    assert col["votes"].tolist() == pytest.approx([2 / 3, 1 / 3, 2 / 3])  # two candidates of section A
    assert col["kind_qa"].tolist() == [0.0, 0.0, 1.0] and col["kind_table"].tolist() == [0.0, 1.0, 0.0]
    assert col["fused_rank"][0] == 0.0 and col["fused_rank"][2] > col["fused_rank"][1]


def test_a_bank_question_asked_again_stays_first_whatever_it_scores():
    x = features(_candidates(title=np.array([0.3, 0.5, SAME_QUESTION + 0.01])))
    assert pinned(x) == 2
    assert order([0.9, 0.5, 0.1], pinned(x)) == [2, 0, 1]
    # Close enough but not a Q&A chunk, or a Q&A chunk not close enough: nothing is pinned.
    assert pinned(features(_candidates(title=np.array([0.9, 0.5, 0.3])))) is None
    assert pinned(features(_candidates(title=np.array([0.3, 0.5, SAME_QUESTION - 0.05])))) is None


def test_each_list_s_first_few_are_reranked_wherever_fusion_put_them():
    fused = list(range(20))
    pool, rest = pool_of(fused, dense=[15, 0, 1], bm25=[2, 18, 19, 17])
    assert pool == [*range(POOL), 15, 18, 19][: POOL + 2 * EACH]  # BM25's fourth (17) is not pulled in
    assert rest == [i for i in fused if i not in pool] and 15 not in rest  # the rest keep the fused order


@pytest.mark.slow
def test_a_chunk_dense_ranks_first_reaches_the_reranker_from_below_the_fused_top_ten(assistant):
    """Fusion weighs a chunk both lists found over one only dense found, however high: these everyday words
    put a chunk dense ranks first 12th in the fused order (rag/rerank.py: EACH)."""
    question = "Should my inputs be between zero and one or have mean zero and spread one?"
    fused, pool, _, x = assistant.retriever.pool_features(question, RetrievalOptions(k=3))
    late = [i for i in pool if fused.index(i) >= POOL]
    assert late and len(x) == len(pool) > POOL


def test_the_shipped_model_reads_strictly_and_names_the_data_it_was_fitted_on(tmp_path):
    import hashlib

    model = RerankModel.load()
    assert set(model.weights) == set(FEATURES)
    files = model.fitted_on["files"]
    assert "learners_s36.jsonl" not in files  # kept apart to check the model
    for name, digest in files.items():  # a changed set needs `hbrag eval rerank --fit`
        assert hashlib.sha256((DATA_DIR / name).read_bytes()).hexdigest()[:16] == digest, name
    assert RerankModel.load(_write(tmp_path, model.to_json())).weights == model.weights
    with pytest.raises(HbragError, match="another version"):
        RerankModel.load(_write(tmp_path, json.dumps({**json.loads(model.to_json()), "features": ["dense"]})))
    with pytest.raises(HbragError, match="unreadable"):
        RerankModel.load(_write(tmp_path, "{"))


def _write(tmp_path, text: str):
    path = tmp_path / "rerank.json"
    path.write_text(text)
    return path


# Everyday phrasings (in no eval set) whose teaching section fusion ranks below a neighbour sharing a word or
# a glossary line, with the question's vector moved by the query adapter, as the assistant runs. (The reranker
# is fitted on the adapter's lists; without the adapter it is measured, not pinned: eval/README.md.)
CASES = [
    ("What's a good first model for predicting a yes or no answer?", "Classification Algorithms"),
    ("How can my chatbot look things up before answering?", "RAG (Retrieval Augmented Generation)"),
]


@pytest.mark.parametrize(("question", "section"), CASES)
def test_the_teaching_section_comes_first_only_with_the_reranker(assistant, question, section):
    search = assistant.retriever.search
    first = {r: search(question, RetrievalOptions(k=3, rerank=r)).hits[0].chunk for r in (True, False)}
    assert first[True].section_path[-1] == section
    assert first[False].section_path[-1] != section


def test_the_first_passage_shown_comes_from_the_section_ranked_first(assistant):
    """A line of "Model Works Locally, Fails in Production" outscores the Bias-Variance Tradeoff's on words;
    the reranker puts Bias-Variance first, and so does what the learner reads."""
    question = "My model aced the practice data but flops on anything new. What's going on?"
    hits = assistant.retriever.search(question, RetrievalOptions(k=3)).hits
    evidence = assistant.evidence_for(question, hits)
    assert hits[0].chunk.section_path[-1] == "Bias-Variance Tradeoff"
    assert evidence[0].passage.chunk_id == hits[0].chunk.id
    assert max(e.score for e in evidence) > evidence[0].score  # not the best scored passage alone


def test_the_bank_answer_to_the_same_question_stays_first(assistant):
    hits = assistant.retriever.search("Explain the bias-variance tradeoff.", RetrievalOptions(k=3)).hits
    assert hits[0].chunk.qid == "Q6"


def test_no_rerank_flag_gives_the_fused_order(cli_env):
    question, section = CASES[0]
    firsts = [first_section(cli_env, flag, question) for flag in ("--rerank", "--no-rerank")]
    assert firsts[0].endswith(section) and not firsts[1].endswith(section)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # out-of-fold refits: 55 sets took up to 30 min in CI; 19 since the 37th round
def test_leave_one_set_out_and_a_set_never_fitted_on(cli_env, tmp_path):
    check = ["--questions", str(DATA_DIR / "learners_s36.jsonl")]
    out = subprocess.run(
        [*HBRAG, "eval", "rerank", "--json", *check, "--runs-dir", str(tmp_path)],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=3300,
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["leave_one_set_out"]
    sets = {r["set"] for r in rows}
    assert {"bank", "paraphrases", "learners_s9", "learners_s36 (not fitted on)"} <= sets
    learner = [r for r in rows if r["set"] != "bank"]
    assert all(r["before"]["questions"] == r["after"]["questions"] > 0 for r in rows)
    # Each set judged by a model that never saw it: on learners' wording the first place improves overall.
    assert sum(r["after"]["hit@1"] for r in learner) > sum(r["before"]["hit@1"] for r in learner)
    # A bank question asked again stays first, even for a model fitted without the bank. One may go second
    # to another bank answer that teaches it as well: scenario 8's title asked again gets the Q&A on
    # high-cardinality categorical features first (cosine 0.927 to its question against 0.921 to the title).
    bank_full = next(r for r in rows if r["set"] == "bank" and r["setting"] == "full")
    assert bank_full["after"]["hit@1"] >= 0.95 and bank_full["after"]["hit@5"] == 1.0
    (run,) = tmp_path.iterdir()  # the report, its picture and the model's weights
    assert (run / "hit1_before_after.png").stat().st_size > 0
    report = (run / "report.md").read_text()
    assert "learners_s36 (not fitted on)" in report and "passage_gap" in report


def test_warming_embeds_every_chunk_once_so_searches_embed_no_passage(assistant):
    retriever = assistant.retriever
    retriever.warm()
    cached = len(retriever.texts)
    assert cached >= len(retriever.chunks)  # each chunk's title and passages
    retriever.search("Why do my trees disagree so much from one sample to the next?", RetrievalOptions(k=3))
    assert len(retriever.texts) == cached


def test_the_reranker_s_best_score_is_an_answerability_signal_even_without_reordering(assistant):
    """A chunk that teaches the answer among the candidates scores high; a question from outside the field
    finds none (on average: one question can go either way, eval/README.md has the ROC AUC). The score is
    there with --no-rerank too, so declining does not change with the order."""
    search = assistant.retriever.search
    covered = [q for q, _ in CASES] + [
        "My model was great in testing but falls apart with real customers. Why?",
        "Can I reuse a network trained on millions of photos for my small dataset?",
    ]
    outside = [
        "How long should I boil an egg for a runny yolk?",
        "What is the capital of France?",
        "How do I change a flat tyre on my bike?",
        "Which houseplants need little light?",
    ]
    score = {r: [search(q, RetrievalOptions(rerank=r)).signals["rerank"] for q in covered] for r in (True, False)}
    assert score[True] == score[False]
    assert np.mean(score[True]) > np.mean([search(q, RetrievalOptions()).signals["rerank"] for q in outside]) + 0.5


def test_another_retriever_keeps_its_order_but_still_gets_the_score(assistant):
    options = RetrievalOptions(k=5, retriever="dense", merge_adjacent=False)
    reranked = assistant.retriever.search(CASES[0][0], options)
    plain = assistant.retriever.search(CASES[0][0], replace(options, rerank=False))
    assert [h.chunk.id for h in reranked.hits] == [h.chunk.id for h in plain.hits]
    assert reranked.signals["rerank"] == plain.signals["rerank"] != 0.0
