"""llama.cpp must never take its AMX path (ggml-org/llama.cpp#20824): not in our build, not at load time."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.conftest import HBRAG, ROOT


def _defines(*flags: str) -> str:
    done = subprocess.run(["gcc", *flags, "-dM", "-E", "-"], input="", capture_output=True, text=True, check=True)
    return done.stdout


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_build_flags_leave_amx_out_even_on_an_amx_cpu():
    """Compile for a Sapphire Rapids CPU as `-march=native` would there, with the Makefile's flags added."""
    flags = subprocess.run(["make", "-s", "llama-cflags"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "__AMX_INT8__" in _defines("-march=sapphirerapids")  # the check itself can fail
    built = _defines(*flags.stdout.split(), "-march=sapphirerapids")
    assert "__AMX_INT8__" not in built and "__AMX_TILE__" not in built
    assert "__AVX512F__" in built  # every other instruction set of the machine stays


def test_the_installed_build_reports_no_amx():
    from rag.llm import has_amx, system_info

    info = system_info()
    assert "AVX" in info or "NEON" in info  # a real system-info line
    assert not has_amx(info)


def test_has_amx_reads_the_system_info_line():
    from rag.llm import has_amx

    assert has_amx("CPU : AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1 |")
    assert not has_amx("CPU : AVX512 = 1 | AMX_INT8 = 0 | REPACK = 1 |")
    assert not has_amx("CPU : AVX2 = 1 | REPACK = 1 |")


@pytest.mark.slow
def test_safe_buffers_reach_the_loaded_model_and_it_still_answers():
    from rag.llm import GenerationParams, LocalLLM

    safe = LocalLLM(None, n_ctx=256, threads=2, safe_buffers=True)
    assert safe.uses_extra_buffers is False
    text = "".join(safe.stream([{"role": "user", "content": "Say hi."}], GenerationParams(temperature=0, max_tokens=4)))
    assert text.strip()
    # By default the guard follows the build: this build has no AMX, so repacking stays available.
    assert LocalLLM(None, n_ctx=256, threads=2).uses_extra_buffers is True


@pytest.mark.parametrize(
    ("returncode", "expected"),
    [(-signal.SIGSEGV, "SIGSEGV"), (-signal.SIGILL, "illegal instruction"), (1, "bad model")],
)
def test_diagnose_names_the_cause_and_the_fix(returncode, expected):
    from rag.doctor import diagnose

    out = '{"system_info": "CPU : AMX_INT8 = 1 |"}\n{"error": "bad model"}' if returncode == 1 else ""
    found = diagnose(returncode, out, "", "m.gguf")
    assert not found.ok
    assert expected in found.problem
    assert found.fix


def test_doctor_turns_a_real_native_crash_into_a_sentence():
    """A child that really dies on SIGSEGV after printing its system info, as llama.cpp's AMX path does."""
    from rag.doctor import diagnose

    crash = (
        "import json, os, signal; print(json.dumps({'system_info': 'CPU : AMX_INT8 = 1 |'}), flush=True);"
        " os.kill(os.getpid(), signal.SIGSEGV)"
    )
    done = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True)
    found = diagnose(done.returncode, done.stdout, done.stderr, "m.gguf")
    assert found.system_info == "CPU : AMX_INT8 = 1 |"
    assert "segmentation fault" in found.problem and "make install" in found.fix


@pytest.mark.slow
def test_hbrag_doctor_generates_in_a_child(cli_env):
    import json

    done = subprocess.run([*HBRAG, "doctor", "--json"], env=cli_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["ok"] is True and "AVX" in found["system_info"]
    assert os.path.basename(found["model"]).endswith(".gguf")
