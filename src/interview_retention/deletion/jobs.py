"""The three jobs as loops of one-transaction batches, shared by Celery and the CLI.

Each run takes `now` once and hands it to every batch, records itself in
`job_runs` (start, end, counts, error) and writes one log line per batch and one
per run. A run keeps going until nothing is left, so missed runs never pile up.
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from interview_retention.clock import utcnow
from interview_retention.config import Settings
from interview_retention.db.engine import transaction
from interview_retention.deletion import service
from interview_retention.deletion.channels import NoticeChannel
from interview_retention.deletion.models import JobRun
from interview_retention.sessions.cache import ReportCache

log = structlog.get_logger("interview_retention.jobs")

JOBS = ("retention", "notices", "purge")


@dataclass
class JobContext:
    factory: sessionmaker[Session]
    settings: Settings
    run_id: str
    now: datetime


# One batch in its own transaction: how many rows it claimed, and its counts.
Step = Callable[[Session], tuple[int, dict[str, int]]]


def _drain(
    ctx: JobContext,
    step: Step,
    *,
    size: int,
    event: str,
    counts: tuple[str, ...],
    pause: float = 0.0,
) -> dict[str, Any]:
    """Run `step` one transaction at a time until a batch comes back short.

    A short batch means the rest is gone, or claimed by a run of the same job
    going on at once. One log line per batch; the run's totals of `counts`.
    Between two batches it waits `pause` seconds, holding no lock.
    """
    totals: dict[str, Any] = {"batches": 0, **dict.fromkeys(counts, 0)}
    while True:
        started = time.perf_counter()
        with transaction(ctx.factory) as db:
            claimed, batch = step(db)
        if claimed == 0:
            break

        totals["batches"] += 1
        for key in counts:
            totals[key] += batch[key]
        log.info(
            event,
            run_id=ctx.run_id,
            batch=totals["batches"],
            claimed=claimed,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            **batch,
        )
        if claimed < size:
            break
        if pause:
            time.sleep(pause)
    return totals


def purge(
    ctx: JobContext, *, cache: ReportCache, batch_size: int | None = None
) -> dict[str, Any]:
    """Hard-delete every session due at `ctx.now`, one batch per transaction."""
    size = batch_size or ctx.settings.purge_batch_size

    def step(db: Session) -> tuple[int, dict[str, int]]:
        batch = service.purge_batch(
            db, now=ctx.now, batch_size=size, cache=cache, task_id=ctx.run_id
        )
        return batch.claimed, {
            "purged": len(batch.purged),
            "rows_removed": batch.rows_removed,
            "cache_keys_evicted": batch.cache_keys_evicted,
        }

    return _drain(
        ctx,
        step,
        size=size,
        event="purge.batch_deleted",
        counts=("purged", "rows_removed", "cache_keys_evicted"),
        pause=ctx.settings.purge_pause_ms / 1000,
    )


def retention(ctx: JobContext) -> dict[str, Any]:
    """Queue a notice for every session the retention rule newly covers."""
    size = ctx.settings.retention_batch_size

    def step(db: Session) -> tuple[int, dict[str, int]]:
        queued = service.queue_retention_notices(
            db, now=ctx.now, settings=ctx.settings, limit=size
        )
        return queued, {"queued": queued}

    return _drain(
        ctx, step, size=size, event="retention.batch_queued", counts=("queued",)
    )


def notices(
    ctx: JobContext, *, channel: NoticeChannel, clock: Callable[[], datetime] = utcnow
) -> dict[str, Any]:
    """Send every notice due at `ctx.now`; failures wait for their next attempt."""

    def step(db: Session) -> tuple[int, dict[str, int]]:
        batch = service.send_notice_batch(
            db, now=ctx.now, settings=ctx.settings, channel=channel, clock=clock
        )
        return batch.claimed, {
            "sent": batch.sent,
            "retried": batch.retried,
            "failed": batch.failed,
            "cancelled": batch.cancelled,
        }

    return _drain(
        ctx,
        step,
        size=ctx.settings.notice_batch_size,
        event="notices.batch_processed",
        counts=("sent", "retried", "failed", "cancelled"),
    )


def body_of(
    job: str,
    *,
    cache: ReportCache,
    channel: NoticeChannel,
    batch_size: int | None = None,
) -> Callable[[JobContext], dict[str, Any]]:
    """The body of `job` wired to its cache or channel, for the worker and the CLI."""
    bodies: dict[str, Callable[[JobContext], dict[str, Any]]] = {
        "retention": retention,
        "notices": lambda ctx: notices(ctx, channel=channel),
        "purge": lambda ctx: purge(ctx, cache=cache, batch_size=batch_size),
    }
    return bodies[job]


def run_job(
    job: str,
    body: Callable[[JobContext], dict[str, Any]],
    *,
    factory: sessionmaker[Session],
    settings: Settings,
    run_id: str | None = None,
    trigger: str = "beat",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Run one job, recording its start, end and outcome in `job_runs`.

    Running the same `run_id` again (a redelivered message) runs the job again,
    which is safe because every job is idempotent, and updates the same record.
    """
    ctx = JobContext(
        factory=factory,
        settings=settings,
        run_id=run_id or str(uuid.uuid4()),
        now=now or utcnow(),
    )
    started = time.perf_counter()
    with transaction(factory) as db:
        record = db.get(JobRun, ctx.run_id) or JobRun(
            id=ctx.run_id, job=job, trigger=trigger, queued_at=ctx.now
        )
        record.status = "RUNNING"
        record.started_at = utcnow()
        record.finished_at = None
        record.error = None
        db.add(record)

    try:
        # Every line logged while the job runs (a delivered notice, say) carries
        # the run's id, so one id ties together all that a run did.
        with structlog.contextvars.bound_contextvars(run_id=ctx.run_id, job=job):
            result = body(ctx)
    except Exception as exc:
        _finish(factory, ctx.run_id, "FAILED", {}, _describe(exc))
        log.error(
            "job.failed",
            job=job,
            run_id=ctx.run_id,
            error=type(exc).__name__,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        raise

    result = {"job": job, "run_id": ctx.run_id, "now": ctx.now.isoformat(), **result}
    _finish(factory, ctx.run_id, "SUCCEEDED", result, None)
    log.info(
        "job.finished",
        job=job,
        run_id=ctx.run_id,
        trigger=trigger,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
        **{k: v for k, v in result.items() if isinstance(v, int)},
    )
    return result


def _describe(exc: Exception) -> str:
    # The exception's type and the frame it came from; its message may carry row
    # values from the database, so it is kept out of logs and only stored here.
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {frame[0].filename}:{frame[0].lineno}" if frame else ""
    return f"{type(exc).__name__}{where}: {str(exc)[:400]}"


def _finish(
    factory: sessionmaker[Session],
    run_id: str,
    status: str,
    result: dict[str, Any],
    error: str | None,
) -> None:
    with transaction(factory) as db:
        record = db.get(JobRun, run_id)
        if record is None:
            return
        record.status = status
        record.finished_at = utcnow()
        record.result = result
        record.error = error
