"""Alembic: the chain migrates an empty database up and back down on both backends,
and what it builds is exactly what the models declare."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from interview_retention.db.engine import create_db_engine
from interview_retention.db.migrate import alembic_config
from interview_retention.db.models import Base
from tests.conftest import PG_ADMIN_URL

MODEL_TABLES = set(Base.metadata.tables)


def config_for(url: str) -> Config:
    config = alembic_config(url)
    config.attributes["configure_logger"] = False
    return config


def tables_of(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def drift(url: str) -> list:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "target_metadata": Base.metadata,
                },
            )
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    name = f"ir_migrations_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield (
        make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def empty_sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'migrations.sqlite3'}"


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_url(request: pytest.FixtureRequest) -> str:
    fixture = "empty_pg_url" if request.param == "postgresql" else "empty_sqlite_url"
    return request.getfixturevalue(fixture)


def test_migrations_have_one_head():
    script = ScriptDirectory.from_config(config_for("sqlite://"))

    assert len(script.get_heads()) == 1


def test_upgrade_head_builds_every_table(empty_url):
    command.upgrade(config_for(empty_url), "head")

    assert tables_of(empty_url) == MODEL_TABLES | {"alembic_version"}


def test_downgrade_base_removes_every_table(empty_url):
    command.upgrade(config_for(empty_url), "head")

    command.downgrade(config_for(empty_url), "base")

    assert tables_of(empty_url) == {"alembic_version"}


def test_upgrade_after_downgrade_rebuilds_schema(empty_url):
    command.upgrade(config_for(empty_url), "head")
    command.downgrade(config_for(empty_url), "base")

    command.upgrade(config_for(empty_url), "head")

    assert tables_of(empty_url) == MODEL_TABLES | {"alembic_version"}
    assert drift(empty_url) == []


def test_migrated_database_matches_models(empty_url):
    command.upgrade(config_for(empty_url), "head")

    assert drift(empty_url) == []


def test_test_database_matches_models(database_url):
    assert drift(database_url) == []
