"""Prometheus metrics, read from the database at scrape time.

The API, the workers and beat are separate processes (separate containers in
production), so counters kept in one process's memory would show only what that
process saw, and restart from zero with it. Every figure here is read from the
database when Prometheus scrapes instead: sessions deleted by reason are counted
from the tombstones, job runs and failures from `job_runs`, notice outcomes from
`deletion_notices`, the backlog and the heartbeats from their tables, and batch
durations from the cumulative histogram each job keeps in its heartbeat row
(`heartbeats.BUCKETS`). Any API process answers the same, and nothing is lost
when a worker restarts.

The consequences: a scrape costs a few aggregate queries (a COUNT per reason
over the deletion log among them, which grows with the log), and the notice
gauges count rows still stored, so a purged session's notices leave them. No
label carries personal data: jobs, reasons, statuses and states only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from interview_retention.clock import utcnow
from interview_retention.config import Settings
from interview_retention.deletion.heartbeats import (
    JOBS,
    JobHealth,
    describe,
    job_health,
)
from interview_retention.deletion.models import (
    NOTICE_STATUSES,
    DeletionLogEntry,
    DeletionNotice,
    JobRun,
)
from interview_retention.deletion.service import backlog

PREFIX = "interview_retention"
REASONS = ("USER", "RETENTION", "ADMIN")
# Runs that ended only count; queued and running ones are a gauge of their own.
ENDED = ("SUCCEEDED", "FAILED")
UNDERWAY = ("QUEUED", "RUNNING")


class RetentionCollector(Collector):
    """Every metric of the service, computed from the database on each scrape."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        *,
        watching_since: datetime | None = None,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.watching_since = watching_since

    def describe(self) -> list[Metric]:
        # Nothing to describe ahead: the registry then does not call `collect`
        # (and the database) when the collector is registered.
        return []

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            f"{PREFIX}_database_up",
            "1 if the metrics below could be read from the database, else 0.",
        )
        try:
            with self.factory() as db:
                families = list(self._from_database(db, utcnow()))
        except Exception as exc:
            structlog.get_logger(__name__).warning(
                "metrics.database_unreachable", error=describe(exc)
            )
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            f"{PREFIX}_deletions_paused",
            "1 while DELETIONS_PAUSED holds every job back, else 0.",
            value=int(self.settings.deletions_paused),
        )
        yield from families

    def _from_database(self, db: Session, now: datetime) -> Iterator[Metric]:
        yield self._deleted(db)
        yield from self._job_runs(db)
        yield self._notices(db)
        yield from self._backlog(db, now)
        health = job_health(
            db, now=now, settings=self.settings, watching_since=self.watching_since
        )
        yield from self._heartbeats(health)
        yield self._batch_durations(health)

    def _deleted(self, db: Session) -> Metric:
        T = DeletionLogEntry
        counts = dict.fromkeys(REASONS, 0)
        # A Result has keys(), so dict.update would read it as a mapping.
        counts.update(
            db.execute(select(T.reason, func.count()).group_by(T.reason)).all()
        )
        family = CounterMetricFamily(
            f"{PREFIX}_sessions_deleted",
            "Sessions deleted for good, by reason (counted from the deletion log).",
            labels=["reason"],
        )
        for reason, n in sorted(counts.items()):
            family.add_metric([reason], n)
        return family

    def _job_runs(self, db: Session) -> Iterator[Metric]:
        rows = db.execute(
            select(JobRun.job, JobRun.status, func.count()).group_by(
                JobRun.job, JobRun.status
            )
        ).all()
        counts = {(job, status): 0 for job in JOBS for status in ENDED + UNDERWAY}
        counts.update({(job, status): n for job, status, n in rows})
        runs = CounterMetricFamily(
            f"{PREFIX}_job_runs",
            "Job runs that ended, by job and outcome (SUCCEEDED, FAILED).",
            labels=["job", "status"],
        )
        failures = CounterMetricFamily(
            f"{PREFIX}_job_failures", "Job runs that failed, by job.", labels=["job"]
        )
        underway = GaugeMetricFamily(
            f"{PREFIX}_job_runs_underway",
            "Job runs queued or running now, by job and state.",
            labels=["job", "status"],
        )
        for (job, status), n in sorted(counts.items()):
            if status in UNDERWAY:
                underway.add_metric([job, status], n)
                continue
            runs.add_metric([job, status], n)
            if status == "FAILED":
                failures.add_metric([job], n)
        yield runs
        yield failures
        yield underway

    def _notices(self, db: Session) -> Metric:
        N = DeletionNotice
        counts = dict.fromkeys(NOTICE_STATUSES, 0)
        counts.update(
            db.execute(select(N.status, func.count()).group_by(N.status)).all()
        )
        family = GaugeMetricFamily(
            f"{PREFIX}_notices",
            "Pending-deletion notices by state: PENDING and RETRY wait, SENDING"
            " is being sent, SENT, FAILED (dead letters) and CANCELLED are"
            " outcomes. Rows go with their session.",
            labels=["status"],
        )
        for status, n in sorted(counts.items()):
            family.add_metric([status], n)
        return family

    def _backlog(self, db: Session, now: datetime) -> Iterator[Metric]:
        counts = backlog(db, now=now, overdue_after=self.settings.overdue_after)
        family = GaugeMetricFamily(
            f"{PREFIX}_backlog_sessions",
            "Sessions by where they stand in their end of life.",
            labels=["state"],
        )
        for state, n in (
            ("soft_deleted", counts.soft_deleted),
            ("scheduled_by_retention", counts.scheduled_by_retention),
            ("due", counts.due_now),
            ("overdue", counts.overdue),
            ("legal_hold", counts.legal_holds),
        ):
            family.add_metric([state], n)
        yield family
        yield GaugeMetricFamily(
            f"{PREFIX}_backlog_oldest_overdue_seconds",
            "How long the oldest overdue session is past its deadline; 0 if none.",
            value=counts.oldest_overdue_seconds or 0,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_backlog_overdue_after_seconds",
            "How late a due session may be before it counts as overdue.",
            value=self.settings.overdue_after.total_seconds(),
        )

    def _heartbeats(self, health: Iterable[JobHealth]) -> Iterator[Metric]:
        stamps = {
            "last_started": "started",
            "last_success": "ended successfully",
            "last_error": "ended in an error",
        }
        families = {
            key: GaugeMetricFamily(
                f"{PREFIX}_job_{key}_timestamp_seconds",
                f"When the job last {what} (Unix time); absent if never.",
                labels=["job"],
            )
            for key, what in stamps.items()
        }
        age = GaugeMetricFamily(
            f"{PREFIX}_job_heartbeat_age_seconds",
            "Seconds since the job's last sign of life (a start, a batch, an end);"
            " absent if it never ran.",
            labels=["job"],
        )
        silent = GaugeMetricFamily(
            f"{PREFIX}_job_silent",
            "1 if the job has been quiet past its silence limit, else 0.",
            labels=["job"],
        )
        for job in health:
            for key, moment in (
                ("last_started", job.last_started_at),
                ("last_success", job.last_success_at),
                ("last_error", job.last_error_at),
            ):
                if moment is not None:
                    families[key].add_metric([job.job], moment.timestamp())
            if job.age_seconds is not None:
                age.add_metric([job.job], job.age_seconds)
            silent.add_metric([job.job], int(job.silent))
        yield from families.values()
        yield age
        yield silent

    def _batch_durations(self, health: Iterable[JobHealth]) -> Metric:
        family = HistogramMetricFamily(
            f"{PREFIX}_batch_duration_seconds",
            "How long one batch (one transaction) of a job took, all runs together.",
            labels=["job"],
        )
        for job in health:
            histogram = job.batch_durations
            if not histogram.get("count"):
                continue
            bounds = [str(float(b)) for b in histogram["le"]] + ["+Inf"]
            family.add_metric(
                [job.job],
                buckets=list(zip(bounds, histogram["counts"], strict=True)),
                sum_value=histogram["sum"],
            )
        return family


def registry_for(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    watching_since: datetime | None = None,
) -> CollectorRegistry:
    """A registry of its own per app, so that several apps (tests) never clash."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(
        RetentionCollector(factory, settings, watching_since=watching_since)
    )
    return registry
