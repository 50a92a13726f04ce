"""Which beat scheduler runs where, and the files that start Flower."""

from __future__ import annotations

from pathlib import Path

import yaml

from interview_retention.config import Settings
from interview_retention.worker.celery_app import beat_settings, create_celery

ROOT = Path(__file__).resolve().parents[2]


def settings(tmp_path, **values) -> Settings:
    return Settings(_env_file=None, var_dir=tmp_path, **values)  # type: ignore[call-arg]


def test_with_redis_beat_takes_redbeats_lock(tmp_path):
    conf = beat_settings(
        settings(
            tmp_path,
            redis_url="redis://cache:6379/2",
            beat_key_prefix="prod:beat:",
            beat_lock_timeout_seconds=30,
        )
    )

    assert conf["beat_scheduler"] == "redbeat.RedBeatScheduler"
    assert conf["redbeat_redis_url"] == "redis://cache:6379/2"
    assert conf["redbeat_key_prefix"] == "prod:beat:"
    assert conf["redbeat_lock_timeout"] == 30
    # The leader renews its lock on every tick, five ticks per lock timeout.
    assert conf["beat_max_loop_interval"] == 6
    # The broker's transport options must not reach RedBeat's Redis client.
    assert "visibility_timeout" not in conf["redbeat_redis_options"]


def test_the_embedded_default_keeps_celerys_own_scheduler(tmp_path):
    app = create_celery(settings(tmp_path))
    try:
        assert "redbeat" not in str(app.conf.beat_scheduler)
        assert app.conf.beat_schedule_filename == str(tmp_path / "celerybeat-schedule")
        assert app.conf.worker_send_task_events is False
    finally:
        app.close()


def test_the_app_built_with_redis_uses_redbeat_and_sends_events(tmp_path):
    app = create_celery(settings(tmp_path, redis_url="redis://localhost:6379/0"))
    try:
        assert app.conf.beat_scheduler == "redbeat.RedBeatScheduler"
        assert app.conf.worker_send_task_events is True
    finally:
        app.close()


def test_compose_runs_flower_behind_basic_auth_on_localhost_only():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    flower = compose["services"]["flower"]

    command = " ".join(flower["command"])
    assert 'test -n "$$FLOWER_BASIC_AUTH" || {' in command
    assert (
        "celery -A interview_retention.worker.celery_app:celery_app flower" in command
    )
    assert flower["ports"] == ["127.0.0.1:5555:5555"]
    assert flower["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert flower["profiles"] == ["ops"]


def test_compose_beat_keeps_no_schedule_file():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())

    assert "--schedule" not in compose["services"]["beat"]["command"]
