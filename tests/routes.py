"""Every API operation an app serves, found by walking its routes.

Access and fuzz tests take their lists from here, so that a route added later
is covered by them without anyone editing a list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    endpoint: Callable[..., Any]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, **values: str) -> str:
        from urllib.parse import quote

        path = self.path
        for name, value in values.items():
            path = path.replace("{" + name + "}", quote(value, safe=""))
        return path


def api_operations(app: FastAPI) -> list[Operation]:
    """Each method of each API route, included routers and all, sorted."""
    # FastAPI 0.16x keeps an included router as one entry of `app.routes`;
    # `iter_route_contexts` walks into it. Older versions list the routes flat.
    walk = getattr(fastapi_routing, "iter_route_contexts", None)
    contexts = list(walk(app.routes)) if walk else list(app.routes)
    found = set()
    for context in contexts:
        route = getattr(context, "original_route", context)
        if not isinstance(route, APIRoute):
            continue
        for method in context.methods or ():
            found.add(Operation(method, context.path, route.endpoint))
    return sorted(found, key=lambda op: (op.path, op.method))


@lru_cache
def uncalled_app() -> FastAPI:
    """The app as the service builds it, to read its routes and document from.

    It is never called, so it needs no database.
    """
    from interview_retention.api.app import create_app
    from interview_retention.config import Settings
    from interview_retention.sessions.cache import NoCache

    return create_app(
        Settings(_env_file=None, database_url="sqlite://"),  # type: ignore[call-arg]
        report_cache=NoCache(),
    )


def served_operations() -> list[Operation]:
    return api_operations(uncalled_app())
