"""Whether retention keeps up: the backlog, the jobs' heartbeats, and readiness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from interview_retention.clock import human_duration
from interview_retention.config import Settings
from interview_retention.deletion.heartbeats import JobHealth, job_health
from interview_retention.deletion.service import Backlog, backlog
from interview_retention.sessions import repository
from interview_retention.sessions.models import InterviewSession


@dataclass
class RetentionStatus:
    backlog: Backlog
    overdue_after_seconds: float
    deletions_paused: bool
    jobs: list[JobHealth]

    def as_dict(self) -> dict[str, Any]:
        """The backlog's counts, then the settings that frame them, then each job."""
        return {
            **self.backlog.as_dict(),
            "overdueAfterSeconds": self.overdue_after_seconds,
            "deletionsPaused": self.deletions_paused,
            "jobs": [job.as_dict() for job in self.jobs],
        }


def retention_status(
    db: Session,
    *,
    now: datetime,
    settings: Settings,
    watching_since: datetime | None = None,
) -> RetentionStatus:
    """The backlog and every job's heartbeat at `now` (see `job_health`)."""
    return RetentionStatus(
        backlog=backlog(db, now=now, overdue_after=settings.overdue_after),
        overdue_after_seconds=settings.overdue_after.total_seconds(),
        deletions_paused=settings.deletions_paused,
        jobs=job_health(db, now=now, settings=settings, watching_since=watching_since),
    )


@dataclass
class Degradation:
    """What makes the service degraded: each check (True when it is the one
    degrading the service) and the reasons."""

    checks: dict[str, bool]
    reasons: list[str]
    oldest_overdue_seconds: float | None
    silent_jobs: list[str]


def degradation(
    db: Session,
    *,
    now: datetime,
    settings: Settings,
    watching_since: datetime | None = None,
) -> Degradation:
    """Whether the purge has fallen behind or a job has gone silent.

    Cheap enough for a readiness probe: one MIN over the due sessions and the
    three heartbeat rows. The backlog check fails once the oldest session past
    its deadline has waited longer than READYZ_MAX_OVERDUE_MINUTES; the heartbeat
    check once a job is silent (see `heartbeats.silence_limit`).
    """
    S = InterviewSession
    oldest = db.scalar(
        select(func.min(S.permanent_delete_at)).where(repository.is_due(now))
    )
    late = None if oldest is None else (now - oldest).total_seconds()
    limit = settings.readyz_max_overdue.total_seconds()
    reasons = []
    if late is not None and late > limit:
        reasons.append(
            f"the oldest due session is {human_duration(late)} past its deadline"
            f" (limit {human_duration(limit)})"
        )

    silent = []
    for job in job_health(
        db, now=now, settings=settings, watching_since=watching_since
    ):
        if not job.silent:
            continue
        silent.append(job.job)
        limit_text = human_duration(job.silence_limit_seconds)
        if job.age_seconds is None:
            reasons.append(f"{job.job} has never run (limit {limit_text})")
        else:
            reasons.append(
                f"{job.job} silent for {human_duration(job.age_seconds)}"
                f" (limit {limit_text})"
            )
    return Degradation(
        # True names the check that is degraded, as /readyz shows it.
        checks={
            "backlog": late is not None and late > limit,
            "heartbeats": bool(silent),
        },
        reasons=reasons,
        oldest_overdue_seconds=late,
        silent_jobs=silent,
    )
