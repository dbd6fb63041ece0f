"""An OpenAI-compatible chat server as the language model (llama-cpp-python's server, llama.cpp, vLLM).

Same interface as `LocalLLM`: `stream(messages, params)`, `count_tokens`, `prompt_tokens`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

from ingest.errors import HbragError
from rag.llm import GenerationParams, guard_loops

# Without the server's tokenizer we count conservatively: English runs at about 4 characters per
# token for these models; 3 keeps the prompt under the budget when text is denser (code, tables).
CHARS_PER_TOKEN = 3.0


class RemoteLLM:
    def __init__(self, base_url: str, api_key: str = "", model_path: Path | None = None, timeout: float = 120.0):
        from urllib.parse import urlparse

        url = urlparse(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise HbragError(f"--llm-url must look like http://HOST:PORT/v1, not {base_url!r}")
        from openai import OpenAI

        self.base_url = base_url.rstrip("/")
        # The key comes from the environment (HBRAG_LLM_API_KEY) only; local servers accept any value.
        self._client = OpenAI(base_url=self.base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=0)
        self.model = model_path.name if model_path else "default"

    @property
    def name(self) -> str:
        return f"{self.model} at {self.base_url}"

    def count_tokens(self, text: str) -> int:
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def prompt_tokens(self, messages: Sequence[dict[str, str]]) -> int:
        return sum(self.count_tokens(m["content"]) + 5 for m in messages) + 3

    def stream(self, messages: Sequence[dict[str, str]], params: GenerationParams) -> Iterator[str]:
        import httpx
        import openai

        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=list(messages),  # type: ignore[arg-type]
                stream=True,
                temperature=params.temperature,
                max_tokens=params.max_tokens,
                top_p=params.top_p,
                seed=params.seed,
                # llama.cpp-style servers accept these; others ignore extra body fields.
                extra_body={"top_k": params.top_k, "repeat_penalty": params.repeat_penalty},
            )
            pieces = (chunk.choices[0].delta.content or "" for chunk in response if chunk.choices)
            yield from guard_loops(pieces)
        except openai.APIConnectionError as exc:
            raise HbragError(f"the model server at {self.base_url} is unreachable; try again when it is back") from exc
        except openai.APIStatusError as exc:
            raise HbragError(f"the model server at {self.base_url} answered {exc.status_code}: {exc.message}") from exc
        except (openai.APIError, httpx.HTTPError) as exc:
            raise HbragError(f"the model server at {self.base_url} failed mid-answer: {exc}") from exc
