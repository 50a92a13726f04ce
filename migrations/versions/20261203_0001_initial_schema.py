"""Initial schema: users, resumes, sessions and their children, notices, tombstones, job runs.

Revision ID: 0001
Revises:
Create Date: 2026-12-03 16:16:54.340538+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import interview_retention.db.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deletion_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column(
            "requested_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "purged_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "rows_removed",
            sa.JSON().with_variant(
                postgresql.JSONB(astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("cache_keys_evicted", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletion_log")),
        sa.UniqueConstraint("session_id", name=op.f("uq_deletion_log_session_id")),
    )
    with op.batch_alter_table("deletion_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deletion_log_purged_at"), ["purged_at"], unique=False
        )
        batch_op.create_index(
            "ix_deletion_log_user_purged", ["user_id", "purged_at"], unique=False
        )

    op.create_table(
        "job_runs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=36), nullable=True),
        sa.Column(
            "queued_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "started_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "finished_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "result",
            sa.JSON().with_variant(
                postgresql.JSONB(astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_job_runs_job_started", ["job", "started_at"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "token_created_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "created_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.CheckConstraint("role IN ('user', 'admin')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_users_token_hash")),
    )
    op.create_table(
        "resumes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_resumes_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resumes")),
    )
    with op.batch_alter_table("resumes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_resumes_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "interview_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("resume_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_before_deletion", sa.String(length=16), nullable=True),
        sa.Column("question_count", sa.Integer(), nullable=False),
        sa.Column(
            "config",
            sa.JSON().with_variant(
                postgresql.JSONB(astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "completed_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "evaluated_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "deleted_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "permanent_delete_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("deletion_reason", sa.String(length=16), nullable=True),
        sa.Column(
            "retention_notice_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("notice_cycle", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "legal_hold", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
        sa.Column("legal_hold_reason", sa.String(length=500), nullable=True),
        sa.Column(
            "legal_hold_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.CheckConstraint(
            "deletion_reason IS NULL OR deletion_reason IN ('USER', 'RETENTION', 'ADMIN')",
            name=op.f("ck_interview_sessions_deletion_reason"),
        ),
        sa.CheckConstraint(
            "status IN ('CREATED', 'IN_PROGRESS', 'COMPLETED', 'EVALUATED', 'DELETED')",
            name=op.f("ck_interview_sessions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["resume_id"],
            ["resumes.id"],
            name=op.f("fk_interview_sessions_resume_id_resumes"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_interview_sessions_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interview_sessions")),
    )
    with op.batch_alter_table("interview_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_interview_sessions_due",
            ["permanent_delete_at"],
            unique=False,
            postgresql_where=sa.text(
                "permanent_delete_at IS NOT NULL AND legal_hold = false"
            ),
            sqlite_where=sa.text("permanent_delete_at IS NOT NULL AND legal_hold = 0"),
        )
        batch_op.create_index(
            batch_op.f("ix_interview_sessions_resume_id"), ["resume_id"], unique=False
        )
        batch_op.create_index(
            "ix_interview_sessions_retention",
            ["created_at"],
            unique=False,
            postgresql_where=sa.text(
                "permanent_delete_at IS NULL AND legal_hold = false"
            ),
            sqlite_where=sa.text("permanent_delete_at IS NULL AND legal_hold = 0"),
        )
        batch_op.create_index(
            "ix_interview_sessions_user_created",
            ["user_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "deletion_notices",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "sent_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.CheckConstraint(
            "status IN ('PENDING', 'RETRY', 'SENT', 'FAILED', 'CANCELLED')",
            name=op.f("ck_deletion_notices_status"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["interview_sessions.id"],
            name=op.f("fk_deletion_notices_session_id_interview_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletion_notices")),
        sa.UniqueConstraint("session_id", "cycle", name="uq_deletion_notices_cycle"),
    )
    with op.batch_alter_table("deletion_notices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deletion_notices_sendable",
            ["next_attempt_at"],
            unique=False,
            postgresql_where=sa.text("status IN ('PENDING', 'RETRY')"),
            sqlite_where=sa.text("status IN ('PENDING', 'RETRY')"),
        )

    op.create_table(
        "evaluations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("overall_score", sa.Float(), nullable=False),
        sa.Column("feedback", sa.Text(), nullable=False),
        sa.Column(
            "category_scores",
            sa.JSON().with_variant(
                postgresql.JSONB(astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column(
            "strengths",
            sa.JSON().with_variant(
                postgresql.JSONB(astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column(
            "improvement_suggestions",
            sa.JSON().with_variant(
                postgresql.JSONB(astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["interview_sessions.id"],
            name=op.f("fk_evaluations_session_id_interview_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
        sa.UniqueConstraint("session_id", name=op.f("uq_evaluations_session_id")),
    )
    op.create_table(
        "questions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("parent_question_id", sa.String(length=36), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("question_type", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_question_id"],
            ["questions.id"],
            name=op.f("fk_questions_parent_question_id_questions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["interview_sessions.id"],
            name=op.f("fk_questions_session_id_interview_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questions")),
    )
    with op.batch_alter_table("questions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_questions_parent_question_id"),
            ["parent_question_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_questions_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "reports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column(
            "content",
            sa.JSON().with_variant(
                postgresql.JSONB(astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column(
            "generated_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["interview_sessions.id"],
            name=op.f("fk_reports_session_id_interview_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("session_id", name=op.f("uq_reports_session_id")),
    )
    op.create_table(
        "answers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("question_id", sa.String(length=36), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "submitted_at",
            interview_retention.db.base.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["questions.id"],
            name=op.f("fk_answers_question_id_questions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["interview_sessions.id"],
            name=op.f("fk_answers_session_id_interview_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answers")),
    )
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_answers_question_id"), ["question_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_answers_session_id"), ["session_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_answers_session_id"))
        batch_op.drop_index(batch_op.f("ix_answers_question_id"))

    op.drop_table("answers")
    op.drop_table("reports")
    with op.batch_alter_table("questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_questions_session_id"))
        batch_op.drop_index(batch_op.f("ix_questions_parent_question_id"))

    op.drop_table("questions")
    op.drop_table("evaluations")
    with op.batch_alter_table("deletion_notices", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_deletion_notices_sendable",
            postgresql_where=sa.text("status IN ('PENDING', 'RETRY')"),
            sqlite_where=sa.text("status IN ('PENDING', 'RETRY')"),
        )

    op.drop_table("deletion_notices")
    with op.batch_alter_table("interview_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_interview_sessions_user_created")
        batch_op.drop_index(
            "ix_interview_sessions_retention",
            postgresql_where=sa.text(
                "permanent_delete_at IS NULL AND legal_hold = false"
            ),
            sqlite_where=sa.text("permanent_delete_at IS NULL AND legal_hold = 0"),
        )
        batch_op.drop_index(batch_op.f("ix_interview_sessions_resume_id"))
        batch_op.drop_index(
            "ix_interview_sessions_due",
            postgresql_where=sa.text(
                "permanent_delete_at IS NOT NULL AND legal_hold = false"
            ),
            sqlite_where=sa.text("permanent_delete_at IS NOT NULL AND legal_hold = 0"),
        )

    op.drop_table("interview_sessions")
    with op.batch_alter_table("resumes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resumes_user_id"))

    op.drop_table("resumes")
    op.drop_table("users")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_job_runs_job_started")

    op.drop_table("job_runs")
    with op.batch_alter_table("deletion_log", schema=None) as batch_op:
        batch_op.drop_index("ix_deletion_log_user_purged")
        batch_op.drop_index(batch_op.f("ix_deletion_log_purged_at"))

    op.drop_table("deletion_log")
