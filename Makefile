# The common commands; their configuration lives in pyproject.toml.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
HBRAG := $(VENV)/bin/hbrag
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: llama-cflags install install-dev run chat ask ingest test lint format eval bench bench-context clean

$(PY):
	python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# llama.cpp is compiled for this CPU (-march=native) minus AMX: its AMX matmul segfaults on the first
# answer on Sapphire Rapids-class CPUs (ggml-org/llama.cpp#20824). GCC lets an explicit -mno-* win over
# -march=native, so every other instruction set of the machine (AVX-512 where present) stays in.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=ON
LLAMA_CFLAGS := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
# A native wheel only runs on CPUs like the one it was built on, and pip's own cache ignores CMAKE_ARGS:
# keep our wheels apart, keyed by the CPU's flags, the version and the build arguments.
LLAMA_KEY := $(shell (grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m; echo '$(LLAMA_VERSION) $(LLAMA_CMAKE_ARGS) $(LLAMA_CFLAGS)') | sha256sum | cut -c1-16)
WHEELS := $(HOME)/.cache/hbrag/wheels/$(LLAMA_KEY)
LLAMA_WHEEL := $(WHEELS)/.built

$(LLAMA_WHEEL): | $(PY)
	mkdir -p $(WHEELS)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CFLAGS="$(LLAMA_CFLAGS)" CXXFLAGS="$(LLAMA_CFLAGS)" $(PIP) wheel --no-deps --no-cache-dir --no-binary llama-cpp-python \
		-w $(WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	touch $@

# torch first, pinned to the CPU build on this machine's disk, or pip would pull a multi-GB CUDA build;
# then our llama-cpp-python wheel, so `pip install -e .` finds it satisfied and never builds its own.
$(STAMP): pyproject.toml $(LLAMA_WHEEL) | $(PY)
	$(PIP) install torch==2.13.0
	$(PIP) install --force-reinstall --no-deps $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(PIP) install -e .
	touch $@

$(DEV_STAMP): pyproject.toml $(STAMP)
	$(PIP) install -e '.[dev]'
	touch $@

install: $(STAMP)

# The compiler flags llama.cpp is built with (tests/test_build.py checks they leave AMX out).
llama-cflags:
	@echo '$(LLAMA_CFLAGS)'

install-dev: $(DEV_STAMP)

ingest: install
	$(HBRAG) ingest

# Starts the assistant on its embedded defaults (builds the index first when it is missing).
run: install
	$(HBRAG) ingest
	$(HBRAG) ui

chat: install
	$(HBRAG) chat

ask: install
	$(HBRAG) ask "$(Q)"

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

eval: install
	$(HBRAG) eval retrieval
	$(HBRAG) eval answers --limit 20

bench: install-dev
	$(PY) -m benchmarks.run

bench-context: install-dev
	$(PY) -m benchmarks.context_curve

clean:
	rm -rf $(VENV) .hbrag .pytest_cache
