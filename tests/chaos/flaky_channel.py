"""The production Celery app, with a notice channel that fails while a file exists.

Started as `celery -A tests.chaos.flaky_channel:celery_app worker`: the tasks are
the production ones; only the channel they get is swapped, here and not in the
service's code. While the file named by CHAOS_CHANNEL_DOWN exists every send
fails as an unreachable mail server would; once it is removed, sends go through
the production log channel, which writes one `notice.delivered` line each.
"""

from __future__ import annotations

import os
from pathlib import Path

from interview_retention.deletion.channels import (
    LogChannel,
    NoticeChannel,
    NoticeDeliveryError,
    NoticeMessage,
)
from interview_retention.worker import tasks
from interview_retention.worker.celery_app import celery_app

__all__ = ["celery_app"]


class FlakyChannel:
    def __init__(self, down: Path) -> None:
        self.down = down

    def send(self, message: NoticeMessage) -> None:
        if self.down.exists():
            raise NoticeDeliveryError("notice channel unreachable (chaos)")
        LogChannel().send(message)


def flaky_channel() -> NoticeChannel:
    return FlakyChannel(Path(os.environ["CHAOS_CHANNEL_DOWN"]))


tasks.get_channel = flaky_channel
