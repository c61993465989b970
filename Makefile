# dpproxy: every target sets up what it needs itself (a fresh clone needs only python3).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast test-clients lint bench sample-data clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: the seed scenario on the embedded DuckDB default with the sample data
run: $(STAMP)
	$(BIN)/python -m dpproxy.demo
	@echo
	@echo "Now serving the sample data over the PostgreSQL protocol (Ctrl-C stops the server):"
	@echo "  psql -h 127.0.0.1 -p 5433 -U alice dpproxy    # password: alice-demo (bob: bob-demo)"
	@echo "  psql 'host=127.0.0.1 port=5433 user=alice password=alice-demo dbname=dpproxy'"
	@echo
	$(BIN)/dpproxy serve --policies policies

SPARK_STAMP := $(VENV)/.spark-installed

$(SPARK_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $(SPARK_STAMP)

## test: the whole suite, statistical and Spark tests included (Java from test-clients)
test: $(SPARK_STAMP) test-clients
	$(BIN)/python -m pytest

## test-fast: skip the slow statistical tests and the Spark engine while developing
test-fast: $(STAMP) test-clients
	$(BIN)/python -m pytest -m "not slow and not spark"

## test-clients: psql, pgjdbc and javac for the wire server's integration tests (Debian)
JDBC_JAR := /usr/share/java/postgresql.jar
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
test-clients:
	@missing=""; \
	command -v psql >/dev/null || missing="$$missing postgresql-client"; \
	[ -f $(JDBC_JAR) ] || missing="$$missing libpostgresql-jdbc-java"; \
	command -v javac >/dev/null || missing="$$missing default-jdk-headless"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

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
