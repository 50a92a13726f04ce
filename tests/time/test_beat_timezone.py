"""The beat schedule in a zone other than UTC, across its daylight-saving changes.

Europe/Berlin moves its clocks forward at 01:00 UTC on 29 March 2026 and back at
01:00 UTC on 25 October 2026. A job set for 03:00 there must run at 03:00 Berlin
time on both sides of each change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from interview_retention.config import Settings
from interview_retention.worker.celery_app import create_celery

BERLIN = ZoneInfo("Europe/Berlin")


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def berlin_app(tmp_path):
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'beat.sqlite3'}",
        var_dir=tmp_path,
        schedule_timezone="Europe/Berlin",
        retention_schedule="0 3 * * *",
        purge_schedule="30 2 * * *",
    )
    app = create_celery(settings)
    yield app
    app.close()


def _next_run(app, entry: str, last_run: datetime) -> datetime:
    """When beat runs `entry` next, given that it last ran at `last_run`."""
    schedule = app.conf.beat_schedule[entry]["schedule"]
    schedule.app = app
    now = last_run + timedelta(seconds=1)
    schedule.nowfun = lambda: now.astimezone(app.timezone)
    wait = schedule.remaining_estimate(last_run.astimezone(app.timezone))
    return (now + wait).astimezone(UTC)


def test_the_app_reads_cron_in_the_configured_zone(berlin_app):
    assert berlin_app.timezone == BERLIN
    assert berlin_app.conf.enable_utc is True


@pytest.mark.parametrize(
    ("last_run", "expected", "hours"),
    [
        # 03:00 CET on the 28th, then 03:00 CEST on the 29th: 23 hours on.
        (_utc(2026, 3, 28, 2, 0), _utc(2026, 3, 29, 1, 0), 23),
        # 03:00 CEST on the 24th, then 03:00 CET on the 25th: 25 hours on.
        (_utc(2026, 10, 24, 1, 0), _utc(2026, 10, 25, 2, 0), 25),
        # An ordinary day: 24 hours.
        (_utc(2026, 6, 1, 1, 0), _utc(2026, 6, 2, 1, 0), 24),
    ],
    ids=["spring-forward", "fall-back", "summer"],
)
def test_a_daily_run_keeps_its_local_hour_across_a_change(
    berlin_app, last_run, expected, hours
):
    following = _next_run(berlin_app, "apply-retention-rule", last_run)

    assert following == expected
    assert following - last_run == timedelta(hours=hours)
    assert following.astimezone(BERLIN).hour == 3


def test_a_local_time_the_spring_change_skips_runs_an_hour_later(berlin_app):
    # 02:30 does not exist in Berlin on 29 March 2026; the run comes at 03:30.
    following = _next_run(
        berlin_app, "purge-expired-sessions", _utc(2026, 3, 28, 1, 30)
    )

    assert following == _utc(2026, 3, 29, 1, 30)
    assert following.astimezone(BERLIN).strftime("%H:%M %Z") == "03:30 CEST"


def test_a_local_time_the_autumn_change_repeats_runs_once(berlin_app):
    # 02:30 happens twice in Berlin on 25 October 2026 (CEST, then CET).
    first = _next_run(berlin_app, "purge-expired-sessions", _utc(2026, 10, 24, 0, 30))
    second = _next_run(berlin_app, "purge-expired-sessions", first)

    assert first == _utc(2026, 10, 25, 0, 30)
    assert second == _utc(2026, 10, 26, 1, 30)


def test_utc_is_the_default_and_ignores_local_changes(tmp_path):
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'beat.sqlite3'}",
        var_dir=tmp_path,
        retention_schedule="0 3 * * *",
    )
    app = create_celery(settings)

    following = _next_run(app, "apply-retention-rule", _utc(2026, 3, 28, 3, 0))
    app.close()

    assert following == _utc(2026, 3, 29, 3, 0)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "CEST", "+02:00", ""])
def test_a_zone_that_is_not_an_iana_name_is_refused(zone):
    with pytest.raises(ValidationError, match="SCHEDULE_TIMEZONE"):
        Settings(_env_file=None, schedule_timezone=zone)  # type: ignore[call-arg]
