"""Test fixtures: a real database per backend and per test worker, real Redis.

Each pytest-xdist worker creates its own PostgreSQL database and SQLite file,
migrates them once with Alembic, and empties every table after each test. Redis
keys live under a prefix unique to the run and are removed at the end. Nothing
here touches data the suite did not create. PostgreSQL and Redis must be up: a
missing service fails the run, it is never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from interview_retention.api.app import create_app
from interview_retention.config import Settings, normalize_database_url
from interview_retention.db.base import Base
from interview_retention.db.engine import create_db_engine
from interview_retention.sessions.cache import RedisReportCache

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = normalize_database_url(
    os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@localhost:5432/postgres")
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://localhost:6379/0")
RUN_ID = uuid.uuid4().hex[:10]

BACKENDS = ["postgresql", "sqlite"]


def migrate(url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


@pytest.fixture(scope="session")
def worker_tag(worker_id: str) -> str:
    return f"{RUN_ID}_{worker_id}"


@pytest.fixture(scope="session")
def pg_url(worker_tag: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test worker."""
    name = f"ir_test_{worker_tag}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.exit(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}", 3)
    url = (
        make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    )
    migrate(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "test.sqlite3"
    url = f"sqlite:///{path}"
    migrate(url)
    return url


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.exit(f"Redis is not reachable at {REDIS_URL}: {exc}", 3)
    yield client
    for key in client.scan_iter(match=f"irtest:{RUN_ID}:*", count=500):
        client.delete(key)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _broker_files() -> set[Path]:
    folder = ROOT / "var" / "broker"
    return {path for path in folder.rglob("*") if path.is_file()}


@pytest.fixture(scope="session", autouse=True)
def checkout_var_untouched() -> Iterator[None]:
    """Fail the run if a test left anything in the checkout's var/broker.

    A message there is executed by the next `make run` worker, against the
    developer's own database (see tests/__init__.py).
    """
    before = _broker_files()
    yield
    left = sorted(str(path.relative_to(ROOT)) for path in _broker_files() - before)
    assert not left, f"the suite wrote into the checkout's broker folder: {left}"


@pytest.fixture(scope="session")
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    fixture = "pg_url" if backend == "postgresql" else "sqlite_url"
    return request.getfixturevalue(fixture)


def _settings(url: str, worker_tag: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": url,
        "redis_url": REDIS_URL,
        "cache_key_prefix": f"irtest:{RUN_ID}:{worker_tag}:",
        "broker_key_prefix": f"irtest:{RUN_ID}:{worker_tag}:broker:",
        # Each test counts failed authentications apart: the test client always
        # comes from the same address, and one test's failures must not lock
        # out the next.
        "auth_limit_key_prefix": f"irtest:{RUN_ID}:{worker_tag}:auth:{uuid.uuid4()}",
        "log_json": True,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str, worker_tag: str) -> Settings:
    return _settings(database_url, worker_tag)


@pytest.fixture(scope="session")
def engines() -> Iterator[dict[str, Engine]]:
    cache: dict[str, Engine] = {}
    yield cache
    for engine in cache.values():
        engine.dispose()


def _engine_for(url: str, engines: dict[str, Engine]) -> Engine:
    if url not in engines:
        engines[url] = create_db_engine(url)
    return engines[url]


def _empty_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def engine(database_url: str, engines: dict[str, Engine]) -> Iterator[Engine]:
    engine = _engine_for(database_url, engines)
    yield engine
    _empty_tables(engine)


@pytest.fixture
def pg_engine(pg_url: str, engines: dict[str, Engine]) -> Iterator[Engine]:
    """For tests of PostgreSQL-only behaviour: row locks and SKIP LOCKED."""
    engine = _engine_for(pg_url, engines)
    yield engine
    _empty_tables(engine)


@pytest.fixture
def pg_settings(pg_url: str, worker_tag: str) -> Settings:
    return _settings(pg_url, worker_tag)


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@pytest.fixture
def db(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Arrange and check with this; commit what the code under test must see."""
    with factory() as session:
        yield session


@pytest.fixture
def cache(settings: Settings, redis_client: redis.Redis) -> RedisReportCache:
    return RedisReportCache(
        redis_client,
        prefix=settings.cache_key_prefix,
        ttl_seconds=settings.report_cache_ttl_seconds,
    )


@pytest.fixture
def client(settings: Settings, cache: RedisReportCache, engine: Engine) -> TestClient:
    app = create_app(settings, engine=engine, report_cache=cache)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def sent(monkeypatch, factory) -> list[dict]:
    """Every task the API sends, with whether its run was committed when it was sent."""
    from interview_retention.deletion.models import JobRun
    from interview_retention.worker.tasks import TASKS

    calls: list[dict] = []
    for job, task in TASKS.items():

        def record(*args, _job=job, **kwargs):
            with factory() as check:
                committed = check.get(JobRun, kwargs.get("task_id")) is not None
            calls.append(
                {"job": _job, "args": args, "kwargs": kwargs, "committed": committed}
            )

        monkeypatch.setattr(task, "apply_async", record)
    return calls
