# Two entry points for a fresh machine: `make run` and `make test` (see README).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/claude-code-api serve --demo --host 127.0.0.1 --port 8080

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy src

pytest: $(STAMP)
	$(BIN)/pytest --cov --cov-report=term --cov-report=json:coverage.json

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/worker_pool.py
	$(BIN)/python bench/storage.py
	$(BIN)/python bench/router_eval.py
	$(BIN)/python bench/cache.py
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache coverage.json .coverage*
