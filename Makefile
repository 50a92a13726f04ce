# The two commands a new machine needs: `make run` and `make test`.
# Both create .venv themselves with the Python they find (3.11 or newer).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: run test lint format install clean sample bench

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# API, worker and beat together on the embedded default (SQLite and a folder broker).
# The port comes from the settings (environment, then .env, then 8000), so the banner
# and the API agree.
run: $(STAMP)
	$(BIN)/interview-retention migrate
	@$(BIN)/python -m interview_retention.cli.banner
	$(BIN)/honcho -f Procfile.local start --port "$$($(BIN)/python -m interview_retention.cli.banner --port)"

# Lint, format check, then the whole suite against PostgreSQL and Redis on localhost
# (TEST_DATABASE_URL / TEST_REDIS_URL to point elsewhere) and the SQLite leg.
test: $(STAMP)
	$(BIN)/ruff format --check src tests migrations bench
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check src tests migrations bench
	$(BIN)/ruff check src tests migrations bench

format: $(STAMP)
	$(BIN)/ruff format src tests migrations bench
	$(BIN)/ruff check --fix src tests migrations bench

# Purge throughput against PostgreSQL's own limit and a naive ORM loop, the API
# while the purge runs, and the jobs' scans as the table grows; a few minutes on
# its own databases (ir_bench_*), dropped at the end. Needs the same PostgreSQL
# and Redis as `make test` (BENCH_DATABASE_URL / BENCH_REDIS_URL to point
# elsewhere). BENCH_ARGS passes options: make bench BENCH_ARGS="--sessions 1000000"
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

sample: $(STAMP)
	$(BIN)/interview-retention sample --out var/sample.jsonl

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
