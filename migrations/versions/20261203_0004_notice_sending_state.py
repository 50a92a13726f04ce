"""Notices gain a SENDING state: claimed and being sent, under a lease.

The status check admits SENDING, and the index the notices job claims from covers
it, so that a notice whose worker died while sending is found again once its
lease (`next_attempt_at`) has passed.

On PostgreSQL the widened check is added NOT VALID and validated afterwards, so
that the table is locked against writes only for the moment of the ALTER, not
for a scan of every row; the index is rebuilt concurrently beside the old one.
SQLite rebuilds the table in a batch.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 20:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "deletion_notices"
CHECK = "ck_deletion_notices_status"
INDEX = "ix_deletion_notices_sendable"
BEFORE = ("PENDING", "RETRY", "SENT", "FAILED", "CANCELLED")
AFTER = ("PENDING", "RETRY", "SENDING", "SENT", "FAILED", "CANCELLED")


def _in(values: Sequence[str]) -> str:
    return f"status IN ({', '.join(repr(v) for v in values)})"


def _swap(statuses: Sequence[str], claimable: Sequence[str]) -> None:
    where = sa.text(_in(claimable))
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table(TABLE, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(CHECK), type_="check")
            batch_op.create_check_constraint(op.f(CHECK), _in(statuses))
            batch_op.drop_index(INDEX)
            batch_op.create_index(INDEX, ["next_attempt_at"], sqlite_where=where)
        return

    op.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {CHECK}")
    op.execute(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT {CHECK} CHECK ({_in(statuses)}) NOT VALID"
    )
    op.execute(f"ALTER TABLE {TABLE} VALIDATE CONSTRAINT {CHECK}")
    # A build that failed half way leaves an invalid index behind: drop it first.
    with op.get_context().autocommit_block():
        op.drop_index(
            f"{INDEX}_new",
            table_name=TABLE,
            postgresql_concurrently=True,
            if_exists=True,
        )
        op.create_index(
            f"{INDEX}_new",
            TABLE,
            ["next_attempt_at"],
            postgresql_where=where,
            postgresql_concurrently=True,
        )
        op.drop_index(
            INDEX, table_name=TABLE, postgresql_concurrently=True, if_exists=True
        )
    op.execute(f"ALTER INDEX {INDEX}_new RENAME TO {INDEX}")


def upgrade() -> None:
    _swap(AFTER, ("PENDING", "RETRY", "SENDING"))


def downgrade() -> None:
    # A notice caught SENDING goes back to RETRY: it is claimed again and resent,
    # as it would have been once its lease ended.
    op.execute("UPDATE deletion_notices SET status = 'RETRY' WHERE status = 'SENDING'")
    _swap(BEFORE, ("PENDING", "RETRY"))
