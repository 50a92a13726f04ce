"""Guard rails around the jobs' batches: timeouts, backoff, the kill switch.

Every batch is one transaction. On PostgreSQL it runs under a statement timeout
and a lock timeout, so that a batch stuck behind a lock (a migration's table
lock, a long transaction holding rows) gives up instead of holding its own locks
and its worker for as long as the other side takes. A batch that gives up that
way, or that meets a deadlock or a serialization failure, rolled back whole; it
is tried again after an exponential backoff with jitter, a bounded number of
times, and then the error ends the run. SQLite has no statement or lock
timeouts: its writers wait up to the connection's busy timeout, and a batch that
still finds the database locked is retried like a PostgreSQL one.

A batch whose connection is lost under it (its backend terminated, the server
restarted, the network cut) is retried the same way, on a fresh connection: the
server rolled its transaction back when the connection went, so the batch is
redone whole, and the run keeps its place (its limit, its plan's slice). A
database that cannot be reached at all is not the batch's to wait for: that
error ends the run, and Celery retries the task with its own, longer backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import structlog
from sqlalchemy import ColumnElement, exists, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from interview_retention.config import Settings
from interview_retention.db.engine import transaction
from interview_retention.deletion.models import CLAIMABLE, DeletionNotice, DeletionPlan
from interview_retention.sessions import repository
from interview_retention.sessions.models import InterviewSession

log = structlog.get_logger("interview_retention.guards")

S = InterviewSession
N = DeletionNotice
T = TypeVar("T")

# PostgreSQL's codes for "the database is busy, try again": lock_timeout,
# statement_timeout (also an operator's pg_cancel_backend), serialization failure
# and deadlock.
BUSY_SQLSTATES = {
    "55P03": "lock_not_available",
    "57014": "query_canceled",
    "40001": "serialization_failure",
    "40P01": "deadlock_detected",
}
SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
# Plan ids are counted this many at a time, to keep each IN list short.
_CHUNK = 1000


CONNECTION_LOST = "connection_lost"


def busy_reason(exc: BaseException) -> str | None:
    """Why `exc` means the database was busy, or None if it means something else."""
    if not isinstance(exc, DBAPIError):
        return None
    code = getattr(exc.orig, "sqlstate", None)
    if code in BUSY_SQLSTATES:
        return BUSY_SQLSTATES[code]
    message = str(exc.orig).lower()
    if any(phrase in message for phrase in SQLITE_BUSY):
        return "sqlite_busy"
    return None


def retry_reason(exc: BaseException) -> str | None:
    """Why a batch that failed with `exc` may be tried again; None if it may not.

    The database was busy (see `busy_reason`), or the batch's connection was lost
    mid-transaction: SQLAlchemy says so by invalidating the connection, and a
    pooled connection is never handed out again after that. A failure to connect
    in the first place is not a lost connection; it is left to the task's retry.
    """
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return CONNECTION_LOST
    return busy_reason(exc)


def apply_timeouts(db: Session, settings: Settings) -> None:
    """Bound every statement and every lock wait of this transaction (PostgreSQL).

    `set_config(..., true)` is `SET LOCAL`: it ends with the transaction, so a
    pooled connection goes back without it. On SQLite this does nothing.
    """
    if db.get_bind().dialect.name != "postgresql":
        return
    db.execute(
        text(
            "SELECT set_config('statement_timeout', :statement, true),"
            " set_config('lock_timeout', :lock, true)"
        ),
        {
            "statement": f"{settings.batch_statement_timeout_ms}ms",
            "lock": f"{settings.batch_lock_timeout_ms}ms",
        },
    )


@contextmanager
def batch_transaction(
    factory: sessionmaker[Session], settings: Settings
) -> Iterator[Session]:
    """One batch's transaction, with its timeouts set before its first statement."""
    with transaction(factory) as db:
        apply_timeouts(db, settings)
        yield db


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def run_batch(
    factory: sessionmaker[Session],
    settings: Settings,
    step: Callable[[Session], T],
    *,
    run_id: str,
    event: str,
) -> T:
    """Run `step` in one bounded transaction; back off and retry while busy.

    Each attempt is a whole new transaction: a busy attempt rolled back all it
    did, and so did the server for an attempt whose connection was lost, so
    nothing is half done. After BATCH_RETRY_ATTEMPTS such attempts in all the
    last error is raised; any other error is raised at once.
    """

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        reason = retry_reason(error) if error else None
        log.warning(
            "batch.connection_lost"
            if reason == CONNECTION_LOST
            else "batch.database_busy",
            run_id=run_id,
            batch_event=event,
            attempt=state.attempt_number,
            reason=reason,
            wait_ms=round((state.upcoming_sleep or 0) * 1000),
        )

    retrying = Retrying(
        retry=retry_if_exception(lambda exc: retry_reason(exc) is not None),
        stop=stop_after_attempt(settings.batch_retry_attempts),
        # Doubling from BATCH_RETRY_BASE_MS up to BATCH_RETRY_MAX_MS, plus up to
        # one base of jitter so that runs that met the same lock do not return
        # together.
        wait=wait_exponential(
            multiplier=settings.batch_retry_base_ms / 1000,
            max=settings.batch_retry_max_ms / 1000,
        )
        + wait_random(0, settings.batch_retry_base_ms / 1000),
        sleep=lambda seconds: _sleep(seconds),
        before_sleep=before_sleep,
        reraise=True,
    )
    for attempt in retrying:
        with attempt, batch_transaction(factory, settings) as db:
            return step(db)
    raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover


def pending_work(
    db: Session,
    *,
    job: str,
    now: datetime,
    settings: Settings,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a run of `job` at `now` would act on: how many, and the oldest deadline.

    Honours the run's `limit` and, for a plan's run, only the plan's sessions.
    A count, not a claim: it takes no locks.
    """
    params = params or {}
    where = _due_for(job, now, settings)
    ids = _plan_ids(db, params.get("planId"))
    if ids is None:
        count, oldest = _count(db, job, where)
    else:
        count, oldest = 0, None
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            n, first = _count(db, job, where, ids=chunk)
            count += n
            if first is not None and (oldest is None or first < oldest):
                oldest = first
    limit = params.get("limit")
    if isinstance(limit, int) and limit >= 0:
        count = min(count, limit)
    return {
        "would_process": count,
        "oldest_deadline": None if oldest is None else oldest.isoformat(),
    }


def _due_for(job: str, now: datetime, settings: Settings) -> ColumnElement[bool]:
    if job == "purge":
        return repository.is_due(now)
    if job == "retention":
        already = exists().where(N.session_id == S.id, N.cycle == S.notice_cycle)
        return (
            repository.covered_by_retention(
                now,
                retention_period=settings.retention_period,
                statuses=settings.retention_statuses,
            )
            & ~already
        )
    if job == "notices":
        return N.status.in_(CLAIMABLE) & (N.next_attempt_at <= now)
    raise ValueError(f"unknown job {job!r}")


def _count(
    db: Session,
    job: str,
    where: ColumnElement[bool],
    ids: Collection[str] | None = None,
) -> tuple[int, datetime | None]:
    if job == "notices":
        query = select(func.count(), func.min(S.permanent_delete_at)).select_from(N)
        query = query.join(S, S.id == N.session_id).where(where)
        if ids is not None:
            query = query.where(N.session_id.in_(ids))
    else:
        query = select(func.count(), func.min(S.permanent_delete_at)).where(where)
        if ids is not None:
            query = query.where(S.id.in_(ids))
    count, oldest = db.execute(query).one()
    return count, oldest if job == "purge" else None


def _plan_ids(db: Session, plan_id: Any) -> list[str] | None:
    if not isinstance(plan_id, str):
        return None
    plan = db.get(DeletionPlan, plan_id)
    # A plan that is gone acts on nothing.
    return [] if plan is None else list(plan.session_ids)
