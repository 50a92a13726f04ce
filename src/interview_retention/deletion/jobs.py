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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from interview_retention.clock import utcnow
from interview_retention.config import Settings
from interview_retention.db.engine import transaction
from interview_retention.db.hooks import after_commit
from interview_retention.deletion import guards, heartbeats, plans, service
from interview_retention.deletion.channels import NoticeChannel
from interview_retention.deletion.models import JobRun
from interview_retention.sessions.cache import ReportCache

log = structlog.get_logger("interview_retention.jobs")

JOBS = ("retention", "notices", "purge")


@dataclass
class JobContext:
    """What a job's body gets: one instant, its run, and what the trigger asked for.

    `params` holds the trigger's options (batchSize, limit, planId, dryRun).
    `budget_seconds`, when set, is how long the run may go on taking batches;
    `_drain` stops after the batch that spends it and sets `stopped_by_budget`.
    """

    factory: sessionmaker[Session]
    settings: Settings
    run_id: str
    now: datetime
    params: dict[str, Any] = field(default_factory=dict)
    job: str = ""
    budget_seconds: float | None = None
    stopped_by_budget: bool = False
    # The last progress reported: what a follow-up run starts from.
    progress: dict[str, Any] = field(default_factory=dict)

    def report_progress(
        self,
        processed: int,
        deleted: int,
        failed: int,
        remaining: int | None,
        *,
        batch_seconds: float | None = None,
    ) -> None:
        """Write the run's progress and beat its job's heartbeat; never raises.

        A short transaction of its own, after the batch committed. With
        `batch_seconds`, the batch's duration joins the job's histogram.
        """
        self.progress = {
            "processed": processed,
            "deleted": deleted,
            "failed": failed,
            "remaining": remaining,
        }
        heartbeats.progressed(
            self.factory,
            job=self.job,
            run_id=self.run_id,
            at=utcnow(),
            progress=self.progress,
            batch_seconds=batch_seconds,
        )


# One batch in its own transaction: how many rows it claimed, and its counts.
Step = Callable[[Session], tuple[int, dict[str, int]]]
# A job's batch given how many rows it may claim and which ids (None: any).
Act = Callable[[Session, int, "list[str] | None"], tuple[int, dict[str, int]]]


def _drain(
    ctx: JobContext,
    step: Step | None,
    *,
    own_transactions: Callable[[], tuple[int, dict[str, int]]] | None = None,
    size: int,
    event: str,
    counts: tuple[str, ...],
    deleted: str | None = None,
    failed: str | None = None,
    remaining: Callable[[], int | None] | None = None,
    pause: float = 0.0,
) -> dict[str, Any]:
    """Run `step` one transaction at a time until a batch comes back short.

    A short batch means the rest is gone, or claimed by a run of the same job
    going on at once. One log line per batch; the run's totals of `counts`.

    Each batch runs under the guard rails (statement and lock timeouts, backoff
    while the database is busy; see `guards`). After each batch the run's
    progress is written: `processed` rows claimed, `deleted` the total of the
    `deleted` count (the first of `counts` by default), `failed` the total of
    `failed` (if any), and `remaining`: what `remaining()` says when the body
    knows better, else what was due when the run began less what it processed,
    corrected by a fresh count at the end. With a time budget the run stops
    after the batch that spends it (`stopped_by_budget`).
    Between two batches it waits `pause` seconds, holding no lock.
    A body whose batch needs more than one transaction passes it as
    `own_transactions` instead of `step`, and runs its own guard rails.
    """

    def run() -> tuple[int, dict[str, int]]:
        if own_transactions is not None:
            return own_transactions()
        return guards.run_batch(
            ctx.factory, ctx.settings, step, run_id=ctx.run_id, event=event
        )

    totals: dict[str, Any] = {"batches": 0, **dict.fromkeys(counts, 0)}
    deleted = deleted or counts[0]
    failed = failed or ("failed" if "failed" in counts else None)
    due_at_start = None if remaining else _due_count(ctx)
    processed = 0
    run_started = time.monotonic()

    def left() -> int | None:
        if remaining is not None:
            return remaining()
        return None if due_at_start is None else max(due_at_start - processed, 0)

    def report(batch_seconds: float | None = None, left_now: int | None = None) -> None:
        ctx.report_progress(
            processed,
            totals[deleted],
            totals[failed] if failed else 0,
            left_now,
            batch_seconds=batch_seconds,
        )

    while True:
        started = time.perf_counter()
        claimed, batch = run()
        if claimed == 0:
            break

        seconds = time.perf_counter() - started
        totals["batches"] += 1
        processed += claimed
        for key in counts:
            totals[key] += batch[key]
        log.info(
            event,
            run_id=ctx.run_id,
            batch=totals["batches"],
            claimed=claimed,
            duration_ms=round(seconds * 1000, 1),
            **batch,
        )
        report(seconds, left())
        if claimed < size:
            break
        if (
            ctx.budget_seconds is not None
            and time.monotonic() - run_started >= ctx.budget_seconds
        ):
            ctx.stopped_by_budget = True
            totals["stopped_by_budget"] = True
            log.info(
                "job.budget_spent",
                run_id=ctx.run_id,
                budget_seconds=ctx.budget_seconds,
                batches=totals["batches"],
                processed=processed,
            )
            break
        if pause:
            time.sleep(pause)

    report(left_now=left() if remaining else _due_count(ctx))
    return totals


def _due_count(ctx: JobContext) -> int | None:
    """How much of the job is due at `ctx.now`; None if unknown or the count failed."""
    if ctx.job not in JOBS:
        return None
    try:
        with transaction(ctx.factory) as db:
            guards.apply_timeouts(db, ctx.settings)
            work = guards.pending_work(
                db, job=ctx.job, now=ctx.now, settings=ctx.settings, params=ctx.params
            )
    except Exception as exc:
        log.warning("job.count_failed", run_id=ctx.run_id, error=type(exc).__name__)
        return None
    return work["would_process"]


# Told, after each committed batch, how many rows (or plan ids) the run has
# passed so far: the CLI's progress bar.
OnBatch = Callable[[int], None]

# The most plan ids one batch names in its query: well within the bind parameter
# limits of PostgreSQL (65535) and SQLite (32766).
MAX_PLAN_SLICE = 10_000


class Feed:
    """What the next batch of a run may take.

    Up to `size` rows of whatever is due, within the run's `limit`; or, for a
    plan's run, the next slice of the plan's ids. It moves on only when a batch
    commits (`advance` waits for the commit), so a batch rolled back and tried
    again takes the same slice. `on_batch(done)` is told after each commit.
    """

    def __init__(
        self,
        size: int,
        *,
        limit: int | None = None,
        plan_ids: list[str] | None = None,
        on_batch: OnBatch | None = None,
    ) -> None:
        self.size = size if plan_ids is None else min(size, MAX_PLAN_SLICE)
        self.limit = limit
        self.plan_ids = plan_ids
        self.on_batch = on_batch
        # Rows claimed, or plan ids passed, by committed batches.
        self.done = 0

    def take(self) -> tuple[int, list[str] | None]:
        """How many rows the next batch may claim, and which ids (None: any)."""
        if self.plan_ids is not None:
            ids = self.plan_ids[self.done : self.done + self.size]
            return len(ids), ids
        if self.limit is None:
            return self.size, None
        return max(0, min(self.size, self.limit - self.done)), None

    def advance(self, db: Session, count: int) -> None:
        def moved() -> None:
            self.done += count
            if self.on_batch is not None:
                self.on_batch(self.done)

        after_commit(db, moved)

    def remaining(self) -> int | None:
        """Plan ids not reached yet; None when only a count query could tell."""
        if self.plan_ids is None:
            return None
        return len(self.plan_ids) - self.done

    @property
    def counter(self) -> Callable[[], int | None] | None:
        """What `_drain` asks for what is left: the plan's own count, or None so
        that `_drain` counts what is due."""
        return self.remaining if self.plan_ids is not None else None

    def step(self, act: Act) -> Step:
        """A batch of the job: `act` on what the feed allows, then move on.

        A plan's slice counts whole, even ids that left the set and were passed
        over, so that the run goes on to the next slice.
        """

        def batch(db: Session) -> tuple[int, dict[str, int]]:
            take, ids = self.take()
            if take == 0:
                return 0, {}
            claimed, counts = act(db, take, ids)
            claimed = claimed if ids is None else take
            self.advance(db, claimed)
            return claimed, counts

        return batch


def feed_for(
    ctx: JobContext,
    default_size: int,
    batch_size: int | None,
    on_batch: OnBatch | None = None,
) -> Feed:
    """The run's feed from its params: `batchSize`, `limit`, `planId`."""
    params = ctx.params or {}
    size = batch_size or params.get("batchSize") or default_size
    plan_ids = None
    if params.get("planId"):
        with transaction(ctx.factory) as db:
            plan_ids = plans.session_ids(db, params["planId"])
    return Feed(size, limit=params.get("limit"), plan_ids=plan_ids, on_batch=on_batch)


def _dry_run(ctx: JobContext, job: str) -> dict[str, Any] | None:
    """A dry run stores a plan and acts on nothing; None when this is no dry run."""
    params = ctx.params or {}
    if not params.get("dryRun"):
        return None
    with transaction(ctx.factory) as db:
        plan = plans.preview(
            db,
            job,
            now=ctx.now,
            settings=ctx.settings,
            limit=params.get("limit"),
            batch_size=params.get("batchSize"),
        )
        summary = plans.summary(plan)
    log.info(
        f"{job}.dry_run", run_id=ctx.run_id, plan_id=plan.id, count=summary["count"]
    )
    return {"dry_run": True, **summary}


def _with_plan(
    result: dict[str, Any], ctx: JobContext, feed: Feed, acted: str
) -> dict[str, Any]:
    """A plan's run also says what of the plan it did not act on, and why not."""
    if feed.plan_ids is None:
        return result
    planned = len(feed.plan_ids)
    return {
        **result,
        "plan_id": ctx.params["planId"],
        "planned": planned,
        # Left the set between the check and its batch (restored, held, taken by
        # another run at once): the batch re-checked it and left it alone. A
        # follow-up run (after a time budget) walks the plan from its start again,
        # so what its predecessor already did counts here too.
        "skipped": planned - result[acted],
    }


def purge(
    ctx: JobContext,
    *,
    cache: ReportCache,
    batch_size: int | None = None,
    on_batch: OnBatch | None = None,
) -> dict[str, Any]:
    """Hard-delete every session due at `ctx.now`, one batch per transaction.

    With `limit`, stop after that many; with `planId`, only the plan's sessions.
    """
    dry = _dry_run(ctx, "purge")
    if dry is not None:
        return dry
    feed = feed_for(ctx, ctx.settings.purge_batch_size, batch_size, on_batch)

    def act(db: Session, take: int, ids: list[str] | None) -> tuple[int, dict]:
        batch = service.purge_batch(
            db, now=ctx.now, batch_size=take, cache=cache, task_id=ctx.run_id, ids=ids
        )
        return batch.claimed, {
            "purged": len(batch.purged),
            "rows_removed": batch.rows_removed,
            "cache_keys_evicted": batch.cache_keys_evicted,
        }

    result = _drain(
        ctx,
        feed.step(act),
        size=feed.size,
        event="purge.batch_deleted",
        counts=("purged", "rows_removed", "cache_keys_evicted"),
        deleted="purged",
        remaining=feed.counter,
        pause=ctx.settings.purge_pause_ms / 1000,
    )
    return _with_plan(result, ctx, feed, "purged")


def retention(
    ctx: JobContext,
    *,
    batch_size: int | None = None,
    on_batch: OnBatch | None = None,
) -> dict[str, Any]:
    """Queue a notice for every session the retention rule newly covers.

    With `limit`, stop after that many; with `planId`, only the plan's sessions.
    """
    dry = _dry_run(ctx, "retention")
    if dry is not None:
        return dry
    feed = feed_for(ctx, ctx.settings.retention_batch_size, batch_size, on_batch)

    def act(db: Session, take: int, ids: list[str] | None) -> tuple[int, dict]:
        queued = service.queue_retention_notices(
            db, now=ctx.now, settings=ctx.settings, limit=take, ids=ids
        )
        return queued, {"queued": queued}

    result = _drain(
        ctx,
        feed.step(act),
        size=feed.size,
        event="retention.batch_queued",
        counts=("queued",),
        deleted="queued",
        remaining=feed.counter,
    )
    return _with_plan(result, ctx, feed, "queued")


def notices(
    ctx: JobContext,
    *,
    channel: NoticeChannel,
    clock: Callable[[], datetime] = utcnow,
    batch_size: int | None = None,
    on_batch: OnBatch | None = None,
) -> dict[str, Any]:
    """Send every notice due at `ctx.now`; failures wait for their next attempt.

    Each batch is claim, send, record (`send_notice_batch`): no row lock is held
    while the channel works. With `limit`, stop after that many notices claimed
    (a notice the batch cancels counts too, though a dry run leaves it out); with
    `planId`, only the notices of the plan's sessions.
    """
    dry = _dry_run(ctx, "notices")
    if dry is not None:
        return dry
    feed = feed_for(ctx, ctx.settings.notice_batch_size, batch_size, on_batch)

    def batch() -> tuple[int, dict[str, int]]:
        result = send_notice_batch(ctx, feed, channel=channel, clock=clock)
        return result.claimed, {
            "sent": result.sent,
            "retried": result.retried,
            "failed": result.failed,
            "cancelled": result.cancelled,
        }

    result = _drain(
        ctx,
        None,
        own_transactions=batch,
        size=feed.size,
        event="notices.batch_processed",
        counts=("sent", "retried", "failed", "cancelled"),
        deleted="sent",
        failed="failed",
        remaining=feed.counter,
    )
    if feed.plan_ids is not None:
        result["attempted"] = result["sent"] + result["retried"] + result["failed"]
    return _with_plan(result, ctx, feed, "attempted")


def send_notice_batch(
    ctx: JobContext,
    feed: Feed,
    *,
    channel: NoticeChannel,
    clock: Callable[[], datetime] = utcnow,
) -> service.NoticeBatchResult:
    """One batch of notices in two short transactions with the sends between.

    The claim commits first (the notices are SENDING under a lease, the feed
    moves on), the channel sends holding no lock and no connection, and the
    record re-locks what it writes. A worker lost between the send and the
    record leaves its notices SENDING: they are claimed and sent again once the
    lease ends (at least once; the Message-ID and the idempotency key let the
    receiver see a duplicate), and no deadline was set meanwhile, so nothing is
    deleted early.
    """
    claims: list[service.NoticeClaim] = []

    def claim(db: Session, take: int, ids: list[str] | None) -> tuple[int, dict]:
        # A claim retried after a busy database starts over: only the last counts.
        claims[:] = [
            service.claim_notices(
                db,
                now=ctx.now,
                settings=ctx.settings,
                clock=clock,
                ids=ids,
                limit=take,
            )
        ]
        return claims[0].claimed, {}

    guards.run_batch(
        ctx.factory,
        ctx.settings,
        feed.step(claim),
        run_id=ctx.run_id,
        event="notices.batch_claimed",
    )
    if not claims:
        return service.NoticeBatchResult()
    claimed = claims[0]

    outcomes = service.deliver(
        claimed, channel=channel, clock=clock, settings=ctx.settings
    )

    result = guards.run_batch(
        ctx.factory,
        ctx.settings,
        lambda db: service.record_notices(
            db, outcomes, now=ctx.now, settings=ctx.settings
        ),
        run_id=ctx.run_id,
        event="notices.batch_recorded",
    )
    result.claimed = claimed.claimed
    result.cancelled = claimed.cancelled
    return result


def body_of(
    job: str,
    *,
    cache: ReportCache,
    channel: NoticeChannel,
    batch_size: int | None = None,
    on_batch: OnBatch | None = None,
) -> Callable[[JobContext], dict[str, Any]]:
    """The body of `job` wired to its cache or channel, for the worker and the CLI.

    The body reads `batchSize`, `limit`, `planId` and `dryRun` from the run's
    params; an explicit `batch_size` here wins over `batchSize`.
    """
    sized: dict[str, Any] = {"batch_size": batch_size, "on_batch": on_batch}
    bodies: dict[str, Callable[[JobContext], dict[str, Any]]] = {
        "retention": lambda ctx: retention(ctx, **sized),
        "notices": lambda ctx: notices(ctx, channel=channel, **sized),
        "purge": lambda ctx: purge(ctx, cache=cache, **sized),
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
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one job, recording its start, end and outcome in `job_runs`.

    Running the same `run_id` again (a redelivered message) runs the job again,
    which is safe because every job is idempotent, and updates the same record.
    `params` are stored on the record; without them a queued record's own
    params are used. The job's heartbeat is written at the start and the end.

    With DELETIONS_PAUSED the body does not run (unless this is a dry run): the
    run records what it would have acted on, with `paused: true`. A purge that
    spent PURGE_TIME_BUDGET_SECONDS stops between batches and, unless run from
    the CLI, queues a run to go on once its own end is committed.
    """
    ctx = JobContext(
        factory=factory,
        settings=settings,
        run_id=run_id or str(uuid.uuid4()),
        now=now or utcnow(),
        job=job,
        budget_seconds=settings.purge_time_budget_seconds if job == "purge" else None,
    )
    started = time.perf_counter()
    try:
        with transaction(factory) as db:
            record = db.get(JobRun, ctx.run_id) or JobRun(
                id=ctx.run_id, job=job, trigger=trigger, queued_at=ctx.now
            )
            if params is not None or record.params is None:
                record.params = dict(params or {})
            ctx.params = dict(record.params)
            record.status = "RUNNING"
            record.started_at = utcnow()
            record.finished_at = None
            record.error = None
            db.add(record)
    except Exception as exc:
        # The database is away (or refuses the record): the run never started,
        # but it still gets its line, and Celery's retry waits for the database.
        _failed(ctx, exc, started)
        raise
    heartbeats.started(factory, job=job, run_id=ctx.run_id, at=record.started_at)

    try:
        # Every line logged while the job runs (a delivered notice, say) carries
        # the run's id, so one id ties together all that a run did.
        with structlog.contextvars.bound_contextvars(run_id=ctx.run_id, job=job):
            if settings.deletions_paused and not ctx.params.get("dryRun"):
                result = _paused(ctx)
            else:
                result = body(ctx)
    except Exception as exc:
        _failed(ctx, exc, started)
        raise

    result = {"job": job, "run_id": ctx.run_id, "now": ctx.now.isoformat(), **result}
    if ctx.stopped_by_budget:
        result["stopped_by_budget"] = True
        result["requeued"] = False
    result = _finish(
        factory,
        ctx.run_id,
        "SUCCEEDED",
        result,
        None,
        requeue=ctx if ctx.stopped_by_budget and trigger != "cli" else None,
    )
    heartbeats.finished(factory, job=job, run_id=ctx.run_id, at=utcnow())
    log.info(
        "job.finished",
        job=job,
        run_id=ctx.run_id,
        trigger=trigger,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
        **{k: v for k, v in result.items() if isinstance(v, int)},
    )
    return result


def _failed(ctx: JobContext, exc: Exception, started: float) -> None:
    """Log a failed run, then record it as FAILED in `job_runs` and its heartbeat.

    The line comes first and the record cannot stop it: when the database itself
    is what failed, the record cannot be written (the run stays RUNNING until a
    retry writes it), and the error the caller raises stays the run's own.
    """
    log.error(
        "job.failed",
        job=ctx.job,
        run_id=ctx.run_id,
        error=heartbeats.describe(exc),
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    try:
        _finish(ctx.factory, ctx.run_id, "FAILED", {}, _describe(exc))
    except Exception as unrecorded:
        log.warning(
            "job.failure_not_recorded",
            job=ctx.job,
            run_id=ctx.run_id,
            error=heartbeats.describe(unrecorded),
        )
    heartbeats.finished(
        ctx.factory, job=ctx.job, run_id=ctx.run_id, at=utcnow(), error=exc
    )


def _paused(ctx: JobContext) -> dict[str, Any]:
    """The kill switch: act on nothing, and say what the run would have acted on."""
    with transaction(ctx.factory) as db:
        guards.apply_timeouts(db, ctx.settings)
        work = guards.pending_work(
            db, job=ctx.job, now=ctx.now, settings=ctx.settings, params=ctx.params
        )
    log.warning("job.paused", run_id=ctx.run_id, job=ctx.job, **work)
    ctx.report_progress(0, 0, 0, work["would_process"])
    return {"paused": True, **work}


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
    *,
    requeue: JobContext | None = None,
) -> dict[str, Any]:
    """Record the run's end; the result as stored, with any follow-up run's id."""
    with transaction(factory) as db:
        record = db.get(JobRun, run_id)
        if record is None:
            return result
        if requeue is not None:
            follow = _queue_follow_up(db, record, requeue)
            if follow is not None:
                result = {**result, "requeued": True, "requeued_as": follow}
        record.status = status
        record.finished_at = utcnow()
        record.result = result
        record.error = error
    return result


def _queue_follow_up(db: Session, record: JobRun, ctx: JobContext) -> str | None:
    """Queue a run of the same job to go on where this one stopped.

    It carries the same params, with a `limit` cut by what this run processed
    (none is queued once the limit is reached).
    The run is recorded in this transaction and its message sent after the
    commit (`queue_run`), so a rollback queues nothing.
    """
    # Imported here: the deletion package must not build the Celery app on import.
    from interview_retention.worker.tasks import queue_run

    params = dict(ctx.params)
    if isinstance(params.get("limit"), int):
        params["limit"] -= ctx.progress.get("processed", 0)
        if params["limit"] <= 0:
            return None
    follow = queue_run(
        db,
        job=record.job,
        requested_by=record.requested_by,
        now=utcnow(),
        params=params,
        trigger="requeue",
    )
    log.info(
        "job.requeued", job=record.job, run_id=record.id, follow_up_run_id=follow.id
    )
    return follow.id
