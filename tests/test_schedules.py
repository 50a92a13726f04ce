"""Cron schedules: how far apart their runs fall, and what "overdue" means."""

from __future__ import annotations

from datetime import timedelta

import pytest

from interview_retention.config import Settings
from interview_retention.schedules import cron, longest_gap


@pytest.mark.parametrize(
    ("expression", "gap"),
    [
        ("*/5 * * * *", timedelta(minutes=5)),
        ("* * * * *", timedelta(minutes=1)),
        ("7 * * * *", timedelta(hours=1)),
        ("0,50 * * * *", timedelta(minutes=50)),
        ("0 3 * * *", timedelta(days=1)),
        # Friday 17:55 to Monday 09:00.
        ("*/5 9-17 * * 1-5", timedelta(days=2, hours=15, minutes=5)),
        ("0 0 1 * *", timedelta(days=31)),
    ],
)
def test_longest_gap_between_two_runs(expression, gap):
    assert longest_gap(expression) == gap


def test_a_schedule_needs_five_fields():
    with pytest.raises(ValueError, match="five cron fields"):
        cron("*/5 * * *")


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_overdue_means_one_purge_interval_by_default():
    assert settings().overdue_after == timedelta(minutes=5)
    assert settings(purge_schedule="0 * * * *").overdue_after == timedelta(hours=1)


def test_overdue_after_minutes_overrides_the_purge_interval():
    assert settings(overdue_after_minutes=15).overdue_after == timedelta(minutes=15)
