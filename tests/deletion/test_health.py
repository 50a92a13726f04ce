"""Heartbeats as an operator reads them: silent, failing, and what degrades /readyz."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interview_retention.deletion.health import degradation, retention_status
from interview_retention.deletion.heartbeats import job_health, silence_limit
from interview_retention.deletion.models import JobHeartbeat
from tests.deletion.support import make_soft_deleted

MINUTE = timedelta(minutes=1)


def beat(db, job, **fields):
    db.add(JobHeartbeat(job=job, **fields))
    db.commit()


def by_job(health):
    return {h.job: h for h in health}


class TestSilenceLimit:
    def test_is_the_jobs_own_interval_plus_the_allowed_silence(self, settings):
        assert silence_limit("purge", settings) == 20 * MINUTE
        assert silence_limit("notices", settings) == 20 * MINUTE
        assert silence_limit("retention", settings) == 75 * MINUTE

    def test_follows_the_schedule_and_the_setting(self, settings):
        changed = settings.model_copy(
            update={"purge_schedule": "0 3 * * *", "heartbeat_max_silence_minutes": 60}
        )

        assert silence_limit("purge", changed) == timedelta(days=1, hours=1)


class TestJobHealth:
    def test_a_job_that_beat_within_its_limit_is_not_silent(self, db, settings, now):
        beat(
            db,
            "purge",
            last_started_at=now - 30 * MINUTE,
            last_beat_at=now - 19 * MINUTE,
        )

        purge = by_job(job_health(db, now=now, settings=settings))["purge"]

        assert purge.silent is False
        assert purge.age_seconds == 19 * 60
        assert purge.silence_limit_seconds == 20 * 60

    def test_a_job_quiet_past_its_limit_is_silent(self, db, settings, now):
        beat(
            db,
            "purge",
            last_started_at=now - 21 * MINUTE,
            last_beat_at=now - 21 * MINUTE,
            last_success_at=now - 21 * MINUTE,
        )

        purge = by_job(job_health(db, now=now, settings=settings))["purge"]

        assert purge.silent is True
        assert purge.since_last_success_seconds == 21 * 60

    def test_a_long_run_that_beats_is_alive(self, db, settings, now):
        beat(
            db,
            "purge",
            last_started_at=now - 3 * 60 * MINUTE,
            last_beat_at=now - MINUTE,
        )

        assert (
            by_job(job_health(db, now=now, settings=settings))["purge"].silent is False
        )

    def test_a_job_never_run_is_not_silent_without_a_watch_start(
        self, db, settings, now
    ):
        health = by_job(job_health(db, now=now, settings=settings))

        assert [h.silent for h in health.values()] == [False, False, False]
        assert health["purge"].age_seconds is None

    def test_a_job_never_run_is_silent_once_watched_past_its_limit(
        self, db, settings, now
    ):
        health = by_job(
            job_health(db, now=now, settings=settings, watching_since=now - 30 * MINUTE)
        )

        assert health["purge"].silent is True
        assert health["notices"].silent is True
        # The hourly retention rule has 75 minutes.
        assert health["retention"].silent is False

    def test_a_job_whose_last_run_failed_is_failing(self, db, settings, now):
        beat(
            db,
            "notices",
            last_beat_at=now - MINUTE,
            last_success_at=now - 10 * MINUTE,
            last_error_at=now - MINUTE,
            last_error="OperationalError: LockNotAvailable (55P03)",
        )
        beat(
            db,
            "purge",
            last_beat_at=now,
            last_success_at=now,
            last_error_at=now - MINUTE,
        )

        health = by_job(job_health(db, now=now, settings=settings))

        assert health["notices"].failing is True
        assert health["purge"].failing is False

    def test_as_dict_is_camel_case_with_utc_times(self, db, settings, now):
        beat(db, "purge", last_run_id="r-1", last_beat_at=now, last_started_at=now)

        purge = by_job(job_health(db, now=now, settings=settings))["purge"].as_dict()

        assert purge == {
            "job": "purge",
            "lastRunId": "r-1",
            "lastStartedAt": "2026-03-01T12:00:00Z",
            "lastBeatAt": "2026-03-01T12:00:00Z",
            "lastSuccessAt": None,
            "lastErrorAt": None,
            "lastError": None,
            "ageSeconds": 0.0,
            "sinceLastSuccessSeconds": None,
            "silenceLimitSeconds": 1200.0,
            "silent": False,
            "failing": False,
        }


class TestDegradation:
    @pytest.fixture
    def alive(self, db, now):
        for job in ("retention", "notices", "purge"):
            beat(db, job, last_beat_at=now)

    def test_nothing_wrong_is_no_reason(self, db, settings, now, alive):
        found = degradation(db, now=now, settings=settings)

        assert found.reasons == []
        assert found.checks == {"backlog": False, "heartbeats": False}

    def test_a_due_session_within_the_limit_is_fine(
        self, db, settings, user, now, alive
    ):
        make_soft_deleted(db, user, deadline=now - 60 * MINUTE)

        assert degradation(db, now=now, settings=settings).reasons == []

    def test_a_due_session_past_the_limit_degrades(
        self, db, settings, user, now, alive
    ):
        make_soft_deleted(db, user, deadline=now - 61 * MINUTE)

        found = degradation(db, now=now, settings=settings)

        assert found.checks == {"backlog": True, "heartbeats": False}
        assert found.oldest_overdue_seconds == 61 * 60
        assert found.reasons == [
            "the oldest due session is 1h 1m past its deadline (limit 1h 0m)"
        ]

    def test_a_held_session_past_its_deadline_does_not_count(
        self, db, settings, user, now, alive
    ):
        make_soft_deleted(
            db, user, deadline=now - 600 * MINUTE, legal_hold=True, legal_hold_at=now
        )

        assert degradation(db, now=now, settings=settings).reasons == []

    def test_a_silent_job_degrades(self, db, settings, now):
        beat(db, "retention", last_beat_at=now)
        beat(db, "notices", last_beat_at=now)
        beat(db, "purge", last_beat_at=now - 25 * MINUTE)

        found = degradation(db, now=now, settings=settings)

        assert found.checks == {"backlog": False, "heartbeats": True}
        assert found.silent_jobs == ["purge"]
        assert found.reasons == ["purge silent for 25m (limit 20m)"]

    def test_jobs_never_run_since_the_watch_began_degrade(self, db, settings, now):
        found = degradation(
            db, now=now, settings=settings, watching_since=now - 21 * MINUTE
        )

        assert found.silent_jobs == ["notices", "purge"]
        assert found.reasons[0] == "notices has never run (limit 20m)"


def test_retention_status_has_the_backlog_the_frame_and_every_job(
    db, settings, user, now
):
    make_soft_deleted(db, user, deadline=now - 10 * MINUTE)

    status = retention_status(db, now=now, settings=settings).as_dict()

    assert status["dueNow"] == 1
    assert status["overdue"] == 1
    assert status["oldestOverdueSeconds"] == 600.0
    assert status["overdueAfterSeconds"] == 300.0
    assert status["deletionsPaused"] is False
    assert [j["job"] for j in status["jobs"]] == ["retention", "notices", "purge"]
