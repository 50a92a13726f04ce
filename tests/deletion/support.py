"""Builders and probes shared by the deletion tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from interview_retention.config import Settings
from interview_retention.deletion import jobs, service
from interview_retention.deletion.channels import NoticeDeliveryError, NoticeMessage
from interview_retention.deletion.models import DeletionLogEntry, DeletionNotice
from interview_retention.sessions.cache import ReportCache
from interview_retention.sessions.models import (
    Answer,
    Evaluation,
    InterviewSession,
    Question,
    Report,
)
from interview_retention.users.models import User
from tests.factories import make_session

CHILD_MODELS = (Question, Answer, Evaluation, Report, DeletionNotice)
# What `make_session` gives every session: two questions and a follow-up, three
# answers, an evaluation and a report.
FULL_CHILDREN = {
    "questions": 3,
    "answers": 3,
    "evaluations": 1,
    "reports": 1,
    "deletion_notices": 0,
}

# The contract's periods, for helpers that act outside a fixture's settings.
PERIODS = Settings(_env_file=None)  # type: ignore[call-arg]


def make_soft_deleted(
    db: Session, user: User, *, deadline: datetime, **fields: Any
) -> InterviewSession:
    """A session the user soft-deleted, due at `deadline`, with every child row."""
    values: dict[str, Any] = {
        "status": "DELETED",
        "status_before_deletion": "EVALUATED",
        "deleted_at": deadline - timedelta(days=30),
        "permanent_delete_at": deadline,
        "deletion_reason": "USER",
        "created_at": deadline - timedelta(days=40),
        **fields,
    }
    return make_session(db, user, **values)


def seed_sessions(
    db: Session, user: User, count: int, *, created_at: datetime, **fields: Any
) -> list[str]:
    """Many committed sessions at once, each with one question and its answer."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    db.execute(
        insert(InterviewSession),
        [
            {
                "id": sid,
                "user_id": user.id,
                "status": "EVALUATED",
                "question_count": 1,
                "config": {},
                # Distinct ages, so that every job claims them in one order.
                "created_at": created_at - timedelta(seconds=i),
                "updated_at": created_at,
                **fields,
            }
            for i, sid in enumerate(ids)
        ],
    )
    questions = [str(uuid.uuid4()) for _ in ids]
    db.execute(
        insert(Question),
        [
            {"id": qid, "session_id": sid, "position": 0, "text": "What is a closure?"}
            for qid, sid in zip(questions, ids, strict=True)
        ],
    )
    db.execute(
        insert(Answer),
        [
            {"session_id": sid, "question_id": qid, "text": "A private answer"}
            for qid, sid in zip(questions, ids, strict=True)
        ],
    )
    db.commit()
    return ids


def add_notice(db: Session, session: InterviewSession, **fields: Any) -> DeletionNotice:
    notice = DeletionNotice(session_id=session.id, **fields)
    db.add(notice)
    db.commit()
    return notice


def child_rows(db: Session, session_id: str) -> dict[str, int]:
    """How many rows of each child table belong to the session."""
    return {
        model.__tablename__: db.scalar(
            select(func.count())
            .select_from(model)
            .where(model.session_id == session_id)
        )
        for model in CHILD_MODELS
    }


# Reads below bypass the identity map: other sessions (the jobs) changed the rows.
FRESH = {"populate_existing": True}


def exists(db: Session, session_id: str) -> bool:
    query = select(func.count()).where(InterviewSession.id == session_id)
    return db.scalar(query) == 1


def reload(db: Session, session_id: str) -> InterviewSession | None:
    query = select(InterviewSession).where(InterviewSession.id == session_id)
    return db.scalars(query.execution_options(**FRESH)).one_or_none()


def tombstones(db: Session) -> list[DeletionLogEntry]:
    query = select(DeletionLogEntry).order_by(DeletionLogEntry.id)
    return list(db.scalars(query.execution_options(**FRESH)))


def notices_of(db: Session, session_id: str) -> list[DeletionNotice]:
    query = (
        select(DeletionNotice)
        .where(DeletionNotice.session_id == session_id)
        .order_by(DeletionNotice.cycle)
    )
    return list(db.scalars(query.execution_options(**FRESH)))


def context(
    factory: sessionmaker[Session], settings: Settings, now: datetime, run_id: str
) -> jobs.JobContext:
    return jobs.JobContext(factory=factory, settings=settings, run_id=run_id, now=now)


def run_purge(
    factory: sessionmaker[Session],
    settings: Settings,
    cache: ReportCache,
    now: datetime,
    run_id: str = "purge-run",
) -> dict[str, Any]:
    return jobs.purge(context(factory, settings, now, run_id), cache=cache)


def run_retention(
    factory: sessionmaker[Session], settings: Settings, now: datetime
) -> dict[str, Any]:
    return jobs.retention(context(factory, settings, now, "retention-run"))


def run_notices(
    factory: sessionmaker[Session],
    settings: Settings,
    now: datetime,
    channel: Any = None,
    *,
    sent_at: datetime | None = None,
) -> dict[str, Any]:
    """Run the notices job at `now`; the channel accepts at `sent_at` (or `now`)."""
    accepted = sent_at or now
    return jobs.notices(
        context(factory, settings, now, "notices-run"),
        channel=channel or RecordingChannel(),
        clock=lambda: accepted,
    )


def schedule_by_retention(
    factory: sessionmaker[Session], settings: Settings, now: datetime
) -> None:
    """Run the retention rule and send its notices, both at `now`."""
    run_retention(factory, settings, now)
    run_notices(factory, settings, now)


class RecordingChannel:
    """Accepts every notice and remembers it."""

    def __init__(self) -> None:
        self.sent: list[NoticeMessage] = []

    def send(self, message: NoticeMessage) -> None:
        self.sent.append(message)


class FailingChannel:
    """Refuses every notice, as a mail server that is down would."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, message: NoticeMessage) -> None:
        self.calls += 1
        raise NoticeDeliveryError("mail server unreachable")


def table_snapshot(db: Session, *, skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Every row of every table but `skip`, to show that something changed none."""
    from interview_retention.db.base import Base

    rows = {}
    for table in Base.metadata.sorted_tables:
        if table.name in skip:
            continue
        rows[table.name] = sorted(repr(tuple(row)) for row in db.execute(select(table)))
    db.rollback()
    return rows


def hold(
    db: Session, session_id: str, now: datetime, *, reason: str = "litigation"
) -> None:
    """An admin puts a session on legal hold, committed."""
    service.set_legal_hold(
        db,
        session_id=session_id,
        reason=reason,
        actor="admin:t",
        now=now,
        settings=PERIODS,
    )
    db.commit()


def lift(db: Session, session_id: str, now: datetime, settings: Settings) -> None:
    """An admin lifts a session's legal hold, committed."""
    service.lift_legal_hold(
        db,
        session_id=session_id,
        reason="released",
        actor="admin:t",
        now=now,
        settings=settings,
    )
    db.commit()
