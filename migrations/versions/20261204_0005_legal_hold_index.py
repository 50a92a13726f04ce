"""An index of the sessions on legal hold, so the admins' list of holds reads only them.

Built concurrently on PostgreSQL, like 0003: the sessions table is the largest,
and a plain CREATE INDEX would block every write to it while it builds.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 17:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_interview_sessions_on_hold"
COLUMNS = ["created_at", "id"]


def _drop_concurrently() -> None:
    # Outside a transaction; also clears an invalid index a failed build left.
    op.drop_index(
        NAME,
        table_name="interview_sessions",
        postgresql_concurrently=True,
        if_exists=True,
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(
            NAME,
            "interview_sessions",
            COLUMNS,
            sqlite_where=sa.text("legal_hold = 1"),
        )
        return
    with op.get_context().autocommit_block():
        _drop_concurrently()
        op.create_index(
            NAME,
            "interview_sessions",
            COLUMNS,
            postgresql_where=sa.text("legal_hold = true"),
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(NAME, table_name="interview_sessions")
        return
    with op.get_context().autocommit_block():
        _drop_concurrently()
