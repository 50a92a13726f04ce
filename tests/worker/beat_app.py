"""The service's Celery app with a one-second schedule, for the one-beat test.

Built by `create_celery` from the environment, exactly as in production (the
RedBeat scheduler, its Redis, key prefix and lock timeout); only the schedule is
replaced, by one entry every second, so that a test sees many sends quickly.
Nothing consumes the task: the test counts the messages in the broker.
"""

from __future__ import annotations

from interview_retention.config import Settings
from interview_retention.worker.celery_app import create_celery

app = create_celery(Settings())
app.conf.beat_schedule = {"tick": {"task": "irtest.tick", "schedule": 1.0}}
