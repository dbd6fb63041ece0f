# The common commands; their configuration lives in pyproject.toml.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
HBRAG := $(VENV)/bin/hbrag
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev run chat ask ingest test lint format eval bench bench-context clean

$(PY):
	python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch first, pinned to the CPU build on this machine's disk, or pip would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install torch==2.13.0
	$(PIP) install -e .
	touch $@

$(DEV_STAMP): pyproject.toml $(STAMP)
	$(PIP) install -e '.[dev]'
	touch $@

install: $(STAMP)

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
