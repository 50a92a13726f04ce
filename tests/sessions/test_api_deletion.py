"""A session's end through the API: soft delete, restore, deadlines, hard delete."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from freezegun import freeze_time

from interview_retention.users.models import Resume
from tests.factories import auth, make_resume, make_session, make_user
from tests.sessions.helpers import (
    SESSIONS,
    T0,
    add_notice,
    assert_error,
    at,
    ok_data,
    path,
    reload,
    rows_of,
    tombstones,
)

RECOVERY = timedelta(days=30)
GRACE = timedelta(days=7)
SEED_404 = {"code": 404, "message": "Session not found", "data": None}


def _seed_soft_delete_body() -> str:
    """What the seed page's `softDeleteSession` sends: its own, wrong, timestamps."""
    return json.dumps(
        {
            "status": "DELETED",
            "deletedAt": "2020-01-01T00:00:00.000Z",
            "permanentDeleteAt": "2099-12-31T23:59:59.999Z",
        }
    )


def _soft_deleted(db, user, *, deleted_at=T0, **fields):
    values = {
        "status": "DELETED",
        "status_before_deletion": "COMPLETED",
        "deleted_at": deleted_at,
        "permanent_delete_at": deleted_at + RECOVERY,
        "deletion_reason": "USER",
        **fields,
    }
    return make_session(db, user, created_at=deleted_at - timedelta(days=1), **values)


# Every call on one session, with a body that would succeed on a live session.
ENDPOINTS = [
    ("GET", "", None),
    ("PATCH", "", {"status": "DELETED"}),
    ("POST", "/restore", None),
    ("DELETE", "", None),
    ("GET", "/report", None),
]


class TestSoftDelete:
    @pytest.mark.parametrize(
        "headers",
        [{"content-type": "text/plain;charset=UTF-8"}, {}],
        ids=["text-plain", "no-content-type"],
    )
    def test_seed_client_works_and_the_server_decides_the_deadline(
        self, client, db, headers
    ):
        user, token = make_user(db)
        session = make_session(db, user, status="COMPLETED")

        with freeze_time(T0):
            response = client.patch(
                path(session.id),
                content=_seed_soft_delete_body(),
                headers={**headers, **auth(token)},
            )

        data = ok_data(response)
        assert data["status"] == "DELETED"
        assert data["statusBeforeDeletion"] == "COMPLETED"
        assert at(data["deletedAt"]) == T0
        assert at(data["permanentDeleteAt"]) == T0 + RECOVERY
        assert data["deletionReason"] == "USER"
        stored = reload(db, session.id)
        assert stored.deleted_at == T0
        assert stored.permanent_delete_at == T0 + RECOVERY

    def test_repeating_it_does_not_move_the_deadline(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user)
        with freeze_time(T0):
            client.patch(
                path(session.id), content=_seed_soft_delete_body(), headers=auth(token)
            )

        with freeze_time(T0 + timedelta(days=3)):
            response = client.patch(
                path(session.id), content=_seed_soft_delete_body(), headers=auth(token)
            )

        data = ok_data(response)
        assert at(data["deletedAt"]) == T0
        assert at(data["permanentDeleteAt"]) == T0 + RECOVERY
        assert data["statusBeforeDeletion"] == "EVALUATED"
        assert reload(db, session.id).permanent_delete_at == T0 + RECOVERY

    def test_keeps_every_row_and_the_session_stays_readable(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user)
        before = rows_of(db, session.id)

        with freeze_time(T0):
            client.patch(
                path(session.id), json={"status": "DELETED"}, headers=auth(token)
            )
            response = client.get(path(session.id), headers=auth(token))

        data = ok_data(response)
        assert data["status"] == "DELETED"
        assert len(data["answers"]) == 3
        assert rows_of(db, session.id) == before
        assert tombstones(db) == []

    def test_an_earlier_retention_deadline_stands(self, client, db):
        user, token = make_user(db)
        session = make_session(
            db,
            user,
            status="EVALUATED",
            created_at=T0 - timedelta(days=100),
            retention_notice_at=T0 - timedelta(days=4),
            permanent_delete_at=T0 + timedelta(days=3),
            deletion_reason="RETENTION",
        )

        with freeze_time(T0):
            response = client.patch(
                path(session.id), json={"status": "DELETED"}, headers=auth(token)
            )

        data = ok_data(response)
        assert data["status"] == "DELETED"
        assert at(data["permanentDeleteAt"]) == T0 + timedelta(days=3)
        assert data["deletionReason"] == "RETENTION"


class TestRestore:
    def test_inside_the_window_brings_the_previous_status_back(self, client, db):
        user, token = make_user(db)
        session = _soft_deleted(db, user, status_before_deletion="IN_PROGRESS")

        with freeze_time(T0 + RECOVERY - timedelta(seconds=1)):
            response = client.post(path(session.id, "/restore"), headers=auth(token))

        data = ok_data(response)
        assert data["status"] == "IN_PROGRESS"
        assert data["statusBeforeDeletion"] is None
        assert data["deletedAt"] is None
        assert data["permanentDeleteAt"] is None
        assert data["deletionReason"] is None
        assert reload(db, session.id).status == "IN_PROGRESS"

    def test_restored_session_is_listed_again(self, client, db):
        user, token = make_user(db)
        session = _soft_deleted(db, user)

        with freeze_time(T0 + timedelta(days=1)):
            client.post(path(session.id, "/restore"), headers=auth(token))
            response = client.get(SESSIONS, headers=auth(token))

        assert [s["sessionId"] for s in ok_data(response)["items"]] == [session.id]

    @pytest.mark.parametrize(
        "after_deadline",
        [timedelta(0), timedelta(seconds=1), timedelta(days=10)],
        ids=["exactly-at", "one-second-after", "days-after"],
    )
    def test_once_the_deadline_is_reached_is_404(self, client, db, after_deadline):
        user, token = make_user(db)
        session = _soft_deleted(db, user)

        with freeze_time(T0 + RECOVERY + after_deadline):
            response = client.post(path(session.id, "/restore"), headers=auth(token))

        assert response.json() == SEED_404
        assert response.status_code == 404
        assert reload(db, session.id).status == "DELETED"

    @pytest.mark.parametrize("status", ["CREATED", "IN_PROGRESS", "EVALUATED"])
    def test_a_session_that_is_not_deleted_is_409(self, client, db, status):
        user, token = make_user(db)
        session = make_session(db, user, status=status, created_at=T0)

        with freeze_time(T0 + timedelta(hours=1)):
            response = client.post(path(session.id, "/restore"), headers=auth(token))

        assert_error(response, 409, "Session is not deleted")
        stored = reload(db, session.id)
        assert stored.status == status
        assert stored.updated_at == T0


class TestDeadline:
    @pytest.mark.parametrize(("method", "suffix", "body"), ENDPOINTS)
    def test_past_its_deadline_a_session_is_gone_before_any_purge(
        self, client, db, method, suffix, body
    ):
        user, token = make_user(db)
        session = _soft_deleted(db, user)
        before = rows_of(db, session.id)

        with freeze_time(T0 + RECOVERY):
            response = client.request(
                method, path(session.id, suffix), json=body, headers=auth(token)
            )

        assert response.status_code == 404
        assert response.json() == SEED_404
        assert rows_of(db, session.id) == before
        assert tombstones(db) == []

    def test_past_its_deadline_a_session_is_not_listed(self, client, db):
        user, token = make_user(db)
        _soft_deleted(db, user)

        with freeze_time(T0 + RECOVERY):
            response = client.get(
                SESSIONS, params={"status": "DELETED"}, headers=auth(token)
            )

        assert ok_data(response) == {
            "items": [],
            "total": 0,
            "page": 1,
            "pageSize": 20,
        }

    def test_one_second_before_its_deadline_a_session_is_listed(self, client, db):
        user, token = make_user(db)
        session = _soft_deleted(db, user)

        with freeze_time(T0 + RECOVERY - timedelta(seconds=1)):
            response = client.get(
                SESSIONS, params={"status": "DELETED"}, headers=auth(token)
            )

        assert [s["sessionId"] for s in ok_data(response)["items"]] == [session.id]

    def test_a_retention_deadline_hides_a_live_session_too(self, client, db):
        user, token = make_user(db)
        session = make_session(
            db,
            user,
            created_at=T0 - timedelta(days=100),
            retention_notice_at=T0 - GRACE,
            permanent_delete_at=T0,
            deletion_reason="RETENTION",
        )

        with freeze_time(T0):
            one = client.get(path(session.id), headers=auth(token))
            listed = client.get(SESSIONS, headers=auth(token))

        assert one.json() == SEED_404
        assert ok_data(listed)["total"] == 0

    def test_during_the_grace_period_a_session_is_readable_and_shows_its_deadline(
        self, client, db
    ):
        user, token = make_user(db)
        session = make_session(
            db,
            user,
            created_at=T0 - timedelta(days=100),
            retention_notice_at=T0 - timedelta(days=4),
            permanent_delete_at=T0 + timedelta(days=3),
            deletion_reason="RETENTION",
        )

        with freeze_time(T0):
            one = client.get(path(session.id), headers=auth(token))
            report = client.get(path(session.id, "/report"), headers=auth(token))
            listed = client.get(SESSIONS, headers=auth(token))

        data = ok_data(one)
        assert data["status"] == "EVALUATED"
        assert at(data["permanentDeleteAt"]) == T0 + timedelta(days=3)
        assert data["deletionReason"] == "RETENTION"
        assert ok_data(report)["content"]["summary"] == "Good session"
        assert [s["sessionId"] for s in ok_data(listed)["items"]] == [session.id]

    def test_a_session_on_legal_hold_past_its_deadline_is_still_visible(
        self, client, db
    ):
        user, token = make_user(db)
        session = _soft_deleted(db, user, legal_hold=True, legal_hold_at=T0)

        with freeze_time(T0 + RECOVERY + timedelta(days=1)):
            one = client.get(path(session.id), headers=auth(token))
            report = client.get(path(session.id, "/report"), headers=auth(token))
            listed = client.get(
                SESSIONS, params={"status": "DELETED"}, headers=auth(token)
            )

        assert ok_data(one)["legalHold"] is True
        assert ok_data(report)["sessionId"] == session.id
        assert [s["sessionId"] for s in ok_data(listed)["items"]] == [session.id]

    def test_a_cached_report_is_not_served_once_the_deadline_is_reached(
        self, client, db, cache
    ):
        user, token = make_user(db)
        session = _soft_deleted(db, user)
        with freeze_time(T0 + timedelta(days=1)):
            ok_data(client.get(path(session.id, "/report"), headers=auth(token)))
        assert cache.get(session.id) is not None

        with freeze_time(T0 + RECOVERY):
            response = client.get(path(session.id, "/report"), headers=auth(token))

        assert response.json() == SEED_404


class TestHardDelete:
    def test_removes_the_session_and_every_child_and_keeps_the_resume(self, client, db):
        user, token = make_user(db)
        resume = make_resume(db, user)
        session = make_session(db, user, resume=resume, created_at=T0)
        add_notice(db, session, status="CANCELLED")
        session_id, resume_id = session.id, resume.id

        with freeze_time(T0 + timedelta(hours=1)):
            response = client.delete(path(session_id), headers=auth(token))

        assert response.json() == {"code": 200, "message": "success", "data": None}
        assert response.status_code == 200
        assert set(rows_of(db, session_id).values()) == {0}
        db.expire_all()
        assert db.get(Resume, resume_id) is not None

    def test_writes_one_tombstone_with_counts_and_no_content(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user, created_at=T0)
        add_notice(db, session, status="CANCELLED")
        session_id = session.id

        with freeze_time(T0 + timedelta(hours=1)):
            client.delete(path(session_id), headers=auth(token))

        [entry] = tombstones(db)
        assert entry.session_id == session_id
        assert entry.user_id == user.id
        assert entry.reason == "USER"
        assert entry.actor == f"user:{user.id}"
        assert entry.purged_at == T0 + timedelta(hours=1)
        assert entry.requested_at == T0 + timedelta(hours=1)
        assert entry.rows_removed == {
            "interview_sessions": 1,
            "questions": 3,
            "answers": 3,
            "evaluations": 1,
            "reports": 1,
            "deletion_notices": 1,
        }
        columns = {c.key: getattr(entry, c.key) for c in entry.__table__.columns}
        written = json.dumps(columns, default=str)
        for content in ("closure", "box model", "private answer", "Good session"):
            assert content not in written

    def test_deletes_a_soft_deleted_session_inside_its_window(self, client, db):
        user, token = make_user(db)
        session = _soft_deleted(db, user)
        session_id = session.id

        with freeze_time(T0 + timedelta(days=2)):
            response = client.delete(path(session_id), headers=auth(token))

        assert ok_data(response) is None
        assert rows_of(db, session_id)["interview_sessions"] == 0
        [entry] = tombstones(db)
        assert entry.requested_at == T0
        assert entry.purged_at == T0 + timedelta(days=2)

    def test_a_second_delete_is_404_with_the_seed_envelope(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user)
        client.delete(path(session.id), headers=auth(token))

        response = client.delete(path(session.id), headers=auth(token))

        assert response.status_code == 404
        assert response.json() == SEED_404
        assert len(tombstones(db)) == 1

    @pytest.mark.parametrize("deadline", [None, T0 - timedelta(days=1)])
    def test_legal_hold_is_409_and_deletes_nothing(self, client, db, deadline):
        user, token = make_user(db)
        session = make_session(
            db,
            user,
            legal_hold=True,
            legal_hold_at=T0 - timedelta(days=2),
            permanent_delete_at=deadline,
        )
        before = rows_of(db, session.id)

        with freeze_time(T0):
            response = client.delete(path(session.id), headers=auth(token))

        assert_error(response, 409, "Session is under legal hold and cannot be deleted")
        assert rows_of(db, session.id) == before
        assert tombstones(db) == []

    def test_evicts_the_cached_report(self, client, db, cache):
        user, token = make_user(db)
        session = make_session(db, user)
        ok_data(client.get(path(session.id, "/report"), headers=auth(token)))
        assert cache.get(session.id) is not None

        response = client.delete(path(session.id), headers=auth(token))

        assert ok_data(response) is None
        assert cache.get(session.id) is None
        report = client.get(path(session.id, "/report"), headers=auth(token))
        assert report.json() == SEED_404
        [entry] = tombstones(db)
        assert entry.cache_keys_evicted == 1

    def test_a_deleted_session_is_gone_from_every_endpoint(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user)
        client.delete(path(session.id), headers=auth(token))

        answers = [
            client.request(
                method, path(session.id, suffix), json=body, headers=auth(token)
            )
            for method, suffix, body in ENDPOINTS
        ]
        listed = client.get(
            SESSIONS,
            params=[("status", "DELETED"), ("status", "EVALUATED")],
            headers=auth(token),
        )

        assert [a.json() for a in answers] == [SEED_404] * len(ENDPOINTS)
        assert ok_data(listed)["total"] == 0
