"""Admin endpoints: trigger and follow jobs, legal holds, backlog, deletion log."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from interview_retention.admin.schemas import (
    HoldRequest,
    JobRunOut,
    TombstoneOut,
    TombstonePage,
)
from interview_retention.api.body import json_body, schema_of
from interview_retention.api.deps import (
    AppSettings,
    CurrentAdmin,
    DbSession,
    Now,
    SessionId,
)
from interview_retention.api.envelope import Envelope, error_responses, ok
from interview_retention.clock import UTCInstant
from interview_retention.deletion import service as deletion
from interview_retention.deletion.models import JobRun
from interview_retention.errors import Invalid, NotFound
from interview_retention.sessions.schemas import SessionOut

router = APIRouter(
    prefix="/api/admin",
    tags=["admin"],
    responses=error_responses(401, 403, 422, 429, 500),
)

Job = Literal["retention", "notices", "purge"]
HoldBody = Annotated[HoldRequest, Depends(json_body(HoldRequest))]
# Run ids are UUIDs; the column allows 64 characters.
MAX_TASK_ID = 64


@router.post(
    "/jobs/{job}",
    status_code=202,
    response_model=Envelope[JobRunOut],
    summary="Queue a run of a job now; follow it at /api/admin/tasks/{taskId}",
)
def trigger_job(
    job: Job, request: Request, db: DbSession, admin: CurrentAdmin, now: Now
) -> JSONResponse:
    # A trigger takes no options yet. An option it does not know, `dryRun` above
    # all, must not be ignored: the caller would get a real run instead.
    if request.query_params:
        names = ", ".join(sorted(request.query_params))
        raise Invalid(f"Unknown parameter: {names}; this trigger takes none")
    # Imported here so that the API process builds the Celery app only when an
    # admin first triggers a job.
    from interview_retention.worker.tasks import queue_run

    run = queue_run(db, job=job, requested_by=admin.id, now=now)
    body = ok(JobRunOut.of(run).model_dump(by_alias=True, mode="json"))
    return JSONResponse({**body, "code": 202}, status_code=202)


@router.get(
    "/tasks/{taskId}",
    response_model=Envelope[JobRunOut],
    responses=error_responses(404),
    summary="A job run's state",
)
def get_task(
    task_id: Annotated[str, Path(alias="taskId")], db: DbSession, admin: CurrentAdmin
) -> dict:
    # PostgreSQL refuses a NUL character in a text parameter; no run id has one,
    # nor is longer than its column, so neither needs a query.
    if len(task_id) > MAX_TASK_ID or "\x00" in task_id:
        raise NotFound("Task not found")
    run = db.get(JobRun, task_id)
    if run is None:
        raise NotFound("Task not found")
    return ok(JobRunOut.of(run))


@router.get("/retention/backlog", summary="What is waiting, due and overdue")
def get_backlog(
    db: DbSession, admin: CurrentAdmin, now: Now, settings: AppSettings
) -> dict:
    counts = deletion.backlog(db, now=now, overdue_after=settings.overdue_after)
    return ok(counts.as_dict())


@router.put(
    "/sessions/{sessionId}/legal-hold",
    response_model=Envelope[SessionOut],
    openapi_extra=schema_of(HoldRequest),
    responses=error_responses(404, 413, 415),
    summary="Put a session on legal hold",
)
def set_hold(
    session_id: SessionId,
    db: DbSession,
    admin: CurrentAdmin,
    body: HoldBody,
    now: Now,
    settings: AppSettings,
) -> dict:
    session = deletion.set_legal_hold(
        db, session_id=session_id, reason=body.reason, now=now, settings=settings
    )
    return ok(SessionOut.of(session))


@router.delete(
    "/sessions/{sessionId}/legal-hold",
    response_model=Envelope[SessionOut],
    summary="Lift a legal hold",
    responses=error_responses(404),
)
def lift_hold(
    session_id: SessionId,
    db: DbSession,
    admin: CurrentAdmin,
    now: Now,
    settings: AppSettings,
) -> dict:
    session = deletion.lift_legal_hold(
        db, session_id=session_id, now=now, settings=settings
    )
    return ok(SessionOut.of(session))


@router.get(
    "/deletion-log", response_model=Envelope[TombstonePage], summary="Tombstones"
)
def deletion_log(
    db: DbSession,
    admin: CurrentAdmin,
    since: Annotated[UTCInstant | None, Query()] = None,
    until: Annotated[UTCInstant | None, Query()] = None,
    reason: Annotated[Literal["USER", "RETENTION", "ADMIN"] | None, Query()] = None,
    user_id: Annotated[
        str | None, Query(alias="userId", max_length=36, pattern=r"^[^\x00]*$")
    ] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=200)] = 50,
) -> dict:
    rows, total = deletion.list_tombstones(
        db,
        since=since,
        until=until,
        reason=reason,
        user_id=user_id,
        offset=(page - 1) * page_size,
        limit=page_size,
    )
    return ok(
        TombstonePage(
            items=[TombstoneOut.of(r) for r in rows],
            total=total,
            page=page,
            page_size=page_size,
        )
    )
