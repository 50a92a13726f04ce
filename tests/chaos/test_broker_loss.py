"""Redis (broker and report cache) lost during a run, and a job that outlives the
broker's visibility timeout.

The Redis server is the scenario's own, with an append-only file as a production
broker keeps one, so a restart keeps the queue. Whatever the broker does, the
effect must be that of each job running once: one tombstone per purged session,
one delivered notice per session, and nothing left undone.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from interview_retention.clock import utcnow
from interview_retention.deletion.models import DeletionNotice
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
