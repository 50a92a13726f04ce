"""Creating sessions and moving them through their statuses.

Services take a database session and never commit: the request or the task that
called them owns the transaction.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from interview_retention.config import Settings
from interview_retention.errors import Conflict, Invalid, NotFound
from interview_retention.sessions import questions as bank
from interview_retention.sessions.cache import ReportCache
from interview_retention.sessions.models import InterviewSession, Question
from interview_retention.users.models import Resume, new_id

# Forward moves a session may make by itself; DELETED is reachable from any of them.
NEXT_STATUS = {
    "CREATED": {"IN_PROGRESS"},
    "IN_PROGRESS": {"COMPLETED"},
    "COMPLETED": {"EVALUATED"},
    "EVALUATED": set(),
}


def create_session(
    db: Session,
    *,
    user_id: str,
    resume_id: str | None,
    question_count: int,
    config: dict[str, Any],
    now: datetime,
) -> InterviewSession:
    """A new CREATED session with `question_count` questions drawn from the bank."""
    if resume_id is not None:
        resume = db.scalar(
            select(Resume).where(Resume.id == resume_id, Resume.user_id == user_id)
        )
        if resume is None:
            raise NotFound("Resume not found")

    wanted = config.get("categories")
    if wanted is not None:
        known = set(bank.categories())
        if not isinstance(wanted, list) or not all(
            isinstance(c, str) and c in known for c in wanted
        ):
            raise Invalid(
                "config.categories must be a list of: " + ", ".join(sorted(known))
            )
    drawn = bank.draw(question_count, wanted, random.Random())  # noqa: S311
    if len(drawn) < question_count:
        raise Invalid(
            f"questionCount is {question_count} but the chosen categories hold"
            f" only {len(drawn)} questions"
        )

    session = InterviewSession(
        id=new_id(),
        user_id=user_id,
        resume_id=resume_id,
        status="CREATED",
        question_count=len(drawn),
        config=config,
        created_at=now,
        updated_at=now,
    )
    # Ids are made here rather than by the database, so that follow-ups can name
    # their parent and everything goes out in one flush.
    rows: list[Question] = []
    for item in drawn:
        parent = Question(
            id=new_id(),
            session_id=session.id,
            position=len(rows),
            question_type="ORIGINAL",
            category=item.category,
            text=item.text,
        )
        rows.append(parent)
        for follow_up in item.follow_ups:
            rows.append(
                Question(
                    id=new_id(),
                    session_id=session.id,
                    parent_question_id=parent.id,
                    position=len(rows),
                    question_type="FOLLOW_UP",
                    category=item.category,
                    text=follow_up,
                )
            )
    db.add(session)
    db.add_all(rows)
    db.flush()
    return session


def soft_delete(
    session: InterviewSession, *, now: datetime, settings: Settings
) -> InterviewSession:
    """Mark DELETED and start the recovery window; repeating it changes nothing.

    A deadline that the retention rule already set is never pushed back: the
    earlier of the two stands.
    """
    if session.status == "DELETED":
        return session

    deadline = now + settings.recovery_period
    if (
        session.permanent_delete_at is not None
        and session.permanent_delete_at < deadline
    ):
        deadline = session.permanent_delete_at
    else:
        session.deletion_reason = "USER"
    session.status_before_deletion = session.status
    session.status = "DELETED"
    session.deleted_at = now
    session.permanent_delete_at = deadline
    session.updated_at = now
    return session


def change_status(
    session: InterviewSession, target: str, *, now: datetime, settings: Settings
) -> InterviewSession:
    """Apply a status change asked for by the owner."""
    if target == "DELETED":
        return soft_delete(session, now=now, settings=settings)
    if session.status == "DELETED":
        raise Conflict("Session is deleted; restore it before changing its status")
    if target == session.status:
        return session
    if target not in NEXT_STATUS[session.status]:
        raise Conflict(f"Cannot change status from {session.status} to {target}")

    session.status = target
    session.updated_at = now
    if target == "COMPLETED":
        session.completed_at = now
    elif target == "EVALUATED":
        session.evaluated_at = now
    return session


def restore(
    session: InterviewSession, *, now: datetime, settings: Settings
) -> InterviewSession:
    """Undo a soft delete. The caller has checked that the deadline is ahead.

    A session that the retention rule had scheduled before the user deleted it
    keeps that schedule: restoring undoes the user's delete, not the rule.
    """
    if session.status != "DELETED":
        raise Conflict("Session is not deleted")

    session.status = session.status_before_deletion or "CREATED"
    session.status_before_deletion = None
    session.deleted_at = None
    session.updated_at = now
    if session.retention_notice_at is not None:
        deadline = session.retention_notice_at + settings.grace_period
        # A legal hold lifted meanwhile may have pushed the deadline later; a
        # restore must not bring the deletion forward again.
        if session.permanent_delete_at is not None:
            deadline = max(deadline, session.permanent_delete_at)
        session.permanent_delete_at = deadline
        session.deletion_reason = "RETENTION"
    else:
        session.permanent_delete_at = None
        session.deletion_reason = None
    return session


log = structlog.get_logger(__name__)


@dataclass
class BulkDeleteOutcome:
    # (session id, "deleted" | "not_found" | "failed", reason of a failure)
    results: list[tuple[str, str, str | None]] = field(default_factory=list)

    def count(self, result: str) -> int:
        return sum(1 for _, r, _ in self.results if r == result)


def bulk_hard_delete(
    db: Session,
    *,
    user_id: str,
    session_ids: Sequence[str],
    now: datetime,
    cache: ReportCache,
) -> BulkDeleteOutcome:
    """Delete each of the owner's sessions for good, as one DELETE each would.

    Each id runs in its own savepoint, so one that fails (a legal hold, a
    database error) is rolled back alone and the others stand. A repeated id is
    deleted once. An id that is unknown, another user's, already gone or past
    its deadline is `not_found`, as the single DELETE answers 404.
    """
    # Imported here: the deletion service imports this package's repository.
    from interview_retention.deletion.service import hard_delete

    outcome = BulkDeleteOutcome()
    for session_id in dict.fromkeys(session_ids):
        try:
            with db.begin_nested():
                hard_delete(
                    db, user_id=user_id, session_id=session_id, now=now, cache=cache
                )
        except NotFound:
            outcome.results.append((session_id, "not_found", None))
        except Conflict as exc:
            outcome.results.append((session_id, "failed", exc.message))
        except SQLAlchemyError as exc:
            # The savepoint is rolled back; the other ids go on. The message may
            # carry row values, so only the type is logged.
            log.warning("sessions.bulk_delete_failed", error=type(exc).__name__)
            outcome.results.append((session_id, "failed", "Server error"))
        else:
            outcome.results.append((session_id, "deleted", None))
    log.info(
        "sessions.bulk_deleted",
        user_id=user_id,
        requested=len(outcome.results),
        deleted=outcome.count("deleted"),
        not_found=outcome.count("not_found"),
        failed=outcome.count("failed"),
    )
    return outcome
