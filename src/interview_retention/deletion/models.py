"""Notices of pending deletion, the deletion log (tombstones) and job runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from interview_retention.clock import utcnow
from interview_retention.db.base import Base, JSONType, one_of

# SENDING: claimed by a notices batch and being sent, until `next_attempt_at`
# (the lease); a notice still SENDING past its lease was lost with its worker
# and is claimed again. FAILED is the dead letter: no more attempts, no deadline.
NOTICE_STATUSES = ("PENDING", "RETRY", "SENDING", "SENT", "FAILED", "CANCELLED")
# What the notices job claims once `next_attempt_at` has passed.
CLAIMABLE = ("PENDING", "RETRY", "SENDING")

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class DeletionNotice(Base):
    """One pending-deletion notice per session and deletion cycle."""

    __tablename__ = "deletion_notices"
    __table_args__ = (
        UniqueConstraint("session_id", "cycle", name="uq_deletion_notices_cycle"),
        CheckConstraint(one_of("status", NOTICE_STATUSES), name="status"),
        # What the notices job claims: unsent notices, by when they may next go out.
        Index(
            "ix_deletion_notices_sendable",
            "next_attempt_at",
            postgresql_where=text(one_of("status", CLAIMABLE)),
            sqlite_where=text(one_of("status", CLAIMABLE)),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("interview_sessions.id", ondelete="CASCADE")
    )
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class DeletionLogEntry(Base):
    """A tombstone: who and what was deleted, why, when and by whom. No content.

    It keeps no foreign key: it must outlive the session it describes.
    """

    __tablename__ = "deletion_log"
    __table_args__ = (Index("ix_deletion_log_user_purged", "user_id", "purged_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    # One tombstone per session: a second purge of the same id cannot write another.
    session_id: Mapped[str] = mapped_column(String(36), unique=True)
    user_id: Mapped[str] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    purged_at: Mapped[datetime] = mapped_column(index=True)
    rows_removed: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    cache_keys_evicted: Mapped[int] = mapped_column(Integer, default=0)
    task_id: Mapped[str | None] = mapped_column(String(64))


class JobRun(Base):
    """One run of a job: when it started and ended, what it did, what failed."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started", "job", "started_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="QUEUED")
    trigger: Mapped[str] = mapped_column(String(16), default="beat")
    requested_by: Mapped[str | None] = mapped_column(String(36))
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    # What the trigger asked for (batch size, limit, dry run, plan id), and how far
    # the run has got: processed, deleted, failed, remaining. Progress is written
    # after every batch, so a follower sees it move while the run goes on.
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    progress: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class JobHeartbeat(Base):
    """Each job's last start, last beat, last success and last error.

    One row per job, kept across restarts, so that a job that has gone quiet is
    seen as quiet even after every process was replaced. A running job beats after
    each batch.
    """

    __tablename__ = "job_heartbeats"

    job: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_run_id: Mapped[str | None] = mapped_column(String(64))
    last_started_at: Mapped[datetime | None]
    last_beat_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # How long this job's batches took, as cumulative histogram buckets: kept here
    # so that /metrics shows one histogram for every worker process and restart.
    # {"le": [bounds...], "counts": [per bucket, cumulative], "sum": s, "count": n}
    batch_durations: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class DeletionPlan(Base):
    """A dry run's answer: the exact set a job would act on, frozen for review.

    Running the plan acts on `session_ids` only, and is refused while the set the
    job would choose now differs from it (the drift is shown instead).
    """

    __tablename__ = "deletion_plans"
    __table_args__ = (
        CheckConstraint(one_of("job", ("retention", "notices", "purge")), name="job"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    job: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The instant the set was computed for.
    as_of: Mapped[datetime]
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    oldest_deadline: Mapped[datetime | None]
    # SHA-256 over the sorted session ids, one per line.
    digest: Mapped[str] = mapped_column(String(64))
    session_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    executed_at: Mapped[datetime | None]
    executed_run_id: Mapped[str | None] = mapped_column(String(64))


class LegalHoldEvent(Base):
    """Who put a hold on a session or lifted it, when, and why.

    No foreign key: the record outlives the session, like a tombstone.
    """

    __tablename__ = "legal_hold_events"
    __table_args__ = (
        CheckConstraint(one_of("action", ("SET", "LIFT")), name="action"),
        Index("ix_legal_hold_events_session_at", "session_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(500), default="")
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
