"""What the admin API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, Field, model_validator

from interview_retention.config import Settings
from interview_retention.deletion import plans
from interview_retention.deletion.models import (
    DeletionLogEntry,
    DeletionNotice,
    DeletionPlan,
    JobRun,
    LegalHoldEvent,
)
from interview_retention.deletion.service import Held
from interview_retention.sessions.models import InterviewSession
from interview_retention.sessions.schemas import REQUEST, CamelModel

# The largest batch a trigger may ask for, as PURGE_BATCH_SIZE allows.
MAX_BATCH_SIZE = 10_000


class HoldRequest(CamelModel):
    model_config = REQUEST

    reason: str = Field(min_length=3, max_length=500)


class TriggerOptions(CamelModel):
    """What a trigger may ask for, in the JSON body or the query string.

    `dryRun` makes a plan and acts on nothing; `planId` runs a plan made before;
    `batchSize` and `limit` shape a run (a dry run's `limit` caps its plan).
    """

    model_config = REQUEST

    dry_run: bool = False
    batch_size: int | None = Field(None, ge=1, le=MAX_BATCH_SIZE)
    limit: int | None = Field(None, ge=1, le=1_000_000_000)
    plan_id: str | None = Field(None, min_length=1, max_length=plans.MAX_PLAN_ID)

    @model_validator(mode="after")
    def _one_purpose(self) -> TriggerOptions:
        if self.plan_id is not None and self.dry_run:
            raise ValueError("dryRun makes a plan and planId runs one: send one")
        if self.plan_id is not None and self.limit is not None:
            raise ValueError(
                "a plan's set is fixed when it is made: send limit with dryRun"
            )
        return self

    def as_params(self) -> dict[str, Any]:
        """The options a run records and its body reads (camelCase, unset left out)."""
        return self.model_dump(by_alias=True, exclude_defaults=True)


class JobRunOut(CamelModel):
    task_id: str
    job: str
    status: str
    trigger: str
    requested_by: str | None
    queued_at: AwareDatetime
    started_at: AwareDatetime | None
    finished_at: AwareDatetime | None
    # What the trigger asked (batchSize, limit, planId), and how far the run got
    # (processed, deleted, failed, remaining), updated after every batch.
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any]
    error: str | None

    @classmethod
    def of(cls, run: JobRun) -> JobRunOut:
        return cls(
            task_id=run.id,
            job=run.job,
            status=run.status,
            trigger=run.trigger,
            requested_by=run.requested_by,
            queued_at=run.queued_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            params=run.params or {},
            progress=run.progress or {},
            result=run.result or {},
            error=run.error,
        )


class PlanOut(CamelModel):
    """A dry run's plan. `sessionIds` is one page of the plan's ids, in the order
    the job would take them; `count` is all of them."""

    plan_id: str
    job: str
    state: Literal["READY", "STALE", "EXECUTED"]
    created_by: str | None
    created_at: AwareDatetime
    as_of: AwareDatetime
    expires_at: AwareDatetime
    params: dict[str, Any]
    count: int
    oldest_deadline: AwareDatetime | None
    digest: str
    truncated: bool
    executed_at: AwareDatetime | None
    executed_run_id: str | None
    session_ids: list[str]
    page: int
    page_size: int
    drift: dict[str, Any] | None = None

    @classmethod
    def of(
        cls,
        plan: DeletionPlan,
        *,
        now: datetime,
        settings: Settings,
        page: int = 1,
        page_size: int = 1000,
        drift: dict[str, Any] | None = None,
    ) -> PlanOut:
        start = (page - 1) * page_size
        return cls(
            plan_id=plan.id,
            job=plan.job,
            state=plans.state_of(plan, now=now, settings=settings),  # type: ignore[arg-type]
            created_by=plan.created_by,
            created_at=plan.created_at,
            as_of=plan.as_of,
            expires_at=plan.as_of + settings.plan_max_age,
            params=plan.params or {},
            count=plan.item_count,
            oldest_deadline=plan.oldest_deadline,
            digest=plan.digest,
            truncated=bool((plan.params or {}).get("truncated")),
            executed_at=plan.executed_at,
            executed_run_id=plan.executed_run_id,
            session_ids=plan.session_ids[start : start + page_size],
            page=page,
            page_size=page_size,
            drift=drift,
        )


class HoldEventOut(CamelModel):
    action: Literal["SET", "LIFT"]
    reason: str
    actor: str
    at: AwareDatetime


class HoldHistory(CamelModel):
    """A session's holds, set and lifted, oldest first. The record outlives the
    session: `legalHold` is null once the session is gone."""

    session_id: str
    legal_hold: bool | None
    legal_hold_reason: str | None
    events: list[HoldEventOut]

    @classmethod
    def of(
        cls,
        session_id: str,
        session: InterviewSession | None,
        events: list[LegalHoldEvent],
    ) -> HoldHistory:
        return cls(
            session_id=session_id,
            legal_hold=session.legal_hold if session else None,
            legal_hold_reason=session.legal_hold_reason if session else None,
            events=[HoldEventOut.model_validate(e) for e in events],
        )


class HeldSessionOut(CamelModel):
    """A session on legal hold: whose, in what state, why, since when, by whom."""

    session_id: str
    user_id: str
    status: str
    created_at: AwareDatetime
    reason: str | None
    held_since: AwareDatetime | None
    held_by: str | None

    @classmethod
    def of(cls, held: Held) -> HeldSessionOut:
        session = held.session
        return cls(
            session_id=session.id,
            user_id=session.user_id,
            status=session.status,
            created_at=session.created_at,
            reason=session.legal_hold_reason,
            held_since=held.since,
            held_by=held.by,
        )


class TombstoneOut(CamelModel):
    session_id: str
    user_id: str
    reason: str
    actor: str
    requested_at: AwareDatetime
    purged_at: AwareDatetime
    rows_removed: dict[str, int]
    cache_keys_evicted: int
    task_id: str | None

    @classmethod
    def of(cls, entry: DeletionLogEntry) -> TombstoneOut:
        return cls.model_validate(entry)


class NoticeOut(CamelModel):
    id: int
    session_id: str
    cycle: int
    status: str
    attempts: int
    next_attempt_at: AwareDatetime
    last_error: str | None
    created_at: AwareDatetime
    sent_at: AwareDatetime | None

    @classmethod
    def of(cls, notice: DeletionNotice) -> NoticeOut:
        return cls.model_validate(notice)
