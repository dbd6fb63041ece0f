"""`hbrag doctor`: can this machine generate? A one-token answer in a child process, and what it found.

A native crash (a segfault in llama.cpp's AMX code, an illegal instruction from a wheel built for another
CPU) kills the process that hit it without a word. Running the first generation in a child turns that into
a sentence naming the cause and the fix.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_FIXES = {
    signal.SIGSEGV: (
        "llama.cpp crashed (segmentation fault) on its first generation",
        "this is the known llama.cpp AMX crash when the line above shows AMX_INT8 = 1 (ggml-org/llama.cpp#20824): "
        "run `make install`, which rebuilds llama-cpp-python for this CPU without AMX",
    ),
    signal.SIGILL: (
        "llama.cpp stopped on an illegal instruction",
        "llama-cpp-python was built for another CPU: run `make install` on this machine to rebuild it",
    ),
    signal.SIGBUS: ("llama.cpp hit a bus error reading the model", "check that the GGUF file is whole (re-install it)"),
    signal.SIGABRT: ("llama.cpp aborted", "run with a smaller --n-ctx or another GGUF, and report the lines above"),
}


@dataclass
class Diagnosis:
    ok: bool
    system_info: str = ""
    model: str = ""
    safe_buffers: bool | None = None
    sample: str = ""
    problem: str = ""
    fix: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"llama.cpp     {self.system_info or 'unknown (the child died before reporting it)'}"]
        out.append(f"model         {self.model}")
        if self.safe_buffers is not None:
            out.append(f"safe buffers  {'on (no AMX or repacked weights)' if self.safe_buffers else 'off'}")
        if self.ok:
            out.append(f"generation    works (first token {self.sample!r})")
        else:
            out.append(f"generation    FAILED: {self.problem}")
            out.append(f"fix           {self.fix}")
        return out


def diagnose(returncode: int, stdout: str, stderr: str, model: str) -> Diagnosis:
    """Read what the child printed (one JSON line per step) and how it ended."""
    facts: dict[str, Any] = {}
    for line in stdout.splitlines():
        try:
            facts.update(json.loads(line))
        except ValueError:
            continue
    found = Diagnosis(
        ok=returncode == 0 and "sample" in facts,
        system_info=facts.get("system_info", ""),
        model=facts.get("model", model),
        safe_buffers=facts.get("safe_buffers"),
        sample=facts.get("sample", ""),
    )
    if found.ok:
        return found
    if returncode < 0:
        sig = signal.Signals(-returncode)
        problem, fix = _FIXES.get(sig, (f"llama.cpp died on signal {sig.name}", "report the lines above"))
        found.problem, found.fix = f"{problem} ({sig.name})", fix
    else:
        tail = facts.get("error") or (stderr.strip().splitlines() or ["no output"])[-1]
        found.problem, found.fix = str(tail)[:300], "see the message; `hbrag doctor --model PATH` tries another GGUF"
    return found


def run_doctor(model: Path | None, threads: int, timeout: float = 300.0) -> Diagnosis:
    """Generate one token in a child process and diagnose how it went."""
    cmd = [sys.executable, "-m", "rag.doctor", "--threads", str(threads)]
    if model:
        cmd += ["--model", str(model)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Diagnosis(ok=False, model=str(model or "default"), problem="no token within the time limit", fix="")
    return diagnose(done.returncode, done.stdout, done.stderr, str(model or "default"))


def _child(argv: list[str]) -> None:
    """Print each fact as soon as it is known, so a crash still leaves what came before it."""
    import argparse

    from ingest.errors import HbragError
    from rag.llm import GenerationParams, LocalLLM, system_info

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    def say(**fact: Any) -> None:
        print(json.dumps(fact), flush=True)

    say(system_info=system_info())
    try:
        llm = LocalLLM(args.model, n_ctx=256, threads=args.threads)
    except HbragError as exc:
        say(error=str(exc))
        sys.exit(1)
    say(model=str(llm.path), safe_buffers=not llm.uses_extra_buffers)
    messages = [{"role": "user", "content": "Say hello."}]
    text = "".join(llm.stream(messages, GenerationParams(temperature=0.0, max_tokens=1)))
    say(sample=text)


if __name__ == "__main__":
    _child(sys.argv[1:])
