# Two entry points for a fresh machine: `make run` and `make test` (see README).
# `make run PORT=9000 HOST=0.0.0.0` serves elsewhere.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: install run test test-deploy lint typecheck pytest test-isolation bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/claude-code-api serve --demo --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy src

# Four test processes (pytest-xdist), a file each at a time: most tests wait on subprocesses,
# servers and real Redis/PostgreSQL rather than compute, so 4 overlap well on 2 cores. Every
# test owns its ports, Redis prefix and database, so they do not see each other.
PYTEST_WORKERS ?= 4
pytest: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=15 --cov --cov-report=term --cov-report=json:coverage.json

test: lint typecheck pytest

# Builds the Docker image and runs docker-compose.yml for real, checked end to end (needs root
# or sudo the first time: installs docker.io, starts dockerd). See docs/DEPLOYMENT.md.
test-deploy:
	scripts/deploy/test_deploy.sh

# Warm-process isolation on the real binary at full size (the default suite runs 200 tasks).
test-isolation: $(STAMP)
	CCAPI_ISOLATION_TASKS=1000 $(BIN)/pytest tests/workers/test_warm_isolation.py -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/worker_pool.py
	$(BIN)/python bench/storage.py
	$(BIN)/python bench/router_eval.py
	$(BIN)/python bench/cache.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/api_inprocess.py
	$(BIN)/python bench/conversation_cost.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache coverage.json .coverage*
