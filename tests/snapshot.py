"""A fingerprint of every table, to prove that a request changed nothing."""

from __future__ import annotations

import hashlib

from sqlalchemy import Engine, select

from interview_retention.db import models  # noqa: F401 - every table in the metadata
from interview_retention.db.base import Base


def table_digests(engine: Engine) -> dict[str, str]:
    """Each table's name and a hash of all its rows, read in primary-key order.

    Two equal results mean that no row was added, removed or changed in between,
    in any column of any table the models know.
    """
    digests: dict[str, str] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns))
            hasher = hashlib.sha256()
            for row in rows:
                hasher.update(repr(tuple(row)).encode("utf-8", "backslashreplace"))
            digests[table.name] = hasher.hexdigest()
    return digests


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in before if before[name] != after.get(name))
