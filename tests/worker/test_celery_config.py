"""The Celery settings that at-least-once delivery and the beat schedule rely on."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from interview_retention.config import Settings
from interview_retention.worker.celery_app import create_celery, cron
from tests.conftest import REDIS_URL

BEAT_ENTRIES = {
    "apply-retention-rule": "interview_retention.retention.apply_retention_rule",
    "send-pending-notices": "interview_retention.notices.send_pending_notices",
    "purge-expired-sessions": "interview_retention.purge.purge_expired_sessions",
}


@pytest.fixture
def worker_settings(tmp_path) -> Settings:
    return Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'worker.sqlite3'}",
        redis_url=REDIS_URL,
        broker_key_prefix="irtest:config:broker:",
        var_dir=tmp_path,
    )


@pytest.fixture
def conf(worker_settings):
    app = create_celery(worker_settings)
    yield app.conf
    app.close()


def test_messages_are_acknowledged_after_the_task(conf):
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1


def test_visibility_timeout_outlives_task_and_retry_delay(conf, worker_settings):
    longest = conf.task_time_limit + worker_settings.task_retry_backoff_max_seconds

    assert conf.broker_transport_options["visibility_timeout"] > longest
    assert conf.task_soft_time_limit < conf.task_time_limit


def test_settings_refuse_visibility_timeout_within_task_and_retry():
    with pytest.raises(ValidationError, match="BROKER_VISIBILITY_TIMEOUT_SECONDS"):
        Settings(
            _env_file=None,
            task_time_limit_seconds=1800,
            task_retry_backoff_max_seconds=600,
            broker_visibility_timeout_seconds=2400,
        )


def test_settings_accept_visibility_timeout_one_second_longer():
    settings = Settings(
        _env_file=None,
        task_time_limit_seconds=1800,
        task_retry_backoff_max_seconds=600,
        broker_visibility_timeout_seconds=2401,
    )

    assert settings.broker_visibility_timeout_seconds == 2401


def test_results_are_not_stored(conf):
    assert conf.task_ignore_result is True
    assert conf.result_backend is None


def test_clock_is_utc(conf):
    assert conf.timezone == "UTC"
    assert conf.enable_utc is True


def test_messages_are_json_only(conf):
    assert conf.task_serializer == "json"
    assert list(conf.accept_content) == ["json"]


def test_broker_is_redis_under_key_prefix(conf):
    assert conf.broker_url == REDIS_URL
    assert conf.broker_transport_options["global_keyprefix"] == "irtest:config:broker:"


def test_beat_schedule_has_three_kebab_case_entries(conf):
    schedule = conf.beat_schedule

    assert {key: entry["task"] for key, entry in schedule.items()} == BEAT_ENTRIES
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)+", key) for key in schedule)


def test_beat_entries_expire(conf):
    expires = {
        key: entry["options"]["expires"] for key, entry in conf.beat_schedule.items()
    }

    assert all(0 < seconds <= 3600 for seconds in expires.values()), expires


def test_beat_schedule_follows_settings(worker_settings):
    settings = worker_settings.model_copy(update={"purge_schedule": "15 3 * * *"})

    app = create_celery(settings)
    schedule = app.conf.beat_schedule["purge-expired-sessions"]["schedule"]
    app.close()

    assert schedule.hour == {3}
    assert schedule.minute == {15}


def test_cron_needs_five_fields():
    with pytest.raises(ValueError, match="five cron fields"):
        cron("*/5 * * *")


def test_tasks_have_stable_names_and_retry_only_retryable_errors():
    from interview_retention.worker import tasks

    names = {job: task.name for job, task in tasks.TASKS.items()}

    assert names == {
        "purge": BEAT_ENTRIES["purge-expired-sessions"],
        "retention": BEAT_ENTRIES["apply-retention-rule"],
        "notices": BEAT_ENTRIES["send-pending-notices"],
    }
    for task in tasks.TASKS.values():
        assert task.acks_late is True
        assert OperationalError in task.autoretry_for
        assert Exception not in task.autoretry_for


@pytest.mark.parametrize("job", ["purge", "retention", "notices"])
def test_retry_that_cannot_be_sent_requeues_the_message(job, monkeypatch):
    # Found by tests/chaos/test_broker_loss.py: with Redis away, Celery could not
    # send the retry and dropped the message, losing the run.
    from celery.canvas import Signature
    from celery.exceptions import Reject
    from kombu.exceptions import OperationalError as BrokerDown

    from interview_retention.worker import tasks

    def broker_down(self, *args, **kwargs):
        raise BrokerDown("Error 111 connecting to the broker")

    monkeypatch.setattr(Signature, "apply_async", broker_down)
    task = tasks.TASKS[job]
    task.push_request(id=f"{job}-run", retries=0, called_directly=False)
    try:
        with pytest.raises(Reject) as rejected:
            task.retry(exc=OperationalError("SELECT 1", {}, Exception("gone")))
    finally:
        task.pop_request()

    assert rejected.value.requeue is True
