"""PostgreSQL connections dropped in the middle of a purge batch, then the
database refusing connections for a while.

The worker's backends are terminated (`pg_terminate_backend`, this database
only) while a batch is held open mid-transaction, twice in one run: each time the
server rolls the batch back and the batch is redone on a fresh connection, within
the same run. Then, at a third held batch, the database stops taking connections
(`ALLOW_CONNECTIONS false`) and the worker's backends are terminated again: the
batch cannot reconnect, so the run fails and Celery retries the task with backoff
until the database takes connections again. The run finishes with every due
session purged once and nothing half-deleted.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from interview_retention.clock import utcnow
from tests.chaos.conftest import assert_whole_or_gone, outcome, rows_by_session
from tests.chaos.harness import Database, Process, wait_until
from tests.conftest import PG_ADMIN_URL
from tests.deletion.support import make_soft_deleted
from tests.factories import make_user

pytestmark = pytest.mark.chaos


def retries(worker: Process, run_id: str) -> list[str]:
    """Celery's `Retry in Ns` lines for this run, in order."""
    return re.findall(rf"\[{run_id}\] retry: Retry in (\d+)s", worker.text())


def allow_connections(db: Database, allowed: bool) -> None:
    """Let this database take new connections or refuse them, from the server's
    own maintenance database (the scenario's database would refuse us too)."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(
                text(f'ALTER DATABASE "{db.name}" ALLOW_CONNECTIONS {allowed!s}')
            )
            if not allowed:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = :name AND application_name LIKE 'worker%'"
                    ),
                    {"name": db.name},
                )
    finally:
        admin.dispose()


def held_mid_batch(chaos, worker: Process, expected) -> list[int]:
    held = wait_until(
        lambda: chaos.db.sleeping("worker"),
        timeout=60,
        what="a batch held mid-transaction",
        watch=[worker],
    )
    with chaos.db.factory() as db:
        assert_whole_or_gone(outcome(db, expected))
    return held


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
    # Tombstone rows are counted across attempts, rolled back ones too. Batches
    # of 5: the 8th is in the second batch; its redo writes 9-13, the third batch
    # 14-18, and the 23rd is the last of the fourth; its redo writes 24-28, and
    # the 31st is in the fifth batch.
    chaos.db.pause("deletion_log", event="INSERT", at=(8, 23, 31), seconds=30)
    worker = chaos.worker("worker", PURGE_BATCH_SIZE=5)
    run_id = chaos.send("purge", trigger="admin")

    # Two connections lost: each batch is redone within the run.
    dropped = []
    for _ in range(2):
        held = held_mid_batch(chaos, worker, expected)
        dropped.append(chaos.db.terminate("worker"))
        # Terminating is asynchronous: the next pause must be a new backend's.
        wait_until(
            lambda held=held: not set(held) & set(chaos.db.backends()),
            timeout=30,
            what="the terminated backends to go",
        )
    assert all(n >= 1 for n in dropped)

    # Then the database refuses connections: the run fails and the task waits.
    held_mid_batch(chaos, worker, expected)
    assert retries(worker, run_id) == []
    allow_connections(chaos.db, False)
    try:
        wait_until(
            lambda: retries(worker, run_id),
            timeout=60,
            what="Celery to retry the task",
            watch=[worker],
        )
        # Refused a few seconds more, so that a retry may meet it too.
        time.sleep(3)
    finally:
        allow_connections(chaos.db, True)
    wait_until(
        lambda: (
            chaos.db.scalar("SELECT status FROM job_runs WHERE id = :i", i=run_id)
            == "SUCCEEDED"
        ),
        timeout=90,
        what="the retried run to finish",
        watch=[worker],
    )

    # Each held batch lost its connection once; the first two were redone at
    # once, the third could not reconnect.
    lost = [e for e in worker.events("batch.connection_lost") if e["run_id"] == run_id]
    assert [(e["attempt"], e["reason"]) for e in lost] == [(1, "connection_lost")] * 3
    # Only the refused database ended the run: one delivery for the drops, one
    # more per Celery retry, and one `job.failed` line per failed delivery.
    celery_retries = retries(worker, run_id)
    assert len(celery_retries) >= 1
    assert len(worker.received(run_id)) == 1 + len(celery_retries)
    failed = [e for e in worker.events("job.failed") if e["run_id"] == run_id]
    assert len(failed) == len(celery_retries)
    assert {e["error"] for e in failed} == {"OperationalError: OperationalError"}
    with chaos.db.factory() as db:
        result = outcome(db, expected)
    assert_whole_or_gone(result)
    assert result.gone == set(due)
    assert result.whole == set(waiting)
