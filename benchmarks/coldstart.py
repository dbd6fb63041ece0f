"""One cold `ask`, phase by phase, in a fresh process: prints a JSON line of seconds per phase.

Run by `benchmarks/run.py` as a subprocess, so every import is really cold. It walks the same path as
`hbrag ask` (the same classes, in the same order) and stamps the time after each phase.
"""

from __future__ import annotations

import json
import sys
import time

started = time.perf_counter()


def main(question: str) -> None:
    marks: dict[str, float] = {}
    last = started

    def mark(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        marks[name] = round(now - last, 3)
        last = now

    import bm25s  # noqa: F401
    import chromadb  # noqa: F401
    import llama_cpp  # noqa: F401
    import onnxruntime  # noqa: F401

    from rag.runtime import Runtime
    from rag.settings import Settings

    mark("imports")
    runtime = Runtime(Settings.load())
    runtime.query_embedder  # noqa: B018 - load now, to time it (ONNX Runtime, no torch)
    mark("embedding_model_load")
    runtime.llm  # noqa: B018
    mark("llm_load")
    runtime.store.manifest()
    mark("index_open")
    retriever = runtime.retriever
    mark("retriever_build")
    assistant = runtime.assistant
    hits = assistant.retrieve(question).hits
    mark("retrieval")
    _, messages = assistant.prompt_for(question, hits)
    prompt_tokens = runtime.llm.prompt_tokens(messages)
    for piece in runtime.llm.stream(messages, assistant.params(max_tokens=1)):
        if piece:
            break
    mark("prompt_processing")
    marks["total_to_first_token"] = round(time.perf_counter() - started, 3)
    marks["prompt_tokens"] = prompt_tokens
    del retriever
    print(json.dumps(marks))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "What is the bias-variance tradeoff?")
