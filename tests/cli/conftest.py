"""The CLI reads its settings from the environment: give each test its own SQLite file.

Settings, the engine and the report cache are cached per process, so they are
cleared before and after each test. The CLI also configures logging (structlog,
and Alembic's file config on `migrate`) onto the runner's captured streams; the
previous configuration is put back so that later tests do not log into a closed
stream.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import Engine
from typer.testing import CliRunner

from interview_retention.config import get_settings
from interview_retention.db.engine import get_engine
from interview_retention.sessions.cache import get_report_cache
from tests.cli.helpers import run, run_json

LOGGERS = ("", "alembic", "sqlalchemy", "sqlalchemy.engine")


def _clear_caches() -> None:
    get_settings.cache_clear()
    get_engine.cache_clear()
    get_report_cache.cache_clear()


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The DATABASE_URL of an empty SQLite file that every CLI command uses."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("LOG_JSON", "true")
    structlog_config = structlog.get_config()
    loggers = {
        name: (logging.getLogger(name), logging.getLogger(name).level)
        for name in LOGGERS
    }
    handlers = {name: logger.handlers[:] for name, (logger, _) in loggers.items()}
    _clear_caches()

    yield url

    get_engine().dispose()
    _clear_caches()
    structlog.configure(**structlog_config)
    for name, (logger, level) in loggers.items():
        logger.setLevel(level)
        logger.handlers[:] = handlers[name]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def cli_engine(cli_db: str) -> Engine:
    """The engine the CLI commands use, for arranging and checking."""
    return get_engine()


@pytest.fixture
def migrated(runner: CliRunner, cli_db: str) -> str:
    run(runner, "migrate")
    return cli_db


@pytest.fixture
def imported(runner: CliRunner, migrated: str, tmp_path: Path) -> dict[str, Any]:
    """A generated sample, imported: what the import reported."""
    path = tmp_path / "sample.jsonl"
    run(runner, "sample", "--out", str(path), "--users", "6", "--sessions", "80")
    return run_json(runner, "import", str(path))
