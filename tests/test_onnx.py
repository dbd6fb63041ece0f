"""The query side embeds with ONNX Runtime: the same vectors and the same retrieval as sentence-transformers,
and no torch in a query process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from eval.dataset import paraphrases, question_bank, unanswerable
from tests.conftest import ROOT

HEAVY = ("torch", "transformers", "sentence_transformers", "langchain_huggingface")


def _eval_questions(handbook_text: str) -> list[str]:
    sets = [question_bank(handbook_text), paraphrases(), unanswerable()]
    return [q.question for data in sets for q in data.questions]


def test_onnx_vectors_match_sentence_transformers(embedder, query_embedder, runtime, handbook_text):
    texts = [c.embed_text for c in runtime.retriever.chunks] + _eval_questions(handbook_text)
    reference = np.asarray(embedder.embed_documents(texts))
    onnx = np.asarray(query_embedder.embed_documents(texts))
    cosine = (reference * onnx).sum(axis=1)
    assert len(texts) > 300 and cosine.min() >= 0.999
    assert np.allclose(query_embedder.embed_query(texts[0]), onnx[0], atol=1e-5)


def test_retrieval_is_identical_on_the_eval_sets(embedder, query_embedder, runtime, handbook_text):
    from rag.retrieve import Retriever

    reference = Retriever(runtime.store, embedder)
    onnx = Retriever(runtime.store, query_embedder)
    options = runtime.assistant.options(k=10)
    for q in _eval_questions(handbook_text):
        assert [h.chunk.id for h in onnx.search(q, options).hits] == [
            h.chunk.id for h in reference.search(q, options).hits
        ], q


PROBE = """
import sys
from ui.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    assert not exc.code, exc.code
heavy = [m for m in {heavy!r} if m in sys.modules]
print("HEAVY", heavy, file=sys.stderr)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["retrieve", "What is dropout?"],
        ["ask", "What is dropout?", "--max-tokens", "16"],
    ],
)
def test_no_torch_on_the_query_path(cli_env, query_embedder, args):
    cli_env["HBRAG_ONNX_DIR"] = str(query_embedder.path.parent)
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        env=cli_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stderr


@pytest.mark.slow
def test_a_missing_export_is_made_once_and_said(cli_env, tmp_path):
    """Made once, said once, and the exports it supersedes are deleted (about 90 MB each): one of the same
    model from before a reinstall, one of a model that is gone; another live model's and a foreign folder stay."""
    import json

    from ingest.embeddings import default_embedding_model_path

    cache = tmp_path / "onnx"
    cli_env["HBRAG_ONNX_DIR"] = str(cache)
    other_model = tmp_path / "other-model"
    other_model.mkdir()
    planted = {
        "superseded": default_embedding_model_path().resolve(),
        "gone": tmp_path / "deleted-clone" / "model",
        "other": other_model,
    }
    for name, model in planted.items():
        (cache / name).mkdir(parents=True)
        (cache / name / "hbrag-onnx.json").write_text(json.dumps({"format": 1, "model": str(model)}))
    (cache / "foreign").mkdir()

    def retrieve() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ui.cli", "retrieve", "What is PCA?", "--k", "1"],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = retrieve()
    assert first.returncode == 0, first.stderr
    assert "Exporting the embedding model to ONNX once" in first.stderr and "Dimensionality" in first.stdout
    left = {d.name for d in cache.iterdir() if not d.name.startswith(".")}
    assert {"other", "foreign"} < left and not {"superseded", "gone"} & left and len(left) == 3
    again = retrieve()
    assert again.returncode == 0 and "Exporting" not in again.stderr and again.stdout == first.stdout


@pytest.mark.parametrize("size", [1, 3, 32])
def test_length_batches_cover_every_text_once_shortest_first(size):
    import doctest

    import ingest.embeddings
    from ingest.embeddings import length_batches

    lengths = [40, 5, 6, 42, 7, 120, 9, 11, 3]
    batches = length_batches(lengths, size)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) <= size for b in batches)
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths)  # shortest first, so a batch pads only to similar lengths
    assert doctest.testmod(ingest.embeddings).failed == 0
