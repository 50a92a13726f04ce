"""The three periodic jobs as Celery tasks. Each is idempotent and safe twice at once.

A task takes no state from its message but the trigger: it reads what is due
from the database at its own `now`, so a redelivered or duplicated message runs
the same job again and finds only what is still left.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import redis
from celery import Task
from celery.exceptions import Reject
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from interview_retention.config import get_settings
from interview_retention.db.engine import get_sessionmaker
from interview_retention.db.hooks import after_commit
from interview_retention.deletion import jobs, plans
from interview_retention.deletion.channels import get_channel
from interview_retention.deletion.models import JobRun
from interview_retention.sessions.cache import get_report_cache
from interview_retention.worker.celery_app import celery_app

# Only failures that a later attempt can fix are retried.
RETRYABLE = (
    OperationalError,
    InterfaceError,
    redis.ConnectionError,
    redis.TimeoutError,
)


class JobTask(Task):
    """A job's task: a retry that cannot be sent gives its message back.

    Celery sends a retry as a new message and acknowledges the old one. When the
    broker itself is what failed (Redis restarting, say), the new message cannot
    be sent and Celery drops the old one (`Reject(requeue=False)`): the run would
    be lost until the next scheduled one. Requeueing it instead delivers it again
    once the broker answers; should the broker still be away even for that, the
    message stays unacknowledged and comes back after the visibility timeout.
    """

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().retry(*args, **kwargs)
        except Reject as dropped:
            if dropped.requeue:
                raise
            raise Reject(dropped.reason, requeue=True) from dropped


_settings = get_settings()
RETRY_OPTIONS: dict[str, Any] = {
    "base": JobTask,
    "autoretry_for": RETRYABLE,
    "retry_backoff": 5,
    "retry_backoff_max": _settings.task_retry_backoff_max_seconds,
    "retry_jitter": True,
    "max_retries": 8,
}


def _run(
    task: Task, job: str, trigger: str, params: dict[str, Any] | None
) -> dict[str, Any]:
    body = jobs.body_of(job, cache=get_report_cache(), channel=get_channel())
    return jobs.run_job(
        job,
        body,
        factory=get_sessionmaker(),
        settings=get_settings(),
        run_id=task.request.id,
        trigger=trigger,
        params=params or {},
    )


# `params` is what the trigger asked for: batchSize, limit, planId (see queue_run).


@celery_app.task(
    bind=True, name="interview_retention.purge.purge_expired_sessions", **RETRY_OPTIONS
)
def purge_expired_sessions(
    self: Task, trigger: str = "beat", params: dict[str, Any] | None = None
) -> dict[str, Any]:
    return _run(self, "purge", trigger, params)


@celery_app.task(
    bind=True,
    name="interview_retention.retention.apply_retention_rule",
    **RETRY_OPTIONS,
)
def apply_retention_rule(
    self: Task, trigger: str = "beat", params: dict[str, Any] | None = None
) -> dict[str, Any]:
    return _run(self, "retention", trigger, params)


@celery_app.task(
    bind=True, name="interview_retention.notices.send_pending_notices", **RETRY_OPTIONS
)
def send_pending_notices(
    self: Task, trigger: str = "beat", params: dict[str, Any] | None = None
) -> dict[str, Any]:
    return _run(self, "notices", trigger, params)


def queue_run(
    db: Session,
    *,
    job: str,
    requested_by: str | None,
    now: datetime,
    params: dict[str, Any] | None = None,
    trigger: str = "admin",
    run_id: str | None = None,
) -> JobRun:
    """Record a run as QUEUED and send its task once that record is committed.

    `params` (batchSize, limit, planId) travel with the message and are stored on
    the run. Nothing is sent if the transaction rolls back. If the broker cannot
    take the message after the commit, the run is marked FAILED so that nobody
    waits on it, and a plan it had claimed is given back, so that it can run.
    """
    params = dict(params or {})
    run = JobRun(
        id=run_id or str(uuid.uuid4()),
        job=job,
        status="QUEUED",
        trigger=trigger,
        requested_by=requested_by,
        queued_at=now,
        result={},
        params=params,
        progress={},
    )
    db.add(run)
    bind = db.get_bind()

    def send() -> None:
        try:
            TASKS[job].apply_async(
                task_id=run.id, kwargs={"trigger": trigger, "params": params}
            )
        except Exception as exc:
            with Session(bind) as other, other.begin():
                failed = other.get(JobRun, run.id)
                if failed is not None and failed.status == "QUEUED":
                    failed.status = "FAILED"
                    failed.error = f"could not queue the task: {type(exc).__name__}"
                    if params.get("planId"):
                        plans.release(other, params["planId"], run.id)
            raise

    after_commit(db, send)
    return run


TASKS: dict[str, Task] = {
    "purge": purge_expired_sessions,
    "retention": apply_retention_rule,
    "notices": send_pending_notices,
}
