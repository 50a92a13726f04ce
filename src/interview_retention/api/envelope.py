"""The response envelope every endpoint answers with, success or error."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interview_retention.clock import NEEDS_OFFSET
from interview_retention.errors import DomainError
from interview_retention.logs import redact_path

T = TypeVar("T")
log = structlog.get_logger(__name__)


class Envelope(BaseModel, Generic[T]):
    code: int = 200
    message: str = "success"
    data: T | None = None


class ErrorEnvelope(BaseModel):
    """What every error answers: the status again, a message, and no data."""

    code: int
    message: str
    data: None = None


# What each error status means on this API, for the OpenAPI document.
_ERROR_DESCRIPTIONS = {
    401: "No token, or a token that is malformed, unknown, revoked or expired",
    403: "The token is valid but not an admin's",
    404: "Not found, or not yours",
    409: "The change is not allowed from the current state",
    413: "The request body is too large",
    415: "The body is not sent as JSON",
    422: "The request is not valid",
    429: "Too many failed authentications from this address; see Retry-After",
    500: "An unexpected failure; nothing was changed",
    503: "A dependency is unreachable",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for these error statuses, each answered with the envelope.

    Routes list them so that the document tells clients the truth: without them
    FastAPI documents a 422 shaped `{"detail": [...]}`, which this API never sends.
    """
    return {
        code: {"model": ErrorEnvelope, "description": _ERROR_DESCRIPTIONS[code]}
        for code in codes
    }


def ok(data: Any = None) -> dict[str, Any]:
    return {"code": 200, "message": "success", "data": data}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"code": status, "message": message, "data": None},
        status_code=status,
        headers=headers,
    )


# Messages for statuses raised by the framework itself (routing, methods).
_FRAMEWORK_MESSAGES = {
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
}


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    detail = exc.detail if isinstance(exc.detail, str) else None
    default = _FRAMEWORK_MESSAGES.get(exc.status_code, "Request failed")
    if detail in (None, "Not Found", "Method Not Allowed"):
        detail = default
    return error_response(exc.status_code, detail, getattr(exc, "headers", None))


async def domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)  # noqa: S101
    return error_response(exc.status_code, exc.message)


def describe_validation(errors: list[Any]) -> str:
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
        if err.get("type") == "timezone_aware":
            message = NEEDS_OFFSET
        else:
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "Invalid request: " + "; ".join(parts) + more


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    return error_response(422, describe_validation(list(exc.errors())))


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(500, "Server error")


class ServerErrors:
    """Answer an exception that no handler took with the 500 envelope, and log it.

    Starlette's last-resort handler sends the same answer but then raises the
    exception again, for the server to log; uvicorn then closes the connection,
    and a client that reuses it (keep-alive) has its next request reset. Caught
    here, the failure ends as an ordinary 500 and the connection stays usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.exception(
                "request.failed",
                method=scope.get("method"),
                path=redact_path(scope.get("path", "")),
            )
            if started:
                # Half an answer is out: only closing the connection can tell.
                raise
            await error_response(500, "Server error")(scope, receive, send)
