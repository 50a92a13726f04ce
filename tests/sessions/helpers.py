"""Paths, envelopes and instants shared by the sessions API tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from interview_retention.deletion.models import DeletionLogEntry, DeletionNotice
from interview_retention.sessions.models import (
    Answer,
    Evaluation,
    InterviewSession,
    Question,
    Report,
)

SESSIONS = "/api/interview/sessions"
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

# Every table that holds a session's rows, with what the factory session puts there.
CHILD_TABLES = (Question, Answer, Evaluation, Report, DeletionNotice)


def path(session_id: str, suffix: str = "") -> str:
    """The URL of one session; any string is quoted so it reaches the route intact."""
    return f"{SESSIONS}/{quote(session_id, safe='')}{suffix}"


def ok_data(response: Response) -> Any:
    """The `data` of a success envelope, after checking the envelope itself."""
    body = response.json()
    assert response.status_code == 200, body
    assert body["code"] == 200
    assert body["message"] == "success"
    return body["data"]


def assert_error(response: Response, code: int, message: str | None = None) -> str:
    """Check an error envelope and return its message."""
    body = response.json()
    assert response.status_code == code, body
    assert body["code"] == code
    assert body["data"] is None
    assert isinstance(body["message"], str)
    assert body["message"]
    if message is not None:
        assert body["message"] == message
    return body["message"]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _fresh(db: Session) -> Session:
    """A new session on the same database, so checks see what the API committed."""
    return Session(bind=db.get_bind(), expire_on_commit=False)


def rows_of(db: Session, session_id: str) -> dict[str, int]:
    """How many rows the session has in its own table and in each child table."""
    with _fresh(db) as check:
        counts = {
            "interview_sessions": check.scalar(
                select(func.count())
                .select_from(InterviewSession)
                .where(InterviewSession.id == session_id)
            )
        }
        for model in CHILD_TABLES:
            counts[model.__tablename__] = check.scalar(
                select(func.count())
                .select_from(model)
                .where(model.session_id == session_id)
            )
    return counts


def reload(db: Session, session_id: str) -> InterviewSession | None:
    """The session as it is now in the database."""
    with _fresh(db) as check:
        return check.get(InterviewSession, session_id)


def tombstones(db: Session) -> list[DeletionLogEntry]:
    with _fresh(db) as check:
        return list(check.scalars(select(DeletionLogEntry)).all())


def add_notice(
    db: Session, session: InterviewSession, *, status: str = "PENDING"
) -> DeletionNotice:
    notice = DeletionNotice(
        session_id=session.id,
        cycle=session.notice_cycle or 0,
        status=status,
        next_attempt_at=session.created_at,
    )
    db.add(notice)
    db.commit()
    return notice
