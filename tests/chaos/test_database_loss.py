"""PostgreSQL connections dropped in the middle of a purge batch.

The worker's backends are terminated (`pg_terminate_backend`, this database
only) while a batch is held open mid-transaction, twice in one run. The batch
rolls back, the task fails with a connection error, Celery retries it with
backoff, and the retried run finishes the work.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from interview_retention.clock import utcnow
from tests.chaos.conftest import assert_whole_or_gone, outcome, rows_by_session
from tests.chaos.harness import wait_until
from tests.deletion.support import make_soft_deleted
from tests.factories import make_user

pytestmark = pytest.mark.chaos


@pytest.mark.timeout(180)
def test_connections_dropped_mid_batch_are_retried_to_the_end(chaos):
    now = utcnow()
    with chaos.db.factory() as db:
        user, _ = make_user(db)
        due = [
            make_soft_deleted(db, user, deadline=now - timedelta(minutes=i + 1)).id
            for i in range(30)
        ]
        waiting = [
            make_soft_deleted(db, user, deadline=now + timedelta(hours=1)).id
            for _ in range(5)
        ]
        expected = rows_by_session(db, due + waiting)
    # Tombstone rows are counted across attempts: the 8th is in the second batch
    # of the first attempt, the 23rd in the third batch of the first retry.
    chaos.db.pause("deletion_log", event="INSERT", at=(8, 23), seconds=30)
    worker = chaos.worker("worker", PURGE_BATCH_SIZE=5)
    run_id = chaos.send("purge", trigger="admin")

    dropped = []
    for _ in range(2):
        held = wait_until(
            lambda: chaos.db.sleeping("worker"),
            timeout=60,
            what="a batch held mid-transaction",
            watch=[worker],
        )
        with chaos.db.factory() as db:
            assert_whole_or_gone(outcome(db, expected))
        dropped.append(chaos.db.terminate("worker"))
        # Terminating is asynchronous: the next pause must be a new backend's.
        wait_until(
            lambda held=held: not set(held) & set(chaos.db.backends()),
            timeout=30,
            what="the terminated backends to go",
        )
    wait_until(
        lambda: (
            chaos.db.scalar("SELECT status FROM job_runs WHERE id = :i", i=run_id)
            == "SUCCEEDED"
        ),
        timeout=90,
        what="the retried run to finish",
        watch=[worker],
    )

    assert all(n >= 1 for n in dropped)
    log = worker.text()
    retries = re.findall(rf"\[{run_id}\] retry: Retry in (\d+)s", log)
    assert len(retries) == 2, log[-3000:]
    assert "OperationalError" in log
    failures = [e for e in worker.events("job.failed") if e["run_id"] == run_id]
    assert [e["error"] for e in failures] == ["OperationalError"] * 2
    with chaos.db.factory() as db:
        result = outcome(db, expected)
    assert_whole_or_gone(result)
    assert result.gone == set(due)
    assert result.whole == set(waiting)
