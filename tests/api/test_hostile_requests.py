"""Hostile requests, one table: each row is sent and held to the same checks.

Every row names a family, the request, and the status and message it must earn.
After each request the answer must be the envelope with `code` equal to the
status, and, for a refused request, no row of any table may have changed and no
task may have been sent. A row that is accepted says which tables it may change.

Families that already have their own tests are not repeated here:
- malformed and oversized session ids on every session path, and invalid,
  oversized, form-encoded and deeply nested bodies: tests/sessions/test_api_errors.py
- instants outside what UTC can hold, NaN and Infinity, lone surrogates, NUL:
  tests/sessions/test_hostile_input.py
- status transitions forward, backward and from DELETED: tests/sessions/test_api.py
- every kind of bad token on every route: tests/security/test_access.py
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.factories import auth, make_session, make_user
from tests.snapshot import changed_tables, table_digests

SESSIONS = "/api/interview/sessions"
ONE = f"{SESSIONS}/{{own}}"
HOLD = "/api/admin/sessions/{own}/legal-hold"
LOG = "/api/admin/deletion-log"
INVALID_JSON = "Invalid request: the body is not valid JSON"
SESSION_NOT_FOUND = "Session not found"


@dataclass(frozen=True)
class Row:
    family: str
    name: str
    method: str
    url: str
    status: int
    message: str | None = None  # a fragment the message must contain
    json: Any = None
    content: bytes | str | None = None
    params: dict[str, str] | None = None
    headers: dict[str, Any] = field(default_factory=dict)
    admin: bool = False
    # What an accepted request may change; a refused one changes nothing.
    changes: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        return f"{self.family}:{self.name}"


SESSION_TABLES = frozenset({"interview_sessions", "questions"})
# Setting a hold changes the session and records who set it and why.
HOLD_TABLES = frozenset({"interview_sessions", "legal_hold_events"})

# fmt: off
ROWS = [
    # Unknown fields: refused, never ignored, so that nobody sets what they may not.
    Row("unknown-field", "patch-legal-hold", "PATCH", ONE, 422, "legalHold",
        json={"status": "IN_PROGRESS", "legalHold": False}),
    Row("unknown-field", "patch-owner", "PATCH", ONE, 422, "userId",
        json={"status": "IN_PROGRESS", "userId": "someone-else"}),
    Row("unknown-field", "patch-snake-case", "PATCH", ONE, 422, "deleted_at",
        json={"status": "DELETED", "deleted_at": "2026-01-01T00:00:00Z"}),
    Row("unknown-field", "create-both-spellings", "POST", SESSIONS, 422,
        "question_count", json={"questionCount": 1, "question_count": 50}),
    Row("unknown-field", "create-status", "POST", SESSIONS, 422, "status",
        json={"questionCount": 1, "status": "EVALUATED"}),
    Row("unknown-field", "hold-until", "PUT", HOLD, 422, "until", admin=True,
        json={"reason": "Case 2026-17", "until": "2030-01-01T00:00:00Z"}),
    # Wrong types: a JSON value of another type is refused, not coerced.
    Row("wrong-type", "count-true", "POST", SESSIONS, 422, "questionCount",
        json={"questionCount": True}),
    Row("wrong-type", "count-string", "POST", SESSIONS, 422, "questionCount",
        json={"questionCount": "3"}),
    Row("wrong-type", "count-float", "POST", SESSIONS, 422, "questionCount",
        json={"questionCount": 2.0}),
    Row("wrong-type", "count-null", "POST", SESSIONS, 422, "questionCount",
        json={"questionCount": None}),
    Row("wrong-type", "count-huge", "POST", SESSIONS, 422, "questionCount",
        json={"questionCount": 10**30}),
    Row("wrong-type", "resume-number", "POST", SESSIONS, 422, "resumeId",
        json={"questionCount": 1, "resumeId": 7}),
    Row("wrong-type", "config-list", "POST", SESSIONS, 422, "config",
        json={"questionCount": 1, "config": ["css"]}),
    Row("wrong-type", "status-number", "PATCH", ONE, 422, "status",
        json={"status": 3}),
    Row("wrong-type", "status-list", "PATCH", ONE, 422, "status",
        json={"status": ["DELETED"]}),
    Row("wrong-type", "status-lowercase", "PATCH", ONE, 422, "status",
        json={"status": "deleted"}),
    Row("wrong-type", "status-null", "PATCH", ONE, 422, "status",
        json={"status": None}),
    Row("wrong-type", "reason-number", "PUT", HOLD, 422, "reason", admin=True,
        json={"reason": 12345}),
    Row("wrong-type", "page-word", "GET", SESSIONS, 422, "page",
        params={"page": "two"}),
    Row("wrong-type", "page-exponent", "GET", SESSIONS, 422, "page",
        params={"page": "1e3"}),
    Row("wrong-type", "page-huge", "GET", SESSIONS, 422, "page",
        params={"page": "9" * 40}),
    Row("wrong-type", "page-size-zero", "GET", LOG, 422, "pageSize", admin=True,
        params={"pageSize": "0"}),
    Row("wrong-type", "reason-lowercase", "GET", LOG, 422, "reason", admin=True,
        params={"reason": "user"}),
    # JSON that parses differently in different readers.
    Row("ambiguous-json", "duplicate-status", "PATCH", ONE, 422, "status",
        content='{"status": "IN_PROGRESS", "status": "DELETED"}'),
    Row("ambiguous-json", "duplicate-count", "POST", SESSIONS, 422, "questionCount",
        content='{"questionCount": 1, "questionCount": 50}'),
    Row("ambiguous-json", "duplicate-nested", "POST", SESSIONS, 422, "twice",
        content='{"questionCount": 1, "config": {"a": 1, "a": 2}}'),
    Row("ambiguous-json", "invalid-utf8", "PATCH", ONE, 422, INVALID_JSON,
        content=b'{"status": "\xff"}'),
    Row("ambiguous-json", "utf16-with-bom", "PATCH", ONE, 200,
        content='{"status": "IN_PROGRESS"}'.encode("utf-16"), changes=HOLD_TABLES),
    Row("ambiguous-json", "utf8-bom", "PATCH", ONE, 200,
        content=b'\xef\xbb\xbf{"status": "IN_PROGRESS"}', changes=HOLD_TABLES),
    Row("ambiguous-json", "trailing-garbage", "PATCH", ONE, 422, INVALID_JSON,
        content='{"status": "DELETED"} {"status": "CREATED"}'),
    Row("ambiguous-json", "single-quotes", "PATCH", ONE, 422, INVALID_JSON,
        content="{'status': 'DELETED'}"),
    # Content types: JSON under a JSON type, text/plain or none; nothing else.
    Row("content-type", "none", "PATCH", ONE, 200,
        content='{"status": "IN_PROGRESS"}', changes=HOLD_TABLES),
    Row("content-type", "upper-case", "PATCH", ONE, 200,
        content='{"status": "IN_PROGRESS"}',
        headers={"content-type": "APPLICATION/JSON; charset=UTF-8"},
        changes=HOLD_TABLES),
    Row("content-type", "xml", "PATCH", ONE, 415, "JSON",
        content="<status>DELETED</status>",
        headers={"content-type": "application/xml"}),
    Row("content-type", "html", "POST", SESSIONS, 415, "JSON",
        content='{"questionCount": 1}', headers={"content-type": "text/html"}),
    Row("content-type", "octet-stream", "PUT", HOLD, 415, "JSON", admin=True,
        content='{"reason": "Case 2026-17"}',
        headers={"content-type": "application/octet-stream"}),
    Row("content-type", "json-patch-array", "PATCH", ONE, 422, "JSON object",
        content='[{"op": "replace", "path": "/status", "value": "DELETED"}]',
        headers={"content-type": "application/json-patch+json"}),
    Row("content-type", "empty-type", "PATCH", ONE, 200,
        content='{"status": "IN_PROGRESS"}', headers={"content-type": ""},
        changes=HOLD_TABLES),
    # Instants: ISO 8601 with an offset; naive values, numbers and nonsense refused.
    Row("timestamp", "naive", "GET", SESSIONS, 422, "UTC offset",
        params={"createdBefore": "2026-03-01T12:00:00"}),
    Row("timestamp", "date-only", "GET", SESSIONS, 422, "UTC offset",
        params={"createdAfter": "2026-03-01"}),
    Row("timestamp", "naive-since", "GET", LOG, 422, "UTC offset", admin=True,
        params={"since": "2026-03-01T12:00:00"}),
    Row("timestamp", "naive-until", "GET", LOG, 422, "UTC offset", admin=True,
        params={"until": "2026-03-01 12:00"}),
    Row("timestamp", "unix-seconds", "GET", SESSIONS, 422, "is a number",
        params={"createdBefore": "1772366400"}),
    Row("timestamp", "negative-number", "GET", SESSIONS, 422, "is a number",
        params={"createdAfter": "-1"}),
    Row("timestamp", "year-alone", "GET", LOG, 422, "is a number", admin=True,
        params={"since": "2026"}),
    Row("timestamp", "offset-24h", "GET", SESSIONS, 422, "createdBefore",
        params={"createdBefore": "2026-03-01T12:00:00+24:00"}),
    Row("timestamp", "february-30", "GET", SESSIONS, 422, "createdBefore",
        params={"createdBefore": "2026-02-30T12:00:00Z"}),
    Row("timestamp", "hour-24", "GET", SESSIONS, 422, "createdBefore",
        params={"createdBefore": "2026-03-01T24:00:00Z"}),
    Row("timestamp", "leap-second", "GET", SESSIONS, 422, "createdBefore",
        params={"createdBefore": "2026-06-30T23:59:60Z"}),
    Row("timestamp", "z-offset", "GET", SESSIONS, 200,
        params={"createdBefore": "2026-03-01T12:00:00Z"}),
    Row("timestamp", "positive-offset", "GET", SESSIONS, 200,
        params={"createdBefore": "2026-03-01T12:00:00+05:30"}),
    Row("timestamp", "nanoseconds", "GET", SESSIONS, 200,
        params={"createdBefore": "2026-03-01T12:00:00.123456789Z"}),
    Row("timestamp", "naive-in-soft-delete-body", "PATCH", ONE, 200,
        json={"status": "DELETED", "deletedAt": "2026-03-01T12:00:00",
              "permanentDeleteAt": "2026-03-31T12:00:00"},
        changes=HOLD_TABLES),
    Row("timestamp", "nonsense-in-soft-delete-body", "PATCH", ONE, 422, "deletedAt",
        json={"status": "DELETED", "deletedAt": "yesterday"}),
    # Far past and far future.
    Row("far-date", "year-1", "GET", SESSIONS, 200,
        params={"createdAfter": "0001-01-01T00:00:00Z"}),
    Row("far-date", "year-9999", "GET", LOG, 200, admin=True,
        params={"until": "9999-12-31T23:59:59.999999Z"}),
    Row("far-date", "year-0", "GET", SESSIONS, 422, "createdAfter",
        params={"createdAfter": "0000-01-01T00:00:00Z"}),
    Row("far-date", "year-10000", "GET", LOG, 422, "until", admin=True,
        params={"until": "10000-01-01T00:00:00Z"}),
    Row("far-date", "negative-year", "GET", SESSIONS, 422, "createdBefore",
        params={"createdBefore": "-0001-01-01T00:00:00Z"}),
    Row("far-date", "year-9999-in-soft-delete-body", "PATCH", ONE, 200,
        json={"status": "DELETED", "permanentDeleteAt": "9999-12-31T23:59:59-12:00"},
        changes=HOLD_TABLES),
    # SQL in every kind of field: a plain value, never SQL.
    Row("sql-injection", "user-id-filter", "GET", LOG, 200, admin=True,
        params={"userId": "' OR '1'='1"}),
    Row("sql-injection", "status-filter", "GET", SESSIONS, 422, "status",
        params={"status": "DELETED' OR '1'='1"}),
    Row("sql-injection", "instant-filter", "GET", SESSIONS, 422, "createdBefore",
        params={"createdBefore": "2026-01-01'; DROP TABLE users;--"}),
    Row("sql-injection", "task-id", "GET", "/api/admin/tasks/1%27%20OR%201%3D1--",
        404, "Task not found", admin=True),
    Row("sql-injection", "hold-reason", "PUT", HOLD, 200, admin=True,
        json={"reason": "'); DROP TABLE interview_sessions;--"},
        changes=HOLD_TABLES),
    Row("sql-injection", "config-key", "POST", SESSIONS, 200,
        json={"questionCount": 1, "config": {"'; DELETE FROM users;--": "x"}},
        changes=SESSION_TABLES),
    # Header injection: no input comes back as a header, and odd bytes are a 401.
    Row("header-injection", "crlf-in-id", "GET",
        f"{SESSIONS}/x%0d%0aSet-Cookie:%20a=b", 404, SESSION_NOT_FOUND),
    Row("header-injection", "crlf-in-task-id", "GET",
        "/api/admin/tasks/x%0d%0aLocation:%20http:%2F%2Fevil", 404, admin=True),
    Row("header-injection", "latin1-token", "GET", SESSIONS, 401, "Invalid",
        headers={"Authorization": b"Bearer irt_\xe9\xff"}),
    Row("header-injection", "nul-in-token", "GET", SESSIONS, 401, "Invalid",
        headers={"Authorization": "Bearer irt_x\x00y"}),
    Row("header-injection", "huge-token", "GET", SESSIONS, 401, "Invalid",
        headers={"Authorization": "Bearer irt_" + "a" * 7000}),
    Row("header-injection", "forged-forwarded-for", "GET", SESSIONS, 401,
        headers={"Authorization": "Bearer irt_x", "X-Forwarded-For": "10.0.0.1"}),
    # Unicode: kept intact where it is data, refused where it imitates a keyword.
    Row("unicode", "cyrillic-e-in-status", "PATCH", ONE, 422, "status",
        json={"status": "D\u0415LETED"}),
    Row("unicode", "fullwidth-status", "PATCH", ONE, 422, "status",
        json={"status": "\uff24\uff25\uff2c\uff25\uff34\uff25\uff24"}),
    Row("unicode", "zero-width-in-status", "PATCH", ONE, 422, "status",
        json={"status": "DELETED\u200b"}),
    Row("unicode", "fullwidth-page", "GET", SESSIONS, 422, "page",
        params={"page": "\uff12"}),
    Row("unicode", "rtl-and-emoji-reason", "PUT", HOLD, 200, admin=True,
        json={"reason": "\u202eredro truoc\u202c \N{SCALES} \u05ea\u05d9\u05e7"},
        changes=HOLD_TABLES),
    Row("unicode", "user-id-filter", "GET", LOG, 200, admin=True,
        params={"userId": "\u30e6\u30fc\u30b6\u30fc"}),
    Row("unicode", "combining-config-key", "POST", SESSIONS, 200,
        json={"questionCount": 1, "config": {"e\u0301": "\u00e9"}},
        changes=SESSION_TABLES),
]
# fmt: on


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_hostile_request(client, db, engine, sent, row: Row):
    user, token = make_user(db)
    _, admin = make_user(db, admin=True)
    session = make_session(db, user, status="CREATED")
    url = row.url.replace("{own}", session.id)
    headers = {**auth(admin if row.admin else token), **row.headers}
    before = table_digests(engine)

    response = client.request(
        row.method,
        url,
        json=row.json,
        content=row.content,
        params=row.params,
        headers=headers,
    )

    body = response.json()
    assert response.status_code == row.status, body
    assert set(body) == {"code", "message", "data"}
    assert body["code"] == row.status
    if row.message is not None:
        assert row.message in body["message"]
    if row.status >= 300:
        assert body["data"] is None
    assert "set-cookie" not in response.headers
    changed = set(changed_tables(before, table_digests(engine)))
    assert changed <= row.changes
    if row.status < 300 and row.method != "GET":
        assert changed, "an accepted change changed nothing"
    if row.status >= 300:
        assert sent == []


def test_data_comes_back_as_it_was_sent(client, db):
    user, _ = make_user(db)
    _, admin = make_user(db, admin=True)
    session = make_session(db, user)
    reason = "\u202eredro truoc\u202c '); DROP TABLE x;-- \N{SCALES}"

    response = client.put(
        f"/api/admin/sessions/{session.id}/legal-hold",
        json={"reason": reason},
        headers=auth(admin),
    )

    assert response.status_code == 200
    db.refresh(session)
    assert session.legal_hold_reason == reason
