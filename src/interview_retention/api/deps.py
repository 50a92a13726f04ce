"""Request dependencies: the transaction, the caller, the clock and the settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

import structlog
from fastapi import Depends, HTTPException, Path, Request, Security
from fastapi.security import HTTPBearer
from sqlalchemy.orm import Session

from interview_retention.api.auth_limit import AuthFailureLimit
from interview_retention.clock import utcnow
from interview_retention.config import Settings
from interview_retention.sessions.cache import ReportCache
from interview_retention.users.models import User
from interview_retention.users.service import token_expired, user_for_token

log = structlog.get_logger(__name__)


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    """One transaction per request: committed before the response is sent.

    Registered with scope="function" so the commit happens before FastAPI sends
    the response; a failed commit therefore answers 500, never a false success.
    """
    db = request.app.state.sessionmaker()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


def get_now() -> datetime:
    """The request's one instant, used by every query it makes."""
    return utcnow()


def get_cache(request: Request) -> ReportCache:
    return request.app.state.report_cache


DbSession = Annotated[Session, Depends(get_db, scope="function")]
Now = Annotated[datetime, Depends(get_now)]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]
Cache = Annotated[ReportCache, Depends(get_cache)]

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


# Declares the bearer scheme in the OpenAPI document, so /docs offers "Authorize";
# the header is parsed below, to answer with this service's own messages.
_bearer_scheme = HTTPBearer(auto_error=False, description="An API token: irt_...")


def refuse_when_limited(request: Request) -> tuple[AuthFailureLimit, str]:
    """429 if the caller's address has failed too often; else the limit and the
    address, to count a failure against."""
    limit: AuthFailureLimit = request.app.state.auth_limit
    address = request.client.host if request.client else "unknown"
    wait = limit.retry_after(address)
    if wait is not None:
        log.warning("auth.rate_limited", retry_after=wait)
        raise HTTPException(
            429,
            "Too many failed authentications from this address;"
            f" try again in {wait} seconds",
            {"Retry-After": str(wait)},
        )
    return limit, address


def current_user(
    request: Request,
    db: DbSession,
    now: Now,
    settings: AppSettings,
    _declared: Annotated[object, Security(_bearer_scheme)] = None,
) -> User:
    """The caller, from their bearer token; 401 without a valid one, 429 when
    their address has failed too often (and then the token is not even read)."""
    limit, address = refuse_when_limited(request)

    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        # Not an attempt at a token, so not counted: a client that forgot the
        # header is told so, however often.
        raise HTTPException(
            401, "Authentication required: send a bearer token", _CHALLENGE
        )
    if scheme.lower() != "bearer" or not token.strip():
        _reject(limit, address, "malformed")
        raise HTTPException(401, "Authorization must be 'Bearer <token>'", _CHALLENGE)
    user = user_for_token(db, token.strip())
    if user is None:
        _reject(limit, address, "unknown")
        raise HTTPException(401, "Invalid or revoked token", _CHALLENGE)
    if token_expired(user, now=now, ttl=settings.token_ttl):
        _reject(limit, address, "expired")
        raise HTTPException(401, "Token expired: ask for a new one", _CHALLENGE)
    return user


def _reject(limit: AuthFailureLimit, address: str, reason: str) -> None:
    # Neither the token nor its hash is logged: either would let a reader of the
    # logs try it.
    log.info("auth.rejected", reason=reason)
    limit.failed(address)


CurrentUser = Annotated[User, Depends(current_user)]
SessionId = Annotated[str, Path(alias="sessionId")]


def current_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise HTTPException(403, "This operation needs an admin token")
    return user


CurrentAdmin = Annotated[User, Depends(current_admin)]
