"""The admin API: access, jobs and their runs, legal holds, backlog, deletion log.

The health checks, which need no token, are at the end.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import quote

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from interview_retention import __version__
from interview_retention.admin import api as admin_api
from interview_retention.api import app as app_module
from interview_retention.deletion.models import (
    DeletionLogEntry,
    DeletionNotice,
    JobRun,
)
from interview_retention.worker.tasks import TASKS
from tests.factories import auth, make_session, make_user
from tests.sessions.helpers import (
    T0,
    add_notice,
    assert_error,
    at,
    ok_data,
    path,
    reload,
)

ADMIN = "/api/admin"
DAY = timedelta(days=1)
GRACE = timedelta(days=7)
RECOVERY = timedelta(days=30)
HOLD = {"reason": "Litigation hold, case 2026-17"}
LIFT = {"reason": "Case 2026-17 settled"}


def hold_path(session_id: str) -> str:
    return f"{ADMIN}/sessions/{quote(session_id, safe='')}/legal-hold"


def _runs(db) -> list[JobRun]:
    runs = list(db.scalars(select(JobRun)).all())
    db.rollback()
    return runs


def _count(db, model) -> int:
    count = db.scalar(select(func.count()).select_from(model))
    db.rollback()
    return count


def _tombstone(db, *, user_id: str, reason: str, purged_at) -> DeletionLogEntry:
    entry = DeletionLogEntry(
        session_id=str(uuid.uuid4()),
        user_id=user_id,
        reason=reason,
        actor="system:purge" if reason != "USER" else f"user:{user_id}",
        requested_at=purged_at - RECOVERY,
        purged_at=purged_at,
        rows_removed={"interview_sessions": 1, "questions": 3},
        cache_keys_evicted=0,
        task_id=None,
    )
    db.add(entry)
    db.commit()
    return entry


class TestAccess:
    # 401 and 403 on every admin operation: tests/security/test_access.py.

    @pytest.mark.parametrize(
        ("headers", "code"),
        [({}, 401), ("user", 403)],
        ids=["no-token", "user-token"],
    )
    def test_the_caller_is_checked_before_the_hold_body(
        self, client, db, headers, code
    ):
        user, token = make_user(db)
        session = make_session(db, user)
        headers = auth(token) if headers == "user" else headers

        response = client.put(
            hold_path(session.id),
            content="{not json",
            headers={"content-type": "text/html", **headers},
        )

        assert_error(response, code)
        assert reload(db, session.id).legal_hold is False


class TestTriggerJob:
    @pytest.mark.parametrize("job", ["purge", "retention", "notices"])
    def test_sends_the_task_once_after_the_run_is_committed(
        self, client, db, sent, job
    ):
        admin, token = make_user(db, admin=True)

        with freeze_time(T0):
            response = client.post(f"{ADMIN}/jobs/{job}", headers=auth(token))

        body = response.json()
        assert response.status_code == body["code"] == 202
        assert body["message"] == "success"
        data = body["data"]
        assert data["job"] == job
        assert data["status"] == "QUEUED"
        assert data["trigger"] == "admin"
        assert at(data["queuedAt"]) == T0
        assert sent == [
            {
                "job": job,
                "args": (),
                "kwargs": {
                    "task_id": data["taskId"],
                    "kwargs": {"trigger": "admin", "params": {}},
                },
                "committed": True,
            }
        ]
        [run] = _runs(db)
        assert run.id == data["taskId"]
        assert run.requested_by == admin.id

    def test_each_trigger_is_a_new_run(self, client, db, sent):
        _, token = make_user(db, admin=True)

        first = client.post(f"{ADMIN}/jobs/purge", headers=auth(token)).json()
        second = client.post(f"{ADMIN}/jobs/purge", headers=auth(token)).json()

        assert first["data"]["taskId"] != second["data"]["taskId"]
        assert [c["kwargs"]["task_id"] for c in sent] == [
            first["data"]["taskId"],
            second["data"]["taskId"],
        ]

    def test_unknown_job_is_422_and_sends_nothing(self, client, db, sent):
        _, token = make_user(db, admin=True)

        response = client.post(f"{ADMIN}/jobs/vacuum", headers=auth(token))

        assert "job" in assert_error(response, 422)
        assert sent == []
        assert _runs(db) == []

    @pytest.mark.parametrize("where", ["query", "body"])
    @pytest.mark.parametrize("name", ["dryrun", "dry_run", "force"])
    def test_an_unknown_option_is_refused_rather_than_ignored(
        self, client, db, sent, where, name
    ):
        _, token = make_user(db, admin=True)
        options = {name: "true"} if where == "query" else None
        body = {name: True} if where == "body" else None

        response = client.post(
            f"{ADMIN}/jobs/purge", params=options, json=body, headers=auth(token)
        )

        assert f"Unknown option: {name}" in assert_error(response, 422)
        assert sent == []
        assert _runs(db) == []

    def test_a_request_that_fails_sends_nothing(self, client, db, sent, monkeypatch):
        _, token = make_user(db, admin=True)

        def fail(run):
            raise RuntimeError("serialising the run failed")

        monkeypatch.setattr(admin_api.JobRunOut, "of", fail)

        response = client.post(f"{ADMIN}/jobs/retention", headers=auth(token))

        assert_error(response, 500, "Server error")
        assert sent == []
        assert _runs(db) == []

    def test_a_broker_that_refuses_the_message_fails_the_run(
        self, client, db, monkeypatch
    ):
        _, token = make_user(db, admin=True)

        def refuse(*args, **kwargs):
            raise ConnectionError("broker away")

        monkeypatch.setattr(TASKS["purge"], "apply_async", refuse)

        response = client.post(f"{ADMIN}/jobs/purge", headers=auth(token))

        task_id = response.json()["data"]["taskId"]
        followed = client.get(f"{ADMIN}/tasks/{task_id}", headers=auth(token))
        assert ok_data(followed)["status"] == "FAILED"
        assert "could not queue" in ok_data(followed)["error"]

    def test_the_run_can_be_followed(self, client, db, sent):
        _, token = make_user(db, admin=True)
        with freeze_time(T0):
            task_id = client.post(f"{ADMIN}/jobs/notices", headers=auth(token)).json()[
                "data"
            ]["taskId"]

        response = client.get(f"{ADMIN}/tasks/{task_id}", headers=auth(token))

        data = ok_data(response)
        assert data["taskId"] == task_id
        assert data["job"] == "notices"
        assert data["status"] == "QUEUED"
        assert at(data["queuedAt"]) == T0
        assert data["startedAt"] is None
        assert data["result"] == {}


class TestTasks:
    @pytest.mark.parametrize(
        "task_id", [str(uuid.uuid4()), "x" * 300, "a\x00b"], ids=["uuid", "long", "nul"]
    )
    def test_unknown_task_is_404(self, client, db, task_id):
        _, token = make_user(db, admin=True)

        response = client.get(
            f"{ADMIN}/tasks/{quote(task_id, safe='')}", headers=auth(token)
        )

        assert_error(response, 404, "Task not found")

    def test_a_finished_run_shows_its_result(self, client, db):
        _, token = make_user(db, admin=True)
        db.add(
            JobRun(
                id="run-1",
                job="purge",
                status="SUCCEEDED",
                trigger="beat",
                queued_at=T0,
                started_at=T0 + timedelta(seconds=1),
                finished_at=T0 + timedelta(seconds=3),
                result={"purged": 4, "batches": 1},
            )
        )
        db.commit()

        response = client.get(f"{ADMIN}/tasks/run-1", headers=auth(token))

        data = ok_data(response)
        assert data["status"] == "SUCCEEDED"
        assert at(data["finishedAt"]) == T0 + timedelta(seconds=3)
        assert data["result"] == {"purged": 4, "batches": 1}
        assert data["error"] is None

    def test_a_known_run_id_with_more_characters_is_404(self, client, db):
        _, token = make_user(db, admin=True)
        run_id = uuid.uuid4().hex * 2  # as long as the column allows
        db.add(JobRun(id=run_id, job="purge", trigger="beat", queued_at=T0))
        db.commit()

        found = client.get(f"{ADMIN}/tasks/{run_id}", headers=auth(token))
        longer = client.get(f"{ADMIN}/tasks/{run_id}-extra", headers=auth(token))

        assert ok_data(found)["taskId"] == run_id
        assert_error(longer, 404, "Task not found")


class TestLegalHold:
    def test_hold_cancels_a_retention_schedule(self, client, db):
        _, token = make_user(db, admin=True)
        owner, _ = make_user(db)
        session = make_session(
            db,
            owner,
            created_at=T0 - timedelta(days=100),
            retention_notice_at=T0 - timedelta(days=2),
            permanent_delete_at=T0 + timedelta(days=5),
            deletion_reason="RETENTION",
        )
        notice_id = add_notice(db, session, status="RETRY").id

        with freeze_time(T0):
            response = client.put(hold_path(session.id), json=HOLD, headers=auth(token))

        data = ok_data(response)
        assert data["legalHold"] is True
        assert data["permanentDeleteAt"] is None
        assert data["retentionNoticeAt"] is None
        assert data["deletionReason"] is None
        stored = reload(db, session.id)
        assert stored.legal_hold_reason == HOLD["reason"]
        assert stored.legal_hold_at == T0
        assert stored.notice_cycle == 1
        db.expire_all()
        assert db.get(DeletionNotice, notice_id).status == "CANCELLED"

    def test_hold_keeps_a_users_soft_delete_deadline(self, client, db):
        _, token = make_user(db, admin=True)
        owner, _ = make_user(db)
        session = make_session(
            db,
            owner,
            status="DELETED",
            status_before_deletion="EVALUATED",
            deleted_at=T0,
            permanent_delete_at=T0 + RECOVERY,
            deletion_reason="USER",
        )

        with freeze_time(T0 + timedelta(days=1)):
            response = client.put(hold_path(session.id), json=HOLD, headers=auth(token))

        data = ok_data(response)
        assert data["legalHold"] is True
        assert at(data["permanentDeleteAt"]) == T0 + RECOVERY
        assert data["status"] == "DELETED"

    def test_a_held_session_cannot_be_deleted_by_its_owner(self, client, db):
        _, admin_token = make_user(db, admin=True)
        owner, owner_token = make_user(db)
        session = make_session(db, owner)
        ok_data(client.put(hold_path(session.id), json=HOLD, headers=auth(admin_token)))

        response = client.delete(path(session.id), headers=auth(owner_token))

        assert_error(response, 409)
        assert reload(db, session.id) is not None

    @pytest.mark.parametrize(
        ("deadline", "expected"),
        [
            (T0 + timedelta(days=2), T0 + GRACE),
            (T0 - timedelta(days=5), T0 + GRACE),
            (T0 + timedelta(days=20), T0 + timedelta(days=20)),
        ],
        ids=["sooner-than-grace", "passed-while-held", "later-than-grace"],
    )
    def test_lift_never_brings_the_deadline_closer_than_grace(
        self, client, db, deadline, expected
    ):
        _, token = make_user(db, admin=True)
        owner, _ = make_user(db)
        session = make_session(
            db,
            owner,
            status="DELETED",
            status_before_deletion="COMPLETED",
            deleted_at=deadline - RECOVERY,
            permanent_delete_at=deadline,
            deletion_reason="USER",
            legal_hold=True,
            legal_hold_reason="audit",
            legal_hold_at=T0 - timedelta(days=40),
        )

        with freeze_time(T0):
            response = client.request(
                "DELETE", hold_path(session.id), json=LIFT, headers=auth(token)
            )

        data = ok_data(response)
        assert data["legalHold"] is False
        assert at(data["permanentDeleteAt"]) == expected
        stored = reload(db, session.id)
        assert stored.legal_hold_reason is None
        assert stored.permanent_delete_at == expected

    def test_lift_leaves_a_session_without_a_deadline_without_one(self, client, db):
        _, token = make_user(db, admin=True)
        owner, _ = make_user(db)
        session = make_session(db, owner, legal_hold=True, legal_hold_at=T0)

        with freeze_time(T0 + timedelta(days=1)):
            response = client.request(
                "DELETE", hold_path(session.id), json=LIFT, headers=auth(token)
            )

        data = ok_data(response)
        assert data["legalHold"] is False
        assert data["permanentDeleteAt"] is None

    def test_lift_of_a_session_not_on_hold_changes_nothing(self, client, db):
        _, token = make_user(db, admin=True)
        owner, _ = make_user(db)
        session = make_session(db, owner, created_at=T0)

        with freeze_time(T0 + timedelta(days=1)):
            response = client.request(
                "DELETE", hold_path(session.id), json=LIFT, headers=auth(token)
            )

        assert ok_data(response)["legalHold"] is False
        assert reload(db, session.id).updated_at == T0

    @pytest.mark.parametrize("method", ["PUT", "DELETE"])
    @pytest.mark.parametrize(
        "session_id",
        [
            str(uuid.uuid4()),
            "a1b2c3d4-e5f6-4789-g0h1-i2j3k4l5m6n7",
            "x" * 500,
            "a\x00b",
        ],
        ids=["uuid", "seed-example", "long", "nul"],
    )
    def test_unknown_session_is_404(self, client, db, method, session_id):
        _, token = make_user(db, admin=True)

        response = client.request(
            method, hold_path(session_id), json=HOLD, headers=auth(token)
        )

        assert_error(response, 404, "Session not found")

    def test_hold_on_a_session_past_its_deadline_is_404(self, client, db):
        _, token = make_user(db, admin=True)
        owner, _ = make_user(db)
        session = make_session(
            db,
            owner,
            status="DELETED",
            status_before_deletion="EVALUATED",
            deleted_at=T0 - RECOVERY,
            permanent_delete_at=T0,
            deletion_reason="USER",
        )

        with freeze_time(T0):
            response = client.put(hold_path(session.id), json=HOLD, headers=auth(token))

        assert_error(response, 404, "Session not found")
        assert reload(db, session.id).legal_hold is False

    @pytest.mark.parametrize(
        "body",
        [{}, {"reason": "no"}, {"reason": "x" * 501}, {**HOLD, "until": "never"}],
        ids=["missing", "short", "long", "unknown-field"],
    )
    def test_bad_hold_body_is_422(self, client, db, body):
        _, token = make_user(db, admin=True)
        owner, _ = make_user(db)
        session = make_session(db, owner)

        response = client.put(hold_path(session.id), json=body, headers=auth(token))

        assert_error(response, 422)
        assert reload(db, session.id).legal_hold is False


class TestBacklog:
    def test_counts_what_is_waiting_due_overdue_and_held(self, client, db):
        _, token = make_user(db, admin=True)
        owner, _ = make_user(db)
        old = T0 - timedelta(days=100)

        def deleted(deadline, **fields):
            return make_session(
                db,
                owner,
                created_at=old,
                status="DELETED",
                status_before_deletion="EVALUATED",
                deleted_at=deadline - RECOVERY,
                permanent_delete_at=deadline,
                deletion_reason="USER",
                children=False,
                **fields,
            )

        deleted(T0 + timedelta(days=10))
        make_session(
            db,
            owner,
            created_at=old,
            retention_notice_at=T0 - timedelta(days=4),
            permanent_delete_at=T0 + timedelta(days=3),
            deletion_reason="RETENTION",
            children=False,
        )
        deleted(T0 - timedelta(minutes=5))
        deleted(T0 - timedelta(hours=1))
        deleted(T0 - timedelta(days=2), legal_hold=True, legal_hold_at=old)
        for status in ("PENDING", "RETRY", "FAILED", "SENT"):
            add_notice(
                db,
                make_session(db, owner, created_at=old, children=False),
                status=status,
            )

        with freeze_time(T0):
            response = client.get(f"{ADMIN}/retention/backlog", headers=auth(token))

        assert ok_data(response) == {
            "softDeleted": 1,
            "scheduledByRetention": 1,
            "dueNow": 2,
            "overdue": 1,
            "oldestOverdueSeconds": 3600.0,
            "noticesPending": 2,
            "noticesFailed": 1,
            "legalHolds": 1,
        }

    def test_an_empty_backlog_is_all_zero(self, client, db):
        _, token = make_user(db, admin=True)

        response = client.get(f"{ADMIN}/retention/backlog", headers=auth(token))

        data = ok_data(response)
        assert data["oldestOverdueSeconds"] is None
        assert {k: v for k, v in data.items() if k != "oldestOverdueSeconds"} == {
            "softDeleted": 0,
            "scheduledByRetention": 0,
            "dueNow": 0,
            "overdue": 0,
            "noticesPending": 0,
            "noticesFailed": 0,
            "legalHolds": 0,
        }


class TestDeletionLog:
    @pytest.fixture
    def log(self, db):
        """Five tombstones: two users, three reasons, one a day from T0 - 4 days."""
        alice, _ = make_user(db)
        bob, _ = make_user(db)
        made = [
            _tombstone(db, user_id=alice.id, reason="USER", purged_at=T0 - 4 * DAY),
            _tombstone(db, user_id=bob.id, reason="RETENTION", purged_at=T0 - 3 * DAY),
            _tombstone(
                db, user_id=alice.id, reason="RETENTION", purged_at=T0 - 2 * DAY
            ),
            _tombstone(db, user_id=bob.id, reason="ADMIN", purged_at=T0 - DAY),
            _tombstone(db, user_id=alice.id, reason="USER", purged_at=T0),
        ]
        return {"alice": alice.id, "bob": bob.id, "ids": [e.session_id for e in made]}

    def _ask(self, client, db, **params):
        _, token = make_user(db, admin=True)
        return ok_data(
            client.get(f"{ADMIN}/deletion-log", params=params, headers=auth(token))
        )

    def test_lists_every_tombstone_newest_first(self, client, db, log):
        data = self._ask(client, db)

        assert [e["sessionId"] for e in data["items"]] == log["ids"][::-1]
        assert data["total"] == 5
        newest = data["items"][0]
        assert newest["rowsRemoved"] == {"interview_sessions": 1, "questions": 3}
        assert newest["actor"] == f"user:{log['alice']}"
        assert at(newest["purgedAt"]) == T0
        assert at(newest["requestedAt"]) == T0 - RECOVERY

    def test_filters_by_reason(self, client, db, log):
        data = self._ask(client, db, reason="RETENTION")

        assert [e["sessionId"] for e in data["items"]] == [
            log["ids"][2],
            log["ids"][1],
        ]
        assert {e["reason"] for e in data["items"]} == {"RETENTION"}

    def test_filters_by_user(self, client, db, log):
        data = self._ask(client, db, userId=log["bob"])

        assert [e["sessionId"] for e in data["items"]] == [
            log["ids"][3],
            log["ids"][1],
        ]
        assert data["total"] == 2

    def test_since_is_inclusive_and_until_exclusive(self, client, db, log):
        data = self._ask(
            client,
            db,
            since=(T0 - 3 * DAY).isoformat(),
            until=(T0 - DAY).isoformat(),
        )

        assert [e["sessionId"] for e in data["items"]] == [
            log["ids"][2],
            log["ids"][1],
        ]

    def test_filters_combine(self, client, db, log):
        data = self._ask(
            client, db, userId=log["alice"], reason="USER", since=T0.isoformat()
        )

        assert [e["sessionId"] for e in data["items"]] == [log["ids"][4]]

    def test_paginates(self, client, db, log):
        data = self._ask(client, db, page=2, pageSize=2)

        assert [e["sessionId"] for e in data["items"]] == [
            log["ids"][2],
            log["ids"][1],
        ]
        assert data["total"] == 5
        assert data["page"] == 2
        assert data["pageSize"] == 2

    def test_records_a_delete_made_through_the_sessions_api(self, client, db):
        _, admin_token = make_user(db, admin=True)
        owner, owner_token = make_user(db)
        session = make_session(db, owner)
        with freeze_time(T0):
            ok_data(client.delete(path(session.id), headers=auth(owner_token)))

        response = client.get(
            f"{ADMIN}/deletion-log",
            params={"userId": owner.id},
            headers=auth(admin_token),
        )

        [entry] = ok_data(response)["items"]
        assert entry["sessionId"] == session.id
        assert entry["reason"] == "USER"
        assert at(entry["purgedAt"]) == T0
        assert entry["rowsRemoved"] == {
            "interview_sessions": 1,
            "questions": 3,
            "answers": 3,
            "evaluations": 1,
            "reports": 1,
            "deletion_notices": 0,
        }
        assert entry["taskId"] is None

    @pytest.mark.parametrize(
        "params",
        [
            {"reason": "PURGE"},
            {"since": "2026-03-02T09:30:00"},
            {"until": "tomorrow"},
            {"userId": "u" * 37},
            {"userId": "a\x00b"},
            {"pageSize": 201},
        ],
        ids=["reason", "naive-since", "bad-until", "long-user", "nul-user", "page"],
    )
    def test_bad_filter_is_422(self, client, db, params):
        _, token = make_user(db, admin=True)

        response = client.get(
            f"{ADMIN}/deletion-log", params=params, headers=auth(token)
        )

        assert_error(response, 422)


class TestHealth:
    def test_healthz_answers_without_a_token(self, client):
        response = client.get("/healthz")

        assert ok_data(response) == {"status": "ok", "version": __version__}

    def test_readyz_answers_without_a_token(self, client):
        response = client.get("/readyz")

        assert ok_data(response) == {
            "status": "ready",
            "checks": {"database": True, "broker": True},
        }

    def test_readyz_is_503_when_the_database_is_unreachable(self, client, monkeypatch):
        monkeypatch.setattr(app_module, "_database_ok", lambda app: False)

        response = client.get("/readyz")

        assert_error(response, 503, "Not ready: database")
