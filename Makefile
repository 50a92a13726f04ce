# The two commands a new machine needs: `make run` and `make test`.
# Both create .venv themselves with the Python they find (3.11 or newer).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: run test browser chaos chaos-quick fuzz load bench lint format install clean sample flower

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

# The browser tests drive Debian's Chromium (never a browser Playwright downloads).
# Installed with apt when missing, as root or with password-less sudo; otherwise
# this stops with the command to run.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "FATAL: $(CHROMIUM) is missing and there is no apt-get to install Debian's chromium." >&2; exit 1; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; \
	elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "FATAL: $(CHROMIUM) is missing. Install it: sudo apt-get install -y chromium chromium-driver" >&2; exit 1; fi; \
	echo "Installing Debian's chromium for the browser tests"; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null || \
	  { $$SUDO apt-get update -q >/dev/null && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; }; \
	test -x $(CHROMIUM) || { echo "FATAL: installing chromium did not give $(CHROMIUM)" >&2; exit 1; }

# Lint, format check, then the whole suite against PostgreSQL and Redis on localhost
# (TEST_DATABASE_URL / TEST_REDIS_URL to point elsewhere) and the SQLite leg, the
# browser tests (tests/browser, in Chromium) among them.
test: $(STAMP) browser
	$(BIN)/ruff format --check src tests migrations bench
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Fault scenarios (tests/chaos, marked `chaos`, left out of `make test`): real
# workers, beats and the API against PostgreSQL on localhost and a Redis server of
# their own, one scenario at a time, each under a hard timeout.
chaos: $(STAMP)
	$(BIN)/python -m pytest tests/chaos -m chaos -n 0 $(CHAOS_ARGS)

# The reduced form that CI runs: every scenario except those that wait out a broker
# visibility timeout (marked `slow`), a few minutes in all.
chaos-quick: $(STAMP)
	$(BIN)/python -m pytest tests/chaos -m "chaos and not slow" -n 0 $(CHAOS_ARGS)

# The OpenAPI fuzz at length: FUZZ_EXAMPLES requests per operation and database
# (30 in make test); FUZZ_SEED=<n> draws new ones instead of the fixed set.
FUZZ_EXAMPLES ?= 300
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -n $(PYTEST_WORKERS) tests/fuzz

# A bounded load run on loopback (Locust, tests/load): the API, a worker and the
# jobs every 2 s on PostgreSQL and a Redis of its own, then every row checked.
# LOAD_ARGS="--users 50 --seconds 60" to change it; figures in var/load/last.json.
load: $(STAMP)
	$(BIN)/python -m tests.load.run $(LOAD_ARGS)

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

# Flower on http://127.0.0.1:5555, behind FLOWER_BASIC_AUTH (user:password). It
# needs REDIS_URL: the folder broker of `make run` has no events to watch.
flower: $(STAMP)
	@test -n "$$REDIS_URL" || { echo "make flower needs REDIS_URL; Flower cannot watch the folder broker"; exit 1; }
	@test -n "$$FLOWER_BASIC_AUTH" || { echo "set FLOWER_BASIC_AUTH=user:password"; exit 1; }
	$(BIN)/python -m pip install --quiet -e '.[dev,flower]'
	$(BIN)/celery -A interview_retention.worker.celery_app:celery_app flower --address=127.0.0.1 --port=5555

sample: $(STAMP)
	$(BIN)/interview-retention sample --out var/sample.jsonl

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
