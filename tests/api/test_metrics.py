"""/metrics: Prometheus text read from the database, and who may read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from freezegun import freeze_time
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from interview_retention.api.app import create_app
from interview_retention.deletion import heartbeats
from interview_retention.deletion.models import (
    DeletionLogEntry,
    DeletionNotice,
    JobHeartbeat,
    JobRun,
)
from interview_retention.metrics import RetentionCollector
from tests.deletion.support import make_soft_deleted
from tests.factories import make_session, make_user

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def samples(response) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, keyed by name and sorted labels."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def tombstone(db, reason: str, n: int) -> None:
    db.execute(
        insert(DeletionLogEntry),
        [
            {
                "session_id": f"{reason}-{i}",
                "user_id": "u",
                "reason": reason,
                "actor": "system:purge",
                "requested_at": T0,
                "purged_at": T0,
                "rows_removed": {},
            }
            for i in range(n)
        ],
    )
    db.commit()


def job_run(db, run_id: str, job: str, status: str) -> None:
    db.add(JobRun(id=run_id, job=job, status=status, queued_at=T0))
    db.commit()


def test_counters_come_from_the_deletion_log_and_the_job_runs(client, db):
    tombstone(db, "USER", 3)
    tombstone(db, "RETENTION", 2)
    job_run(db, "a", "purge", "SUCCEEDED")
    job_run(db, "b", "purge", "SUCCEEDED")
    job_run(db, "c", "purge", "FAILED")
    job_run(db, "d", "notices", "RUNNING")

    got = samples(client.get("/metrics"))

    deleted = "interview_retention_sessions_deleted_total"
    assert got[(deleted, (("reason", "USER"),))] == 3
    assert got[(deleted, (("reason", "RETENTION"),))] == 2
    assert got[(deleted, (("reason", "ADMIN"),))] == 0
    runs = "interview_retention_job_runs_total"
    assert got[(runs, (("job", "purge"), ("status", "SUCCEEDED")))] == 2
    assert got[(runs, (("job", "purge"), ("status", "FAILED")))] == 1
    assert got[(runs, (("job", "retention"), ("status", "SUCCEEDED")))] == 0
    assert got[("interview_retention_job_failures_total", (("job", "purge"),))] == 1
    underway = "interview_retention_job_runs_underway"
    assert got[(underway, (("job", "notices"), ("status", "RUNNING")))] == 1
    assert got[("interview_retention_database_up", ())] == 1
    assert got[("interview_retention_deletions_paused", ())] == 0


def test_backlog_and_notice_gauges(client, db):
    owner, _ = make_user(db)
    make_soft_deleted(db, owner, deadline=T0 + timedelta(days=3))
    make_soft_deleted(db, owner, deadline=T0 - 2 * MINUTE)
    make_soft_deleted(db, owner, deadline=T0 - 30 * MINUTE)
    for status in ("PENDING", "RETRY", "SENT", "SENT", "FAILED"):
        session = make_session(db, owner, children=False)
        db.add(DeletionNotice(session_id=session.id, status=status, next_attempt_at=T0))
    db.commit()

    with freeze_time(T0):
        got = samples(client.get("/metrics"))

    backlog = "interview_retention_backlog_sessions"
    assert got[(backlog, (("state", "soft_deleted"),))] == 1
    assert got[(backlog, (("state", "due"),))] == 2
    assert got[(backlog, (("state", "overdue"),))] == 1
    assert got[("interview_retention_backlog_oldest_overdue_seconds", ())] == 1800
    assert got[("interview_retention_backlog_overdue_after_seconds", ())] == 300
    notices = "interview_retention_notices"
    assert got[(notices, (("status", "SENT"),))] == 2
    assert got[(notices, (("status", "PENDING"),))] == 1
    assert got[(notices, (("status", "FAILED"),))] == 1
    assert got[(notices, (("status", "CANCELLED"),))] == 0


def test_heartbeats_and_batch_durations(client, db):
    histogram: dict = {}
    for seconds in (0.02, 0.3, 7.0):
        histogram = heartbeats.add_observation(histogram, seconds)
    db.add(
        JobHeartbeat(
            job="purge",
            last_started_at=T0 - 3 * MINUTE,
            last_beat_at=T0 - 2 * MINUTE,
            last_success_at=T0 - 2 * MINUTE,
            batch_durations=histogram,
        )
    )
    db.add(JobHeartbeat(job="notices", last_beat_at=T0 - 30 * MINUTE))
    db.commit()

    with freeze_time(T0):
        got = samples(client.get("/metrics"))

    purge = (("job", "purge"),)
    assert got[("interview_retention_job_heartbeat_age_seconds", purge)] == 120
    assert got[("interview_retention_job_silent", purge)] == 0
    assert got[("interview_retention_job_silent", (("job", "notices"),))] == 1
    assert (
        got[("interview_retention_job_last_success_timestamp_seconds", purge)]
        == (T0 - 2 * MINUTE).timestamp()
    )
    assert ("interview_retention_job_last_error_timestamp_seconds", purge) not in got
    batch = "interview_retention_batch_duration_seconds"
    assert got[(f"{batch}_bucket", (("job", "purge"), ("le", "0.05")))] == 1
    assert got[(f"{batch}_bucket", (("job", "purge"), ("le", "0.5")))] == 2
    assert got[(f"{batch}_bucket", (("job", "purge"), ("le", "+Inf")))] == 3
    assert got[(f"{batch}_count", purge)] == 3
    assert got[(f"{batch}_sum", purge)] == pytest.approx(7.32)
    # A job without batches yet has no histogram rather than an empty one.
    assert (f"{batch}_count", (("job", "notices"),)) not in got


def test_a_real_purge_shows_up_in_the_metrics(client, db, factory, settings, cache):
    from interview_retention.deletion import jobs

    owner, _ = make_user(db)
    make_soft_deleted(db, owner, deadline=T0 - MINUTE)
    jobs.run_job(
        "purge",
        lambda ctx: jobs.purge(ctx, cache=cache),
        factory=factory,
        settings=settings,
        now=T0,
    )

    got = samples(client.get("/metrics"))

    assert got[("interview_retention_sessions_deleted_total", (("reason", "USER"),))]
    key = (("job", "purge"), ("status", "SUCCEEDED"))
    assert got[("interview_retention_job_runs_total", key)] == 1
    count = ("interview_retention_batch_duration_seconds_count", (("job", "purge"),))
    assert got[count] == 1


def test_no_personal_data_in_labels(client, db):
    owner, _ = make_user(db)
    make_soft_deleted(db, owner, deadline=T0 - MINUTE)
    tombstone(db, "USER", 1)

    response = client.get("/metrics")

    assert "example.com" not in response.text
    assert owner.id not in response.text


def test_database_down_is_a_gauge_not_an_error(client, monkeypatch):
    def broken_reads(self, db, now):
        raise RuntimeError("connection refused")

    monkeypatch.setattr(RetentionCollector, "_from_database", broken_reads)

    got = samples(client.get("/metrics"))

    assert got == {("interview_retention_database_up", ()): 0}


class TestAccess:
    def app(self, settings, engine, cache, **overrides):
        changed = settings.model_copy(update=overrides)
        return TestClient(
            create_app(changed, engine=engine, report_cache=cache),
            raise_server_exceptions=False,
        )

    def test_open_in_development_without_a_token(self, client):
        assert client.get("/metrics").status_code == 200

    def test_refused_in_a_deployment_without_a_token(self, settings, engine, cache):
        client = self.app(settings, engine, cache, environment="production")

        response = client.get("/metrics")

        assert response.status_code == 403
        assert response.json() == {
            "code": 403,
            "message": "Metrics are off: set METRICS_TOKEN to serve them",
            "data": None,
        }

    @pytest.mark.parametrize(
        "header",
        [None, "Bearer wrong-token", "Basic c2VjcmV0", "Bearer ", "metrics-secret"],
    )
    def test_a_token_is_required_once_set(self, settings, engine, cache, header):
        client = self.app(
            settings, engine, cache, metrics_token="metrics-secret", environment="x"
        )
        headers = {"Authorization": header} if header else {}

        response = client.get("/metrics", headers=headers)

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["data"] is None

    def test_the_right_token_is_served(self, settings, engine, cache):
        client = self.app(settings, engine, cache, metrics_token="metrics-secret")

        response = client.get(
            "/metrics", headers={"Authorization": "Bearer metrics-secret"}
        )

        assert samples(response)[("interview_retention_database_up", ())] == 1

    def test_a_user_api_token_is_not_a_metrics_token(self, settings, engine, cache, db):
        _, token = make_user(db, admin=True)
        client = self.app(settings, engine, cache, metrics_token="metrics-secret")

        response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})

        assert response.status_code == 401
