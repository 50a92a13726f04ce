"""Reading JSON bodies the way the seed page's clients send them.

`fetch` with a string body and no headers sends `text/plain`, so a JSON text is
accepted with a JSON content type, `text/plain`, or none at all. Anything else is
refused with 415, and a body over the size limit with 413, before it is parsed.
An object that names a key twice is refused (422) rather than read one way.

Routes take the body through `json_body`, a dependency, so that the route itself
can be a plain `def`: FastAPI then runs it, and its database calls, in the
threadpool instead of on the event loop.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

MAX_BODY_BYTES = 64 * 1024
# No body needs deeper nesting, and much deeper cannot be parsed or answered back.
MAX_DEPTH = 32
_ACCEPTED = ("application/json", "text/plain", "")

M = TypeVar("M", bound=BaseModel)


async def read_json(request: Request, model: type[M]) -> M:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _ACCEPTED and not media.endswith("+json"):
        raise HTTPException(415, "Send the body as JSON (application/json)")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(
            413, f"Request body too large ({MAX_BODY_BYTES} bytes at most)"
        )

    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise HTTPException(
            413, f"Request body too large ({MAX_BODY_BYTES} bytes at most)"
        )
    try:
        payload: Any = (
            json.loads(raw, parse_constant=_not_json, object_pairs_hook=_one_each)
            if raw.strip()
            else None
        )
    except _DuplicateKey as exc:
        raise HTTPException(422, f"Invalid request: the body {exc}") from exc
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise HTTPException(422, "Invalid request: the body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise HTTPException(422, "Invalid request: the body must be a JSON object")
    problem = _unstorable(payload)
    if problem:
        raise HTTPException(422, f"Invalid request: the body {problem}")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        ) from exc


def json_body(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency that reads the body as `model`; list it after the caller's.

    Dependencies are solved in the order of the route's parameters, so placed
    after the authentication one it answers 401 or 403 before any body error.
    """

    async def dependency(request: Request) -> M:
        return await read_json(request, model)

    return dependency


class _DuplicateKey(ValueError):
    pass


def _one_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Python keeps the last of two equal keys, other readers (a proxy, an audit
    # log) the first; what such a body asks for depends on who reads it.
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            name = key if len(key) <= 40 else key[:40] + "..."
            raise _DuplicateKey(f"names {name!r} twice")
        found[key] = value
    return found


def _not_json(constant: str) -> None:
    # Python reads NaN and Infinity, which JSON does not have: PostgreSQL refuses
    # them and SQLite would keep them only to answer null.
    raise ValueError(f"{constant} is not a JSON value")


def _unstorable(payload: Any) -> str | None:
    """Why these values could not be stored and answered back, if they could not.

    PostgreSQL refuses NUL characters in text and JSON, a lone surrogate (an
    escaped half of a UTF-16 pair) cannot be encoded as UTF-8, and very deep
    nesting fails to serialise; each would otherwise surface as a 500. The walk
    does not recurse, so depth cannot overflow it.
    """
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"is nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, str) and "\x00" in value:
            return "contains a NUL character"
        if isinstance(value, str) and not _encodable(value):
            return "contains a lone surrogate, which is not text"
        if isinstance(value, dict):
            stack.extend((key, depth) for key in value)
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """An OpenAPI request body for routes that read their JSON themselves."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": model.model_json_schema(by_alias=True)}
            },
        }
    }
