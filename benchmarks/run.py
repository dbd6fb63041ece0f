"""`make bench`: ingest, retrieval, answering (pipeline vs raw llama-cpp-python), cold start, memory.

Each figure is the median of several runs with the spread (min-max). Results go to
`benchmarks/results/<timestamp>.json` and `.md`. Runs in a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
HBRAG = [sys.executable, "-m", "ui.cli"]
QUESTIONS = [
    "What is the bias-variance tradeoff?",
    "How does dropout regularize a neural network?",
    "When should I use precision instead of recall?",
    "What is LoRA fine-tuning?",
    "How do I handle missing values?",
    "What is the attention mechanism?",
]


def stats(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "runs": len(values),
    }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench_ingest(runtime_cls: Any, settings: Any, embedder: Any, runs: int) -> dict[str, Any]:
    cold, throughput, warm = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            rt = runtime_cls(settings.replace(index_dir=Path(tmp) / "index"))
            rt.embedder = embedder
            started = time.perf_counter()
            report = rt.ingest(progress=False)
            cold.append(time.perf_counter() - started)
            throughput.append(report.manifest.chunks / cold[-1])
            for _ in range(3):
                fresh = runtime_cls(settings.replace(index_dir=Path(tmp) / "index"))  # a new process's view
                started = time.perf_counter()
                assert not fresh.ingest(progress=False).rebuilt
                warm.append(time.perf_counter() - started)
    return {"cold_s": stats(cold), "warm_s": stats(warm), "chunks_per_s": stats(throughput)}


def bench_warm_cli(env: dict[str, str], runs: int) -> dict[str, Any]:
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([*HBRAG, "ingest"], env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
    return {"warm_cli_wall_s": stats(walls)}


def bench_retrieval(assistant: Any, questions: list[str], repeats: int) -> dict[str, Any]:
    from dataclasses import replace

    out = {}
    assistant.retriever.warm()  # every chunk's passages embedded, as the web chat does at start-up
    configs = {
        "dense": {"retriever": "dense"},
        "bm25": {"retriever": "bm25"},
        "hybrid": {"retriever": "hybrid", "rerank": False},
        "hybrid+rerank": {"retriever": "hybrid", "rerank": True},
    }
    for name, config in configs.items():
        options = replace(assistant.options(), **config)
        latencies = []
        for _ in range(repeats):
            for q in questions:
                started = time.perf_counter()
                assistant.retriever.search(q, options)
                latencies.append((time.perf_counter() - started) * 1000)
        latencies.sort()
        out[name] = {
            "p50_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
            "n": len(latencies),
        }
    return out


def _raw_stream(llm: Any, messages: list[dict], params: Any) -> dict[str, float]:
    """llama-cpp-python alone, on the same messages and settings."""
    started = time.perf_counter()
    first = last = 0.0
    tokens = 0
    for piece in llm.completion(messages, params):
        if piece["choices"][0]["delta"].get("content"):
            last = time.perf_counter()
            first = first or last
            tokens += 1
    return {
        "ttft_ms": (first - started) * 1000,
        "tokens": tokens,
        "tokens_per_s": (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0,
        "total_ms": (time.perf_counter() - started) * 1000,
    }


def bench_answers(assistant: Any, questions: list[str], max_tokens: int) -> dict[str, Any]:
    llm = assistant.llm
    generation = {"temperature": 0.0, "max_tokens": max_tokens}
    params = assistant.params(**generation)
    rows = []
    for q in questions:
        hits = assistant.retrieve(q).hits
        _, messages = assistant.prompt_for(q, hits)
        llm._llama.reset()  # cold prompt for both: no KV-cache prefix reuse between the two
        raw = _raw_stream(llm, messages, params)
        llm._llama.reset()
        answer = assistant.ask(q, generation=generation)
        t = answer.timings
        rows.append(
            {
                "question": q,
                "prompt_tokens": t["prompt_tokens"],
                "raw": raw,
                "pipeline": {
                    "ttft_ms": t["ttft_ms"],
                    "tokens": t["tokens"],
                    "tokens_per_s": t["tokens_per_s"],
                    "total_ms": t["total_ms"],
                    "retrieve_ms": t["retrieve_ms"],
                },
            }
        )
    # The second question of a conversation: the system prompt's KV cache is still warm.
    llm._llama.reset()
    first = assistant.ask(questions[0], generation=generation).timings["ttft_ms"]
    second = assistant.ask(questions[1], generation=generation).timings["ttft_ms"]
    llm._llama.reset()
    second_cold = assistant.ask(questions[1], generation=generation).timings["ttft_ms"]

    def col(side: str, key: str) -> list[float]:
        return [r[side][key] for r in rows if r[side][key]]

    return {
        "pipeline_ttft_ms": stats(col("pipeline", "ttft_ms")),
        "raw_ttft_ms": stats(col("raw", "ttft_ms")),
        "pipeline_tokens_per_s": stats(col("pipeline", "tokens_per_s")),
        "raw_tokens_per_s": stats(col("raw", "tokens_per_s")),
        "pipeline_total_ms": stats(col("pipeline", "total_ms")),
        "prompt_tokens": stats([r["prompt_tokens"] for r in rows]),
        "ratio_tokens_per_s": round(
            statistics.median(col("pipeline", "tokens_per_s")) / statistics.median(col("raw", "tokens_per_s")), 3
        ),
        "ratio_ttft": round(
            statistics.median(col("pipeline", "ttft_ms")) / statistics.median(col("raw", "ttft_ms")), 3
        ),
        "second_question_ttft_ms": {
            "after_first (warm prefix)": second,
            "same question cold": second_cold,
            "first": first,
        },
        "rows": rows,
    }


def bench_cold_start(env: dict[str, str], runs: int) -> dict[str, Any]:
    phases: list[dict[str, float]] = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.coldstart"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        phases.append(json.loads(out.stdout.strip().splitlines()[-1]))
    launch, rss = [], []
    for _ in range(runs):
        cmd = ["/usr/bin/time", "-f", "MAXRSS %M", *HBRAG, "ask", QUESTIONS[0], "--max-tokens", "16"]
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
        )
        assert proc.stdout is not None
        proc.stdout.read(1)  # the first streamed byte of the answer
        launch.append(time.perf_counter() - started)
        _, err = proc.communicate(timeout=300)
        match = re.search(rb"MAXRSS (\d+)", err)
        if match:
            rss.append(int(match.group(1)) / 1024)
    retrieve = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [*HBRAG, "retrieve", QUESTIONS[0], "--k", "3"], env=env, check=True, capture_output=True, cwd=ROOT
        )
        retrieve.append(time.perf_counter() - started)
    keys = [k for k in phases[0] if k != "prompt_tokens"]
    split = {k: stats([p[k] for p in phases]) for k in keys}
    parts = ("imports", "embedding_model_load", "index_open", "retriever_build", "retrieval")
    return {
        "hbrag_retrieve_wall_s": stats(retrieve),
        "retrieve_unavoidable_sum_s": round(sum(split[k]["median"] for k in parts), 3),
        "hbrag_ask_launch_to_first_token_s": stats(launch),
        "phases_s": split,
        "hbrag_ask_peak_rss_mb": stats(rss) if rss else None,
    }


def bench_ui_memory(env: dict[str, str]) -> dict[str, Any]:
    from gradio_client import Client

    from tests.conftest import free_port

    port = free_port()
    proc = subprocess.Popen(
        [*HBRAG, "ui", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    try:
        launched = time.perf_counter()
        deadline = time.monotonic() + 120
        while True:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        ready = time.perf_counter() - launched
        client.predict(QUESTIONS[0], 32, api_name="/ask")
        answered = time.perf_counter() - launched
        status = Path(f"/proc/{proc.pid}/status").read_text()
        hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
        return {
            "hbrag_ui_peak_rss_mb": round(hwm, 1),
            "hbrag_ui_ready_s": round(ready, 2),
            "hbrag_ui_first_answer_s": round(answered, 2),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def markdown(result: dict[str, Any]) -> str:
    def s(d: dict) -> str:
        return f"{d['median']} ({d['min']}–{d['max']}, n={d['runs']})"

    i, r, a, c = result["ingest"], result["retrieval"], result["answers"], result["cold_start"]
    lines = [
        f"# Benchmark {result['timestamp']}",
        "",
        f"{result['machine']}",
        "",
        "| what | median (min–max, runs) |",
        "|---|---|",
        f"| ingest cold, s (model loaded) | {s(i['cold_s'])} |",
        f"| ingest warm, s of work | {s(i['warm_s'])} |",
        f"| ingest warm, `hbrag ingest` wall incl. start-up, s | {s(i['warm_cli_wall_s'])} |",
        f"| embedding throughput, chunks/s | {s(i['chunks_per_s'])} |",
    ]
    for name, v in r.items():
        lines.append(f"| retrieval {name}, p50 / p95 ms | {v['p50_ms']} / {v['p95_ms']} (n={v['n']}) |")
    lines += [
        f"| prompt tokens | {s(a['prompt_tokens'])} |",
        f"| time to first token, pipeline, ms | {s(a['pipeline_ttft_ms'])} |",
        f"| time to first token, raw llama-cpp-python, ms | {s(a['raw_ttft_ms'])} |",
        f"| generation tokens/s, pipeline | {s(a['pipeline_tokens_per_s'])} |",
        f"| generation tokens/s, raw | {s(a['raw_tokens_per_s'])} |",
        f"| ratio pipeline/raw tokens/s | {a['ratio_tokens_per_s']} |",
        f"| ratio pipeline/raw time to first token | {a['ratio_ttft']} |",
        f"| answer total, pipeline, ms | {s(a['pipeline_total_ms'])} |",
        f"| 2nd question TTFT: warm prefix / cold, ms | {a['second_question_ttft_ms']['after_first (warm prefix)']:.0f}"
        f" / {a['second_question_ttft_ms']['same question cold']:.0f} |",
        f"| cold `hbrag retrieve` wall, s | {s(c['hbrag_retrieve_wall_s'])} |",
        f"| cold `hbrag retrieve`: sum of imports, model load, index open, retriever, retrieval, s | "
        f"{c['retrieve_unavoidable_sum_s']} |",
        f"| cold `hbrag ask` launch → first answer text, s | {s(c['hbrag_ask_launch_to_first_token_s'])} |",
    ]
    for phase, v in c["phases_s"].items():
        lines.append(f"| cold start phase: {phase}, s | {s(v)} |")
    if c.get("hbrag_ask_peak_rss_mb"):
        lines.append(f"| peak RSS `hbrag ask`, MB | {s(c['hbrag_ask_peak_rss_mb'])} |")
    if result.get("ui"):
        u = result["ui"]
        lines.append(f"| peak RSS `hbrag ui` after one answer, MB | {u['hbrag_ui_peak_rss_mb']} |")
        lines.append(
            f"| `hbrag ui` launch → page served / first answer, s | {u['hbrag_ui_ready_s']} / "
            f"{u['hbrag_ui_first_answer_s']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--name", default="")
    args = parser.parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"

    from eval.dataset import question_bank
    from ingest.pipeline import read_handbook
    from rag.runtime import Runtime
    from rag.settings import Settings

    settings = Settings.load()
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings.replace(index_dir=Path(tmp) / "index")
        env = {**os.environ, "HBRAG_INDEX_DIR": str(settings.index_dir), "PYTHONPATH": str(ROOT)}
        runtime = Runtime(settings)
        log("ingest…")
        ingest = bench_ingest(Runtime, settings, runtime.embedder, runs=2)
        runtime.ingest(progress=False)
        ingest.update(bench_warm_cli(env, args.runs))
        assistant = runtime.assistant
        bank = [q.question for q in question_bank(read_handbook(settings.handbook)).questions]
        log("retrieval…")
        retrieval = bench_retrieval(assistant, bank, repeats=3)
        log("answers…")
        answers = bench_answers(assistant, QUESTIONS, args.max_tokens)
        log("cold start…")
        cold = bench_cold_start(env, args.runs)
        log("ui memory…")
        ui = bench_ui_memory(env)
    result = {
        "timestamp": datetime.now().strftime("%Y%m%d-%H%M%S"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, threads={settings.threads}, "
        f"python {platform.python_version()}",
        "settings": {
            "k": settings.k,
            "evidence_passages": settings.evidence,
            "max_tokens": args.max_tokens,
            "retriever": settings.retriever,
        },
        "ingest": ingest,
        "retrieval": retrieval,
        "answers": answers,
        "cold_start": cold,
        "ui": ui,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = result["timestamp"] + (f"-{args.name}" if args.name else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2))
    table = markdown(result)
    (RESULTS / f"{stem}.md").write_text(table)
    print(table)
    print(f"Results: {RESULTS / stem}.json", file=sys.stderr)
    shutil.rmtree(settings.index_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
