"""Dry runs as frozen plans, and the check that a plan still holds before it runs.

A plan is the exact set of sessions one job would act on at one instant, in the
order the job would take them:

- purge: the sessions due at `now` (deadline reached, not on hold) — exactly what
  `service.purge_batch` claims. Deadline: `permanentDeleteAt`.
- retention: the sessions the rule covers at `now` that have no notice in their
  current cycle — exactly what `service.queue_retention_notices` queues for.
  Deadline: the instant the rule first covered the session, `createdAt` plus
  RETENTION_DAYS.
- notices: the sessions whose notice `jobs.send_notice_batch` would send at
  `now` (sendable, due, its session still covered and in the notice's cycle);
  notices it would cancel instead are left out. Deadline: the notice's
  `nextAttemptAt`.

A plan lists at most PLAN_MAX_ITEMS sessions, fewer with a `limit`; a larger set
is cut in the job's order and the plan is marked `truncated`. Its digest is the
SHA-256 of its sorted ids, one per line.

Running a plan is refused when the set the job would act on now, computed the
same way with the same limit, differs from the plan's set (the drift: ids that
joined and ids that left), when the plan is older than PLAN_MAX_AGE_MINUTES, and
when it was run before: a plan runs once. A run that passes the check acts on the
plan's ids only, each batch still re-checking its rows under lock, so a session
that leaves the set after the check is skipped, never acted on.

Plans are kept: nothing deletes old ones yet, and each holds its ids (about 40
bytes each, up to PLAN_MAX_ITEMS), so a busy console grows `deletion_plans` by a
few megabytes per large dry run until someone prunes it by hand.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from interview_retention.config import Settings
from interview_retention.deletion import service
from interview_retention.deletion.models import CLAIMABLE, DeletionNotice, DeletionPlan
from interview_retention.errors import Conflict, Invalid, NotFound
from interview_retention.sessions import repository
from interview_retention.sessions.models import InterviewSession

S = InterviewSession
N = DeletionNotice

JOBS = ("retention", "notices", "purge")
# Ids listed on each side of a drift; the counts are always complete.
DRIFT_SHOWN = 100
PLAN_NOT_FOUND = "Plan not found"
# Plan ids are UUIDs.
MAX_PLAN_ID = 36


class PlanRefused(Conflict):
    """A plan that may not run (drifted, stale, run before), with the details."""

    def __init__(self, message: str, data: dict[str, Any]) -> None:
        super().__init__(message)
        self.data = data


def _candidate_query(job: str, now: datetime, settings: Settings) -> Select[Any]:
    """(session id, deadline) of what `job` would act on at `now`, in its order."""
    if job == "purge":
        return (
            select(S.id, S.permanent_delete_at)
            .where(repository.is_due(now))
            .order_by(S.permanent_delete_at, S.id)
        )
    if job == "retention":
        return (
            select(S.id, S.created_at)
            .where(service.retention_candidates(now, settings))
            .order_by(S.created_at, S.id)
        )
    if job == "notices":
        return (
            select(N.session_id, N.next_attempt_at)
            .join(S, S.id == N.session_id)
            .where(
                N.status.in_(CLAIMABLE),
                N.next_attempt_at <= now,
                N.cycle == S.notice_cycle,
                repository.covered_by_retention(
                    now,
                    retention_period=settings.retention_period,
                    statuses=settings.retention_statuses,
                ),
            )
            .order_by(N.next_attempt_at, N.id)
        )
    raise Invalid(f"Unknown job: {job}")


def candidates(
    db: Session, job: str, *, now: datetime, settings: Settings, limit: int
) -> list[tuple[str, datetime]]:
    """The first `limit` sessions `job` would act on at `now`, in the job's order,
    each with its deadline."""
    rows = db.execute(_candidate_query(job, now, settings).limit(limit)).all()
    if job == "retention":
        return [(sid, created + settings.retention_period) for sid, created in rows]
    return [(sid, at) for sid, at in rows]


def count_candidates(
    db: Session, job: str, *, now: datetime, settings: Settings
) -> int:
    """How many sessions `job` would act on at `now` (one count query)."""
    query = _candidate_query(job, now, settings).order_by(None).subquery()
    return db.scalar(select(func.count()).select_from(query)) or 0


def iso(at: datetime | None) -> str | None:
    """An instant as the API writes it: UTC with a Z."""
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def digest_of(ids: Iterable[str]) -> str:
    """SHA-256 of the sorted ids, one per line."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def preview(
    db: Session,
    job: str,
    *,
    now: datetime,
    settings: Settings,
    limit: int | None = None,
    batch_size: int | None = None,
    created_by: str | None = None,
) -> DeletionPlan:
    """Compute what `job` would act on at `now` and store it as a plan.

    Changes nothing else. The plan is added to `db`; the caller commits.
    """
    cap = min(limit or settings.plan_max_items, settings.plan_max_items)
    # One row more than the cap tells whether the set was cut.
    rows = candidates(db, job, now=now, settings=settings, limit=cap + 1)
    truncated = len(rows) > cap
    rows = rows[:cap]
    ids = [sid for sid, _ in rows]
    plan = DeletionPlan(
        id=str(uuid.uuid4()),
        job=job,
        created_by=created_by,
        created_at=now,
        as_of=now,
        params={"limit": cap, "batchSize": batch_size, "truncated": truncated},
        item_count=len(ids),
        oldest_deadline=min((at for _, at in rows), default=None),
        digest=digest_of(ids),
        session_ids=ids,
    )
    db.add(plan)
    db.flush()
    return plan


def summary(plan: DeletionPlan) -> dict[str, Any]:
    """A plan in a run's result: its id, count, oldest deadline and digest."""
    return {
        "plan_id": plan.id,
        "count": plan.item_count,
        "oldest_deadline": iso(plan.oldest_deadline),
        "digest": plan.digest,
        "truncated": bool(plan.params.get("truncated")),
    }


@dataclass
class Drift:
    """How the set a job would act on now differs from a plan's set."""

    plan: DeletionPlan
    checked_at: datetime
    current: list[str]
    added: list[str]
    removed: list[str]
    # Why each listed removed id left: gone, legal_hold or changed.
    why_removed: dict[str, str]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)

    def as_dict(self) -> dict[str, Any]:
        """camelCase, as the API and `--json` show it; id lists capped."""
        return {
            "planId": self.plan.id,
            "job": self.plan.job,
            "asOf": iso(self.plan.as_of),
            "checkedAt": iso(self.checked_at),
            "planned": self.plan.item_count,
            "current": len(self.current),
            "digest": self.plan.digest,
            "currentDigest": digest_of(self.current),
            "addedCount": len(self.added),
            "removedCount": len(self.removed),
            "added": self.added[:DRIFT_SHOWN],
            "removed": [
                {"sessionId": sid, "why": self.why_removed.get(sid, "changed")}
                for sid in self.removed[:DRIFT_SHOWN]
            ],
        }


def check(
    db: Session, plan: DeletionPlan, *, now: datetime, settings: Settings
) -> Drift:
    """Compare the set `plan.job` would act on at `now` (same limit) with the plan's.

    Added: sessions that joined (newly due, a hold lifted, a notice queued).
    Removed: sessions that left (restored, held, purged already, noticed).
    """
    limit = int(plan.params.get("limit") or settings.plan_max_items)
    rows = candidates(db, plan.job, now=now, settings=settings, limit=limit)
    current = [sid for sid, _ in rows]
    planned = set(plan.session_ids)
    now_set = set(current)
    added = [sid for sid in current if sid not in planned]
    removed = [sid for sid in plan.session_ids if sid not in now_set]
    return Drift(
        plan=plan,
        checked_at=now,
        current=current,
        added=added,
        removed=removed,
        why_removed=_why_removed(db, removed[:DRIFT_SHOWN]),
    )


def _why_removed(db: Session, ids: Sequence[str]) -> dict[str, str]:
    if not ids:
        return {}
    held = dict(db.execute(select(S.id, S.legal_hold).where(S.id.in_(ids))).all())
    return {
        sid: "gone" if sid not in held else "legal_hold" if held[sid] else "changed"
        for sid in ids
    }


def get_plan(db: Session, plan_id: str) -> DeletionPlan:
    if len(plan_id) > MAX_PLAN_ID or "\x00" in plan_id:
        raise NotFound(PLAN_NOT_FOUND)
    # As stored now, not as this session may have loaded it before.
    plan = db.get(DeletionPlan, plan_id, populate_existing=True)
    if plan is None:
        raise NotFound(PLAN_NOT_FOUND)
    return plan


def state_of(plan: DeletionPlan, *, now: datetime, settings: Settings) -> str:
    """EXECUTED, STALE (too old to run) or READY."""
    if plan.executed_at is not None:
        return "EXECUTED"
    if now - plan.as_of > settings.plan_max_age:
        return "STALE"
    return "READY"


def claim(
    db: Session,
    plan_id: str,
    *,
    job: str,
    now: datetime,
    settings: Settings,
    run_id: str,
) -> DeletionPlan:
    """Check that the plan may run now and mark it run by `run_id`, in `db`.

    Raises PlanRefused when it was run before, is stale, or its set drifted;
    nothing is marked then. Two claims at once: one wins, the other is refused.
    While DELETIONS_PAUSED is set it is refused too: the run would only report,
    and the plan, used up, could not run once deletions resume.
    """
    plan = get_plan(db, plan_id)
    if plan.job != job:
        raise Invalid(f"Plan {plan.id} is a {plan.job} plan, not a {job} plan")
    state = state_of(plan, now=now, settings=settings)
    if state == "EXECUTED":
        raise _already_run(plan)
    if settings.deletions_paused:
        raise PlanRefused(
            "Deletions are paused (DELETIONS_PAUSED); the plan is kept for when"
            " they resume",
            {"planId": plan.id, "deletionsPaused": True},
        )
    if state == "STALE":
        raise PlanRefused(
            f"Plan is stale: made at {iso(plan.as_of)}, and plans expire"
            f" after {settings.plan_max_age_minutes} minutes; make a new dry run",
            {
                "planId": plan.id,
                "asOf": iso(plan.as_of),
                "expiredAt": iso(plan.as_of + settings.plan_max_age),
            },
        )

    drift = check(db, plan, now=now, settings=settings)
    if drift:
        raise PlanRefused(
            f"The {job} set has drifted since the plan was made:"
            f" {len(drift.added)} added, {len(drift.removed)} removed;"
            " review a new dry run",
            drift.as_dict(),
        )

    # Conditional, so that of two claims racing past the checks above only one
    # marks the plan; the other finds it marked and is refused.
    marked = db.execute(
        update(DeletionPlan)
        .where(DeletionPlan.id == plan.id, DeletionPlan.executed_at.is_(None))
        .values(executed_at=now, executed_run_id=run_id)
        .execution_options(synchronize_session=False, preserve_rowcount=True)
    )
    if marked.rowcount != 1:
        db.refresh(plan)
        raise _already_run(plan)
    db.refresh(plan)
    return plan


def release(db: Session, plan_id: str, run_id: str) -> None:
    """Undo a claim whose run never started (the broker refused its message)."""
    db.execute(
        update(DeletionPlan)
        .where(DeletionPlan.id == plan_id, DeletionPlan.executed_run_id == run_id)
        .values(executed_at=None, executed_run_id=None)
        .execution_options(synchronize_session=False)
    )


def _already_run(plan: DeletionPlan) -> PlanRefused:
    return PlanRefused(
        f"Plan was already run (run {plan.executed_run_id}); a plan runs once",
        {
            "planId": plan.id,
            "executedAt": iso(plan.executed_at),
            "executedRunId": plan.executed_run_id,
        },
    )


def session_ids(db: Session, plan_id: str) -> list[str]:
    """A plan's ids in the job's order, for the run that acts on them."""
    return list(get_plan(db, plan_id).session_ids)
