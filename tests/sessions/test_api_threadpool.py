"""Routes that touch the database run in the threadpool, never on the event loop.

A blocking call in an `async def` route, such as a PATCH waiting on a row lock a
purge batch holds, would stall every other request; a plain `def` route does not.
"""

from __future__ import annotations

import inspect

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from interview_retention.api.deps import get_db


def _uses_db(dependant: Dependant) -> bool:
    return any(sub.call is get_db or _uses_db(sub) for sub in dependant.dependencies)


def test_no_route_with_a_database_session_is_a_coroutine(client):
    # app.routes holds included routers unexpanded (FastAPI 0.137 and later);
    # iter_route_contexts lists every route inside them.
    routes = [
        context.original_route
        for context in iter_route_contexts(client.app.routes)
        if isinstance(context.original_route, APIRoute)
        and _uses_db(context.original_route.dependant)
    ]

    on_the_loop = [
        route.name for route in routes if inspect.iscoroutinefunction(route.endpoint)
    ]

    assert {"create_session", "update_session", "set_hold"} <= {r.name for r in routes}
    assert on_the_loop == []
