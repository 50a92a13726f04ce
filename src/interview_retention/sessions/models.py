"""The session aggregate. Only the session is ever soft-deleted; children follow it.

Every child references its session with `ON DELETE CASCADE`, and the ORM is told
(`passive_deletes=True`) to leave the cascade to the database, so a hard delete is
one `DELETE` of the session row inside one transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from interview_retention.clock import utcnow
from interview_retention.db.base import Base, JSONType, one_of
from interview_retention.users.models import new_id

STATUSES = ("CREATED", "IN_PROGRESS", "COMPLETED", "EVALUATED", "DELETED")
DELETION_REASONS = ("USER", "RETENTION", "ADMIN")


class InterviewSession(Base):
    __tablename__ = "interview_sessions"
    __table_args__ = (
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint(
            f"deletion_reason IS NULL OR {one_of('deletion_reason', DELETION_REASONS)}",
            name="deletion_reason",
        ),
        Index("ix_interview_sessions_user_created", "user_id", "created_at"),
        # What the purge claims: sessions with a deadline and no hold, by deadline.
        Index(
            "ix_interview_sessions_due",
            "permanent_delete_at",
            postgresql_where=text(
                "permanent_delete_at IS NOT NULL AND legal_hold = false"
            ),
            sqlite_where=text("permanent_delete_at IS NOT NULL AND legal_hold = 0"),
        ),
        # What the retention rule scans: unscheduled sessions without a hold, by
        # status, then age. With the status first, the scan reads only sessions in
        # the statuses it covers: sessions left in others (abandoned IN_PROGRESS
        # ones) stay unscheduled forever, and the table grows with them.
        Index(
            "ix_interview_sessions_retention",
            "status",
            "created_at",
            postgresql_where=text("permanent_delete_at IS NULL AND legal_hold = false"),
            sqlite_where=text("permanent_delete_at IS NULL AND legal_hold = 0"),
        ),
        # The admins' list of holds: few rows, read oldest session first.
        Index(
            "ix_interview_sessions_on_hold",
            "created_at",
            "id",
            postgresql_where=text("legal_hold = true"),
            sqlite_where=text("legal_hold = 1"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    # The resume outlives the session; deleting a resume elsewhere only unlinks it.
    resume_id: Mapped[str | None] = mapped_column(
        ForeignKey("resumes.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="CREATED")
    status_before_deletion: Mapped[str | None] = mapped_column(String(16))
    question_count: Mapped[int] = mapped_column(Integer, default=0)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    evaluated_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    permanent_delete_at: Mapped[datetime | None]
    deletion_reason: Mapped[str | None] = mapped_column(String(16))
    retention_notice_at: Mapped[datetime | None]
    # Increases each time a scheduled deletion is called off (a legal hold), so that
    # the next retention pass sends a fresh notice for a new cycle.
    notice_cycle: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    legal_hold: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    legal_hold_reason: Mapped[str | None] = mapped_column(String(500))
    legal_hold_at: Mapped[datetime | None]

    questions: Mapped[list[Question]] = relationship(
        back_populates="session",
        passive_deletes=True,
        order_by="Question.position",
        lazy="raise",
    )
    answers: Mapped[list[Answer]] = relationship(
        passive_deletes=True, order_by="Answer.submitted_at", lazy="raise"
    )
    evaluation: Mapped[Evaluation | None] = relationship(
        passive_deletes=True, lazy="raise"
    )
    report: Mapped[Report | None] = relationship(passive_deletes=True, lazy="raise")


class Question(Base):
    __tablename__ = "questions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("interview_sessions.id", ondelete="CASCADE"), index=True
    )
    parent_question_id: Mapped[str | None] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    question_type: Mapped[str] = mapped_column(String(16), default="ORIGINAL")
    category: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text)

    session: Mapped[InterviewSession] = relationship(back_populates="questions")


class Answer(Base):
    __tablename__ = "answers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("interview_sessions.id", ondelete="CASCADE"), index=True
    )
    question_id: Mapped[str] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)


class Evaluation(Base):
    __tablename__ = "evaluations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("interview_sessions.id", ondelete="CASCADE"), unique=True
    )
    overall_score: Mapped[float] = mapped_column(Float)
    feedback: Mapped[str] = mapped_column(Text, default="")
    category_scores: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    strengths: Mapped[list[str]] = mapped_column(JSONType, default=list)
    improvement_suggestions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("interview_sessions.id", ondelete="CASCADE"), unique=True
    )
    content: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    generated_at: Mapped[datetime] = mapped_column(default=utcnow)
