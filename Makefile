# Quick start: `make demo` (no servers needed), `make test` (needs RabbitMQ + PostgreSQL; starts them if installed).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-unit lint lock bench conformance schemas schema services clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[test,demo]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ticketflow demo

services:
	scripts/services-up

test: $(STAMP) services
	$(BIN)/python -m pytest -p no:cacheprovider

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

conformance: $(STAMP) services
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python ../shared/conformance/run.py

schemas: $(STAMP)
	$(BIN)/python -m schemas.generate

schema: $(STAMP) services
	$(BIN)/python -m tests.integration.test_migrations

lock: $(STAMP)   # after changing dependencies in pyproject.toml
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra test --extra demo --python-version 3.11 -q -o requirements.lock

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: $(STAMP) services
	$(BIN)/python bench/bench_pipeline.py
	$(BIN)/python bench/bench_timers.py
	$(BIN)/python bench/bench_deadlines.py

clean:
	rm -rf $(VENV) build *.egg-info
