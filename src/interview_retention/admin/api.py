"""Admin endpoints: trigger and follow jobs, dry-run plans, legal holds, backlog,
deletion log."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import RootModel, ValidationError

from interview_retention.admin.schemas import (
    HeldSessionOut,
    HoldHistory,
    HoldRequest,
    JobRunOut,
    NoticeOut,
    PlanOut,
    TombstoneOut,
    TriggerOptions,
)
from interview_retention.api.body import json_body, read_json, schema_of
from interview_retention.api.deps import (
    AppSettings,
    CurrentAdmin,
    DbSession,
    Now,
    SessionId,
)
from interview_retention.api.envelope import Envelope, error_responses, ok
from interview_retention.clock import UTCInstant
from interview_retention.deletion import plans
from interview_retention.deletion import service as deletion
from interview_retention.deletion.models import JobRun
from interview_retention.errors import Invalid, NotFound
from interview_retention.sessions import repository
from interview_retention.sessions.models import InterviewSession
from interview_retention.sessions.schemas import Page, SessionOut

router = APIRouter(
    prefix="/api/admin",
    tags=["admin"],
    responses=error_responses(401, 403, 422, 429, 500),
)
log = structlog.get_logger(__name__)

Job = Literal["retention", "notices", "purge"]
HoldBody = Annotated[HoldRequest, Depends(json_body(HoldRequest))]
# Run ids are UUIDs; the column allows 64 characters.
MAX_TASK_ID = 64
TRIGGER_OPTIONS = ("dryRun", "batchSize", "limit", "planId")


class _Object(RootModel[dict[str, Any]]):
    """Any JSON object, read as the body reader reads every body."""


async def trigger_options(request: Request) -> TriggerOptions:
    """A trigger's options from its JSON body or its query string, not both.

    An option the trigger does not know is refused, never ignored: a misspelt
    `dryRun` must not turn into a real run.
    """
    query = request.query_params
    raw = await request.body()
    if raw.strip() and query:
        raise Invalid("Send the options in the JSON body or in the query, not both")
    if raw.strip():
        payload: dict[str, Any] = (await read_json(request, _Object)).root
    else:
        repeated = sorted({k for k in query if len(query.getlist(k)) > 1})
        if repeated:
            raise Invalid(f"Option given more than once: {', '.join(repeated)}")
        payload = dict(query)
    return _options_of(payload)


def _options_of(payload: dict[str, Any]) -> TriggerOptions:
    unknown = sorted(set(payload) - set(TRIGGER_OPTIONS))
    if unknown:
        raise Invalid(
            f"Unknown option: {', '.join(unknown)}; a trigger takes "
            + ", ".join(TRIGGER_OPTIONS)
        )
    try:
        return TriggerOptions.model_validate(payload)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc


Options = Annotated[TriggerOptions, Depends(trigger_options)]


def _envelope(data: Any, code: int, message: str = "success") -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "data": data}, status_code=code
    )


@router.post(
    "/jobs/{job}",
    status_code=202,
    response_model=Envelope[JobRunOut],
    responses={
        **error_responses(404, 409),
        200: {"model": Envelope[PlanOut], "description": "dryRun: the plan"},
    },
    # The options may also come in the query string, so the body is optional.
    openapi_extra={
        "requestBody": {**schema_of(TriggerOptions)["requestBody"], "required": False}
    },
    summary="Queue a run of a job (202), make a dry-run plan (200) or run a plan",
)
def trigger_job(
    job: Job,
    db: DbSession,
    admin: CurrentAdmin,
    options: Options,
    now: Now,
    settings: AppSettings,
) -> JSONResponse:
    """`dryRun`: the plan of what the job would do now; nothing else changes.
    `planId`: run that plan's set only, refused (409, with the drift) if the set
    the job would act on now differs from it. Otherwise a run of everything due.
    `batchSize` and `limit` shape the run."""
    if options.dry_run:
        plan = plans.preview(
            db,
            job,
            now=now,
            settings=settings,
            limit=options.limit,
            batch_size=options.batch_size,
            created_by=admin.id,
        )
        out = PlanOut.of(plan, now=now, settings=settings)
        log.info(f"{job}.dry_run", plan_id=plan.id, count=plan.item_count)
        return _envelope(out.model_dump(by_alias=True, mode="json"), 200)

    # Imported here so that the API process builds the Celery app only when an
    # admin first triggers a job.
    from interview_retention.worker.tasks import queue_run

    run_id = str(uuid.uuid4())
    if options.plan_id is not None:
        try:
            plans.claim(
                db,
                options.plan_id,
                job=job,
                now=now,
                settings=settings,
                run_id=run_id,
            )
        except plans.PlanRefused as refused:
            db.rollback()
            return _envelope(refused.data, 409, refused.message)
    run = queue_run(
        db,
        job=job,
        requested_by=admin.id,
        now=now,
        params=options.as_params(),
        run_id=run_id,
    )
    return _envelope(JobRunOut.of(run).model_dump(by_alias=True, mode="json"), 202)


@router.get(
    "/plans/{planId}",
    response_model=Envelope[PlanOut],
    responses=error_responses(404),
    summary="A dry-run plan: its state, count, digest and one page of its ids",
)
def get_plan(
    plan_id: Annotated[str, Path(alias="planId")],
    db: DbSession,
    admin: CurrentAdmin,
    now: Now,
    settings: AppSettings,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=10_000)] = 1000,
    check: Annotated[bool, Query(description="Also compute the drift now")] = False,
) -> dict:
    plan = plans.get_plan(db, plan_id)
    drift = None
    if check:
        drift = plans.check(db, plan, now=now, settings=settings).as_dict()
    return ok(
        PlanOut.of(
            plan,
            now=now,
            settings=settings,
            page=page,
            page_size=page_size,
            drift=drift,
        )
    )


@router.get(
    "/tasks/{taskId}",
    response_model=Envelope[JobRunOut],
    responses=error_responses(404),
    summary="A job run's state, parameters, progress and result",
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


async def lift_reason(request: Request) -> HoldRequest:
    """Why a hold is lifted: `{"reason": ...}` in the body, or `?reason=`."""
    if (await request.body()).strip():
        return await read_json(request, HoldRequest)
    try:
        return HoldRequest.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc


LiftBody = Annotated[HoldRequest, Depends(lift_reason)]


def _actor(admin: Any) -> str:
    return f"admin:{admin.id}"


@router.put(
    "/sessions/{sessionId}/legal-hold",
    response_model=Envelope[SessionOut],
    openapi_extra=schema_of(HoldRequest),
    responses=error_responses(404, 413, 415),
    summary="Put a session on legal hold; the reason is recorded",
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
        db,
        session_id=session_id,
        reason=body.reason,
        actor=_actor(admin),
        now=now,
        settings=settings,
    )
    return ok(SessionOut.of(session))


@router.delete(
    "/sessions/{sessionId}/legal-hold",
    response_model=Envelope[SessionOut],
    openapi_extra=schema_of(HoldRequest),
    responses=error_responses(404, 413, 415),
    summary="Lift a legal hold; the reason (body or ?reason=) is recorded",
)
def lift_hold(
    session_id: SessionId,
    db: DbSession,
    admin: CurrentAdmin,
    body: LiftBody,
    now: Now,
    settings: AppSettings,
) -> dict:
    session = deletion.lift_legal_hold(
        db,
        session_id=session_id,
        reason=body.reason,
        actor=_actor(admin),
        now=now,
        settings=settings,
    )
    return ok(SessionOut.of(session))


@router.get(
    "/sessions/{sessionId}/legal-hold",
    response_model=Envelope[HoldHistory],
    responses=error_responses(404),
    summary="A session's legal hold now, and every hold set or lifted on it",
)
def hold_history(session_id: SessionId, db: DbSession, admin: CurrentAdmin) -> dict:
    events = deletion.hold_history(db, session_id)
    session = (
        db.get(InterviewSession, session_id)
        if repository.could_exist(session_id)
        else None
    )
    if session is None and not events:
        raise NotFound("Session not found")
    return ok(HoldHistory.of(session_id, session, events))


@router.get(
    "/legal-holds",
    response_model=Envelope[Page[HeldSessionOut]],
    summary="The sessions on legal hold, oldest first, with who set each hold and when",
)
def list_holds(
    db: DbSession,
    admin: CurrentAdmin,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=200)] = 50,
) -> dict:
    held, total = deletion.list_holds(
        db, offset=(page - 1) * page_size, limit=page_size
    )
    return ok(
        Page[HeldSessionOut](
            items=[HeldSessionOut.of(h) for h in held],
            total=total,
            page=page,
            page_size=page_size,
        )
    )


@router.get(
    "/deletion-log", response_model=Envelope[Page[TombstoneOut]], summary="Tombstones"
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
        Page[TombstoneOut](
            items=[TombstoneOut.of(r) for r in rows],
            total=total,
            page=page,
            page_size=page_size,
        )
    )


# --- Notices: the dead letters and what to do with them ---

NoticeStatus = Literal["PENDING", "RETRY", "SENDING", "SENT", "FAILED", "CANCELLED"]
# Notice ids are PostgreSQL bigints; a larger number names no notice.
MAX_NOTICE_ID = 2**63 - 1


@router.get(
    "/notices",
    response_model=Envelope[Page[NoticeOut]],
    summary="Notices by state, oldest first; FAILED are the dead letters",
)
def list_notices(
    db: DbSession,
    admin: CurrentAdmin,
    status: Annotated[NoticeStatus | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=200)] = 50,
) -> dict:
    rows, total = deletion.list_notices(
        db, status=status, offset=(page - 1) * page_size, limit=page_size
    )
    return ok(
        Page[NoticeOut](
            items=[NoticeOut.of(n) for n in rows],
            total=total,
            page=page,
            page_size=page_size,
        )
    )


@router.post(
    "/notices/{noticeId}/retry",
    response_model=Envelope[NoticeOut],
    responses=error_responses(404, 409),
    summary="Send a dead-lettered (FAILED) notice again, from its first attempt",
)
def retry_notice(
    notice_id: Annotated[int, Path(alias="noticeId", ge=1, le=MAX_NOTICE_ID)],
    db: DbSession,
    admin: CurrentAdmin,
    now: Now,
) -> dict:
    notice = deletion.retry_notice(db, notice_id, now=now)
    log.info(
        "notice.retry_requested",
        notice_id=notice.id,
        session_id=notice.session_id,
        admin_id=admin.id,
    )
    return ok(NoticeOut.of(notice))


# --- Retention status (the operator's one look at whether retention keeps up) ---


@router.get(
    "/retention/status",
    summary="Backlog, overdue age, notices, holds and every job's heartbeat",
)
def get_retention_status(
    request: Request,
    db: DbSession,
    admin: CurrentAdmin,
    now: Now,
    settings: AppSettings,
) -> dict:
    from interview_retention.deletion.health import retention_status

    # A job that has never run counts as silent once this API process has been
    # up longer than the job's silence limit (see `heartbeats.job_health`).
    status = retention_status(
        db,
        now=now,
        settings=settings,
        watching_since=getattr(request.app.state, "started_at", None),
    )
    return ok(status.as_dict())
