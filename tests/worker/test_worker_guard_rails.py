"""A real worker on Redis: a purge out of time budget queues its follow-up.

One worker process for the module, with PURGE_TIME_BUDGET_SECONDS so small that
every purge stops after its first batch of two.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from interview_retention.clock import utcnow
from interview_retention.config import Settings
from interview_retention.deletion.models import JobHeartbeat, JobRun
from interview_retention.sessions.models import InterviewSession
from interview_retention.worker.celery_app import create_celery
from tests.conftest import REDIS_URL, RUN_ID
from tests.deletion.support import make_soft_deleted
from tests.factories import make_user
from tests.worker.test_celery_worker import Worker, wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.postgres]

CELERY = Path(sys.executable).with_name("celery")


@pytest.fixture(scope="module")
def worker(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory, redis_client
) -> Iterator[Worker]:
    prefix = f"irtest:{RUN_ID}:guards-{uuid.uuid4().hex[:8]}:"
    folder = tmp_path_factory.mktemp("celery-guards")
    values = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": REDIS_URL,
        "BROKER_KEY_PREFIX": f"{prefix}broker:",
        "CACHE_KEY_PREFIX": prefix,
        "VAR_DIR": str(folder),
        "PURGE_BATCH_SIZE": "2",
        "PURGE_TIME_BUDGET_SECONDS": "0.001",
    }
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in values.items()})  # type: ignore[arg-type]
    log = folder / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(CELERY), "-A", "interview_retention.worker.celery_app:celery_app",
             "worker", "--pool", "solo", "--without-mingle", "--without-gossip",
             "--loglevel", "INFO"],
            cwd=folder,
            env={**os.environ, **values},
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    app = create_celery(settings)
    try:
        yield Worker(process, log, app, settings)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        # The worker's broker bindings: gone with the worker, not left to the run.
        for key in redis_client.scan_iter(match=f"{prefix}*", count=500):
            redis_client.delete(key)
        app.close()


@pytest.fixture
def pg_factory(pg_engine) -> sessionmaker[Session]:
    return sessionmaker(bind=pg_engine, expire_on_commit=False)


def runs(factory: sessionmaker[Session]) -> list[JobRun]:
    with factory() as db:
        return list(db.scalars(select(JobRun).order_by(JobRun.queued_at)))


def test_a_purge_out_of_budget_queues_runs_until_nothing_is_left(worker, pg_factory):
    now = utcnow()
    with pg_factory() as db:
        user, _ = make_user(db)
        for minutes in range(5):
            make_soft_deleted(db, user, deadline=now - timedelta(minutes=minutes + 1))
    first = f"purge-{uuid.uuid4()}"

    worker.app.send_task(
        "interview_retention.purge.purge_expired_sessions",
        task_id=first,
        kwargs={"trigger": "admin"},
    )

    def all_done() -> bool:
        done = [r for r in runs(pg_factory) if r.status == "SUCCEEDED"]
        return sum(r.result.get("purged", 0) for r in done) == 5 and all(
            r.status == "SUCCEEDED" for r in runs(pg_factory)
        )

    wait_for(worker, all_done)

    chain = runs(pg_factory)
    with pg_factory() as db:
        left = db.scalar(select(func.count()).select_from(InterviewSession))
        heartbeat = db.get(JobHeartbeat, "purge")
    assert left == 0
    # 2 + 2 + 1: each full batch spent the budget and queued the next run.
    assert [r.result["purged"] for r in chain] == [2, 2, 1]
    assert [r.trigger for r in chain] == ["admin", "requeue", "requeue"]
    assert chain[0].result["requeued_as"] == chain[1].id
    assert chain[1].result["requeued_as"] == chain[2].id
    assert chain[2].result.get("requeued") is None
    assert [r.progress["remaining"] for r in chain] == [3, 1, 0]
    assert heartbeat.last_run_id == chain[2].id
    assert heartbeat.batch_durations["count"] == 3
