"""Triggers with options, dry-run plans, running a plan, and a run's progress.

A triggered run is executed here as the worker would execute the task the API
sent: same job, same task id, same params, in this process.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from interview_retention.deletion import jobs
from interview_retention.deletion.models import DeletionPlan, JobRun
from interview_retention.worker.tasks import TASKS
from tests.deletion.support import (
    RecordingChannel,
    make_soft_deleted,
    table_snapshot,
)
from tests.factories import auth, make_session, make_user
from tests.sessions.helpers import T0, assert_error, at, ok_data, path, reload

ADMIN = "/api/admin"
HOUR = timedelta(hours=1)
RETENTION = timedelta(days=90)


@pytest.fixture
def sent(monkeypatch, factory) -> list[dict]:
    """Every task the API sends, with whether its run was committed by then."""
    calls: list[dict] = []
    for job, task in TASKS.items():

        def record(*args, _job=job, **kwargs):
            with factory() as check:
                committed = check.get(JobRun, kwargs.get("task_id")) is not None
            calls.append({"job": _job, "kwargs": kwargs, "committed": committed})

        monkeypatch.setattr(task, "apply_async", record)
    return calls


@pytest.fixture
def admin(db):
    user, token = make_user(db, admin=True)
    return user, auth(token)


def run_sent(call, *, factory, settings, cache, now):
    """Run a task the API sent, as the worker does."""
    options = call["kwargs"]["kwargs"]
    return jobs.run_job(
        call["job"],
        jobs.body_of(call["job"], cache=cache, channel=RecordingChannel()),
        factory=factory,
        settings=settings,
        run_id=call["kwargs"]["task_id"],
        trigger=options["trigger"],
        now=now,
        params=options["params"],
    )


def trigger(client, headers, job="purge", **options):
    return client.post(f"{ADMIN}/jobs/{job}", json=options or None, headers=headers)


def dry_run(client, headers, job="purge", **options) -> dict:
    return ok_data(trigger(client, headers, job, dryRun=True, **options))


def refused(response, message_part: str) -> dict:
    """A 409 whose envelope carries why in `data`."""
    body = response.json()
    assert response.status_code == body["code"] == 409, body
    assert message_part in body["message"]
    return body["data"]


def count(db, model) -> int:
    value = db.scalar(select(func.count()).select_from(model))
    db.rollback()
    return value


def stored_plan(db, plan_id) -> DeletionPlan:
    plan = db.get(DeletionPlan, plan_id, populate_existing=True)
    db.rollback()
    return plan


class TestOptions:
    @pytest.mark.parametrize(
        "options",
        [
            {"batchSize": 0},
            {"batchSize": 10_001},
            {"batchSize": "many"},
            {"limit": 0},
            {"limit": -3},
            {"dryRun": "maybe"},
            {"planId": ""},
            {"planId": "x" * 37},
            {"dryRun": True, "planId": str(uuid.uuid4())},
            {"planId": str(uuid.uuid4()), "limit": 5},
        ],
        ids=[
            "batch-zero",
            "batch-too-big",
            "batch-not-a-number",
            "limit-zero",
            "limit-negative",
            "dry-run-not-a-bool",
            "plan-empty",
            "plan-too-long",
            "dry-run-and-plan",
            "plan-and-limit",
        ],
    )
    @pytest.mark.parametrize("where", ["body", "query"])
    def test_a_bad_option_is_422_and_changes_nothing(
        self, client, db, sent, admin, options, where
    ):
        _, headers = admin
        if where == "query":
            response = client.post(
                f"{ADMIN}/jobs/purge",
                params={k: str(v).lower() for k, v in options.items()},
                headers=headers,
            )
        else:
            response = client.post(f"{ADMIN}/jobs/purge", json=options, headers=headers)

        assert_error(response, 422)
        assert sent == []
        assert count(db, JobRun) == count(db, DeletionPlan) == 0

    @pytest.mark.parametrize(
        ("request_kwargs", "message"),
        [
            (
                {"params": {"limit": "2"}, "json": {"batchSize": 2}},
                "not both",
            ),
            ({"params": [("limit", "1"), ("limit", "2")]}, "more than once: limit"),
            ({"content": "[1, 2]"}, "must be a JSON object"),
            ({"content": "{dryRun: true}"}, "not valid JSON"),
        ],
        ids=["body-and-query", "repeated", "array", "not-json"],
    )
    def test_an_ambiguous_request_is_422(
        self, client, db, sent, admin, request_kwargs, message
    ):
        _, headers = admin

        response = client.post(f"{ADMIN}/jobs/purge", headers=headers, **request_kwargs)

        assert message in assert_error(response, 422)
        assert sent == []

    @pytest.mark.parametrize(
        ("token", "code"), [(None, 401), ("user", 403)], ids=["no-token", "user"]
    )
    def test_the_caller_is_checked_before_the_options(
        self, client, db, sent, token, code
    ):
        _, user_token = make_user(db)
        headers = auth(user_token) if token == "user" else {}

        response = client.post(
            f"{ADMIN}/jobs/purge", json={"force": True, "limit": 0}, headers=headers
        )

        assert_error(response, code)
        assert sent == []

    def test_batch_size_and_limit_travel_with_the_task(self, client, db, sent, admin):
        user, headers = admin

        response = trigger(client, headers, batchSize=50, limit=100)

        data = response.json()["data"]
        assert response.status_code == 202
        assert data["params"] == {"batchSize": 50, "limit": 100}
        assert data["requestedBy"] == user.id
        assert sent[0]["kwargs"]["kwargs"] == {
            "trigger": "admin",
            "params": {"batchSize": 50, "limit": 100},
        }
        run = db.get(JobRun, data["taskId"])
        assert run.params == {"batchSize": 50, "limit": 100}

    def test_options_may_come_in_the_query(self, client, db, user_sessions, admin):
        _, headers = admin

        response = client.post(
            f"{ADMIN}/jobs/purge",
            params={"dryRun": "true", "limit": "1"},
            headers=headers,
        )

        data = ok_data(response)
        assert data["count"] == 1
        assert data["params"]["limit"] == 1


@pytest.fixture
def user_sessions(db):
    """Three sessions due at T0 (deadlines 3, 2 and 1 hours before), and one due
    ten minutes later."""
    owner, token = make_user(db)
    due = [
        make_soft_deleted(db, owner, deadline=T0 - i * HOUR, children=False)
        for i in (3, 2, 1)
    ]
    later = make_soft_deleted(
        db, owner, deadline=T0 + timedelta(minutes=10), children=False
    )
    return {"owner": owner, "token": token, "due": due, "later": later}


class TestDryRun:
    @pytest.mark.parametrize("job", ["purge", "retention", "notices"])
    def test_changes_nothing_and_answers_the_plan(
        self, client, db, sent, admin, user_sessions, job
    ):
        user, headers = admin
        make_session(db, user_sessions["owner"], created_at=T0 - RETENTION - HOUR)
        before = table_snapshot(db, skip=("deletion_plans",))

        with freeze_time(T0):
            response = trigger(client, headers, job, dryRun=True)

        data = ok_data(response)
        assert table_snapshot(db, skip=("deletion_plans",)) == before
        assert sent == []
        assert count(db, DeletionPlan) == 1
        assert data["job"] == job
        assert data["state"] == "READY"
        assert data["createdBy"] == user.id
        assert at(data["asOf"]) == T0
        assert at(data["expiresAt"]) == T0 + HOUR
        assert data["count"] == len(data["sessionIds"])
        assert (
            data["digest"]
            == hashlib.sha256(
                "\n".join(sorted(data["sessionIds"])).encode()
            ).hexdigest()
        )
        assert data["executedAt"] is None

    def test_the_purge_plan_lists_what_is_due(
        self, client, db, sent, admin, user_sessions
    ):
        _, headers = admin

        with freeze_time(T0):
            data = dry_run(client, headers)

        assert data["sessionIds"] == [s.id for s in user_sessions["due"]]
        assert data["count"] == 3
        assert at(data["oldestDeadline"]) == T0 - 3 * HOUR
        assert data["truncated"] is False
        assert data["params"] == {
            "limit": 100_000,
            "batchSize": None,
            "truncated": False,
        }

    def test_a_limit_cuts_the_plan(self, client, db, admin, user_sessions):
        _, headers = admin

        with freeze_time(T0):
            data = dry_run(client, headers, limit=2, batchSize=1)

        assert data["sessionIds"] == [s.id for s in user_sessions["due"][:2]]
        assert data["truncated"] is True
        assert data["params"] == {"limit": 2, "batchSize": 1, "truncated": True}


class TestGetPlan:
    def test_shows_the_plan_and_pages_its_ids(self, client, db, admin, user_sessions):
        _, headers = admin
        with freeze_time(T0):
            plan_id = dry_run(client, headers)["planId"]

        with freeze_time(T0 + timedelta(minutes=5)):
            response = client.get(
                f"{ADMIN}/plans/{plan_id}",
                params={"page": 2, "pageSize": 2},
                headers=headers,
            )

        data = ok_data(response)
        assert data["sessionIds"] == [user_sessions["due"][2].id]
        assert data["count"] == 3
        assert data["page"] == 2
        assert data["state"] == "READY"
        assert data["drift"] is None

    def test_check_shows_the_drift_now(self, client, db, admin, user_sessions):
        _, headers = admin
        with freeze_time(T0):
            plan_id = dry_run(client, headers)["planId"]

        with freeze_time(T0 + 2 * HOUR):
            response = client.get(
                f"{ADMIN}/plans/{plan_id}", params={"check": "true"}, headers=headers
            )

        drift = ok_data(response)["drift"]
        assert drift["added"] == [user_sessions["later"].id]
        assert drift["removedCount"] == 0

    def test_a_plan_older_than_the_max_age_is_stale(self, client, db, admin):
        _, headers = admin
        with freeze_time(T0):
            plan_id = dry_run(client, headers)["planId"]

        with freeze_time(T0 + HOUR + timedelta(seconds=1)):
            response = client.get(f"{ADMIN}/plans/{plan_id}", headers=headers)

        assert ok_data(response)["state"] == "STALE"

    @pytest.mark.parametrize(
        "plan_id", [str(uuid.uuid4()), "x" * 300], ids=["unknown", "long"]
    )
    def test_an_unknown_plan_is_404(self, client, db, admin, plan_id):
        _, headers = admin

        response = client.get(f"{ADMIN}/plans/{plan_id}", headers=headers)

        assert_error(response, 404, "Plan not found")


class TestRunPlan:
    def test_runs_the_plans_set_only(
        self, client, db, sent, admin, user_sessions, factory, settings, cache
    ):
        _, headers = admin
        with freeze_time(T0):
            plan = dry_run(client, headers, limit=2)

        with freeze_time(T0 + timedelta(minutes=10)):
            response = trigger(client, headers, planId=plan["planId"], batchSize=1)
        [call] = sent
        result = run_sent(
            call, factory=factory, settings=settings, cache=cache, now=T0 + HOUR / 6
        )

        data = response.json()["data"]
        assert response.status_code == 202
        assert data["params"] == {"planId": plan["planId"], "batchSize": 1}
        assert call["committed"] is True
        first, second, third = user_sessions["due"]
        # The third was due too, but outside the plan's limit.
        assert [reload(db, s.id) is None for s in (first, second, third)] == [
            True,
            True,
            False,
        ]
        assert result["purged"] == 2
        assert result["planned"] == 2
        assert result["batches"] == 2
        stored = stored_plan(db, plan["planId"])
        assert stored.executed_run_id == data["taskId"]
        assert stored.executed_at == T0 + timedelta(minutes=10)

    def test_refused_after_its_set_drifted(
        self, client, db, sent, admin, user_sessions, factory, settings, cache
    ):
        _, headers = admin
        with freeze_time(T0):
            plan = dry_run(client, headers)
        # Beat's purge takes the oldest one; then the later one falls due.
        jobs.purge(
            jobs.JobContext(
                factory=factory,
                settings=settings,
                run_id="beat",
                now=T0,
                params={"limit": 1},
                job="purge",
            ),
            cache=cache,
        )

        with freeze_time(T0 + timedelta(minutes=30)):
            response = trigger(client, headers, planId=plan["planId"])

        drift = refused(response, "drifted")
        assert drift["added"] == [user_sessions["later"].id]
        assert drift["removed"] == [
            {"sessionId": user_sessions["due"][0].id, "why": "gone"}
        ]
        assert drift["addedCount"] == drift["removedCount"] == 1
        assert drift["planned"] == 3
        assert drift["current"] == 3
        assert sent == []
        assert count(db, JobRun) == 0
        assert stored_plan(db, plan["planId"]).executed_at is None
        assert reload(db, user_sessions["due"][1].id) is not None

    def test_retention_plan_refused_after_a_restore_and_a_delete(
        self, client, db, sent, admin
    ):
        _, headers = admin
        owner, token = make_user(db)
        old = T0 - RETENTION - HOUR
        kept = make_session(db, owner, created_at=old)
        deleted_later = make_session(db, owner, created_at=old)
        restored_later = make_session(
            db,
            owner,
            created_at=old,
            status="DELETED",
            status_before_deletion="EVALUATED",
            deleted_at=T0 - HOUR,
            permanent_delete_at=T0 + timedelta(days=29),
            deletion_reason="USER",
        )
        with freeze_time(T0):
            plan = dry_run(client, headers, "retention")
            assert set(plan["sessionIds"]) == {kept.id, deleted_later.id}
            # The owner restores one session and deletes another, as the seed's
            # clients do.
            ok_data(
                client.post(path(restored_later.id, "/restore"), headers=auth(token))
            )
            ok_data(
                client.patch(
                    path(deleted_later.id),
                    content='{"status": "DELETED"}',
                    headers={**auth(token), "content-type": "text/plain"},
                )
            )

            response = trigger(client, headers, "retention", planId=plan["planId"])

        drift = refused(response, "drifted")
        assert drift["added"] == [restored_later.id]
        assert drift["removed"] == [{"sessionId": deleted_later.id, "why": "changed"}]
        assert sent == []

    def test_a_plan_runs_once(self, client, db, sent, admin, user_sessions):
        _, headers = admin
        with freeze_time(T0):
            plan = dry_run(client, headers)
            first = trigger(client, headers, planId=plan["planId"])

            second = trigger(client, headers, planId=plan["planId"])

        data = refused(second, "already run")
        assert data["executedRunId"] == first.json()["data"]["taskId"]
        assert len(sent) == 1
        assert count(db, JobRun) == 1

    def test_a_stale_plan_is_refused(self, client, db, sent, admin, user_sessions):
        _, headers = admin
        with freeze_time(T0):
            plan = dry_run(client, headers)

        with freeze_time(T0 + HOUR + timedelta(seconds=1)):
            response = trigger(client, headers, planId=plan["planId"])

        data = refused(response, "stale")
        assert at(data["expiredAt"]) == T0 + HOUR
        assert sent == []

    def test_a_plan_of_another_job_is_422(self, client, db, sent, admin):
        _, headers = admin
        with freeze_time(T0):
            plan = dry_run(client, headers, "notices")

            response = trigger(client, headers, "purge", planId=plan["planId"])

        assert "notices plan" in assert_error(response, 422)
        assert sent == []

    def test_an_unknown_plan_is_404(self, client, db, sent, admin):
        _, headers = admin

        response = trigger(client, headers, planId=str(uuid.uuid4()))

        assert_error(response, 404, "Plan not found")
        assert sent == []

    def test_a_refused_message_gives_the_plan_back(
        self, client, db, admin, user_sessions, monkeypatch
    ):
        _, headers = admin

        def refuse(*args, **kwargs):
            raise ConnectionError("broker away")

        with freeze_time(T0):
            plan = dry_run(client, headers)
            monkeypatch.setattr(TASKS["purge"], "apply_async", refuse)
            failed = trigger(client, headers, planId=plan["planId"])
            monkeypatch.undo()
            monkeypatch.setattr(TASKS["purge"], "apply_async", lambda **kw: None)

            again = trigger(client, headers, planId=plan["planId"])

        failed_run = db.get(JobRun, failed.json()["data"]["taskId"])
        assert failed_run.status == "FAILED"
        assert again.status_code == 202
        stored = stored_plan(db, plan["planId"])
        assert stored.executed_run_id == again.json()["data"]["taskId"]


class TestTaskProgress:
    def test_a_run_shows_its_params_progress_and_result(
        self, client, db, sent, admin, user_sessions, factory, settings, cache
    ):
        _, headers = admin
        with freeze_time(T0):
            task_id = trigger(client, headers, batchSize=2).json()["data"]["taskId"]
        run_sent(sent[0], factory=factory, settings=settings, cache=cache, now=T0)

        response = client.get(f"{ADMIN}/tasks/{task_id}", headers=headers)

        data = ok_data(response)
        assert data["status"] == "SUCCEEDED"
        assert data["params"] == {"batchSize": 2}
        assert data["progress"] == {
            "processed": 3,
            "deleted": 3,
            "failed": 0,
            "remaining": 0,
        }
        assert data["result"]["purged"] == 3
        assert data["result"]["batches"] == 2

    def test_a_plans_run_counts_down_its_set(
        self, client, db, sent, admin, user_sessions, factory, settings, cache
    ):
        _, headers = admin
        with freeze_time(T0):
            plan = dry_run(client, headers)
            task_id = trigger(
                client, headers, planId=plan["planId"], batchSize=2
            ).json()["data"]["taskId"]
        seen = []

        def watch(done):
            with factory() as probe:
                seen.append(probe.get(JobRun, task_id).progress)

        jobs.run_job(
            "purge",
            jobs.body_of(
                "purge", cache=cache, channel=RecordingChannel(), on_batch=watch
            ),
            factory=factory,
            settings=settings,
            run_id=task_id,
            trigger="admin",
            now=T0,
            params=sent[0]["kwargs"]["kwargs"]["params"],
        )

        data = ok_data(client.get(f"{ADMIN}/tasks/{task_id}", headers=headers))
        assert data["progress"]["remaining"] == 0
        assert data["result"]["planned"] == 3
        # Each batch's progress is written once it has committed: the second
        # batch's commit sees the first batch's count, and what the plan has left.
        assert seen[1] == {"processed": 2, "deleted": 2, "failed": 0, "remaining": 1}


def test_the_openapi_document_describes_the_console(client):
    paths = client.get("/openapi.json").json()["paths"]

    trigger = paths["/api/admin/jobs/{job}"]["post"]
    assert trigger["requestBody"]["required"] is False
    assert "dryRun" in str(trigger["requestBody"])
    assert "get" in paths["/api/admin/plans/{planId}"]
    assert "get" in paths["/api/admin/sessions/{sessionId}/legal-hold"]
    assert "post" in paths["/api/interview/sessions/bulk-delete"]
