"""Shared fixtures: the real MiniLM, the real SmolLM2 GGUF and a real ChromaDB, each created once."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
HANDBOOK = ROOT / "data" / "handbook.md"
HBRAG = [sys.executable, "-m", "ui.cli"]
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="session")
def handbook_text() -> str:
    return HANDBOOK.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def embedder():
    from ingest.embeddings import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def query_embedder(embedder, tmp_path_factory):
    """The ONNX export of the same model, made once for the session (as `hbrag ingest` makes it)."""
    from ingest.embeddings import query_embedder as make

    return make(embedder.path, tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="session")
def llm():
    from rag.llm import LocalLLM

    return LocalLLM(None, n_ctx=2048, threads=2)


@pytest.fixture(scope="session")
def built_index(tmp_path_factory, embedder) -> Path:
    """An index of the real handbook, built once; tests that change an index copy it first."""
    from ingest.embeddings import embedding_model_name
    from ingest.index import IndexStore
    from ingest.pipeline import ingest_handbook

    index_dir = tmp_path_factory.mktemp("index")
    store = IndexStore.open(index_dir)
    ingest_handbook(HANDBOOK, store, lambda: embedder, embedding_model_name(embedder.path), progress=False)
    return index_dir


@pytest.fixture
def index_copy(built_index, tmp_path) -> Path:
    target = tmp_path / "index"
    shutil.copytree(built_index, target)
    return target


@pytest.fixture(scope="session")
def settings(built_index, tmp_path_factory):
    from rag.settings import Settings

    progress = tmp_path_factory.mktemp("progress") / "progress.sqlite"
    return Settings.load(env={}, index_dir=built_index, handbook=HANDBOOK, threads=2, progress_db=progress)


@pytest.fixture(scope="session")
def runtime(settings, embedder, query_embedder, llm):
    """A runtime whose heavy objects are the session's own (cached_property slots set up front)."""
    from rag.runtime import Runtime

    rt = Runtime(settings)
    rt.embedder = embedder
    rt.query_embedder = query_embedder
    rt.llm = llm
    return rt


@pytest.fixture(scope="session")
def assistant(runtime):
    return runtime.assistant


@pytest.fixture(scope="session")
def plain(runtime):
    """The session's index, embedder and reranker with no query adapter (rag/adapter.py): what ranking does
    without it. A second retriever, so the session's own stays as it is."""
    from rag.retrieve import Retriever

    retriever = runtime.retriever
    return Retriever(retriever.store, retriever.embedder, retriever.reranker, adapter=None)


@pytest.fixture
def cli_env(built_index, query_embedder, tmp_path) -> dict[str, str]:
    """Environment for `hbrag` subprocesses: the session's index, nothing from the user's home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HBRAG_")}
    env.update(
        HBRAG_INDEX_DIR=str(built_index),
        HBRAG_HANDBOOK=str(HANDBOOK),
        HBRAG_PROGRESS_DB=str(tmp_path / "progress.sqlite"),
        HBRAG_ONNX_DIR=str(query_embedder.path.parent),  # the session's export: no test process re-exports
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(ROOT),
    )
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def served(runtime):
    """The web app on a free loopback port, in this process, sharing the session's models."""
    from ui.app import launch

    port = free_port()
    app = launch(runtime, port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


# Everyday wording of a covered topic (Handling Imbalanced Data) used for the doubtful-decline band.
RARE_CLASS = "How do I make up extra examples of the rare class instead of just copying them?"


def shifted_to(model, p: float, target: float):
    """`model` with its intercept moved so that a question it gives probability `p` gets `target`, all else as
    fitted: a test of a band (doubtful decline, even odds) then holds whatever the last refit gave the
    question (RARE_CLASS: 0.18 before the sixteenth round, 0.83 after it)."""
    import math
    from dataclasses import replace

    shift = math.log(p / (1 - p)) - math.log(target / (1 - target))
    return replace(model, intercept=model.intercept - shift)


def probability(assistant, question: str) -> float:
    """The answerability model's probability for `question`, from the signals the assistant reads."""
    return assistant.answerability.probability(assistant.signals(question, assistant.retrieve(question))[1])


def doubtful_decline(assistant, question: str = RARE_CLASS):
    """The assistant's answerability model moved so that `question` is declined with its closest passages
    shown: midway between the floor and the threshold."""
    model = assistant.answerability
    return shifted_to(model, probability(assistant, question), (model.floor + model.threshold) / 2)


@pytest.fixture
def doubtful_model(runtime, tmp_path) -> str:
    """`doubtful_decline` as a file for HBRAG_ANSWERABILITY_MODEL (the CLI reads the same index and models)."""
    path = tmp_path / "answerable-doubtful.json"
    path.write_text(doubtful_decline(runtime.assistant).to_json())
    return str(path)


def first_section(env: dict[str, str], *args: str) -> str:
    """`hbrag retrieve --json ARGS` as a user runs it: the first hit's section."""
    import subprocess

    out = subprocess.run([*HBRAG, "retrieve", "--json", *args], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["hits"][0]["section"]


def banded(assistant, below: str, inside: str, above: list[str]):
    """The assistant's answerability model with its floor and threshold put between the questions' own
    probabilities: `below` declined with nothing shown, `inside` declined with its closest passages, `above`
    answered, whatever the last refit gave each (only their order is asked of it)."""
    from dataclasses import replace

    low, mid = probability(assistant, below), probability(assistant, inside)
    high = min(probability(assistant, q) for q in above)
    assert low < mid < high, f"the refit no longer orders these questions: {low:.3f}, {mid:.3f}, {high:.3f}"
    return replace(assistant.answerability, floor=(low + mid) / 2, threshold=(mid + high) / 2)
