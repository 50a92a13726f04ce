"""`run_job`: every run leaves a record of its start, end, counts and failure."""

from __future__ import annotations

from datetime import timedelta

import pytest
import structlog
from freezegun import freeze_time
from sqlalchemy import select
from structlog.testing import capture_logs

from interview_retention.deletion import jobs
from interview_retention.deletion.models import JobRun
from tests.deletion.support import FRESH, exists, make_soft_deleted


def job_run(db, run_id):
    query = select(JobRun).where(JobRun.id == run_id).execution_options(**FRESH)
    return db.scalars(query).one_or_none()


class Boom(Exception):
    pass


def test_run_job_records_running_while_body_runs(factory, settings, now):
    seen = {}

    def body(ctx):
        with factory() as probe:
            seen["status"] = job_run(probe, ctx.run_id).status
        return {}

    jobs.run_job(
        "purge", body, factory=factory, settings=settings, run_id="r-1", now=now
    )

    assert seen == {"status": "RUNNING"}


def test_run_job_records_success_with_counts(db, factory, settings, cache, user, now):
    make_soft_deleted(db, user, deadline=now - timedelta(hours=1))

    with freeze_time(now + timedelta(seconds=5)):
        result = jobs.run_job(
            "purge",
            lambda ctx: jobs.purge(ctx, cache=cache),
            factory=factory,
            settings=settings,
            run_id="r-2",
            trigger="admin",
            now=now,
        )

    record = job_run(db, "r-2")
    assert record.status == "SUCCEEDED"
    assert record.job == "purge"
    assert record.trigger == "admin"
    assert record.queued_at == now
    assert record.started_at == now + timedelta(seconds=5)
    assert record.finished_at == now + timedelta(seconds=5)
    assert record.error is None
    assert record.result["purged"] == 1
    assert record.result["rows_removed"] == 9
    assert result == record.result


def test_run_job_passes_one_now_to_body(factory, settings, now):
    seen = []

    jobs.run_job(
        "retention",
        lambda ctx: seen.append(ctx.now) or {},
        factory=factory,
        settings=settings,
        now=now,
    )

    assert seen == [now]


def test_run_job_takes_now_from_clock(factory, settings, now):
    seen = []

    with freeze_time(now):
        jobs.run_job(
            "retention",
            lambda ctx: seen.append(ctx.now) or {},
            factory=factory,
            settings=settings,
        )

    assert seen == [now]


def test_every_line_logged_during_a_run_carries_its_run_id(factory, settings, now):
    def body(ctx):
        structlog.get_logger("test").info("inside.the_run")
        return {}

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        jobs.run_job(
            "notices", body, factory=factory, settings=settings, run_id="run-7", now=now
        )

    inside = [e for e in logs if e["event"] == "inside.the_run"]
    assert inside == [
        {
            "event": "inside.the_run",
            "log_level": "info",
            "run_id": "run-7",
            "job": "notices",
        }
    ]
    assert structlog.contextvars.get_contextvars() == {}


def test_run_job_records_failure_and_reraises(db, factory, settings):
    def body(ctx):
        raise Boom("the database went away")

    with pytest.raises(Boom):
        jobs.run_job("purge", body, factory=factory, settings=settings, run_id="r-3")

    record = job_run(db, "r-3")
    assert record.status == "FAILED"
    assert record.finished_at is not None
    assert record.error.startswith("Boom at ")
    assert "the database went away" in record.error


def test_failed_body_keeps_earlier_batches(db, factory, settings, cache, user, now):
    session = make_soft_deleted(db, user, deadline=now - timedelta(hours=1))

    def body(ctx):
        jobs.purge(ctx, cache=cache)
        raise Boom("after the purge")

    with pytest.raises(Boom):
        jobs.run_job("purge", body, factory=factory, settings=settings, now=now)

    assert not exists(db, session.id)


def test_redelivered_run_updates_same_record(db, factory, settings):
    def fail(ctx):
        raise Boom("first delivery")

    with pytest.raises(Boom):
        jobs.run_job("purge", fail, factory=factory, settings=settings, run_id="r-4")

    jobs.run_job(
        "purge", lambda ctx: {}, factory=factory, settings=settings, run_id="r-4"
    )

    runs = db.scalars(select(JobRun).execution_options(**FRESH)).all()
    assert [(r.id, r.status, r.error) for r in runs] == [("r-4", "SUCCEEDED", None)]
