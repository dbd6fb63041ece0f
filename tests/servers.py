"""Real servers for the server-mode tests: a `chroma run` and llama-cpp-python's OpenAI-compatible server.

Each is started on a free loopback port, waited for, and stopped (or killed, for the fault tests).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import free_port

BIN = Path(sys.executable).parent


def _wait(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"no answer from {url} within {timeout} s")


class Server:
    """A server process we can stop, kill -9 and start again on the same port."""

    def __init__(self, args: list[str], health_path: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.args = [a.replace("{port}", str(self.port)) for a in args]
        self.health = f"http://127.0.0.1:{self.port}{health_path}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _wait(self.health, self.proc)
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def chroma_server(path: Path) -> Server:
    return Server(
        [str(BIN / "chroma"), "run", "--path", str(path), "--host", "127.0.0.1", "--port", "{port}"],
        "/api/v2/heartbeat",
    )


def llm_server(model: Path, port: int | None = None) -> Server:
    return Server(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
        ],
        "/v1/models",
        port=port,
    )
