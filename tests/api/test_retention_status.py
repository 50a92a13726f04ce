"""GET /api/admin/retention/status: the backlog and every job's heartbeat, admins only.

Kept apart from tests/admin/ (the admin surface's own tests) because this
endpoint belongs with the heartbeats and the health checks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from interview_retention.deletion.models import DeletionNotice, JobHeartbeat
from tests.deletion.support import make_soft_deleted
from tests.factories import auth, make_session, make_user

URL = "/api/admin/retention/status"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_needs_a_token(client):
    response = client.get(URL)

    assert response.status_code == 401
    assert response.json()["data"] is None


def test_a_user_token_is_403(client, db):
    _, token = make_user(db)

    response = client.get(URL, headers=auth(token))

    assert response.status_code == 403
    assert response.json() == {
        "code": 403,
        "message": "This operation needs an admin token",
        "data": None,
    }


def test_shows_the_backlog_and_each_jobs_heartbeat(client, db):
    _, token = make_user(db, admin=True)
    owner, _ = make_user(db)
    make_soft_deleted(db, owner, deadline=T0 + timedelta(days=2))
    make_soft_deleted(db, owner, deadline=T0 - 3 * MINUTE)
    make_soft_deleted(db, owner, deadline=T0 - 45 * MINUTE)
    make_soft_deleted(
        db, owner, deadline=T0 - MINUTE, legal_hold=True, legal_hold_at=T0
    )
    failed = make_session(db, owner, children=False)
    db.add(DeletionNotice(session_id=failed.id, status="FAILED", next_attempt_at=T0))
    db.add(
        JobHeartbeat(
            job="purge",
            last_run_id="run-9",
            last_started_at=T0 - 2 * MINUTE,
            last_beat_at=T0 - MINUTE,
            last_success_at=T0 - MINUTE,
        )
    )
    db.add(
        JobHeartbeat(
            job="notices",
            last_run_id="run-8",
            last_started_at=T0 - 40 * MINUTE,
            last_beat_at=T0 - 40 * MINUTE,
            last_error_at=T0 - 40 * MINUTE,
            last_error="OperationalError: LockNotAvailable (55P03)",
        )
    )
    db.commit()

    with freeze_time(T0):
        response = client.get(URL, headers=auth(token))

    assert response.status_code == 200
    data = response.json()["data"]
    jobs = {job.pop("job"): job for job in data.pop("jobs")}
    assert data == {
        "softDeleted": 1,
        "scheduledByRetention": 0,
        "dueNow": 2,
        "overdue": 1,
        "oldestOverdueSeconds": 2700.0,
        "noticesPending": 0,
        "noticesFailed": 1,
        "legalHolds": 1,
        "overdueAfterSeconds": 300.0,
        "deletionsPaused": False,
    }
    assert jobs["purge"] == {
        "lastRunId": "run-9",
        "lastStartedAt": "2026-03-01T11:58:00Z",
        "lastBeatAt": "2026-03-01T11:59:00Z",
        "lastSuccessAt": "2026-03-01T11:59:00Z",
        "lastErrorAt": None,
        "lastError": None,
        "ageSeconds": 60.0,
        "sinceLastSuccessSeconds": 60.0,
        "silenceLimitSeconds": 1200.0,
        "silent": False,
        "failing": False,
    }
    assert (jobs["notices"]["silent"], jobs["notices"]["failing"]) == (True, True)
    assert jobs["notices"]["lastError"] == "OperationalError: LockNotAvailable (55P03)"
    # Never run, and this API process has only just started watching.
    assert jobs["retention"]["lastRunId"] is None
    assert jobs["retention"]["silent"] is False


def test_shows_the_kill_switch(settings, engine, cache, db):
    from fastapi.testclient import TestClient

    from interview_retention.api.app import create_app

    _, token = make_user(db, admin=True)
    paused = settings.model_copy(update={"deletions_paused": True})
    client = TestClient(create_app(paused, engine=engine, report_cache=cache))

    data = client.get(URL, headers=auth(token)).json()["data"]

    assert data["deletionsPaused"] is True


@pytest.mark.parametrize("path", ["/api/admin/retention/backlog", URL])
def test_backlog_and_status_agree_on_the_counts(client, db, path):
    _, token = make_user(db, admin=True)
    owner, _ = make_user(db)
    make_soft_deleted(db, owner, deadline=T0 - 30 * MINUTE)

    with freeze_time(T0):
        data = client.get(path, headers=auth(token)).json()["data"]

    assert (data["dueNow"], data["overdue"], data["oldestOverdueSeconds"]) == (
        1,
        1,
        1800.0,
    )
