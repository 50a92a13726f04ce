"""Deletion and retention as plain functions over a database session.

Each function does one unit of work inside the caller's transaction and never
commits; `deletion.jobs` loops over them, one transaction per batch. Every function
takes `now` from its caller, so one run sees one instant.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import structlog
from pydantic.alias_generators import to_camel
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    String,
    Table,
    any_,
    bindparam,
    column,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from interview_retention.config import Settings
from interview_retention.db.base import Base, UTCDateTime
from interview_retention.db.hooks import after_commit
from interview_retention.deletion.channels import (
    NoticeChannel,
    NoticeDeliveryError,
    NoticeMessage,
)
from interview_retention.deletion.models import (
    CLAIMABLE,
    DeletionLogEntry,
    DeletionNotice,
    LegalHoldEvent,
)
from interview_retention.errors import SESSION_NOT_FOUND, Conflict, NotFound
from interview_retention.sessions import links, repository
from interview_retention.sessions.cache import ReportCache
from interview_retention.sessions.models import InterviewSession
from interview_retention.users.models import User

S = InterviewSession
N = DeletionNotice

log = structlog.get_logger("interview_retention.notices")

NOTICE_NOT_FOUND = "Notice not found"


@lru_cache
def session_child_tables() -> tuple[Table, ...]:
    """Every table whose rows belong to one session, read from the schema itself."""
    sessions = Base.metadata.tables["interview_sessions"]
    return tuple(
        table
        for table in Base.metadata.sorted_tables
        if "session_id" in table.c
        and any(fk.column.table is sessions for fk in table.c.session_id.foreign_keys)
    )


def child_counts() -> list[Any]:
    """A column per child table: how many of its rows belong to the session row.

    Selected with the sessions they count, so that the claim of a batch reads its
    counts in the same statement; the row lock taken there keeps new children
    out (their foreign key check waits on it) until the batch commits.
    """
    return [
        select(func.count())
        .where(table.c.session_id == S.id)
        .scalar_subquery()
        .label(f"rows_{table.name}")
        for table in session_child_tables()
    ]


def rows_of(row: Any) -> dict[str, int]:
    """The rows deleting this session removes, per table, from a row that has the
    `child_counts()` columns."""
    counts = {"interview_sessions": 1}
    for table in session_child_tables():
        counts[table.name] = getattr(row, f"rows_{table.name}")
    return counts


def count_rows(db: Session, session_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Rows per table that deleting these sessions removes, keyed by session id."""
    rows = db.execute(select(S.id, *child_counts()).where(id_in(db, S.id, session_ids)))
    counts = {row.id: rows_of(row) for row in rows}
    # An id no longer there is not deleted either; its entry only keeps the shape.
    empty = {"interview_sessions": 1, **{t.name: 0 for t in session_child_tables()}}
    return {sid: counts.get(sid, dict(empty)) for sid in session_ids}


def id_in(db: Session, column: Any, ids: Sequence[str]) -> ColumnElement[bool]:
    """`column` is one of `ids`: one array parameter on PostgreSQL.

    An IN list would render and send one parameter per id, and its text would
    change with the batch's length; `= ANY(array)` keeps one statement text, so
    the server plans it once per connection.
    """
    if db.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(String)))
    return column.in_(ids)


@dataclass
class PurgedSession:
    session_id: str
    user_id: str
    rows: dict[str, int]
    cache_keys_evicted: int


@dataclass
class BatchResult:
    claimed: int = 0
    purged: list[PurgedSession] = field(default_factory=list)

    @property
    def rows_removed(self) -> int:
        return sum(sum(p.rows.values()) for p in self.purged)

    @property
    def cache_keys_evicted(self) -> int:
        return sum(p.cache_keys_evicted for p in self.purged)


def _delete_and_record(
    db: Session,
    candidates: Sequence[Any],
    *,
    now: datetime,
    guard: Any,
    reason_for: dict[str, str],
    actor: str,
    cache: ReportCache,
    task_id: str | None,
    counted: bool = False,
) -> list[PurgedSession]:
    """Delete the sessions that still pass `guard`, evict their cache, write tombstones.

    `candidates` have `id`, `user_id`, `deleted_at` and `retention_notice_at`, and
    with `counted` the `child_counts()` columns too. The `guard` is re-applied in
    the DELETE itself, so a row that changed since it was read (restored, put on
    hold) is left alone even where nothing locked it.
    """
    ids = [row.id for row in candidates]
    if not ids:
        return []
    counts = (
        {row.id: rows_of(row) for row in candidates} if counted else count_rows(db, ids)
    )
    deleted = set(
        db.scalars(
            delete(S)
            .where(id_in(db, S.id, ids), guard)
            .returning(S.id)
            .execution_options(synchronize_session=False)
        )
    )
    evicted = cache.evict(sorted(deleted))
    # Evict again once the delete is visible to everyone: a reader that filled the
    # cache between the first eviction and the commit is undone here.
    if deleted:
        after_commit(db, lambda: cache.evict(sorted(deleted)))

    purged: list[PurgedSession] = []
    tombstones: list[dict[str, Any]] = []
    for row in candidates:
        if row.id not in deleted:
            continue
        purged.append(
            PurgedSession(row.id, row.user_id, counts[row.id], evicted[row.id])
        )
        tombstones.append(
            {
                "session_id": row.id,
                "user_id": row.user_id,
                "reason": reason_for[row.id],
                "actor": actor,
                "requested_at": _requested_at(row, reason_for[row.id], now),
                "purged_at": now,
                "rows_removed": counts[row.id],
                "cache_keys_evicted": evicted[row.id],
                "task_id": task_id,
            }
        )
    if tombstones:
        _write_tombstones(db, tombstones)
    return purged


def _write_tombstones(db: Session, tombstones: list[dict[str, Any]]) -> None:
    if db.get_bind().dialect.name != "postgresql":
        db.execute(insert(DeletionLogEntry), tombstones)
        return

    # The whole batch goes as one JSON parameter that the server unpacks. Passed
    # as rows, psycopg would execute the INSERT once per tombstone, and a
    # multi-row VALUES of a whole batch costs more to build than to insert.
    table = DeletionLogEntry.__table__
    names = list(tombstones[0])
    batch = [
        {
            **t,
            "requested_at": t["requested_at"].isoformat(),
            "purged_at": t["purged_at"].isoformat(),
        }
        for t in tombstones
    ]
    rows = (
        func.jsonb_to_recordset(bindparam(None, batch, type_=JSONB))
        .table_valued(*(column(name, table.c[name].type) for name in names))
        .render_derived(with_types=True)
    )
    db.execute(insert(table).from_select(names, select(*rows.c)))


def _requested_at(row: Any, reason: str, now: datetime) -> datetime:
    """When the deletion was asked for: the user's soft delete (or now, for a hard
    delete of a session never soft-deleted), or the rule's notice."""
    if reason == "RETENTION":
        return row.retention_notice_at or now
    return row.deleted_at or now


def hard_delete(
    db: Session,
    *,
    user_id: str,
    session_id: str,
    now: datetime,
    cache: ReportCache,
) -> PurgedSession:
    """The owner deletes a session for good, now, with its children and cache."""
    session = repository.get_owned(
        db, user_id=user_id, session_id=session_id, now=now, lock=True
    )
    if session is None:
        raise NotFound(SESSION_NOT_FOUND)
    if session.legal_hold:
        raise Conflict("Session is under legal hold and cannot be deleted")

    # The loaded row serves as the candidate; it is detached so that the ORM does
    # not try to refresh it once the DELETE below has removed it.
    db.expunge(session)
    purged = _delete_and_record(
        db,
        [session],
        now=now,
        guard=S.legal_hold == false(),
        reason_for={session_id: "USER"},
        actor=f"user:{user_id}",
        cache=cache,
        task_id=None,
    )
    if not purged:
        raise NotFound(SESSION_NOT_FOUND)
    return purged[0]


def purge_batch(
    db: Session,
    *,
    now: datetime,
    batch_size: int,
    cache: ReportCache,
    task_id: str | None,
    ids: Collection[str] | None = None,
) -> BatchResult:
    """Claim up to `batch_size` due sessions and delete them for good.

    On PostgreSQL the claim takes row locks with SKIP LOCKED, so two purges split
    the work instead of waiting on each other, and a restore holding a row's lock
    is skipped rather than overrun. The DELETE re-checks the deadline and the hold.
    With `ids` (a slice of a plan), only those sessions are claimed.
    """
    claimed = db.execute(due_claim(now, batch_size, ids=ids)).all()
    if not claimed:
        return BatchResult()

    purged = _delete_and_record(
        db,
        claimed,
        now=now,
        guard=repository.is_due(now),
        # Every deadline is set together with its reason.
        reason_for={row.id: row.deletion_reason for row in claimed},
        actor="system:purge",
        cache=cache,
        task_id=task_id,
        counted=True,
    )
    return BatchResult(claimed=len(claimed), purged=purged)


def due_claim(
    now: datetime, batch_size: int, *, ids: Collection[str] | None = None
) -> Select[Any]:
    """What a purge batch claims: the most overdue sessions, each with its child
    row counts, locked, passing over rows another transaction holds. With `ids`,
    only those sessions."""
    query = select(
        S.id,
        S.user_id,
        S.deleted_at,
        S.retention_notice_at,
        S.deletion_reason,
        *child_counts(),
    ).where(repository.is_due(now))
    if ids is not None:
        query = query.where(S.id.in_(ids))
    return (
        query.order_by(S.permanent_delete_at)
        .limit(batch_size)
        .with_for_update(skip_locked=True, of=S)
    )


def queue_retention_notices(
    db: Session,
    *,
    now: datetime,
    settings: Settings,
    limit: int,
    ids: Collection[str] | None = None,
) -> int:
    """Queue one notice per session that the retention rule newly covers.

    Covered: a status in RETENTION_STATUSES, created strictly before now minus
    RETENTION_DAYS, no deadline yet, no legal hold, and no notice in this cycle.
    Safe to run twice at once: the unique (session, cycle) key drops duplicates.
    With `ids` (a slice of a plan), only those sessions are considered.

    On PostgreSQL the covered sessions are key-share locked as they are read, and
    one that a request holds (its owner deleting or changing it) is passed over
    until the next run: otherwise a session deleted between the read and the
    insert fails the notice's foreign key, and with it the whole run.
    """
    statement = _insert_ignore(db).from_select(
        ["session_id", "cycle", "next_attempt_at"],
        retention_scan(now, settings, limit, ids=ids),
    )
    # SQLAlchemy keeps an INSERT's rowcount only when asked; without it psycopg
    # reports -1, the job counts nothing queued and stops after one batch.
    result = db.execute(statement.execution_options(preserve_rowcount=True))
    return max(result.rowcount, 0)


def retention_scan(
    now: datetime,
    settings: Settings,
    limit: int,
    *,
    ids: Collection[str] | None = None,
) -> Select[Any]:
    """What the retention rule scans for: covered sessions without a notice in
    their cycle, oldest first, as (session id, cycle, `now`). With `ids`, only
    those sessions.

    One ordered scan per covered status, each reading at most `limit` rows of
    `ix_interview_sessions_retention`, so the cost does not grow with the
    sessions left in statuses the rule does not cover. Each scan key-share locks
    what it reads (PostgreSQL; a locking clause cannot sit on the UNION itself)
    and passes over rows a request holds.
    """
    already = exists().where(N.session_id == S.id, N.cycle == S.notice_cycle)

    def oldest_in(status: str) -> Select[Any]:
        query = select(S.id, S.notice_cycle, S.created_at).where(
            repository.covered_by_retention(
                now, retention_period=settings.retention_period, statuses=[status]
            ),
            ~already,
        )
        if ids is not None:
            query = query.where(S.id.in_(ids))
        return (
            query.order_by(S.created_at)
            .limit(limit)
            .with_for_update(of=S, key_share=True, skip_locked=True)
        )

    oldest = union_all(
        *(
            oldest_in(status).subquery().select()
            for status in settings.retention_statuses
        )
    ).subquery()
    return (
        select(oldest.c.id, oldest.c.notice_cycle, literal(now, UTCDateTime()))
        .order_by(oldest.c.created_at)
        .limit(limit)
    )


def _insert_ignore(db: Session) -> Any:
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(N).on_conflict_do_nothing(
            index_elements=["session_id", "cycle"]
        )
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(N).on_conflict_do_nothing(
        index_elements=["session_id", "cycle"]
    )


@dataclass
class NoticeBatchResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0


def retention_candidates(now: datetime, settings: Settings) -> ColumnElement[bool]:
    """Sessions the retention rule covers at `now` that have no notice in their
    current cycle yet: what `queue_retention_notices` queues a notice for."""
    already = exists().where(N.session_id == S.id, N.cycle == S.notice_cycle)
    return _covered(now, settings) & ~already


def _covered(now: datetime, settings: Settings) -> ColumnElement[bool]:
    return repository.covered_by_retention(
        now,
        retention_period=settings.retention_period,
        statuses=settings.retention_statuses,
    )


@dataclass(frozen=True)
class NoticeOutcome:
    """What became of one claimed notice's send.

    `accepted_at` when the channel took it; `error` (and `permanent`) when it
    refused; neither when the send was never started (`released`).
    """

    notice_id: int
    attempt: int
    accepted_at: datetime | None = None
    error: str | None = None
    permanent: bool = False

    @property
    def released(self) -> bool:
        return self.accepted_at is None and self.error is None


@dataclass
class NoticeClaim:
    claimed: int = 0
    cancelled: int = 0
    messages: list[NoticeMessage] = field(default_factory=list)
    # When each claimed notice's lease ends (when another run may claim it).
    leased_until: datetime | None = None


def claim_notices(
    db: Session,
    *,
    now: datetime,
    settings: Settings,
    clock: Any,
    ids: Collection[str] | None = None,
    limit: int | None = None,
) -> NoticeClaim:
    """Claim the notices due at `now` for sending: step one of three.

    Locks the notices and their sessions (SKIP LOCKED), re-checks the rule on each
    and cancels a notice whose session is no longer covered in its cycle. Each
    other notice becomes SENDING under a lease of NOTICE_LEASE_SECONDS (held in
    `next_attempt_at`), counts an attempt, and yields the message to send. A
    notice still SENDING past its lease (its worker died) is claimed again.

    The caller commits before sending, so no lock is held while a channel works.
    `limit` replaces NOTICE_BATCH_SIZE; `ids` restricts the claim to those
    sessions' notices. The message's deletion date is read from `clock` now: the
    deadline, set only once the channel has accepted, is never earlier.
    """
    query = (
        select(N, S, User.email, User.display_name, _covered(now, settings))
        .join(S, S.id == N.session_id)
        .join(User, User.id == S.user_id)
    )
    if ids is not None:
        query = query.where(N.session_id.in_(ids))
    rows = db.execute(
        query.where(N.status.in_(CLAIMABLE), N.next_attempt_at <= now)
        .order_by(N.next_attempt_at, N.id)
        .limit(limit or settings.notice_batch_size)
        .with_for_update(skip_locked=True, of=(N, S))
    ).all()
    claimed_at = clock()
    claim = NoticeClaim(
        claimed=len(rows), leased_until=claimed_at + settings.notice_lease
    )

    for notice, session, email, display_name, covered in rows:
        # The rule is re-checked on the locked row: a session held, deleted or
        # noticed again since the notice was queued gets no notice.
        if not covered or notice.cycle != session.notice_cycle:
            notice.status = "CANCELLED"
            # Open a new cycle, or the rule would never notice this session again
            # once it is covered anew (restored after a soft delete, say).
            if notice.cycle == session.notice_cycle:
                session.notice_cycle += 1
            claim.cancelled += 1
            continue

        notice.status = "SENDING"
        notice.attempts += 1
        notice.next_attempt_at = claim.leased_until
        claim.messages.append(
            NoticeMessage(
                notice_id=notice.id,
                attempt=notice.attempts,
                session_id=session.id,
                user_id=session.user_id,
                email=email,
                display_name=display_name,
                session_created_at=session.created_at,
                session_status=session.status,
                question_count=session.question_count,
                delete_at=claimed_at + settings.grace_period,
                export_url=links.export_url(session.id, session.user_id, settings),
                app_url=settings.base_url + "/app/",
            )
        )
    return claim


def deliver(
    claim: NoticeClaim, *, channel: NoticeChannel, clock: Any, settings: Settings
) -> list[NoticeOutcome]:
    """Send each claimed message, outside any transaction: step two of three.

    A send starts only while at least half of the lease is left, so that it ends
    before another run may claim the same notice; the notices not started are
    released by `record_notices` for the next claim.
    """
    outcomes = []
    last_start = (claim.leased_until or clock()) - settings.notice_lease / 2
    for message in claim.messages:
        if clock() > last_start:
            outcomes.append(NoticeOutcome(message.notice_id, message.attempt))
            continue
        try:
            channel.send(message)
        except Exception as exc:
            outcomes.append(_refused(message, exc))
            continue
        outcomes.append(
            NoticeOutcome(message.notice_id, message.attempt, accepted_at=clock())
        )
    return outcomes


def _refused(message: NoticeMessage, exc: Exception) -> NoticeOutcome:
    # Any failure is a failed attempt: a notice that raised something unexpected
    # must not stop the batch and block every later one. Only the channel's own
    # reasons are kept; other messages could carry an address.
    if isinstance(exc, NoticeDeliveryError):
        reason, permanent = str(exc)[:500], exc.permanent
    else:
        reason, permanent = type(exc).__name__, False
    log.warning(
        "notice.refused",
        notice_id=message.notice_id,
        session_id=message.session_id,
        attempt=message.attempt,
        reason=reason,
        permanent=permanent,
    )
    return NoticeOutcome(
        message.notice_id, message.attempt, error=reason, permanent=permanent
    )


def record_notices(
    db: Session,
    outcomes: Sequence[NoticeOutcome],
    *,
    now: datetime,
    settings: Settings,
) -> NoticeBatchResult:
    """Record what the sends did: step three of three.

    Locks the sessions, then the notices (the order a legal hold takes them in),
    and records an outcome only on a notice still SENDING in the same attempt:
    one claimed again after its lease belongs to that later attempt.

    Accepted: SENT, and the session's deadline is the moment the channel accepted
    plus GRACE_DAYS, if the session is still covered in the notice's cycle. A
    session held, restored, soft-deleted or hard-deleted meanwhile gets no
    deadline. Refused: RETRY with exponential backoff, or FAILED (the dead
    letter) after NOTICE_MAX_ATTEMPTS or at once for a permanent refusal. Never
    started: back to where it was before the claim, attempt not counted.
    """
    result = NoticeBatchResult()
    by_id = {o.notice_id: o for o in outcomes}
    if not by_id:
        return result
    session_ids = db.scalars(
        select(N.session_id).where(N.id.in_(by_id)).distinct()
    ).all()
    covered = dict(
        db.execute(
            select(S.id, _covered(now, settings))
            .where(S.id.in_(session_ids))
            .order_by(S.id)
            .with_for_update(of=S)
        ).all()
    )
    notices = db.scalars(
        select(N).where(N.id.in_(by_id)).order_by(N.id).with_for_update()
    ).all()

    for notice in notices:
        outcome = by_id[notice.id]
        if notice.status != "SENDING" or notice.attempts != outcome.attempt:
            continue
        if outcome.released:
            notice.status = "RETRY" if notice.attempts > 1 else "PENDING"
            notice.attempts -= 1
            notice.next_attempt_at = now
            continue
        if outcome.error is not None:
            _failed_attempt(notice, outcome, now=now, settings=settings, result=result)
            continue

        sent_at = outcome.accepted_at
        notice.status = "SENT"
        notice.sent_at = sent_at
        notice.last_error = None
        result.sent += 1
        session = db.get(S, notice.session_id)
        if session is None or notice.cycle != session.notice_cycle:
            continue
        if not covered.get(session.id):
            # Out of the rule since the claim (restored, soft-deleted): the next
            # time it is covered, it gets a notice of a new cycle.
            session.notice_cycle += 1
            continue
        session.retention_notice_at = sent_at
        session.permanent_delete_at = sent_at + settings.grace_period
        session.deletion_reason = "RETENTION"
        session.updated_at = sent_at
    return result


def _failed_attempt(
    notice: DeletionNotice,
    outcome: NoticeOutcome,
    *,
    now: datetime,
    settings: Settings,
    result: NoticeBatchResult,
) -> None:
    notice.last_error = outcome.error
    if outcome.permanent or notice.attempts >= settings.notice_max_attempts:
        notice.status = "FAILED"
        result.failed += 1
        return
    notice.status = "RETRY"
    backoff = settings.notice_retry_base_seconds * 2 ** (notice.attempts - 1)
    notice.next_attempt_at = now + timedelta(seconds=backoff)
    result.retried += 1


def set_legal_hold(
    db: Session,
    *,
    session_id: str,
    reason: str,
    actor: str,
    now: datetime,
    settings: Settings,
) -> InterviewSession:
    """Exempt a session from retention and purges, and call off the rule's schedule.

    What the retention rule set is undone: its notice time is cleared and the
    notice cycle advances, so that once the hold is lifted the rule sends a fresh
    notice and waits a full grace period again. A session the user soft-deleted
    keeps the deadline of that delete (its own recovery window, not the rule's).
    The hold is recorded as a `LegalHoldEvent` with `actor` and `reason`.
    Holding a held session again changes nothing and records nothing.
    """
    session = repository.get_for_update(db, session_id)
    if session is None or (
        session.permanent_delete_at is not None
        and session.permanent_delete_at <= now
        and not session.legal_hold
    ):
        raise NotFound(SESSION_NOT_FOUND)
    if session.legal_hold:
        return session

    session.legal_hold = True
    session.legal_hold_reason = reason
    session.legal_hold_at = now
    if session.retention_notice_at is not None:
        session.retention_notice_at = None
        if session.status == "DELETED":
            if session.deletion_reason == "RETENTION":
                session.permanent_delete_at = (
                    session.deleted_at + settings.recovery_period
                )
            session.deletion_reason = "USER"
        else:
            session.permanent_delete_at = None
            session.deletion_reason = None
    db.execute(
        N.__table__.update()
        .where(N.session_id == session.id, N.status.in_(("PENDING", "RETRY")))
        .values(status="CANCELLED")
    )
    session.notice_cycle += 1
    session.updated_at = now
    _record_hold(db, session.id, "SET", reason=reason, actor=actor, now=now)
    return session


def lift_legal_hold(
    db: Session,
    *,
    session_id: str,
    reason: str,
    actor: str,
    now: datetime,
    settings: Settings,
) -> InterviewSession:
    """Lift a hold; no deletion can follow sooner than GRACE_DAYS from now.

    Recorded as a `LegalHoldEvent`; lifting a session not on hold changes nothing
    and records nothing.
    """
    session = repository.get_for_update(db, session_id)
    if session is None:
        raise NotFound(SESSION_NOT_FOUND)
    if not session.legal_hold:
        return session

    session.legal_hold = False
    session.legal_hold_reason = None
    session.legal_hold_at = None
    earliest = now + settings.grace_period
    if (
        session.permanent_delete_at is not None
        and session.permanent_delete_at < earliest
    ):
        session.permanent_delete_at = earliest
    session.updated_at = now
    _record_hold(db, session.id, "LIFT", reason=reason, actor=actor, now=now)
    return session


def _record_hold(
    db: Session, session_id: str, action: str, *, reason: str, actor: str, now: datetime
) -> None:
    db.add(
        LegalHoldEvent(
            session_id=session_id, action=action, reason=reason, actor=actor, at=now
        )
    )


def hold_history(db: Session, session_id: str) -> list[LegalHoldEvent]:
    """Every hold set or lifted on a session, oldest first; kept after a purge."""
    if not repository.could_exist(session_id):
        return []
    E = LegalHoldEvent
    return list(
        db.scalars(select(E).where(E.session_id == session_id).order_by(E.at, E.id))
    )


@dataclass
class Held:
    """A session on legal hold, with the hold that is in force on it."""

    session: InterviewSession
    since: datetime | None
    by: str | None


# As the partial index of holds is written, so that the planner uses it.
ON_HOLD = S.legal_hold == true()


def holds_page(offset: int, limit: int) -> Select[tuple[InterviewSession]]:
    """A page of the sessions on legal hold, by the partial index of holds."""
    return (
        select(S)
        .where(ON_HOLD)
        .order_by(S.created_at, S.id)
        .offset(offset)
        .limit(limit)
    )


def list_holds(
    db: Session, *, offset: int = 0, limit: int = 50
) -> tuple[list[Held], int]:
    """One page of the sessions on legal hold, oldest session first, and how many.

    `since` and `by` come from the latest SET event; a hold set before events
    were recorded (or straight in the database) has neither.
    """
    total = db.scalar(select(func.count()).select_from(S).where(ON_HOLD)) or 0
    sessions = db.scalars(holds_page(offset, limit)).all()
    E = LegalHoldEvent
    latest: dict[str, LegalHoldEvent] = {}
    if sessions:
        events = db.scalars(
            select(E)
            .where(E.session_id.in_([s.id for s in sessions]), E.action == "SET")
            .order_by(E.at, E.id)
        )
        # Oldest first, so each session keeps its latest SET.
        latest = {event.session_id: event for event in events}
    held = []
    for session in sessions:
        event = latest.get(session.id)
        held.append(
            Held(session, event.at if event else None, event.actor if event else None)
        )
    return held, total


def list_tombstones(
    db: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    reason: str | None = None,
    user_id: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[DeletionLogEntry], int]:
    """One page of the deletion log, newest first, and how many entries match."""
    T = DeletionLogEntry
    query = select(T)
    if since is not None:
        query = query.where(T.purged_at >= since)
    if until is not None:
        query = query.where(T.purged_at < until)
    if reason is not None:
        query = query.where(T.reason == reason)
    if user_id is not None:
        query = query.where(T.user_id == user_id)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = db.scalars(
        query.order_by(T.purged_at.desc(), T.id.desc()).offset(offset).limit(limit)
    ).all()
    return list(page), total


def list_notices(
    db: Session, *, status: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[DeletionNotice], int]:
    """One page of notices, oldest first, and how many match; FAILED are the dead
    letters."""
    query = select(N)
    if status is not None:
        query = query.where(N.status == status)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = db.scalars(query.order_by(N.id).offset(offset).limit(limit)).all()
    return list(page), total


def retry_notice(db: Session, notice_id: int, *, now: datetime) -> DeletionNotice:
    """Put a dead-lettered notice back in the queue: PENDING, attempts from zero.

    Only a FAILED notice can be retried (409 otherwise). The next notices run
    re-checks the rule as for any notice: a session no longer covered, or covered
    in a newer cycle, gets no notice from it.
    """
    notice = db.scalar(select(N).where(N.id == notice_id).with_for_update())
    if notice is None:
        raise NotFound(NOTICE_NOT_FOUND)
    if notice.status != "FAILED":
        raise Conflict(
            f"Only a FAILED notice can be retried; this one is {notice.status}"
        )

    notice.status = "PENDING"
    notice.attempts = 0
    notice.next_attempt_at = now
    notice.last_error = None
    return notice


@dataclass
class Backlog:
    soft_deleted: int
    scheduled_by_retention: int
    due_now: int
    overdue: int
    oldest_overdue_seconds: float | None
    notices_pending: int
    notices_failed: int
    legal_holds: int

    def as_dict(self) -> dict[str, Any]:
        """The counts with camelCase keys, as the API and `backlog --json` show them."""
        return {to_camel(name): value for name, value in self.__dict__.items()}


def backlog(db: Session, *, now: datetime, overdue_after: timedelta) -> Backlog:
    """Counts that tell whether the jobs keep up.

    Overdue: due for longer than `overdue_after` (OVERDUE_AFTER_MINUTES).
    """
    waiting = S.permanent_delete_at > now
    due = repository.is_due(now)
    overdue_cut = now - overdue_after
    row = db.execute(
        select(
            func.count().filter(
                S.status == "DELETED", waiting, S.legal_hold == false()
            ),
            func.count().filter(
                S.status != "DELETED",
                S.deletion_reason == "RETENTION",
                waiting,
                S.legal_hold == false(),
            ),
            func.count().filter(due),
            func.count().filter(due, S.permanent_delete_at < overdue_cut),
            func.min(S.permanent_delete_at).filter(
                due, S.permanent_delete_at < overdue_cut
            ),
            func.count().filter(S.legal_hold == True),  # noqa: E712
        )
    ).one()
    notices = dict(
        db.execute(
            select(N.status, func.count())
            .where(N.status.in_(("PENDING", "RETRY", "SENDING", "FAILED")))
            .group_by(N.status)
        ).all()
    )
    oldest = row[4]
    return Backlog(
        soft_deleted=row[0],
        scheduled_by_retention=row[1],
        due_now=row[2],
        overdue=row[3],
        oldest_overdue_seconds=None
        if oldest is None
        else (now - oldest).total_seconds(),
        notices_pending=sum(notices.get(s, 0) for s in CLAIMABLE),
        notices_failed=notices.get("FAILED", 0),
        legal_holds=row[5],
    )
