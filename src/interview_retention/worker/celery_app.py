"""The Celery app: Redis broker when REDIS_URL is set, a folder broker otherwise.

Delivery is at least once: a message is acknowledged only after its task returns
(`task_acks_late`), and one whose worker died is put back on the queue
(`task_reject_on_worker_lost`). Redis hands an unacknowledged message to another
worker after the visibility timeout, which the settings keep longer than the
longest task plus its longest retry delay. The jobs are idempotent, so a second
delivery finds nothing left to do. Results are not stored: each run records
itself in the `job_runs` table instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery

from interview_retention.config import Settings, get_settings
from interview_retention.logs import configure_logging
from interview_retention.schedules import cron

__all__ = ["celery_app", "create_celery", "cron"]


def broker_settings(settings: Settings) -> dict[str, Any]:
    if settings.redis_url:
        options: dict[str, Any] = {
            "visibility_timeout": settings.broker_visibility_timeout_seconds
        }
        if settings.broker_key_prefix:
            options["global_keyprefix"] = settings.broker_key_prefix
        return {"broker_url": settings.redis_url, "broker_transport_options": options}

    # The embedded default: messages are files in a folder that the API, the CLI,
    # beat and the worker share. It needs no server but gives up redelivery: a
    # message whose worker dies mid-task is lost, and the next scheduled run
    # picks up the work instead.
    folder = Path(settings.var_dir, "broker").resolve()
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "broker_url": "filesystem://",
        "broker_transport_options": {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        },
        "worker_enable_remote_control": False,
    }


def beat_schedule(settings: Settings) -> dict[str, Any]:
    # A run that waited longer than its interval is dropped, not piled up: the
    # next run handles everything that is overdue anyway.
    expires = 300
    return {
        "apply-retention-rule": {
            "task": "interview_retention.retention.apply_retention_rule",
            "schedule": cron(settings.retention_schedule),
            "options": {"expires": expires},
        },
        "send-pending-notices": {
            "task": "interview_retention.notices.send_pending_notices",
            "schedule": cron(settings.notices_schedule),
            "options": {"expires": expires},
        },
        "purge-expired-sessions": {
            "task": "interview_retention.purge.purge_expired_sessions",
            "schedule": cron(settings.purge_schedule),
            "options": {"expires": expires},
        },
    }


def beat_settings(settings: Settings) -> dict[str, Any]:
    """One beat at a time: with Redis, RedBeat's scheduler and its lock.

    Beat keeps its schedule in Redis under BEAT_KEY_PREFIX and, before it sends
    anything, takes a lock there (`<prefix>:lock`, so `ir:beat::lock` with the
    default prefix, as RedBeat spells its own keys) that it renews on every tick.
    A second beat waits for that lock instead of sending the schedule again, and
    takes over within BEAT_LOCK_TIMEOUT_SECONDS (plus one tick) once the first
    is gone; a beat stopped cleanly hands the lock over at once. Beat ticks at
    least five times per lock timeout, so that the leader's renewal always comes
    before its lock runs out.

    The embedded default has no Redis: it keeps Celery's own file-based
    scheduler, and `make run` starts exactly one beat, inside its one worker.
    """
    if not settings.redis_url:
        return {
            "beat_schedule_filename": str(Path(settings.var_dir, "celerybeat-schedule"))
        }
    return {
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "redbeat_redis_url": settings.redis_url,
        "redbeat_key_prefix": settings.beat_key_prefix,
        "redbeat_lock_timeout": settings.beat_lock_timeout_seconds,
        # Given explicitly, or RedBeat would pass the broker's transport options
        # (visibility timeout, key prefix) to its Redis client.
        "redbeat_redis_options": {"socket_timeout": 10, "socket_connect_timeout": 10},
        "beat_max_loop_interval": max(1, settings.beat_lock_timeout_seconds // 5),
        # Unused by RedBeat; kept so that `celery beat` never writes a schedule
        # file into the working directory.
        "beat_schedule_filename": str(Path(settings.var_dir, "celerybeat-schedule")),
    }


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    Path(settings.var_dir).mkdir(parents=True, exist_ok=True)
    app = Celery("interview_retention")
    app.conf.update(
        **broker_settings(settings),
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        # No results are kept, so beat needs no daily `celery.backend_cleanup`.
        result_expires=None,
        task_serializer="json",
        accept_content=["json"],
        # Cron fields are read in this zone; messages and their times stay UTC.
        timezone=settings.schedule_timezone,
        enable_utc=True,
        task_time_limit=settings.task_time_limit_seconds,
        task_soft_time_limit=max(settings.task_time_limit_seconds - 60, 10),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule=beat_schedule(settings),
        **beat_settings(settings),
        # Task events let Flower show each task's life; they travel over Redis
        # pub/sub, which the folder broker does not have.
        worker_send_task_events=bool(settings.redis_url),
        task_send_sent_event=bool(settings.redis_url),
    )
    app.autodiscover_tasks(["interview_retention.worker"], related_name="tasks")
    return app


configure_logging(get_settings().log_level, json=get_settings().log_json)
celery_app = create_celery()
