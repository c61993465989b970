# dpproxy: every target sets up what it needs itself (a fresh clone needs only python3).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast lint bench sample-data clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: the seed scenario on the embedded DuckDB default with the sample data
run: $(STAMP)
	$(BIN)/python -m dpproxy.demo

## test: the whole suite, statistical tests included
test: $(STAMP)
	$(BIN)/python -m pytest

## test-fast: skip the slow statistical tests while developing
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

LINTED := dpproxy tests sample_data $(wildcard bench)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

## bench: overhead over raw DuckDB, SmartNoise SQL and Qrlew side by side (bench/results/)
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

## sample-data: regenerate sample_data/*.csv (deterministic; the committed files must match)
sample-data: $(STAMP)
	$(BIN)/python sample_data/generate.py

clean:
	rm -rf $(VENV) state .pytest_cache .mypy_cache .ruff_cache
