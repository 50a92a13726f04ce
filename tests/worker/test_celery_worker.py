"""A real Celery worker process on Redis runs the jobs against PostgreSQL.

The worker reads its settings from the environment, as in production; the test
sends messages with an app built from the same settings and watches the database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from interview_retention.clock import utcnow
from interview_retention.config import Settings
from interview_retention.deletion import plans
from interview_retention.deletion.models import DeletionLogEntry, DeletionNotice, JobRun
from interview_retention.sessions.cache import RedisReportCache
from interview_retention.sessions.models import InterviewSession
from interview_retention.worker.celery_app import create_celery
from tests.conftest import REDIS_URL, RUN_ID
from tests.deletion.support import make_soft_deleted
from tests.factories import make_session, make_user

pytestmark = [pytest.mark.celery_worker, pytest.mark.postgres]

CELERY = Path(sys.executable).with_name("celery")
WAIT_SECONDS = 60


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    app: Celery
    settings: Settings

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def worker(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory, redis_client
) -> Iterator[Worker]:
    """One worker process for the module, on a broker prefix of its own."""
    prefix = f"irtest:{RUN_ID}:worker-{uuid.uuid4().hex[:8]}:"
    folder = tmp_path_factory.mktemp("celery-worker")
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "REDIS_URL": REDIS_URL,
        "BROKER_KEY_PREFIX": f"{prefix}broker:",
        "CACHE_KEY_PREFIX": prefix,
        "VAR_DIR": str(folder),
        "LOG_LEVEL": "INFO",
    }
    settings = Settings(
        _env_file=None,
        database_url=pg_url,
        redis_url=REDIS_URL,
        broker_key_prefix=f"{prefix}broker:",
        cache_key_prefix=prefix,
        var_dir=folder,
    )
    log = folder / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(CELERY),
                "-A",
                "interview_retention.worker.celery_app:celery_app",
                "worker",
                "--pool",
                "solo",
                "--concurrency",
                "1",
                "--without-mingle",
                "--without-gossip",
                "-Q",
                "celery",
                "--loglevel",
                "INFO",
            ],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
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
        app.close()


def wait_for(worker: Worker, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not done():
        if worker.process.poll() is not None:
            pytest.fail(f"the worker exited early:\n{worker.log_tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"the worker did not finish in time:\n{worker.log_tail()}")
        time.sleep(0.25)


def job_status(factory: sessionmaker[Session], run_id: str) -> str | None:
    with factory() as db:
        return db.scalar(select(JobRun.status).where(JobRun.id == run_id))


@pytest.fixture
def pg_factory(pg_engine) -> sessionmaker[Session]:
    return sessionmaker(bind=pg_engine, expire_on_commit=False)


def test_worker_purges_due_sessions(worker, pg_factory, redis_client):
    now = utcnow()
    with pg_factory() as db:
        user, _ = make_user(db)
        due = [
            make_soft_deleted(db, user, deadline=now - timedelta(hours=i + 1)).id
            for i in range(3)
        ]
        kept = make_soft_deleted(db, user, deadline=now + timedelta(days=1)).id
    cache = RedisReportCache(
        redis_client, prefix=worker.settings.cache_key_prefix, ttl_seconds=600
    )
    cache.put(due[0], {"summary": "Good session"})
    task_id = f"purge-{uuid.uuid4()}"

    worker.app.send_task(
        "interview_retention.purge.purge_expired_sessions",
        task_id=task_id,
        kwargs={"trigger": "admin"},
    )
    wait_for(worker, lambda: job_status(pg_factory, task_id) == "SUCCEEDED")

    with pg_factory() as db:
        remaining = db.scalars(select(InterviewSession.id)).all()
        logged = db.scalars(select(DeletionLogEntry.session_id)).all()
        run = db.get(JobRun, task_id)
    assert remaining == [kept]
    assert sorted(logged) == sorted(due)
    assert run.trigger == "admin"
    assert run.result["purged"] == 3
    assert cache.get(due[0]) is None


def test_worker_applies_retention_rule(worker, pg_factory):
    now = utcnow()
    with pg_factory() as db:
        user, _ = make_user(db)
        old = make_session(db, user, created_at=now - timedelta(days=91)).id
        make_session(db, user, created_at=now - timedelta(days=89))
    task_id = f"retention-{uuid.uuid4()}"

    worker.app.send_task(
        "interview_retention.retention.apply_retention_rule", task_id=task_id
    )
    wait_for(worker, lambda: job_status(pg_factory, task_id) == "SUCCEEDED")

    with pg_factory() as db:
        noticed = db.execute(
            select(DeletionNotice.session_id, func.count()).group_by(
                DeletionNotice.session_id
            )
        ).all()
    assert noticed == [(old, 1)]


def test_worker_runs_a_plan_with_the_triggers_params(worker, pg_factory, pg_settings):
    now = utcnow()
    with pg_factory() as db:
        user, _ = make_user(db)
        due = [
            make_soft_deleted(db, user, deadline=now - timedelta(hours=3 - i)).id
            for i in range(3)
        ]
        plan = plans.preview(db, "purge", now=now, settings=pg_settings, limit=2)
        task_id = f"purge-plan-{uuid.uuid4()}"
        plans.claim(
            db, plan.id, job="purge", now=now, settings=pg_settings, run_id=task_id
        )
        db.commit()
    params = {"planId": plan.id, "batchSize": 1}

    worker.app.send_task(
        "interview_retention.purge.purge_expired_sessions",
        task_id=task_id,
        kwargs={"trigger": "admin", "params": params},
    )
    wait_for(worker, lambda: job_status(pg_factory, task_id) == "SUCCEEDED")

    with pg_factory() as db:
        remaining = db.scalars(select(InterviewSession.id)).all()
        run = db.get(JobRun, task_id)
    assert remaining == [due[2]]
    assert run.params == params
    assert run.result["planned"] == 2
    assert run.result["purged"] == 2
    assert run.result["batches"] == 2
    assert run.progress["processed"] == 2
