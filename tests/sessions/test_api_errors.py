"""Error envelopes of the sessions API: 401, 404, 405, 413, 415, 422 and 500."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from interview_retention.api.body import MAX_BODY_BYTES
from interview_retention.deletion import service as deletion_service
from interview_retention.sessions import service as sessions_service
from interview_retention.sessions.models import InterviewSession
from interview_retention.users.models import User
from tests.factories import auth, make_session, make_user
from tests.sessions.helpers import (
    SESSIONS,
    assert_error,
    ok_data,
    path,
    reload,
    rows_of,
    tombstones,
)

SEED_404 = {"code": 404, "message": "Session not found", "data": None}

# Every call on one session, with a body that would succeed on the owner's session.
SESSION_CALLS = [
    ("GET", "", None),
    ("PATCH", "", {"status": "DELETED"}),
    ("POST", "/restore", None),
    ("DELETE", "", None),
    ("GET", "/report", None),
]
SESSION_CALL_IDS = ["get", "patch", "restore", "delete", "report"]

MALFORMED_IDS = [
    "a1b2c3d4-e5f6-4789-g0h1-i2j3k4l5m6n7",
    "x" * 500,
    "séance-面接-💬",
    "'; DROP TABLE users;--",
    "%",
    "a\x00b",
    " ",
]
MALFORMED_ID_NAMES = [
    "seed-example",
    "500-chars",
    "unicode",
    "sql",
    "percent",
    "nul",
    "space",
]


def _count(db, model) -> int:
    count = db.scalar(select(func.count()).select_from(model))
    db.rollback()
    return count


class TestAuthentication:
    # 401 on every operation, for every kind of bad token:
    # tests/security/test_access.py.

    @pytest.mark.parametrize(
        ("content", "content_type"),
        [
            ("{not json", "application/json"),
            ("status=DELETED", "application/x-www-form-urlencoded"),
            ('{"x": "' + "a" * MAX_BODY_BYTES + '"}', "application/json"),
        ],
        ids=["broken", "form", "oversized"],
    )
    @pytest.mark.parametrize(
        ("method", "suffix"), [("POST", None), ("PATCH", "")], ids=["create", "patch"]
    )
    def test_comes_before_the_body(
        self, client, db, content, content_type, method, suffix
    ):
        user, _ = make_user(db)
        session = make_session(db, user)
        url = SESSIONS if suffix is None else path(session.id, suffix)

        response = client.request(
            method, url, content=content, headers={"content-type": content_type}
        )

        assert_error(response, 401, "Authentication required: send a bearer token")

    def test_the_scheme_is_case_insensitive(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user)

        response = client.get(
            path(session.id), headers={"Authorization": f"bearer {token}"}
        )

        assert ok_data(response)["sessionId"] == session.id


class TestRouting:
    def test_unknown_session_id_is_404(self, client, db):
        user, token = make_user(db)
        make_session(db, user)

        response = client.get(path(str(uuid.uuid4())), headers=auth(token))

        assert response.status_code == 404
        assert response.json() == SEED_404

    def test_unknown_path_is_404(self, client, db):
        _, token = make_user(db)

        response = client.get("/api/interview/nothing-here", headers=auth(token))

        assert_error(response, 404, "Not found")

    @pytest.mark.parametrize(
        ("method", "url"),
        [("PUT", SESSIONS), ("DELETE", SESSIONS), ("PUT", path("x"))],
    )
    def test_unsupported_method_is_405(self, client, db, method, url):
        user, token = make_user(db)
        make_session(db, user)

        response = client.request(method, url, headers=auth(token))

        assert_error(response, 405, "Method not allowed")
        assert "allow" in response.headers
        assert _count(db, InterviewSession) == 1


class TestBody:
    @pytest.mark.parametrize(
        ("method", "suffix"), [("POST", None), ("PATCH", "")], ids=["create", "patch"]
    )
    @pytest.mark.parametrize(
        "content_type",
        ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
        ids=["urlencoded", "multipart"],
    )
    def test_form_content_type_is_415(self, client, db, method, suffix, content_type):
        user, token = make_user(db)
        session = make_session(db, user, status="CREATED")
        url = SESSIONS if suffix is None else path(session.id, suffix)

        response = client.request(
            method,
            url,
            content=b"status=DELETED",
            headers={"content-type": content_type, **auth(token)},
        )

        assert "JSON" in assert_error(response, 415)
        assert reload(db, session.id).status == "CREATED"
        assert _count(db, InterviewSession) == 1

    def test_json_with_a_json_media_type_suffix_is_accepted(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user, status="CREATED")

        response = client.patch(
            path(session.id),
            content=json.dumps({"status": "IN_PROGRESS"}),
            headers={"content-type": "application/merge-patch+json", **auth(token)},
        )

        assert ok_data(response)["status"] == "IN_PROGRESS"

    @pytest.mark.parametrize(
        ("method", "suffix"), [("POST", None), ("PATCH", "")], ids=["create", "patch"]
    )
    def test_oversized_body_is_413(self, client, db, method, suffix):
        user, token = make_user(db)
        session = make_session(db, user, status="CREATED")
        url = SESSIONS if suffix is None else path(session.id, suffix)
        body = json.dumps({"status": "DELETED", "config": {"x": "a" * MAX_BODY_BYTES}})

        response = client.request(method, url, content=body, headers=auth(token))

        assert_error(response, 413)
        assert reload(db, session.id).status == "CREATED"
        assert _count(db, InterviewSession) == 1

    def test_oversized_body_without_a_length_is_413(self, client, db):
        _, token = make_user(db)
        chunks = [b'{"config": {"x": "', b"a" * MAX_BODY_BYTES, b'"}}']

        response = client.post(SESSIONS, content=iter(chunks), headers=auth(token))

        assert_error(response, 413)
        assert _count(db, InterviewSession) == 0

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("{not json", "Invalid request: the body is not valid JSON"),
            ('["DELETED"]', "Invalid request: the body must be a JSON object"),
            ("", "Invalid request: the body must be a JSON object"),
            ('"DELETED"', "Invalid request: the body must be a JSON object"),
        ],
        ids=["broken", "array", "empty", "string"],
    )
    def test_a_body_that_is_not_a_json_object_is_422(
        self, client, db, content, message
    ):
        user, token = make_user(db)
        session = make_session(db, user, status="CREATED")

        response = client.patch(path(session.id), content=content, headers=auth(token))

        assert_error(response, 422, message)
        assert reload(db, session.id).status == "CREATED"

    @pytest.mark.parametrize(
        "body",
        [
            {"questionCount": 1, "resumeId": "a\x00b"},
            {"questionCount": 1, "config": {"note": "a\x00b"}},
        ],
        ids=["resume-id", "config"],
    )
    def test_a_nul_character_in_the_body_is_422(self, client, db, body):
        _, token = make_user(db)

        response = client.post(SESSIONS, json=body, headers=auth(token))

        assert_error(response, 422)
        assert _count(db, InterviewSession) == 0

    @pytest.mark.parametrize("depth", [40, 5000])
    def test_a_deeply_nested_body_is_422(self, client, db, depth):
        _, token = make_user(db)
        nested = "[" * depth + "]" * depth
        body = '{"questionCount": 1, "config": {"x": ' + nested + "}}"

        response = client.post(SESSIONS, content=body, headers=auth(token))

        assert_error(response, 422)
        assert _count(db, InterviewSession) == 0

    def test_nesting_a_real_config_needs_is_accepted(self, client, db):
        _, token = make_user(db)
        config = {"categories": ["css"], "ui": {"theme": {"colours": [["#fff"]]}}}

        response = client.post(
            SESSIONS, json={"questionCount": 1, "config": config}, headers=auth(token)
        )

        assert ok_data(response)["config"] == config


class TestServerError:
    def test_a_server_error_is_answered_and_does_not_escape_the_app(
        self, client, db, monkeypatch
    ):
        # Found by tests/chaos/test_after_commit.py: an exception that left the
        # app after its 500 made uvicorn drop the connection, so a client reusing
        # it (keep-alive) had its next request reset. This client raises whatever
        # escapes the app, as uvicorn sees it.
        strict = TestClient(client.app)
        user, token = make_user(db)
        session = make_session(db, user, status="COMPLETED")

        def fail(*args, **kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr(sessions_service, "change_status", fail)

        response = strict.patch(
            path(session.id), json={"status": "DELETED"}, headers=auth(token)
        )

        assert_error(response, 500, "Server error")
        assert ok_data(strict.get(path(session.id), headers=auth(token)))

    def test_a_failed_hard_delete_is_500_and_deletes_nothing(
        self, client, db, cache, monkeypatch
    ):
        user, token = make_user(db)
        session = make_session(db, user)
        ok_data(client.get(path(session.id, "/report"), headers=auth(token)))
        before = rows_of(db, session.id)
        real = deletion_service._delete_and_record

        def delete_then_fail(*args, **kwargs):
            real(*args, **kwargs)
            raise RuntimeError("connection lost mid-delete")

        monkeypatch.setattr(deletion_service, "_delete_and_record", delete_then_fail)

        response = client.delete(path(session.id), headers=auth(token))

        assert response.json() == {"code": 500, "message": "Server error", "data": None}
        assert response.status_code == 500
        assert rows_of(db, session.id) == before
        assert tombstones(db) == []

    def test_a_failed_status_change_is_500_and_changes_nothing(
        self, client, db, monkeypatch
    ):
        user, token = make_user(db)
        session = make_session(db, user, status="COMPLETED")
        real = sessions_service.change_status

        def change_then_fail(*args, **kwargs):
            real(*args, **kwargs)
            raise RuntimeError("boom")

        monkeypatch.setattr(sessions_service, "change_status", change_then_fail)

        response = client.patch(
            path(session.id), json={"status": "DELETED"}, headers=auth(token)
        )

        assert_error(response, 500, "Server error")
        stored = reload(db, session.id)
        assert stored.status == "COMPLETED"
        assert stored.deleted_at is None
        assert stored.permanent_delete_at is None

    def test_a_failed_create_is_500_and_stores_nothing(self, client, db, monkeypatch):
        _, token = make_user(db)
        real = sessions_service.create_session

        def create_then_fail(*args, **kwargs):
            real(*args, **kwargs)
            raise RuntimeError("boom")

        monkeypatch.setattr(sessions_service, "create_session", create_then_fail)

        response = client.post(SESSIONS, json={"questionCount": 3}, headers=auth(token))

        assert_error(response, 500, "Server error")
        assert _count(db, InterviewSession) == 0


class TestMalformedIds:
    @pytest.mark.parametrize("session_id", MALFORMED_IDS, ids=MALFORMED_ID_NAMES)
    @pytest.mark.parametrize(
        ("method", "suffix", "body"), SESSION_CALLS, ids=SESSION_CALL_IDS
    )
    def test_answer_404_on_every_session_path(
        self, client, db, session_id, method, suffix, body
    ):
        user, token = make_user(db)
        session = make_session(db, user)
        before = rows_of(db, session.id)

        response = client.request(
            method, path(session_id, suffix), json=body, headers=auth(token)
        )

        assert response.status_code == 404
        assert response.json() == SEED_404
        assert rows_of(db, session.id) == before
        assert _count(db, User) == 1


class TestOtherUsersSession:
    # 404 on every operation on a session: tests/security/test_access.py.

    def test_other_users_sessions_are_not_listed(self, client, db):
        owner, _ = make_user(db)
        _, stranger_token = make_user(db)
        make_session(db, owner)
        make_session(
            db,
            owner,
            status="DELETED",
            status_before_deletion="CREATED",
        )

        response = client.get(
            SESSIONS,
            params=[("status", "DELETED"), ("status", "EVALUATED")],
            headers=auth(stranger_token),
        )

        assert ok_data(response)["total"] == 0
