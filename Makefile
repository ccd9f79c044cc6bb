# `make run` and `make test` set up a virtualenv on first use (CPU torch, no CUDA wheels).
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: run test lint setup

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# A venv made before textlab had its own Optuna sweeper: the old plugin pins optuna < 3.
	$(PY) -m pip uninstall --quiet --yes hydra-optuna-sweeper 2>/dev/null || true
	# Pinned to the local CPU build; a bare `torch` would pull several GB of CUDA wheels.
	$(PY) -m pip install --quiet "torch==2.13.0" -e ".[dev,onnx,sweep,mlflow,serve]"
	touch $@

run: setup
	$(PY) run.py $(ARGS)

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks run.py
	$(VENV)/bin/ruff format --check src tests benchmarks run.py
