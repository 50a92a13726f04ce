"""`run_job` and `_drain`: kill switch, time budget, progress and heartbeats."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select
from structlog.testing import capture_logs

from interview_retention.deletion import heartbeats, jobs
from interview_retention.deletion.models import (
    DeletionNotice,
    DeletionPlan,
    JobHeartbeat,
    JobRun,
)
from interview_retention.sessions.models import InterviewSession
from interview_retention.worker.tasks import TASKS
from tests.deletion.support import (
    FRESH,
    RecordingChannel,
    exists,
    make_soft_deleted,
    seed_sessions,
)
from tests.factories import make_session


def run(factory, settings, job, body, *, run_id="run-1", now, **kwargs):
    return jobs.run_job(
        job,
        body,
        factory=factory,
        settings=settings,
        run_id=run_id,
        now=now,
        **kwargs,
    )


def purge_body(cache):
    return lambda ctx: jobs.purge(ctx, cache=cache)


def job_run(db, run_id):
    query = select(JobRun).where(JobRun.id == run_id).execution_options(**FRESH)
    return db.scalars(query).one_or_none()


def heartbeat(db, job):
    query = select(JobHeartbeat).where(JobHeartbeat.job == job)
    return db.scalars(query.execution_options(**FRESH)).one_or_none()


def count(db, model):
    return db.scalar(select(func.count()).select_from(model))


@pytest.fixture
def paused(settings):
    return settings.model_copy(update={"deletions_paused": True})


@pytest.fixture
def sent(monkeypatch, factory):
    """Every follow-up task sent, and whether its run was committed by then."""
    calls = []
    for job, task in TASKS.items():

        def record(*args, _job=job, **kwargs):
            with factory() as check:
                committed = check.get(JobRun, kwargs.get("task_id")) is not None
            calls.append({"job": _job, "committed": committed, **kwargs})

        monkeypatch.setattr(task, "apply_async", record)
    return calls


class TestKillSwitch:
    def test_paused_purge_deletes_nothing_and_says_what_it_would(
        self, db, factory, paused, cache, user, now
    ):
        due = [
            make_soft_deleted(db, user, deadline=now - timedelta(hours=h)).id
            for h in (1, 5)
        ]
        make_soft_deleted(db, user, deadline=now + timedelta(hours=1))

        with capture_logs() as logs:
            result = run(factory, paused, "purge", purge_body(cache), now=now)

        assert all(exists(db, sid) for sid in due)
        assert result["paused"] is True
        assert result["would_process"] == 2
        assert result["oldest_deadline"] == (now - timedelta(hours=5)).isoformat()
        assert "purged" not in result
        assert job_run(db, "run-1").status == "SUCCEEDED"
        assert job_run(db, "run-1").result == result
        assert [e["would_process"] for e in logs if e["event"] == "job.paused"] == [2]

    def test_paused_retention_and_notices_change_nothing(
        self, db, factory, paused, user, now
    ):
        old = make_session(db, user, created_at=now - timedelta(days=100))
        noticed = make_session(db, user, created_at=now - timedelta(days=100))
        db.add(
            DeletionNotice(
                session_id=noticed.id, cycle=noticed.notice_cycle, next_attempt_at=now
            )
        )
        db.commit()
        channel = RecordingChannel()

        queued = run(factory, paused, "retention", jobs.retention, now=now)
        sent = run(
            factory,
            paused,
            "notices",
            lambda ctx: jobs.notices(ctx, channel=channel),
            run_id="run-2",
            now=now,
        )

        assert (queued["paused"], queued["would_process"]) == (True, 1)
        assert (sent["paused"], sent["would_process"]) == (True, 1)
        assert channel.sent == []
        assert count(db, DeletionNotice) == 1
        fresh = db.get(InterviewSession, old.id, populate_existing=True)
        assert fresh.permanent_delete_at is None

    def test_paused_run_of_a_plan_counts_the_plans_sessions_within_its_limit(
        self, db, factory, paused, cache, user, now
    ):
        due = [
            make_soft_deleted(db, user, deadline=now - timedelta(hours=h + 1)).id
            for h in range(4)
        ]
        plan = DeletionPlan(
            id=str(uuid.uuid4()),
            job="purge",
            as_of=now,
            digest="-",
            session_ids=[*due[:3], "gone-already"],
            item_count=4,
        )
        db.add(plan)
        db.commit()

        planned = run(
            factory,
            paused,
            "purge",
            purge_body(cache),
            now=now,
            params={"planId": plan.id},
        )
        limited = run(
            factory,
            paused,
            "purge",
            purge_body(cache),
            run_id="run-2",
            now=now,
            params={"limit": 1},
        )

        assert planned["would_process"] == 3
        assert limited["would_process"] == 1
        assert all(exists(db, sid) for sid in due)

    def test_a_dry_run_still_runs_its_body_while_paused(self, factory, paused, now):
        seen = []

        run(
            factory,
            paused,
            "purge",
            lambda ctx: seen.append(ctx.params) or {"dry_run": True},
            now=now,
            params={"dryRun": True},
        )

        assert seen == [{"dryRun": True}]

    def test_not_paused_by_default(self, settings):
        assert settings.deletions_paused is False


class TestTimeBudget:
    @pytest.fixture
    def tight(self, settings):
        """A budget spent by the first batch, and batches of two."""
        return settings.model_copy(
            update={"purge_time_budget_seconds": 1e-9, "purge_batch_size": 2}
        )

    def due(self, db, user, now, n=5):
        return [
            make_soft_deleted(db, user, deadline=now - timedelta(minutes=m + 1)).id
            for m in range(n)
        ]

    def test_from_the_cli_the_purge_stops_after_one_batch_and_says_so(
        self, db, factory, tight, cache, user, now, sent
    ):
        ids = self.due(db, user, now)

        result = run(factory, tight, "purge", purge_body(cache), now=now, trigger="cli")

        assert result["purged"] == 2
        assert result["stopped_by_budget"] is True
        assert result["requeued"] is False
        assert sum(exists(db, sid) for sid in ids) == 3
        assert sent == []
        assert count(db, JobRun) == 1

    def test_from_the_worker_it_queues_a_follow_up_after_its_own_commit(
        self, db, factory, tight, cache, user, now, sent
    ):
        self.due(db, user, now)

        result = run(
            factory,
            tight,
            "purge",
            purge_body(cache),
            now=now,
            trigger="admin",
            params={"batchSize": 2},
        )

        follow = db.scalars(
            select(JobRun).where(JobRun.id != "run-1").execution_options(**FRESH)
        ).one()
        assert result["requeued"] is True
        assert result["requeued_as"] == follow.id
        assert (follow.status, follow.trigger, follow.job) == (
            "QUEUED",
            "requeue",
            "purge",
        )
        assert follow.params == {"batchSize": 2}
        assert [(c["job"], c["task_id"], c["committed"]) for c in sent] == [
            ("purge", follow.id, True)
        ]
        assert job_run(db, "run-1").result["requeued_as"] == follow.id

    def test_the_follow_up_takes_only_what_is_left_of_the_limit(
        self, db, factory, tight, cache, user, now, sent
    ):
        self.due(db, user, now)

        run(factory, tight, "purge", purge_body(cache), now=now, params={"limit": 3})

        follow = db.scalars(
            select(JobRun).where(JobRun.id != "run-1").execution_options(**FRESH)
        ).one()
        assert follow.params == {"limit": 1}

    def test_no_follow_up_once_the_limit_is_reached(
        self, db, factory, tight, cache, user, now, sent
    ):
        self.due(db, user, now)

        result = run(
            factory, tight, "purge", purge_body(cache), now=now, params={"limit": 2}
        )

        assert result["purged"] == 2
        assert result["requeued"] is False
        assert sent == []

    def test_follow_ups_finish_the_work(self, db, factory, tight, cache, user, now):
        ids = self.due(db, user, now)
        follow_ups = []

        def chain(*args, task_id, **kwargs):
            follow_ups.append(task_id)

        # Each follow-up is run here as the worker would run its message.
        original = TASKS["purge"].apply_async
        TASKS["purge"].apply_async = chain
        try:
            run(factory, tight, "purge", purge_body(cache), now=now)
            while follow_ups:
                run(
                    factory,
                    tight,
                    "purge",
                    purge_body(cache),
                    run_id=follow_ups.pop(),
                    now=now,
                )
        finally:
            TASKS["purge"].apply_async = original

        assert not any(exists(db, sid) for sid in ids)
        runs = db.scalars(select(JobRun).execution_options(**FRESH)).all()
        assert sorted(r.result["purged"] for r in runs) == [1, 2, 2]
        assert sum(1 for r in runs if r.trigger == "requeue") == 2

    def test_the_budget_is_the_purges_only(self, db, factory, tight, user, now):
        seed_sessions(db, user, 3, created_at=now - timedelta(days=100))
        settings = tight.model_copy(update={"retention_batch_size": 1})

        result = run(factory, settings, "retention", jobs.retention, now=now)

        assert result["queued"] == 3
        assert "stopped_by_budget" not in result

    def test_settings_refuse_a_budget_past_the_soft_time_limit(self):
        from pydantic import ValidationError

        from interview_retention.config import Settings

        with pytest.raises(ValidationError, match="PURGE_TIME_BUDGET_SECONDS"):
            Settings(
                _env_file=None,
                task_time_limit_seconds=600,
                purge_time_budget_seconds=540,
            )
        assert (
            Settings(
                _env_file=None,
                task_time_limit_seconds=600,
                purge_time_budget_seconds=539,
            ).purge_time_budget_seconds
            == 539
        )


class TestProgress:
    def test_progress_is_written_after_every_batch(
        self, db, factory, settings, cache, user, now
    ):
        for m in range(5):
            make_soft_deleted(db, user, deadline=now - timedelta(minutes=m + 1))
        settings = settings.model_copy(update={"purge_batch_size": 2})
        seen = []

        def body(ctx):
            def spy(db_, *, size=2):
                with factory() as probe:
                    seen.append(job_run(probe, ctx.run_id).progress)
                return jobs.service.purge_batch(
                    db_, now=ctx.now, batch_size=size, cache=cache, task_id=ctx.run_id
                )

            def step(db_):
                batch = spy(db_)
                return batch.claimed, {"purged": len(batch.purged)}

            return jobs._drain(
                ctx, step, size=2, event="purge.batch_deleted", counts=("purged",)
            )

        run(factory, settings, "purge", body, now=now)

        assert seen == [
            {},
            {"processed": 2, "deleted": 2, "failed": 0, "remaining": 3},
            {"processed": 4, "deleted": 4, "failed": 0, "remaining": 1},
        ]
        assert job_run(db, "run-1").progress == {
            "processed": 5,
            "deleted": 5,
            "failed": 0,
            "remaining": 0,
        }

    def test_notices_report_their_failures(self, db, factory, settings, user, now):
        from tests.deletion.support import FailingChannel, add_notice

        for _ in range(2):
            session = make_session(db, user, created_at=now - timedelta(days=100))
            add_notice(db, session, next_attempt_at=now, attempts=7)
        channel = FailingChannel()

        run(
            factory,
            settings,
            "notices",
            lambda ctx: jobs.notices(ctx, channel=channel),
            now=now,
        )

        assert job_run(db, "run-1").progress == {
            "processed": 2,
            "deleted": 0,
            "failed": 2,
            "remaining": 0,
        }

    def test_a_body_that_knows_better_gives_the_remaining_count(
        self, db, factory, settings, now
    ):
        batches = iter([3, 3, 1])

        def body(ctx):
            return jobs._drain(
                ctx,
                lambda db_: (n := next(batches), {"done": n}),
                size=3,
                event="test.batch",
                counts=("done",),
                remaining=lambda: 42,
            )

        run(factory, settings, "purge", body, now=now)

        assert job_run(db, "run-1").progress == {
            "processed": 7,
            "deleted": 7,
            "failed": 0,
            "remaining": 42,
        }


class TestHeartbeats:
    def test_a_successful_run_beats_at_start_and_end(
        self, db, factory, settings, cache, user, now
    ):
        make_soft_deleted(db, user, deadline=now - timedelta(hours=1))

        with freeze_time(now + timedelta(minutes=1)):
            run(factory, settings, "purge", purge_body(cache), now=now)

        beat = heartbeat(db, "purge")
        assert beat.last_run_id == "run-1"
        assert beat.last_started_at == now + timedelta(minutes=1)
        assert beat.last_beat_at == now + timedelta(minutes=1)
        assert beat.last_success_at == now + timedelta(minutes=1)
        assert beat.last_error_at is None
        assert beat.batch_durations["count"] == 1

    def test_a_failed_run_records_a_short_error_without_content(
        self, db, factory, settings, now
    ):
        def body(ctx):
            raise ValueError("could not reach ines.silva@example.com")

        with pytest.raises(ValueError, match="could not reach"), freeze_time(now):
            run(factory, settings, "notices", body, now=now)

        beat = heartbeat(db, "notices")
        assert beat.last_error == "ValueError"
        assert beat.last_error_at == now
        assert beat.last_success_at is None

    def test_success_after_failure_keeps_the_last_error_for_the_record(
        self, db, factory, settings, now
    ):
        def fail(ctx):
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"), freeze_time(now):
            run(factory, settings, "purge", fail, now=now)
        with freeze_time(now + timedelta(minutes=5)):
            run(factory, settings, "purge", lambda ctx: {}, run_id="run-2", now=now)

        beat = heartbeat(db, "purge")
        assert (beat.last_error_at, beat.last_success_at) == (
            now,
            now + timedelta(minutes=5),
        )
        assert beat.last_run_id == "run-2"

    def test_a_failed_heartbeat_write_never_fails_the_job(
        self, db, factory, settings, cache, user, now, monkeypatch
    ):
        session = make_soft_deleted(db, user, deadline=now - timedelta(hours=1))

        def broken(*args, **kwargs):
            raise RuntimeError("heartbeat table is gone")

        monkeypatch.setattr(heartbeats, "_upsert", broken)
        with capture_logs() as logs:
            result = run(factory, settings, "purge", purge_body(cache), now=now)

        assert result["purged"] == 1
        assert not exists(db, session.id)
        assert job_run(db, "run-1").status == "SUCCEEDED"
        failures = [e for e in logs if e["event"] == "heartbeat.write_failed"]
        # The start, the batch, the last progress, the end.
        assert len(failures) == 4
        assert {e["error"] for e in failures} == {"RuntimeError"}
        assert heartbeat(db, "purge") is None
        # Progress is written apart from the heartbeat, and kept.
        assert job_run(db, "run-1").progress["deleted"] == 1

    def test_a_run_the_database_cannot_record_still_logs_its_failure(
        self, pg_settings, now
    ):
        from sqlalchemy.exc import OperationalError

        from interview_retention.db.engine import create_db_engine, get_sessionmaker

        # Nothing listens on port 1: every connection is refused at once.
        away = create_db_engine("postgresql+psycopg://postgres@127.0.0.1:1/x")
        try:
            with capture_logs() as logs, pytest.raises(OperationalError):
                run(
                    get_sessionmaker(away),
                    pg_settings,
                    "purge",
                    lambda ctx: {},
                    now=now,
                )
        finally:
            away.dispose()

        failed = [e for e in logs if e["event"] == "job.failed"]
        assert [(e["run_id"], e["error"]) for e in failed] == [
            ("run-1", "OperationalError: OperationalError")
        ]
        assert any(e["event"] == "job.failure_not_recorded" for e in logs)

    def test_a_failure_that_cannot_be_recorded_raises_the_runs_own_error(
        self, db, factory, settings, now, monkeypatch
    ):
        def lost_record(*args, **kwargs):
            raise RuntimeError("the database went away")

        def body(ctx):
            monkeypatch.setattr(jobs, "_finish", lost_record)
            raise ValueError("the run's own error")

        with capture_logs() as logs, pytest.raises(ValueError, match="own error"):
            run(factory, settings, "purge", body, now=now)

        assert [e["error"] for e in logs if e["event"] == "job.failed"] == [
            "ValueError"
        ]
        unrecorded = [e for e in logs if e["event"] == "job.failure_not_recorded"]
        assert [e["error"] for e in unrecorded] == ["RuntimeError"]
        # The run stays as it was last written; the heartbeat has the failure.
        assert job_run(db, "run-1").status == "RUNNING"
        assert heartbeat(db, "purge").last_error == "ValueError"

    def test_batch_durations_add_up_across_runs(
        self, db, factory, settings, cache, user, now
    ):
        for m in range(3):
            make_soft_deleted(db, user, deadline=now - timedelta(minutes=m + 1))
        settings = settings.model_copy(update={"purge_batch_size": 1})

        run(factory, settings, "purge", purge_body(cache), now=now)
        make_soft_deleted(db, user, deadline=now - timedelta(minutes=1))
        run(factory, settings, "purge", purge_body(cache), run_id="run-2", now=now)

        histogram = heartbeat(db, "purge").batch_durations
        assert histogram["count"] == 4
        assert histogram["counts"][-1] == 4
        assert histogram["counts"] == sorted(histogram["counts"])
        assert histogram["sum"] > 0


class TestHistogram:
    def test_an_observation_counts_in_its_bucket_and_every_larger_one(self):
        histogram = heartbeats.add_observation({}, 0.1)

        # 0.1 falls in `le=0.1` and above, not in `le=0.05`.
        assert histogram["counts"][:3] == [0, 1, 1]
        assert histogram["counts"][-1] == 1
        assert (histogram["sum"], histogram["count"]) == (0.1, 1)

    def test_an_observation_past_every_bound_counts_in_inf_only(self):
        histogram = heartbeats.add_observation({}, 1000.0)

        assert histogram["counts"] == [0] * len(heartbeats.BUCKETS) + [1]

    def test_a_histogram_with_other_bounds_starts_again(self):
        stale = {"le": [1, 2], "counts": [5, 9, 9], "sum": 3.0, "count": 9}

        histogram = heartbeats.add_observation(stale, 0.01)

        assert histogram["count"] == 1
        assert histogram["counts"] == [1] * (len(heartbeats.BUCKETS) + 1)
