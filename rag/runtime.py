"""Create the heavy objects once, from the settings, and hand them around.

Everything here is lazy: a command that only needs the index never loads the language model, and
an unchanged index never loads the embedding model during ingest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from ingest.embeddings import (
    Embedder,
    OnnxEmbedder,
    default_embedding_model_path,
    embedding_model_name,
    onnx_dir,
    query_embedder,
)
from ingest.errors import HbragError
from ingest.index import IndexStore
from ingest.pipeline import IngestReport, ingest_handbook, read_handbook, sha256
from rag.adapter import QueryAdapter
from rag.assistant import Assistant
from rag.llm import LocalLLM
from rag.retrieve import Retriever
from rag.settings import Settings


class Runtime:
    """The process's embedder, index, retriever and model, each created on first use."""

    def __init__(self, settings: Settings, notify: Callable[[str], None] = lambda _msg: None) -> None:
        self.settings = settings
        self.notify = notify

    @cached_property
    def embedding_path(self) -> Path:
        return self.settings.embedding_model or default_embedding_model_path()

    @cached_property
    def embedder(self) -> Embedder:
        """sentence-transformers (torch): the reference, for ingest and the eval's scoring."""
        return Embedder(self.embedding_path)

    @cached_property
    def query_embedder(self) -> OnnxEmbedder:
        """The same model through ONNX Runtime: questions, passages and quiz answers, with no torch import."""
        return query_embedder(self.embedding_path, self.settings.onnx_dir, self.notify, self.settings.threads)

    @cached_property
    def store(self) -> IndexStore:
        s = self.settings
        return IndexStore.open(s.index_dir, s.chroma_url or None)

    def ingest(self, rebuild: bool = False, progress: bool = True) -> IngestReport:
        report = ingest_handbook(
            self.settings.handbook,
            self.store,
            lambda: self.embedder,
            embedding_model_name(self.embedding_path),
            rebuild=rebuild,
            progress=progress,
        )
        if not (onnx_dir(self.settings.onnx_dir, self.embedding_path) / "model.onnx").is_file():
            self.query_embedder  # noqa: B018 - export it now, while ingest has the time, not on the first question
        return report

    def ensure_index(self, progress: bool = True) -> None:
        """Build the index when there is none (saying so); warn when the handbook changed since."""
        manifest = self.store.manifest()
        if manifest is None:
            self.notify(f"No index at {self.store.location} yet: building it from {self.settings.handbook}.")
            self.notify(self.ingest(progress=progress).summary())
            return
        if manifest.embedding_model != embedding_model_name(self.embedding_path):
            raise HbragError(
                f"the index was built with {manifest.embedding_model}, not the configured embedding model: "
                "run `hbrag ingest`"
            )
        try:
            if sha256(read_handbook(self.settings.handbook)) != manifest.handbook_sha256:
                self.notify("The handbook changed since the index was built: run `hbrag ingest` to update it.")
        except HbragError:
            pass  # answering from the existing index needs no handbook

    @cached_property
    def retriever(self) -> Retriever:
        from rag.rerank import MODEL_FILE, RerankModel
        from rag.unknown import preload

        # The word frequencies (0.35 s, rag/unknown.py) load while the index and the embedder do, not on the
        # first question.
        threading.Thread(target=preload, name="hbrag-words", daemon=True).start()
        self.ensure_index()

        s = self.settings
        path = s.rerank_model or MODEL_FILE
        # Loaded even with --no-rerank when it exists: its score is one of the answerability signals.
        reranker = RerankModel.load(path) if s.rerank or path.exists() else None
        return Retriever(self.store, self.query_embedder, reranker, self.adapter)

    @cached_property
    def adapter(self) -> QueryAdapter | None:
        """The shipped query adapter, when on and fitted on the handbook and embedding model this index has
        (read once the index exists: `retriever` builds a missing one first)."""
        from rag.adapter import ADAPTER_FILE

        if not (self.settings.adapter and ADAPTER_FILE.exists()):
            return None
        adapter = QueryAdapter.load(ADAPTER_FILE)
        why = adapter.mismatch(self.store.manifest())
        if why:
            self.notify(f"The query adapter was {why}: ranking without it.")
            return None
        return adapter

    def make_llm(self) -> Any:
        s = self.settings
        if s.llm_url:
            from rag.remote import RemoteLLM

            return RemoteLLM(s.llm_url, s.llm_api_key, model_path=s.model)
        return LocalLLM(s.model, n_ctx=s.n_ctx, threads=s.threads, seed=s.seed)

    @cached_property
    def llm(self) -> Any:
        return self.make_llm()

    @cached_property
    def assistant(self) -> Assistant:
        return Assistant(self.settings, self.retriever, lambda: self.llm)
