"""A worker killed with SIGKILL in the middle of a purge batch.

The batch is held open by a trigger that sleeps before a tombstone is written:
at that instant the batch's sessions are deleted inside its transaction, and
some of its tombstones are written, none committed. Then the worker dies. The
committed batches stay done, the killed batch rolls back whole, sessions that
were not due are untouched, and the message is run again: at once when only the
pool process died (`task_reject_on_worker_lost`), after the broker's visibility
timeout when the whole worker died.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest

from interview_retention.clock import utcnow
from tests.chaos.conftest import assert_whole_or_gone, outcome, rows_by_session
from tests.chaos.harness import Stack, wait_until
from tests.deletion.support import make_soft_deleted
from tests.factories import make_user

pytestmark = pytest.mark.chaos

BATCH = 5
DUE = 30
NOT_DUE = 10


def seed(chaos: Stack) -> tuple[list[str], list[str], dict[str, dict[str, int]]]:
    now = utcnow()
    with chaos.db.factory() as db:
        user, _ = make_user(db)
        due = [
            make_soft_deleted(db, user, deadline=now - timedelta(minutes=i + 1)).id
            for i in range(DUE)
        ]
        waiting = [
            make_soft_deleted(db, user, deadline=now + timedelta(days=1)).id
            for _ in range(NOT_DUE)
        ]
        expected = rows_by_session(db, due + waiting)
    return due, waiting, expected


def run_status(chaos: Stack, run_id: str) -> str | None:
    return chaos.db.scalar("SELECT status FROM job_runs WHERE id = :id", id=run_id)


def held_mid_batch(chaos: Stack, role: str) -> list[int]:
    """Wait until a backend of `role` sleeps inside the trigger, and say which."""
    return wait_until(
        lambda: chaos.db.sleeping(role), timeout=30, what=f"{role} to pause mid-batch"
    )


def check_after_the_kill(chaos, due, waiting, expected):
    with chaos.db.factory() as db:
        result = outcome(db, expected)
    assert_whole_or_gone(result)
    assert set(waiting) <= result.whole, "a session that was not due was touched"
    assert result.gone <= set(due)
    return result


def next_run_purges_the_rest(chaos, due, waiting, expected, worker):
    # The killed transaction's backend only notices its client is gone once its
    # sleep ends; until then it holds the batch's row locks, which a purge skips.
    wait_until(lambda: not chaos.db.sleeping(), timeout=60, what="the pause to end")
    run_id = chaos.send("purge", trigger="admin")
    wait_until(
        lambda: run_status(chaos, run_id) == "SUCCEEDED",
        timeout=60,
        what="the next purge run",
        watch=[worker],
    )
    with chaos.db.factory() as db:
        final = outcome(db, expected)
    assert_whole_or_gone(final)
    assert final.gone == set(due)
    assert final.whole == set(waiting)
    assert set(final.tombstones) == set(due)


@pytest.mark.timeout(180)
def test_pool_process_killed_mid_batch(chaos):
    due, waiting, expected = seed(chaos)
    # Before the 13th tombstone: two batches committed, the third half-written.
    chaos.db.pause("deletion_log", event="INSERT", at=(13,), seconds=8)
    worker = chaos.worker("worker", PURGE_BATCH_SIZE=BATCH)
    run_id = chaos.send("purge", trigger="admin")

    held_mid_batch(chaos, "worker")
    [child] = worker.children()
    os.kill(child, signal.SIGKILL)
    # The pool process is replaced and the rejected message delivered again.
    wait_until(
        lambda: run_status(chaos, run_id) == "SUCCEEDED",
        timeout=60,
        what="the redelivered run",
        watch=[worker],
    )

    assert "exited with 'signal 9 (SIGKILL)'" in worker.text()
    assert worker.text().count(f"[{run_id}] received") == 2
    result = check_after_the_kill(chaos, due, waiting, expected)
    # Two batches committed before the kill.
    assert len(result.gone) >= 2 * BATCH
    next_run_purges_the_rest(chaos, due, waiting, expected, worker)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_whole_worker_killed_mid_batch(chaos):
    due, waiting, expected = seed(chaos)
    chaos.db.pause("deletion_log", event="INSERT", at=(13,), seconds=8)
    # The smallest visibility timeout the settings accept; a worker that sees the
    # message unacknowledged for longer puts it back on the queue.
    timing = {
        "BROKER_VISIBILITY_TIMEOUT_SECONDS": 60,
        "TASK_TIME_LIMIT_SECONDS": 40,
        "TASK_RETRY_BACKOFF_MAX_SECONDS": 10,
        "PURGE_BATCH_SIZE": BATCH,
    }
    worker = chaos.worker("worker", **timing)
    run_id = chaos.send("purge", trigger="admin")

    held_mid_batch(chaos, "worker")
    delivered = time.monotonic()
    worker.kill()

    assert run_status(chaos, run_id) == "RUNNING"
    check_after_the_kill(chaos, due, waiting, expected)
    # Nobody acknowledged the message: it waits in the broker's unacked set, and
    # the next worker to start puts it back once the visibility timeout is over.
    assert chaos.redis.client().hlen(f"{chaos.prefix}broker:unacked") == 1
    time.sleep(max(0.0, 62 - (time.monotonic() - delivered)))
    again = chaos.worker("worker-again", **timing)
    wait_until(
        lambda: run_status(chaos, run_id) == "SUCCEEDED",
        timeout=60,
        what="the run redelivered after the visibility timeout",
        watch=[again],
    )

    assert f"[{run_id}] received" in again.text()
    check_after_the_kill(chaos, due, waiting, expected)
    next_run_purges_the_rest(chaos, due, waiting, expected, again)
