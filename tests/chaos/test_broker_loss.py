"""Redis (broker and report cache) lost during a run, and jobs slowed past the
broker's visibility timeout: the notices job outlives it and is delivered again,
the purge hands over to a follow-up run at its time budget first.

The Redis server is the scenario's own, with an append-only file as a production
broker keeps one, so a restart keeps the queue. Whatever the broker does, the
effect must be that of each job running once: one tombstone per purged session,
one delivered notice per session, and nothing left undone.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from interview_retention.clock import utcnow
from interview_retention.deletion.models import DeletionNotice, JobRun
from tests.chaos.conftest import assert_whole_or_gone, outcome, rows_by_session
from tests.chaos.harness import Process, Stack, wait_until
from tests.deletion.support import add_notice, make_soft_deleted
from tests.factories import make_session, make_user

pytestmark = pytest.mark.chaos


def seed(chaos: Stack, *, due: int, noticed: int):
    """Due sessions, sessions with a queued notice, and sessions not due yet."""
    now = utcnow()
    with chaos.db.factory() as db:
        user, _ = make_user(db)
        due_ids = [
            make_soft_deleted(db, user, deadline=now - timedelta(minutes=i + 1)).id
            for i in range(due)
        ]
        noticed_ids = []
        for _ in range(noticed):
            session = make_session(db, user, created_at=now - timedelta(days=100))
            add_notice(db, session, next_attempt_at=now - timedelta(minutes=1))
            noticed_ids.append(session.id)
        waiting = [
            make_soft_deleted(db, user, deadline=now + timedelta(days=1)).id
            for _ in range(5)
        ]
        expected = rows_by_session(db, due_ids + waiting)
    return due_ids, noticed_ids, waiting, expected


def status(chaos: Stack, run_id: str) -> str | None:
    return chaos.db.scalar("SELECT status FROM job_runs WHERE id = :i", i=run_id)


def deliveries(*workers: Process) -> Counter[str]:
    """Notices the channel accepted, per session, across these workers' logs."""
    return Counter(
        event["session_id"]
        for worker in workers
        for event in worker.events("notice.delivered")
    )


def check_once(chaos, due, noticed, waiting, expected, workers):
    with chaos.db.factory() as db:
        result = outcome(db, expected)
        notices = db.execute(
            select(DeletionNotice.session_id, DeletionNotice.status)
        ).all()
    assert_whole_or_gone(result)
    assert result.gone == set(due)
    assert result.whole == set(waiting)
    assert set(result.tombstones) == set(due)
    assert sorted(notices) == sorted((sid, "SENT") for sid in noticed)
    assert deliveries(*workers) == Counter(noticed)


# Visibility must exceed the task time limit plus the longest retry delay; these
# are the smallest the settings accept, so that a redelivery comes within a minute.
TIMING = {
    "BROKER_VISIBILITY_TIMEOUT_SECONDS": 60,
    "TASK_TIME_LIMIT_SECONDS": 40,
    "TASK_RETRY_BACKOFF_MAX_SECONDS": 10,
}


@pytest.mark.timeout(240)
def test_redis_restarted_during_a_run(chaos):
    due, noticed, waiting, expected = seed(chaos, due=30, noticed=10)
    chaos.db.pause("deletion_log", event="INSERT", at=(3,), seconds=3)
    worker = chaos.worker("worker", PURGE_BATCH_SIZE=5, **TIMING)
    purge = chaos.send("purge", trigger="admin")
    notices = chaos.send("notices", trigger="admin")

    wait_until(lambda: chaos.db.sleeping("worker"), timeout=30, what="mid-batch")
    # The notices message is still in the queue: the worker takes one at a time.
    assert chaos.queue_length() == 1
    chaos.redis.stop()
    time.sleep(5)
    chaos.redis.start()
    wait_until(
        lambda: status(chaos, purge) == status(chaos, notices) == "SUCCEEDED",
        timeout=90,
        what="both runs to finish after the restart",
        watch=[worker],
    )

    assert worker.text().count("Connected to redis") >= 2
    check_once(chaos, due, noticed, waiting, expected, [worker])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_job_outliving_the_visibility_timeout_runs_twice_with_one_effect(chaos):
    due, noticed, waiting, expected = seed(chaos, due=40, noticed=20)
    # Each job is slowed to about 80 s, past the 60 s visibility timeout: the
    # purge sleeps in each of its 8 batches, the notices job in each of its 10.
    chaos.db.pause(
        "deletion_log", event="INSERT", at=tuple(range(1, 41, 5)), seconds=10
    )
    chaos.db.pause(
        "deletion_notices", event="UPDATE", at=tuple(range(1, 21, 2)), seconds=8
    )
    # The solo pool enforces no time limit, so nothing stops a job that runs on:
    # the case where the broker's timeout, not the task's, runs out first.
    settings = {"PURGE_BATCH_SIZE": 5, "NOTICE_BATCH_SIZE": 2, **TIMING}
    first = chaos.workers(["worker-1", "worker-2"], pool="solo", **settings)
    purge = chaos.send("purge", trigger="admin")
    notices = chaos.send("notices", trigger="admin")
    wait_until(
        lambda: len(chaos.db.sleeping("worker-")) == 2,
        timeout=30,
        what="both jobs to be running",
        watch=first,
    )
    started = time.monotonic()

    # Workers that start once the timeout is over find the notices message
    # unacknowledged for too long and deliver it again.
    time.sleep(max(0.0, 62 - (time.monotonic() - started)))
    second = chaos.workers(["late-1", "late-2"], pool="solo", **settings)
    everyone = first + second

    def purge_runs() -> list[JobRun]:
        with chaos.db.factory() as db:
            query = select(JobRun).where(JobRun.job == "purge")
            return sorted(db.scalars(query), key=lambda r: r.queued_at)

    def settled() -> bool:
        runs = purge_runs()
        return (
            len(finished_at(everyone, notices)) == 2
            and all(r.status == "SUCCEEDED" for r in runs)
            # The last follow-up is the one that queued none.
            and [bool(r.result.get("requeued")) for r in runs].count(False) == 1
        )

    wait_until(
        settled, timeout=150, what="every run to finish", watch=everyone, every=0.5
    )

    # The notices job has no time budget: it outlived the visibility timeout and
    # was delivered again while its first delivery was still at work.
    received = sorted(t for w in everyone for t in w.received(notices))
    assert len(received) == 2
    assert received[1] < finished_at(everyone, notices)[0]
    assert status(chaos, notices) == "SUCCEEDED"
    # The purge stops after the batch that spends its budget (9 s here, which the
    # settings keep under the time limit and so under the visibility timeout)
    # and queues a run to go on: no purge run outlived the timeout, and each was
    # delivered once.
    runs = purge_runs()
    assert runs[0].id == purge
    assert [r.trigger for r in runs] == ["admin"] + ["requeue"] * (len(runs) - 1)
    assert len(runs) >= 2
    for run in runs:
        assert sum(len(w.received(run.id)) for w in everyone) == 1, run.id
        assert (run.finished_at - run.started_at).total_seconds() < 60
    assert sum(r.result["purged"] for r in runs) == len(due)
    check_once(chaos, due, noticed, waiting, expected, everyone)


def finished_at(workers: list[Process], run_id: str) -> list[datetime]:
    """When each delivery of `run_id` finished, from the workers' logs."""
    return sorted(
        datetime.fromisoformat(e["timestamp"])
        for w in workers
        for e in w.events("job.finished")
        if e["run_id"] == run_id
    )
