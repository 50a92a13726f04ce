"""The response envelope every endpoint answers with, success or error."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from interview_retention.errors import DomainError

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    code: int = 200
    message: str = "success"
    data: T | None = None


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
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else err["msg"])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "Invalid request: " + "; ".join(parts) + more


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    return error_response(422, describe_validation(list(exc.errors())))


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(500, "Server error")
