"""/readyz: 503 when the database or broker is gone, "degraded" when retention lags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from freezegun import freeze_time

from interview_retention.api import app as app_module
from interview_retention.api.app import create_app
from interview_retention.deletion.models import JobHeartbeat
from tests.deletion.support import make_soft_deleted
from tests.factories import make_user

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def alive(db):
    """Every job beat at T0."""
    for job in ("retention", "notices", "purge"):
        db.add(JobHeartbeat(job=job, last_beat_at=T0))
    db.commit()


def body(response):
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["code"] == 200
    return payload["data"]


def test_ready_when_every_job_beats_and_nothing_is_late(client, alive):
    with freeze_time(T0):
        response = client.get("/readyz")

    assert body(response) == {
        "status": "ready",
        "checks": {"database": True, "broker": True},
    }


def test_degraded_but_200_when_the_oldest_due_session_is_too_late(client, db, alive):
    owner, _ = make_user(db)
    make_soft_deleted(db, owner, deadline=T0 - 61 * MINUTE)

    with freeze_time(T0):
        response = client.get("/readyz")

    assert body(response) == {
        "status": "degraded",
        "checks": {"database": True, "broker": True},
        "degraded": {"backlog": True, "heartbeats": False},
        "reasons": ["the oldest due session is 1h 1m past its deadline (limit 1h 0m)"],
    }


def test_degraded_when_a_job_goes_silent(client, db):
    for job, last in (("retention", T0), ("notices", T0), ("purge", T0 - 21 * MINUTE)):
        db.add(JobHeartbeat(job=job, last_beat_at=last))
    db.commit()

    with freeze_time(T0):
        data = body(client.get("/readyz"))

    assert data["status"] == "degraded"
    assert data["degraded"] == {"backlog": False, "heartbeats": True}
    assert data["reasons"] == ["purge silent for 21m (limit 20m)"]


def test_a_job_silent_for_months_reads_in_days_hours_minutes(client, db):
    # A fresh clone's var/ held heartbeats from long ago: the reason printed
    # `459777m39s`, and `degraded` said True for the check that was fine.
    quiet = timedelta(days=319, hours=7, minutes=12, seconds=39)
    for job, last in (("retention", T0), ("notices", T0), ("purge", T0 - quiet)):
        db.add(JobHeartbeat(job=job, last_beat_at=last))
    db.commit()

    with freeze_time(T0):
        data = body(client.get("/readyz"))

    assert data["degraded"] == {"backlog": False, "heartbeats": True}
    assert data["reasons"] == ["purge silent for 319d 7h 12m (limit 20m)"]


def test_jobs_never_run_degrade_only_once_the_api_has_waited_their_limit(
    settings, engine, cache
):
    with freeze_time(T0):
        client = TestClient(create_app(settings, engine=engine, report_cache=cache))
    with freeze_time(T0 + 20 * MINUTE):
        fresh = body(client.get("/readyz"))
    with freeze_time(T0 + 21 * MINUTE):
        waited = body(client.get("/readyz"))

    assert fresh["status"] == "ready"
    assert waited["status"] == "degraded"
    assert waited["reasons"] == [
        "notices has never run (limit 20m)",
        "purge has never run (limit 20m)",
    ]


def test_still_503_when_the_database_is_unreachable(client, monkeypatch, alive):
    monkeypatch.setattr(app_module, "_database_ok", lambda app: False)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "code": 503,
        "message": "Not ready: database",
        "data": None,
    }


def test_still_503_when_the_broker_is_unreachable(client, monkeypatch, alive):
    monkeypatch.setattr(app_module, "_broker_ok", lambda settings: False)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["message"] == "Not ready: broker"


def test_a_failed_retention_check_leaves_the_process_ready(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("heartbeat table missing")

    monkeypatch.setattr(app_module, "degradation", broken)

    assert body(client.get("/readyz"))["status"] == "ready"
