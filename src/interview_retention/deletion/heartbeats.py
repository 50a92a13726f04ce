"""Each job's heartbeat in the database: last start, beat, success and error.

A running job writes here when it starts, after every batch and when it ends,
each time in a short transaction of its own. A heartbeat is a report, not work:
a write that fails is logged and the job goes on. The rows survive restarts, so
a job that went quiet is seen as quiet after every process was replaced.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from interview_retention.config import Settings
from interview_retention.db.engine import transaction
from interview_retention.deletion.models import JobHeartbeat, JobRun
from interview_retention.schedules import longest_gap

log = structlog.get_logger("interview_retention.heartbeats")

JOBS = ("retention", "notices", "purge")

# Upper bounds of the batch duration buckets, in seconds; +Inf is implied.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

# A heartbeat waits this long at most for the row lock that a run of the same
# job holds while it beats; past it, the beat is skipped.
HEARTBEAT_LOCK_TIMEOUT_MS = 2000
# Enough to tell one failure from another, too short for a row's content.
MAX_ERROR = 200


def started(
    factory: sessionmaker[Session], *, job: str, run_id: str, at: datetime
) -> None:
    """The run `run_id` of `job` has started."""
    _write(
        factory,
        job,
        lambda db: _upsert(
            db, job, last_run_id=run_id, last_started_at=at, last_beat_at=at
        ),
    )


def progressed(
    factory: sessionmaker[Session],
    *,
    job: str,
    run_id: str,
    at: datetime,
    progress: dict[str, Any],
    batch_seconds: float | None = None,
) -> None:
    """Write the run's progress, then beat and count one batch's duration.

    One short transaction; the beat has a savepoint of its own, so the progress
    is kept even if the beat fails.
    """

    def write(db: Session) -> None:
        db.execute(update(JobRun).where(JobRun.id == run_id).values(progress=progress))
        if not job:
            return
        try:
            with db.begin_nested():
                _upsert(db, job, last_run_id=run_id, last_beat_at=at)
                if batch_seconds is not None:
                    _observe(db, job, batch_seconds)
        except Exception as exc:
            log.warning("heartbeat.write_failed", job=job, error=describe(exc))

    _write(factory, job or "-", write)


def finished(
    factory: sessionmaker[Session],
    *,
    job: str,
    run_id: str,
    at: datetime,
    error: BaseException | None = None,
) -> None:
    """The run ended: a success, or a failure described without its content."""
    values: dict[str, Any] = {"last_run_id": run_id, "last_beat_at": at}
    if error is None:
        values["last_success_at"] = at
    else:
        values["last_error_at"] = at
        values["last_error"] = describe(error)
    _write(factory, job, lambda db: _upsert(db, job, **values))


def describe(error: BaseException) -> str:
    """An error's type, and the database's own code and name for it if any.

    Never its message: a database error's message can quote a row's values.
    """
    orig = getattr(error, "orig", None)
    name = type(error).__name__
    if orig is not None:
        code = getattr(orig, "sqlstate", None)
        name += f": {type(orig).__name__}" + (f" ({code})" if code else "")
    return name[:MAX_ERROR]


def _write(
    factory: sessionmaker[Session], job: str, write: Callable[[Session], None]
) -> None:
    try:
        with transaction(factory) as db:
            if db.get_bind().dialect.name == "postgresql":
                # A report need not wait for the disk: a crash may lose the last
                # beat, never a deletion. That halves what a batch pays for it.
                db.execute(
                    text(
                        "SELECT set_config('lock_timeout', :ms, true),"
                        " set_config('synchronous_commit', 'off', true)"
                    ),
                    {"ms": f"{HEARTBEAT_LOCK_TIMEOUT_MS}ms"},
                )
            write(db)
    except Exception as exc:
        log.warning("heartbeat.write_failed", job=job, error=describe(exc))


def _upsert(db: Session, job: str, **values: Any) -> None:
    table = JobHeartbeat.__table__
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(job=job, **values)
    db.execute(
        statement.on_conflict_do_update(index_elements=["job"], set_=values),
    )


def _observe(db: Session, job: str, seconds: float) -> None:
    # The upsert before this holds the row's lock until the commit, so two runs
    # of one job add their batches one after the other and none is lost.
    current = db.scalar(
        select(JobHeartbeat.batch_durations).where(JobHeartbeat.job == job)
    )
    db.execute(
        update(JobHeartbeat)
        .where(JobHeartbeat.job == job)
        .values(batch_durations=add_observation(current or {}, seconds))
    )


def add_observation(histogram: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The histogram with one more observation; cumulative counts, as Prometheus."""
    counts = list(histogram.get("counts") or [0] * (len(BUCKETS) + 1))
    if histogram.get("le") != list(BUCKETS) or len(counts) != len(BUCKETS) + 1:
        # The bounds changed since the row was written: start again rather than
        # mix two sets of buckets.
        counts = [0] * (len(BUCKETS) + 1)
        histogram = {}
    first = bisect.bisect_left(BUCKETS, seconds)
    for i in range(first, len(counts)):
        counts[i] += 1
    return {
        "le": list(BUCKETS),
        "counts": counts,
        "sum": float(histogram.get("sum", 0.0)) + seconds,
        "count": int(histogram.get("count", 0)) + 1,
    }


@dataclass
class JobHealth:
    """One job's heartbeat as an operator reads it."""

    job: str
    last_run_id: str | None
    last_started_at: datetime | None
    last_beat_at: datetime | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    # Seconds since the last sign of life (a start, a batch or an end); None if
    # the job has never run.
    age_seconds: float | None
    since_last_success_seconds: float | None
    silence_limit_seconds: float
    silent: bool
    # The last run that ended, ended in an error.
    failing: bool
    batch_durations: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        from pydantic.alias_generators import to_camel

        return {
            to_camel(name): value.isoformat().replace("+00:00", "Z")
            if isinstance(value, datetime)
            else value
            for name, value in self.__dict__.items()
            if name != "batch_durations"
        }


def silence_limit(job: str, settings: Settings) -> timedelta:
    """How long `job` may show no sign of life before it counts as silent.

    The job's own longest gap between two scheduled runs, plus
    HEARTBEAT_MAX_SILENCE_MINUTES: the hourly retention rule is not silent after
    ten minutes, and a purge due every five minutes is silent well before an hour.
    """
    schedule = {
        "retention": settings.retention_schedule,
        "notices": settings.notices_schedule,
        "purge": settings.purge_schedule,
    }[job]
    return longest_gap(schedule) + settings.heartbeat_max_silence


def _never_run(job: str, limit: timedelta, *, silent: bool) -> JobHealth:
    return JobHealth(
        job=job,
        last_run_id=None,
        last_started_at=None,
        last_beat_at=None,
        last_success_at=None,
        last_error_at=None,
        last_error=None,
        age_seconds=None,
        since_last_success_seconds=None,
        silence_limit_seconds=limit.total_seconds(),
        silent=silent,
        failing=False,
        batch_durations={},
    )


def job_health(
    db: Session,
    *,
    now: datetime,
    settings: Settings,
    watching_since: datetime | None = None,
) -> list[JobHealth]:
    """Every job's heartbeat at `now`, in the order of JOBS.

    A job that has never run has no heartbeat. It counts as silent once
    `watching_since` (when the caller started watching, say the API process's
    start) is longer ago than its silence limit; without `watching_since` it
    never does.
    """
    rows = {row.job: row for row in db.scalars(select(JobHeartbeat))}
    health = []
    for job in JOBS:
        row = rows.get(job)
        limit = silence_limit(job, settings)
        if row is None:
            silent = watching_since is not None and now - watching_since > limit
            health.append(_never_run(job, limit, silent=silent))
            continue

        signs = [
            t
            for t in (
                row.last_beat_at,
                row.last_started_at,
                row.last_success_at,
                row.last_error_at,
            )
            if t is not None
        ]
        last_sign = max(signs) if signs else None
        age = None if last_sign is None else (now - last_sign).total_seconds()
        failing = row.last_error_at is not None and (
            row.last_success_at is None or row.last_error_at > row.last_success_at
        )
        health.append(
            JobHealth(
                job=job,
                last_run_id=row.last_run_id,
                last_started_at=row.last_started_at,
                last_beat_at=row.last_beat_at,
                last_success_at=row.last_success_at,
                last_error_at=row.last_error_at,
                last_error=row.last_error,
                age_seconds=age,
                since_last_success_seconds=None
                if row.last_success_at is None
                else (now - row.last_success_at).total_seconds(),
                silence_limit_seconds=limit.total_seconds(),
                silent=age is None or age > limit.total_seconds(),
                failing=failing,
                batch_durations=row.batch_durations or {},
            )
        )
    return health
