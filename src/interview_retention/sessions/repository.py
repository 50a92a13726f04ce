"""Every query on sessions that the API and the jobs share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, true
from sqlalchemy.orm import Session, selectinload

from interview_retention.sessions.models import Evaluation, InterviewSession

S = InterviewSession

# Ids are server-made UUIDs. A longer string names no session, and neither does one
# with a NUL character, which PostgreSQL refuses as a text parameter (a 500).
MAX_ID_LENGTH = 36


def could_exist(session_id: str) -> bool:
    """Whether `session_id` could name a session; any other string is a plain miss."""
    return len(session_id) <= MAX_ID_LENGTH and "\x00" not in session_id


def is_due(now: datetime) -> ColumnElement[bool]:
    """Past its deadline and not on hold: gone for every endpoint, purgeable."""
    return and_(
        S.permanent_delete_at.is_not(None),
        S.permanent_delete_at <= now,
        S.legal_hold == false(),
    )


def is_visible(now: datetime) -> ColumnElement[bool]:
    """Still exists for its owner: no deadline, deadline ahead, or held."""
    return or_(
        S.permanent_delete_at.is_(None),
        S.permanent_delete_at > now,
        S.legal_hold == true(),
    )


def covered_by_retention(
    now: datetime, *, retention_period: timedelta, statuses: Sequence[str]
) -> ColumnElement[bool]:
    """What the retention rule covers at `now`: old enough, in a covered status,
    not scheduled yet and not held."""
    return and_(
        S.permanent_delete_at.is_(None),
        S.legal_hold == false(),
        S.created_at < now - retention_period,
        S.status.in_(statuses),
    )


def get_owned(
    db: Session,
    *,
    user_id: str,
    session_id: str,
    now: datetime,
    lock: bool = False,
    with_children: bool = False,
) -> InterviewSession | None:
    """The user's session if it is still visible at `now`, optionally row-locked."""
    if not could_exist(session_id):
        return None
    query = select(S).where(S.id == session_id, S.user_id == user_id, is_visible(now))
    if with_children:
        query = query.options(
            selectinload(S.questions),
            selectinload(S.answers),
            selectinload(S.evaluation),
        )
    if lock:
        # A locked read must see the row as it is now, not an object this session
        # loaded before the lock was granted.
        query = query.with_for_update(of=S).execution_options(populate_existing=True)
    return db.scalars(query).one_or_none()


def get_for_update(db: Session, session_id: str) -> InterviewSession | None:
    """Any session by id, locked, whatever its state (for admin actions)."""
    if not could_exist(session_id):
        return None
    query = (
        select(S)
        .where(S.id == session_id)
        .with_for_update(of=S)
        .execution_options(populate_existing=True)
    )
    return db.scalars(query).one_or_none()


def owned_page_query(
    *,
    user_id: str,
    now: datetime,
    statuses: Sequence[str],
    created_before: datetime | None,
    created_after: datetime | None,
) -> Select[tuple[InterviewSession]]:
    """The user's visible sessions; soft-deleted ones only when asked for by status."""
    query = select(S).where(S.user_id == user_id, is_visible(now))
    if statuses:
        query = query.where(S.status.in_(statuses))
    else:
        query = query.where(S.status != "DELETED")
    if created_before is not None:
        query = query.where(S.created_at < created_before)
    if created_after is not None:
        query = query.where(S.created_at > created_after)
    return query


def list_owned(
    db: Session,
    *,
    user_id: str,
    now: datetime,
    statuses: Sequence[str] = (),
    created_before: datetime | None = None,
    created_after: datetime | None = None,
    offset: int = 0,
    limit: int = 20,
) -> tuple[list[InterviewSession], int]:
    """One page of the user's sessions, newest first, and the total count."""
    query = owned_page_query(
        user_id=user_id,
        now=now,
        statuses=statuses,
        created_before=created_before,
        created_after=created_after,
    )
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = db.scalars(
        query.order_by(S.created_at.desc(), S.id).offset(offset).limit(limit)
    ).all()
    return list(page), total


def overall_scores(db: Session, session_ids: Sequence[str]) -> dict[str, float]:
    """The overall score of each of these sessions that has an evaluation, in one
    query for a whole page."""
    if not session_ids:
        return {}
    E = Evaluation
    rows = db.execute(
        select(E.session_id, E.overall_score).where(E.session_id.in_(session_ids))
    )
    return dict(rows.all())
