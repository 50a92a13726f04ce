"""How a pending-deletion notice reaches its user.

For now the only channel writes one structured log line per notice, with ids and
the deletion date but no personal data. Email and webhooks come later; they plug
in behind the same `NoticeChannel` protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog

log = structlog.get_logger("interview_retention.notices")


class NoticeDeliveryError(Exception):
    """The channel could not deliver; the notice is retried later."""


@dataclass(frozen=True)
class NoticeMessage:
    notice_id: int
    session_id: str
    user_id: str
    delete_at: datetime


class NoticeChannel(Protocol):
    def send(self, message: NoticeMessage) -> None: ...


class LogChannel:
    def send(self, message: NoticeMessage) -> None:
        log.info(
            "notice.delivered",
            channel="log",
            notice_id=message.notice_id,
            session_id=message.session_id,
            user_id=message.user_id,
            delete_at=message.delete_at.isoformat(),
        )


def get_channel() -> NoticeChannel:
    return LogChannel()
