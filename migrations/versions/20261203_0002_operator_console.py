"""Operator console: job heartbeats, dry-run plans, legal hold events, run progress.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 17:37:01.733690+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import interview_retention.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deletion_plans",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column(
            "created_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "as_of",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "params",
            sa.JSON().with_variant(
                postgresql.JSONB(astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column(
            "oldest_deadline",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column(
            "session_ids",
            sa.JSON().with_variant(
                postgresql.JSONB(astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column(
            "executed_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("executed_run_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "job IN ('retention', 'notices', 'purge')",
            name=op.f("ck_deletion_plans_job"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletion_plans")),
    )
    op.create_table(
        "job_heartbeats",
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("last_run_id", sa.String(length=64), nullable=True),
        sa.Column(
            "last_started_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "last_beat_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "last_success_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "last_error_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "batch_durations",
            sa.JSON().with_variant(
                postgresql.JSONB(astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_job_heartbeats")),
    )
    op.create_table(
        "legal_hold_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column(
            "at", interview_retention.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.CheckConstraint(
            "action IN ('SET', 'LIFT')", name=op.f("ck_legal_hold_events_action")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_hold_events")),
    )
    op.create_index(
        "ix_legal_hold_events_session_at",
        "legal_hold_events",
        ["session_id", "at"],
        unique=False,
    )
    # Existing runs get an empty object; new rows always carry one, so the server
    # default is dropped again to match the model.
    for column in ("params", "progress"):
        op.add_column(
            "job_runs",
            sa.Column(
                column,
                sa.JSON().with_variant(
                    postgresql.JSONB(astext_type=sa.Text()), "postgresql"
                ),
                nullable=False,
                server_default=sa.text("'{}'"),
            ),
        )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.alter_column("params", server_default=None)
        batch_op.alter_column("progress", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_column("progress")
        batch_op.drop_column("params")
    op.drop_index("ix_legal_hold_events_session_at", table_name="legal_hold_events")
    op.drop_table("legal_hold_events")
    op.drop_table("job_heartbeats")
    op.drop_table("deletion_plans")
