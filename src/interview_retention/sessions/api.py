"""The sessions endpoints of the contract, owner-scoped and enveloped."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from interview_retention.api.body import json_body, schema_of
from interview_retention.api.deps import (
    AppSettings,
    Cache,
    CurrentUser,
    DbSession,
    Now,
    SessionId,
    refuse_when_limited,
)
from interview_retention.api.envelope import Envelope, error_responses, ok
from interview_retention.clock import UTCInstant
from interview_retention.deletion import service as deletion
from interview_retention.errors import SESSION_NOT_FOUND, NotFound
from interview_retention.sessions import export, links, repository
from interview_retention.sessions import service as sessions
from interview_retention.sessions.models import InterviewSession, Report
from interview_retention.sessions.schemas import (
    BulkDeleteItem,
    BulkDeleteOut,
    BulkDeleteRequest,
    Page,
    ReportOut,
    SessionCreate,
    SessionDetail,
    SessionListItem,
    SessionOut,
    SessionUpdate,
    Status,
)

log = structlog.get_logger(__name__)

router = APIRouter(
    prefix="/api/interview/sessions",
    tags=["sessions"],
    responses=error_responses(401, 422, 429, 500),
)

CreateBody = Annotated[SessionCreate, Depends(json_body(SessionCreate))]
UpdateBody = Annotated[SessionUpdate, Depends(json_body(SessionUpdate))]
BulkDeleteBody = Annotated[BulkDeleteRequest, Depends(json_body(BulkDeleteRequest))]


def _owned(
    db: DbSession,
    user: CurrentUser,
    session_id: str,
    now: Now,
    *,
    lock: bool = False,
    with_children: bool = False,
) -> InterviewSession:
    session = repository.get_owned(
        db,
        user_id=user.id,
        session_id=session_id,
        now=now,
        lock=lock,
        with_children=with_children,
    )
    if session is None:
        raise NotFound(SESSION_NOT_FOUND)
    return session


@router.post(
    "",
    response_model=Envelope[SessionDetail],
    openapi_extra=schema_of(SessionCreate),
    responses=error_responses(404, 413, 415),
    summary="Create a session",
)
def create_session(
    db: DbSession, user: CurrentUser, body: CreateBody, now: Now
) -> dict:
    session = sessions.create_session(
        db,
        user_id=user.id,
        resume_id=body.resume_id,
        question_count=body.question_count,
        config=body.config,
        now=now,
    )
    loaded = _owned(db, user, session.id, now, with_children=True)
    return ok(SessionDetail.of_loaded(loaded))


@router.get(
    "", response_model=Envelope[Page[SessionListItem]], summary="List own sessions"
)
def list_sessions(
    db: DbSession,
    user: CurrentUser,
    now: Now,
    status: Annotated[list[Status] | None, Query()] = None,
    created_before: Annotated[UTCInstant | None, Query(alias="createdBefore")] = None,
    created_after: Annotated[UTCInstant | None, Query(alias="createdAfter")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100)] = 20,
) -> dict:
    items, total = repository.list_owned(
        db,
        user_id=user.id,
        now=now,
        statuses=status or (),
        created_before=created_before,
        created_after=created_after,
        offset=(page - 1) * page_size,
        limit=page_size,
    )
    scores = repository.overall_scores(db, [s.id for s in items])
    return ok(
        Page[SessionListItem](
            items=[SessionListItem.listed(s, scores.get(s.id)) for s in items],
            total=total,
            page=page,
            page_size=page_size,
        )
    )


@router.get(
    "/{sessionId}",
    response_model=Envelope[SessionDetail],
    responses=error_responses(404),
    summary="Get one session",
)
def get_session(
    session_id: SessionId, db: DbSession, user: CurrentUser, now: Now
) -> dict:
    session = _owned(db, user, session_id, now, with_children=True)
    return ok(SessionDetail.of_loaded(session))


@router.patch(
    "/{sessionId}",
    response_model=Envelope[SessionOut],
    openapi_extra=schema_of(SessionUpdate),
    responses=error_responses(404, 409, 413, 415),
    summary="Change status; {'status': 'DELETED'} is the soft delete",
)
def update_session(
    session_id: SessionId,
    db: DbSession,
    user: CurrentUser,
    body: UpdateBody,
    now: Now,
    settings: AppSettings,
) -> dict:
    session = _owned(db, user, session_id, now, lock=True)
    sessions.change_status(session, body.status, now=now, settings=settings)
    return ok(SessionOut.of(session))


@router.post(
    "/{sessionId}/restore",
    response_model=Envelope[SessionOut],
    responses=error_responses(404, 409),
    summary="Restore a soft-deleted session inside its recovery window",
)
def restore_session(
    session_id: SessionId,
    db: DbSession,
    user: CurrentUser,
    now: Now,
    settings: AppSettings,
) -> dict:
    session = _owned(db, user, session_id, now, lock=True)
    sessions.restore(session, now=now, settings=settings)
    return ok(SessionOut.of(session))


@router.delete(
    "/{sessionId}",
    response_model=Envelope[None],
    responses=error_responses(404, 409),
    summary="Delete a session and everything under it, now and for good",
)
def delete_session(
    session_id: SessionId,
    db: DbSession,
    user: CurrentUser,
    now: Now,
    cache: Cache,
) -> dict:
    deletion.hard_delete(
        db, user_id=user.id, session_id=session_id, now=now, cache=cache
    )
    return ok(None)


@router.post(
    "/bulk-delete",
    response_model=Envelope[BulkDeleteOut],
    openapi_extra=schema_of(BulkDeleteRequest),
    summary="Delete many of your sessions for good: a result per id, and the counts",
)
def bulk_delete_sessions(
    db: DbSession, user: CurrentUser, body: BulkDeleteBody, now: Now, cache: Cache
) -> dict:
    """Each id as `DELETE /{sessionId}` would: `deleted`, `not_found` (the 404,
    which the seed page counts as a success) or `failed` with its reason. One
    failure does not undo the others."""
    outcome = sessions.bulk_hard_delete(
        db, user_id=user.id, session_ids=body.ids, now=now, cache=cache
    )
    deleted = outcome.count("deleted")
    not_found = outcome.count("not_found")
    return ok(
        BulkDeleteOut(
            requested=len(outcome.results),
            deleted=deleted,
            not_found=not_found,
            failed=outcome.count("failed"),
            succeeded=deleted + not_found,
            results=[
                BulkDeleteItem(session_id=sid, result=result, reason=reason)
                for sid, result, reason in outcome.results
            ],
        )
    )


@router.get(
    "/{sessionId}/report",
    response_model=Envelope[ReportOut],
    responses=error_responses(404),
    summary="The generated report",
)
def get_report(
    session_id: SessionId,
    db: DbSession,
    user: CurrentUser,
    now: Now,
    cache: Cache,
) -> dict:
    # The session is checked in the database first, every time: a cached report is
    # never served for a session that is gone or past its deadline.
    session = _owned(db, user, session_id, now)
    cached = cache.get(session.id)
    if cached is not None:
        return ok(cached)

    report = db.scalar(select(Report).where(Report.session_id == session.id))
    if report is None:
        raise NotFound("Report not found")
    payload = ReportOut(
        session_id=session.id, generated_at=report.generated_at, content=report.content
    ).model_dump(by_alias=True, mode="json")
    cache.put(session.id, payload)
    return ok(payload)


class PDFResponse(Response):
    media_type = "application/pdf"


PDF_DOCUMENTED: dict[int | str, dict] = {
    200: {
        "description": "The report as a PDF file, sent as an attachment",
        "content": {"application/pdf": {"schema": {"type": "string"}}},
    }
}


def _pdf(
    db: Session, session: InterviewSession, now: datetime, *, via: str
) -> Response:
    """The PDF of a session loaded with its children, as a download.

    Read from the database, not the report cache: the PDF needs the questions,
    answers and evaluation, which are not cached, and all of them are read in
    the same transaction as the report, so the document is one consistent view.
    """
    report = db.scalar(select(Report).where(Report.session_id == session.id))
    content = export.render(
        session, evaluation=session.evaluation, report=report, now=now
    )
    log.info("report.exported", session_id=session.id, via=via, size=len(content))
    return PDFResponse(
        content,
        headers={
            "Content-Disposition": (
                f'attachment; filename="{export.filename(session)}"'
            ),
            # Personal data, and for a link a credential in the URL: no shared
            # cache may keep a copy.
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/{sessionId}/report/export",
    response_class=Response,
    responses={**PDF_DOCUMENTED, **error_responses(404)},
    summary="The session and its report as a PDF download",
)
def export_report(
    session_id: SessionId, db: DbSession, user: CurrentUser, now: Now
) -> Response:
    """Whenever the session is visible to its owner, its grace period included;
    a part that is missing (no questions, evaluation or report) is said so in
    the document, so that a user can export any session before deleting it."""
    session = _owned(db, user, session_id, now, with_children=True)
    return _pdf(db, session, now, via="api")


LINK_NOT_FOUND = (
    "This export link does not work: it may have expired, or its session may be"
    " gone. Sign in to export the report."
)
# Tokens this service makes are about 130 characters; a longer string is no link.
_MAX_TOKEN_LENGTH = 512

exports = APIRouter(
    prefix=links.EXPORT_PATH.rstrip("/"),
    tags=["sessions"],
    responses=error_responses(404, 422, 429, 500),
)


@exports.get(
    "/{token}",
    response_class=Response,
    responses=PDF_DOCUMENTED,
    summary="A report as a PDF through the signed link a notice carries (no token)",
)
def export_by_link(
    token: Annotated[str, Path()],
    request: Request,
    db: DbSession,
    now: Now,
    settings: AppSettings,
) -> Response:
    """The link is its own credential. A forged, altered, expired or malformed
    link counts as a failed authentication of the caller's address, like a bad
    bearer token, and every refusal reads the same, so that a caller learns
    nothing about which check failed. The token is never logged."""
    limit, address = refuse_when_limited(request)

    grant = (
        links.read_export_token(token, settings)
        if len(token) <= _MAX_TOKEN_LENGTH
        else None
    )
    if grant is None:
        log.info("export_link.rejected", reason="signature")
        limit.failed(address)
        raise NotFound(LINK_NOT_FOUND)

    session = repository.get_owned(
        db,
        user_id=grant.user_id,
        session_id=grant.session_id,
        now=now,
        with_children=True,
    )
    if session is None:
        log.info("export_link.rejected", reason="gone", session_id=grant.session_id)
        raise NotFound(LINK_NOT_FOUND)
    return _pdf(db, session, now, via="link")
