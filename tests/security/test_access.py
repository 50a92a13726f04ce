"""Who may call what, proved on every operation the app serves.

The operations are found by walking the app's routes, so a route added later is
held to the same rules without anyone editing a list here:

- without a valid token (none, malformed, unknown, revoked, replaced, expired)
  every operation but the health checks answers 401, and changes nothing;
- a user's token on any admin operation answers 403, and changes nothing;
- another user's token on any operation on a session answers the same 404 as a
  session that does not exist, and changes nothing, the report cache included.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from interview_retention.clock import utcnow
from interview_retention.deletion.models import JobRun
from interview_retention.users.models import User
from interview_retention.users.service import revoke_token, rotate_token
from tests.factories import auth, make_session, make_user
from tests.routes import Operation, served_operations
from tests.sessions.helpers import assert_error, ok_data, path
from tests.snapshot import changed_tables, table_digests

OPERATIONS = served_operations()
# /metrics has its own bearer token (METRICS_TOKEN), not a user's: tests/api covers it.
# The signed export link needs no bearer token: its token, in the path, is its
# credential (tests/sessions/test_export_links.py holds it to that).
PUBLIC = {
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "GET /api/interview/exports/{token}",
}
PROTECTED = [op for op in OPERATIONS if op.label not in PUBLIC]
ADMIN = [op for op in OPERATIONS if op.path.startswith("/api/admin/")]
ON_A_SESSION = [
    op for op in OPERATIONS if op.path.startswith("/api/interview/sessions/{sessionId}")
]

# A body each operation that takes one would accept from a caller who may call it.
BODIES: dict[str, Any] = {
    "POST /api/interview/sessions": {"questionCount": 1},
    "PATCH /api/interview/sessions/{sessionId}": {"status": "DELETED"},
    "POST /api/interview/sessions/bulk-delete": {"ids": ["an-id"]},
    "PUT /api/admin/sessions/{sessionId}/legal-hold": {"reason": "Case 2026-17"},
    "DELETE /api/admin/sessions/{sessionId}/legal-hold": {"reason": "Case closed"},
    # A dry run: what a caller who may call it sends without queueing a task.
    "POST /api/admin/jobs/{job}": {"dryRun": True},
}
RUN_ID = "00000000-0000-4000-8000-0000000000aa"

CHALLENGE = "Bearer"
NO_TOKEN = "Authentication required: send a bearer token"
MALFORMED = "Authorization must be 'Bearer <token>'"
INVALID = "Invalid or revoked token"
EXPIRED = "Token expired: ask for a new one"


def _ids(operations: list[Operation]) -> list[str]:
    return [op.label for op in operations]


def _url(op: Operation, session_id: str) -> str:
    return op.url(sessionId=session_id, taskId=RUN_ID, job="purge", noticeId="1")


def _call(client, op: Operation, session_id: str, headers: dict[str, str]):
    return client.request(
        op.method, _url(op, session_id), json=BODIES.get(op.label), headers=headers
    )


@pytest.fixture
def owned(db) -> dict[str, Any]:
    """A user with a session, and a job run an admin could look up."""
    owner, token = make_user(db)
    session = make_session(db, owner, status="COMPLETED")
    db.add(JobRun(id=RUN_ID, job="purge", status="SUCCEEDED", queued_at=utcnow()))
    db.commit()
    return {"owner": owner, "token": token, "session": session}


def _credentials(db) -> list[tuple[str, dict[str, str], str]]:
    """Every kind of credential that is not good enough, and the 401 it earns."""
    revoked_user, revoked = make_user(db)
    revoke_token(db, email=revoked_user.email)
    replaced_user, replaced = make_user(db)
    rotate_token(db, email=replaced_user.email, now=utcnow())
    expired_user, expired = make_user(db, admin=True)
    db.execute(
        update(User)
        .where(User.id == expired_user.id)
        .values(token_created_at=utcnow() - timedelta(days=91))
    )
    db.commit()
    return [
        ("none", {}, NO_TOKEN),
        ("other-scheme", {"Authorization": f"Token {revoked}"}, MALFORMED),
        ("empty-bearer", {"Authorization": "Bearer "}, MALFORMED),
        ("unknown", {"Authorization": "Bearer irt_not-a-real-token"}, INVALID),
        ("no-prefix", {"Authorization": "Bearer hello"}, INVALID),
        ("revoked", auth(revoked), INVALID),
        ("replaced", auth(replaced), INVALID),
        ("expired-admin", auth(expired), EXPIRED),
    ]


def test_the_walk_finds_every_kind_of_operation():
    labels = {op.label for op in OPERATIONS}

    assert labels >= PUBLIC
    assert len(ADMIN) == 12
    assert len(ON_A_SESSION) == 6
    assert len(PROTECTED) == len(OPERATIONS) - len(PUBLIC)


def test_every_operation_with_a_body_has_one_here():
    from tests.routes import uncalled_app

    document = uncalled_app().openapi()["paths"]
    with_body = {
        op.label
        for op in OPERATIONS
        if "requestBody" in document[op.path][op.method.lower()]
    }

    assert with_body == set(BODIES)


@pytest.mark.parametrize("op", PROTECTED, ids=_ids(PROTECTED))
def test_without_a_valid_token_every_operation_is_401(
    client, db, engine, sent, owned, op
):
    credentials = _credentials(db)
    before = table_digests(engine)

    for kind, headers, message in credentials:
        response = _call(client, op, owned["session"].id, headers)

        answer = (response.status_code, response.json())
        assert answer == (401, {"code": 401, "message": message, "data": None}), kind
        assert response.headers["www-authenticate"] == CHALLENGE, kind
        assert changed_tables(before, table_digests(engine)) == [], kind
    assert sent == []


@pytest.mark.parametrize("op", ADMIN, ids=_ids(ADMIN))
def test_a_user_token_on_every_admin_operation_is_403(
    client, db, engine, sent, owned, op
):
    before = table_digests(engine)

    response = _call(client, op, owned["session"].id, auth(owned["token"]))

    assert_error(response, 403, "This operation needs an admin token")
    assert changed_tables(before, table_digests(engine)) == []
    assert sent == []


@pytest.mark.parametrize("op", ON_A_SESSION, ids=_ids(ON_A_SESSION))
@pytest.mark.parametrize("deleted", [False, True], ids=["live", "soft-deleted"])
def test_another_users_token_on_every_session_operation_is_404(
    client, db, engine, cache, owned, op, deleted
):
    session_id = owned["session"].id
    if deleted:
        client.patch(
            path(session_id), json={"status": "DELETED"}, headers=auth(owned["token"])
        )
    ok_data(client.get(path(session_id, "/report"), headers=auth(owned["token"])))
    _, stranger = make_user(db)
    before = table_digests(engine)

    response = _call(client, op, session_id, auth(stranger))
    unknown = _call(client, op, "00000000-0000-4000-8000-00000000ffff", auth(stranger))

    assert response.status_code == 404
    assert (
        response.json()
        == unknown.json()
        == {
            "code": 404,
            "message": "Session not found",
            "data": None,
        }
    )
    assert changed_tables(before, table_digests(engine)) == []
    assert cache.get(session_id) is not None


@pytest.mark.parametrize("op", ON_A_SESSION, ids=_ids(ON_A_SESSION))
def test_the_owner_reaches_every_session_operation(client, owned, sent, op):
    # The 404s above mean something only if the same call works for the owner.
    response = _call(client, op, owned["session"].id, auth(owned["token"]))

    assert response.status_code in (200, 409), response.json()
