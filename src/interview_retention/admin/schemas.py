"""What the admin API accepts and returns."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, Field

from interview_retention.deletion.models import DeletionLogEntry, JobRun
from interview_retention.sessions.schemas import REQUEST, CamelModel


class HoldRequest(CamelModel):
    model_config = REQUEST

    reason: str = Field(min_length=3, max_length=500)


class JobRunOut(CamelModel):
    task_id: str
    job: str
    status: str
    trigger: str
    queued_at: AwareDatetime
    started_at: AwareDatetime | None
    finished_at: AwareDatetime | None
    result: dict[str, Any]
    error: str | None

    @classmethod
    def of(cls, run: JobRun) -> JobRunOut:
        return cls(
            task_id=run.id,
            job=run.job,
            status=run.status,
            trigger=run.trigger,
            queued_at=run.queued_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            result=run.result or {},
            error=run.error,
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


class TombstonePage(CamelModel):
    items: list[TombstoneOut]
    total: int
    page: int
    page_size: int
