"""Every operation of the OpenAPI document, fuzzed with schemathesis in-process.

For each operation schemathesis generates requests that fit the document and
requests that break it (wrong types, missing fields, values out of range, odd
strings in the path). Each request is sent with a real token to an app on a
real database, seeded so that some requests name real sessions and task runs,
and each answer is held to the contract:

- never a 5xx;
- every answer is the envelope `{code, message, data}` with `code` equal to the
  HTTP status, and `data` null on an error;
- the status, content type and body are those the document declares;
- a rejected request, and any GET, changes no row of any table and sends no task.

The run is deterministic: `derandomize` makes the same examples every time. It
is small by default so that `make test` stays fast; to search much longer, say

    FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest -n 2 tests/fuzz

and with `FUZZ_SEED=<int>` the examples are drawn at random from that seed
instead, to look somewhere new.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import Session

from interview_retention.api.app import create_app
from interview_retention.clock import utcnow
from interview_retention.config import Settings
from interview_retention.db.base import Base
from interview_retention.deletion.models import DeletionLogEntry, DeletionNotice, JobRun
from interview_retention.users.models import User
from tests.factories import auth, make_session, make_user
from tests.routes import served_operations, uncalled_app
from tests.snapshot import changed_tables, table_digests

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
SEED = os.environ.get("FUZZ_SEED")

# Every operation of the document becomes one test.
_DOCUMENT = uncalled_app().openapi()
SCHEMA = schemathesis.openapi.from_dict(_DOCUMENT)
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

# Fixed ids, so that generated requests can name rows that exist.
OWN_CREATED = "00000000-0000-4000-8000-000000000001"
OWN_EVALUATED = "00000000-0000-4000-8000-000000000002"
OWN_SOFT_DELETED = "00000000-0000-4000-8000-000000000003"
OWN_DUE = "00000000-0000-4000-8000-000000000004"
OWN_HELD = "00000000-0000-4000-8000-000000000005"
OTHERS = "00000000-0000-4000-8000-000000000006"
SESSION_IDS = [OWN_CREATED, OWN_EVALUATED, OWN_SOFT_DELETED, OWN_DUE, OWN_HELD, OTHERS]
RUN_ID = "00000000-0000-4000-8000-0000000000aa"
# A dead-lettered notice, so that a retry sometimes meets a real one.
NOTICE_ID = 9001

# Checks of schemathesis that hold this API to its document. Left out:
# `ignored_auth` (every request here carries a real token on purpose) and the
# positive/negative data checks, which judge by the JSON schema alone: the API
# also refuses what the schema cannot say (a NUL character, a lone surrogate,
# nesting deeper than 32) and accepts a few loose spellings (a query value given
# twice), and those rules have their own tests in tests/api.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class World:
    """The app under test, its database, tokens, and the tasks it tried to send."""

    engine: Engine
    client: Any
    user_token: str
    admin_token: str
    owner: User
    other: User
    sent: list[dict]
    seeded: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dirty: bool = False

    def reset(self) -> None:
        """Put the seeded rows back as they were: one transaction, a few statements."""
        with self.engine.begin() as conn:
            for table in reversed(_RESEEDED):
                conn.execute(delete(table))
            for table in _RESEEDED:
                if self.seeded[table.name]:
                    conn.execute(insert(table), self.seeded[table.name])
        self.dirty = False


# Users and resumes never change through the API; everything else may.
_RESEEDED = [
    t for t in Base.metadata.sorted_tables if t.name not in ("users", "resumes")
]


def _keep_seed(world: World) -> None:
    with world.engine.connect() as conn:
        for table in _RESEEDED:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns))
            # A follow-up question names its parent, so parents go in first.
            own = [
                fk.parent.name for fk in table.foreign_keys if fk.column.table is table
            ]
            world.seeded[table.name] = sorted(
                (dict(row._mapping) for row in rows),
                key=lambda row, own=own: [row[name] is not None for name in own],
            )


def _seed(world: World) -> None:
    now = utcnow()
    with Session(world.engine, expire_on_commit=False) as db:
        make_session(db, world.owner, id=OWN_CREATED, status="CREATED")
        make_session(db, world.owner, id=OWN_EVALUATED)
        make_session(
            db,
            world.owner,
            id=OWN_SOFT_DELETED,
            status="DELETED",
            status_before_deletion="COMPLETED",
            deleted_at=now - timedelta(days=1),
            permanent_delete_at=now + timedelta(days=29),
            deletion_reason="USER",
        )
        make_session(
            db,
            world.owner,
            id=OWN_DUE,
            status="DELETED",
            status_before_deletion="COMPLETED",
            deleted_at=now - timedelta(days=31),
            permanent_delete_at=now - timedelta(days=1),
            deletion_reason="USER",
        )
        make_session(
            db,
            world.owner,
            id=OWN_HELD,
            legal_hold=True,
            legal_hold_reason="case 17",
            legal_hold_at=now,
        )
        make_session(db, world.other, id=OTHERS)
        db.add(
            JobRun(
                id=RUN_ID,
                job="purge",
                status="SUCCEEDED",
                trigger="admin",
                queued_at=now,
                result={"purged": 1},
            )
        )
        db.add(
            DeletionNotice(
                id=NOTICE_ID,
                session_id=OWN_EVALUATED,
                cycle=0,
                status="FAILED",
                attempts=8,
                next_attempt_at=now,
                last_error="webhook: HTTP 410",
            )
        )
        db.add(
            DeletionLogEntry(
                session_id="00000000-0000-4000-8000-0000000000dd",
                user_id=world.owner.id,
                reason="USER",
                actor=f"user:{world.owner.id}",
                requested_at=now - timedelta(days=30),
                purged_at=now,
                rows_removed={"interview_sessions": 1},
                cache_keys_evicted=0,
                task_id=RUN_ID,
            )
        )
        db.commit()


@pytest.fixture
def world(
    settings: Settings, engine: Engine, db, cache, sent: list[dict]
) -> Iterator[World]:
    owner, user_token = make_user(db)
    other, _ = make_user(db)
    _, admin_token = make_user(db, admin=True)
    app = create_app(settings, engine=engine, report_cache=cache)
    with asgi.get_client(app) as client:
        # The admin trigger sends its task after commit; `sent` records it
        # instead of letting it reach a broker.
        world = World(engine, client, user_token, admin_token, owner, other, sent)
        _seed(world)
        _keep_seed(world)
        yield world


def _path_values(operation: Any) -> st.SearchStrategy[dict[str, str]]:
    """Sometimes a real row's id in place of the generated one."""
    names = {p.name for p in operation.path_parameters}
    if "sessionId" in names:
        return st.one_of(
            st.just({}), st.sampled_from(SESSION_IDS).map(_as("sessionId"))
        )
    if "taskId" in names:
        return st.one_of(st.just({}), st.just({"taskId": RUN_ID}))
    if "noticeId" in names:
        return st.one_of(st.just({}), st.just({"noticeId": str(NOTICE_ID)}))
    return st.just({})


def _as(name: str):
    return lambda value: {name: value}


def _documented_types(case: Any, response: Any) -> set[str]:
    """The media types the document gives for this operation and status."""
    path = case.operation.path
    method = case.method.lower()
    responses = SCHEMA.raw_schema["paths"][path][method]["responses"]
    documented = responses.get(str(response.status_code), {})
    return set(documented.get("content", {}))


def _envelope_problem(response: Any, documented: set[str]) -> str | None:
    # A success documented as something other than JSON (/metrics' text format)
    # is held to its media type; everything else must be the envelope.
    served = response.headers.get("content-type") or [""]
    served = (served[0] if isinstance(served, list) else served).split(";")[0]
    if (
        response.status_code < 300
        and documented
        and "application/json" not in (documented)
    ):
        return None if served in documented else f"served {served}, not {documented}"
    try:
        body = json.loads(response.content)
    except ValueError:
        return "the body is not JSON"
    if not isinstance(body, dict) or set(body) != {"code", "message", "data"}:
        return f"the body is not the envelope: {str(body)[:200]}"
    if body["code"] != response.status_code:
        return f"code {body['code']} but HTTP status {response.status_code}"
    if not isinstance(body["message"], str) or not body["message"]:
        return "the message is empty"
    if response.status_code >= 300 and body["data"] is not None:
        return "an error carries data"
    return None


def _hypothesis(test):
    configured = hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
        print_blob=True,
    )(test)
    return seed(int(SEED))(configured) if SEED is not None else configured


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_operation_holds_to_the_contract(world: World, label: str) -> None:
    operation = OPERATIONS[label]
    admin = operation.path.startswith("/api/admin/")
    token = world.admin_token if admin else world.user_token
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @_hypothesis
    @given(case=cases, real=_path_values(operation))
    def run(case: Any, real: dict[str, str]) -> None:
        if world.dirty:
            world.reset()
        case.path_parameters = {**(case.path_parameters or {}), **real}
        case.headers = {**(case.headers or {}), **auth(token)}
        before = table_digests(world.engine)
        world.sent.clear()

        response = case.call(session=world.client)

        problem = _envelope_problem(response, _documented_types(case, response))
        assert problem is None, f"{problem}\n{case.as_curl_command()}"
        case.validate_response(response, checks=CHECKS)
        changed = changed_tables(before, table_digests(world.engine))
        if response.status_code >= 300 or case.method.upper() in SAFE_METHODS:
            assert changed == [], f"{response.status_code} changed {changed}"
            assert world.sent == [], f"{response.status_code} sent a task"
        if changed:
            world.dirty = True

    run()


def test_every_route_of_the_app_is_fuzzed() -> None:
    routes = {operation.label for operation in served_operations()}

    assert routes == set(OPERATIONS)
    assert len(routes) == 26
