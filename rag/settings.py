"""All settings in one typed object: defaults, then `HBRAG_*` environment variables, then CLI flags."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from ingest.errors import HbragError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _physical_cores() -> int:
    # llama.cpp runs best on physical cores; hyper-threads only add contention.
    try:
        import psutil

        return max(1, psutil.cpu_count(logical=False) or 1)
    except Exception:
        return max(1, os.cpu_count() or 1)


def _user_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("hbrag", appauthor=False))


def _user_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("hbrag", appauthor=False))


@dataclass(frozen=True)
class Settings:
    """Every knob of the assistant. Env var for field `foo_bar` is `HBRAG_FOO_BAR`."""

    handbook: Path = PROJECT_ROOT / "data" / "handbook.md"
    index_dir: Path = PROJECT_ROOT / ".hbrag" / "index"
    chroma_url: str = ""  # a ChromaDB server instead of the embedded index
    embedding_model: Path | None = None  # None: the packaged all-MiniLM-L6-v2
    onnx_dir: Path = field(default_factory=lambda: _user_cache_dir() / "onnx")  # its ONNX exports, by model
    model: Path | None = None  # a GGUF file; None: the packaged SmolLM2-135M-Instruct
    llm_url: str = ""  # an OpenAI-compatible server (…/v1) instead of the in-process model
    llm_api_key: str = ""
    # Retrieval
    k: int = 3
    retriever: str = "hybrid"  # dense | bm25 | hybrid
    rrf_k: int = 60
    dense_weight: float = 1.5
    bm25_weight: float = 1.0
    depth: int = 30  # candidates taken from each retriever before fusion
    mmr: bool = False
    mmr_lambda: float = 0.7
    merge_adjacent: bool = True
    rerank: bool = True  # the fused top 10 reordered so the teaching section comes first (rag/rerank.py)
    rerank_model: Path | None = None  # None: rag/rerank.json (fitted by `hbrag eval rerank --fit`)
    # The question's vector moved toward where learners' questions' teaching sections lie, for ranking only
    # (rag/adapter.py; fitted on this handbook, so an index built from another one gets none).
    adapter: bool = True
    answerability_model: Path | None = None  # None: rag/answerable.json (fitted by `hbrag eval decline --fit`)
    # Generation
    temperature: float = 0.2
    max_tokens: int = 120  # room for a sentence or two; the guards show the first that passes (rag/guard.py)
    top_k: int = 40
    top_p: float = 0.95
    repeat_penalty: float = 1.1  # higher penalises copying from the sources (eval/README.md)
    seed: int = 42
    threads: int = field(default_factory=_physical_cores)
    n_ctx: int = 2048
    # The local model's one-sentence summary under the handbook's words. Off: the passages alone, at once, and the model
    # is never loaded (on unseen learners' questions most summaries shown were wrong: eval/README.md).
    summary: bool = True
    evidence: int = 3  # handbook passages (sentences, bullets, table rows) given to the model and shown
    max_question_chars: int = 2000
    # Study and UI
    progress_db: Path = field(default_factory=lambda: _user_data_dir() / "progress.sqlite")
    ui_host: str = "127.0.0.1"
    ui_port: int = 7860
    ui_user: str = ""
    ui_password: str = ""

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, overridden by `HBRAG_*` in `env` (the process's by default), then by non-None overrides."""
        env = os.environ if env is None else env
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"HBRAG_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, raw, hints[f.name])
        values.update({k: _convert(k, v, hints[k]) for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _convert(name: str, raw: Any, hint: Any) -> Any:
    if not isinstance(raw, str):
        return Path(raw) if hint in (Path, Path | None) and raw is not None else raw
    try:
        if hint is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if hint is int:
            return int(raw)
        if hint is float:
            return float(raw)
        if hint in (Path, Path | None):
            return Path(raw).expanduser()
    except ValueError:
        raise HbragError(f"setting {name} (HBRAG_{name.upper()}) has an invalid value {raw!r}") from None
    return raw
