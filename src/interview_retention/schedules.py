"""Cron expressions as Celery schedules, and how far apart their runs fall."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import pairwise

from celery.schedules import crontab

# Where `longest_gap` starts looking, and how far: a year and a month covers
# every monthly and yearly pattern short of a leap day, and the cap on runs
# keeps a schedule that fires every minute cheap to measure.
_FROM = datetime(2026, 1, 1, tzinfo=UTC)
_HORIZON = timedelta(days=400)
_MAX_RUNS = 20_000


def cron(expression: str) -> crontab:
    """A five-field cron expression (minute hour day month weekday), in UTC."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"a schedule needs five cron fields, got {expression!r}")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    )


@lru_cache
def longest_gap(expression: str) -> timedelta:
    """The longest time between two consecutive runs of a cron schedule.

    For `*/5 * * * *` that is five minutes; for `*/5 9-17 * * 1-5` it is the
    weekend. The runs are walked with Celery's own crontab arithmetic from a
    fixed instant over at most 400 days and 20,000 runs, so a dense schedule
    whose long gap comes later than that (every minute, but only on the 1st of
    the month) is measured short.
    """
    schedule = cron(expression)
    runs: list[datetime] = []
    moment = _FROM
    while len(runs) < _MAX_RUNS:
        last, delta, _ = schedule.remaining_delta(moment)
        following = last + delta
        runs.append(following)
        moment = following
        if len(runs) > 2 and following - runs[0] > _HORIZON:
            break
    return max(later - earlier for earlier, later in pairwise(runs))
