"""The retention rule's index leads with the status, so its scan skips the statuses it does not cover.

Built concurrently on PostgreSQL: the sessions table is the largest, and a plain
CREATE INDEX would block every write to it while it builds.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 19:05:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_interview_sessions_retention"
WHERE_PG = sa.text("permanent_delete_at IS NULL AND legal_hold = false")
WHERE_SQLITE = sa.text("permanent_delete_at IS NULL AND legal_hold = 0")


def _swap(columns: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(NAME, table_name="interview_sessions")
        op.create_index(NAME, "interview_sessions", columns, sqlite_where=WHERE_SQLITE)
        return
    # The new index is built beside the old one, which serves the scan meanwhile.
    # A build that failed half way leaves an invalid index behind: drop it first.
    with op.get_context().autocommit_block():
        op.drop_index(
            f"{NAME}_new",
            table_name="interview_sessions",
            postgresql_concurrently=True,
            if_exists=True,
        )
        op.create_index(
            f"{NAME}_new",
            "interview_sessions",
            columns,
            postgresql_where=WHERE_PG,
            postgresql_concurrently=True,
        )
        op.drop_index(
            NAME,
            table_name="interview_sessions",
            postgresql_concurrently=True,
            if_exists=True,
        )
    op.execute(f"ALTER INDEX {NAME}_new RENAME TO {NAME}")


def upgrade() -> None:
    _swap(["status", "created_at"])


def downgrade() -> None:
    _swap(["created_at"])
