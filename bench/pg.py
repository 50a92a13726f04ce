"""The databases a bench run creates, and nothing else: made, copied, dropped.

Every name starts with `ir_bench_` and the run's tag, and only names this run
created are ever dropped.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from interview_retention.config import normalize_database_url
from interview_retention.db import migrate

ADMIN_URL = normalize_database_url(
    os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@localhost:5432/postgres"
    )
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://localhost:6379/0")


def libpq(url: str) -> str:
    """The SQLAlchemy URL `url` as libpq takes it (no `+psycopg`)."""
    return (
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


class Databases:
    """Creates, copies and drops this run's databases."""

    def __init__(self, tag: str | None = None) -> None:
        self.tag = tag or uuid.uuid4().hex[:8]
        self.created: list[str] = []

    def name(self, suffix: str) -> str:
        return f"ir_bench_{self.tag}_{suffix}"

    def url(self, name: str) -> str:
        return (
            make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        )

    def admin(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(libpq(ADMIN_URL), autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def create(self, suffix: str, *, migrated: bool = True) -> str:
        """A new empty database, migrated to head with Alembic; returns its URL."""
        name = self.name(suffix)
        self.admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        url = self.url(name)
        if migrated:
            migrate.upgrade(url)
        return url

    def copy(self, template: str, suffix: str) -> str:
        """A copy of the database `template` (a name this run created)."""
        assert template in self.created, template
        name = self.name(suffix)
        # FILE_COPY copies the files after a checkpoint; the default (WAL_LOG)
        # would write the whole database to the WAL, once per copy.
        statement = (
            f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY = FILE_COPY'
        )
        for attempt in range(20):
            try:
                self.admin(statement)
                break
            except psycopg.errors.ObjectInUse:
                # An autovacuum worker may be visiting the template for a moment.
                if attempt == 19:
                    raise
                time.sleep(0.5)
        self.created.append(name)
        return self.url(name)

    def drop(self, name: str) -> None:
        if name not in self.created:
            raise ValueError(f"{name} was not created by this run")
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(reversed(self.created)):
            self.drop(name)

    def server(self) -> dict[str, str]:
        """What the server is, for the report."""
        rows = self.admin(
            "SELECT current_setting('server_version'),"
            " current_setting('shared_buffers'), current_setting('max_wal_size'),"
            " current_setting('synchronous_commit')"
        )
        version, buffers, wal, sync = rows[0]
        return {
            "version": version,
            "shared_buffers": buffers,
            "max_wal_size": wal,
            "synchronous_commit": sync,
        }
