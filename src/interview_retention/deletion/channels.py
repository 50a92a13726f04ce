"""How a pending-deletion notice reaches its user.

NOTICE_CHANNEL picks one channel for the whole service: `log` writes one
structured line per notice (ids and the date, nothing personal), `email` sends
the owner a message over SMTP, `webhook` POSTs a signed JSON body to a receiver
of yours. A channel either returns (the notice was accepted) or raises
`NoticeDeliveryError`; a permanent one goes straight to the dead letter.

A channel runs outside any database transaction and may be slow; it must not
log or put into an error anything personal: no address, no link (a link carries
a signed token), no display name.
"""

from __future__ import annotations

import hmac
import json
import re
import smtplib
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import lru_cache
from typing import Protocol

import httpx
import structlog
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from interview_retention.config import Settings, get_settings

log = structlog.get_logger("interview_retention.notices")

WEBHOOK_EVENT = "session.deletion_scheduled"
TIMESTAMP_HEADER = "X-Retention-Timestamp"
SIGNATURE_HEADER = "X-Retention-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class NoticeDeliveryError(Exception):
    """The channel could not deliver: retried later, or dead-lettered at once
    when `permanent`.

    The message is stored on the notice (`last_error`): a short reason, never an
    address, a URL or anything the user wrote.
    """

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


@dataclass(frozen=True)
class NoticeMessage:
    """What one notice says, read from the session when the notice was claimed.

    `delete_at` is the earliest moment the session can be deleted: the deadline
    recorded after the channel accepts is that moment or later.
    """

    notice_id: int
    attempt: int
    session_id: str
    user_id: str
    email: str
    display_name: str
    session_created_at: datetime
    session_status: str
    question_count: int
    delete_at: datetime
    export_url: str
    app_url: str


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
            attempt=message.attempt,
            delete_at=message.delete_at.isoformat(),
        )


# --- What a notice says ---


@lru_cache
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("interview_retention.deletion", "templates"),
        # Escaped in the HTML part only: the plain part must not show &lt;.
        autoescape=select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=True, default=False
        ),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def _day(moment: datetime) -> str:
    """'10 December 2026', read in UTC."""
    at = moment.astimezone(UTC)
    return f"{at.day} {at:%B %Y}"


def _moment(moment: datetime) -> str:
    """'Thursday 10 December 2026 at 20:41 UTC': one spelling in every part."""
    at = moment.astimezone(UTC)
    return f"{at:%A} {at.day} {at:%B %Y} at {at:%H:%M} UTC"


# C0 and C1 control characters, DEL included; line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def name_of(message: NoticeMessage) -> str:
    """The display name on one line: a line break in it (an imported name, say)
    would make the To header unsendable, so that the notice, and the deletion
    waiting on it, fails on every attempt, or start a line of its own in the text."""
    return " ".join(_CONTROL.sub(" ", message.display_name).split())


def subject_of(message: NoticeMessage) -> str:
    return "Your interview practice session will be deleted on " + _day(
        message.delete_at
    )


def render(message: NoticeMessage) -> tuple[str, str]:
    """The notice's plain text and HTML bodies."""
    values = {
        "name": name_of(message),
        "created": _day(message.session_created_at),
        "status": message.session_status.replace("_", " ").lower(),
        "question_count": message.question_count,
        "delete_at": _moment(message.delete_at),
        "export_url": message.export_url,
        "app_url": message.app_url,
    }
    env = _templates()
    return (
        env.get_template("notice.txt.j2").render(values),
        env.get_template("notice.html.j2").render(values),
    )


# --- Email ---


def build_email(message: NoticeMessage, settings: Settings) -> EmailMessage:
    """The notice as a multipart/alternative email to the session's owner.

    Its Message-ID is derived from the notice id alone, so every resend of one
    notice (a retry, or a resend after a lost worker) is the same message to the
    receiving side.
    """
    sender = settings.smtp_from or ""
    domain = sender.rpartition("@")[2] or "localhost"
    text, html = render(message)

    email = EmailMessage()
    email["Subject"] = subject_of(message)
    email["From"] = sender
    email["To"] = formataddr((name_of(message), message.email))
    email["Date"] = format_datetime(datetime.now(UTC))
    email["Message-ID"] = f"<deletion-notice-{message.notice_id}@{domain}>"
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    return email


class EmailChannel:
    """One SMTP connection per notice, with STARTTLS, implicit TLS or neither."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: NoticeMessage) -> None:
        email = build_email(message, self.settings)
        try:
            with self._connect() as smtp:
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise NoticeDeliveryError(
                f"smtp: recipient refused ({', '.join(map(str, codes))})",
                permanent=all(500 <= code < 600 for code in codes),
            ) from None
        except smtplib.SMTPDataError as exc:
            raise NoticeDeliveryError(
                f"smtp: message refused ({exc.smtp_code})",
                permanent=500 <= exc.smtp_code < 600,
            ) from None
        except smtplib.SMTPResponseException as exc:
            # Sender refused, login refused, server busy: the service's own
            # settings or the server's state, not this notice; it is retried.
            raise NoticeDeliveryError(
                f"smtp: {type(exc).__name__} ({exc.smtp_code})"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NoticeDeliveryError(f"smtp: {type(exc).__name__}") from None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        host, port, timeout = s.smtp_host or "", s.smtp_port, s.smtp_timeout_seconds
        smtp: smtplib.SMTP
        if s.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        try:
            if s.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username and s.smtp_password:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
        except BaseException:
            smtp.close()
            raise
        return smtp


# --- Webhook ---


def webhook_body(message: NoticeMessage) -> bytes:
    """The JSON a receiver gets; no address and no name, only ids and links."""
    delete_at = message.delete_at.astimezone(UTC).isoformat(timespec="seconds")
    payload = {
        "event": WEBHOOK_EVENT,
        "noticeId": message.notice_id,
        "sessionId": message.session_id,
        "userId": message.user_id,
        "deleteAt": delete_at.replace("+00:00", "Z"),
        "exportUrl": message.export_url,
        "attempt": message.attempt,
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 of `timestamp + "." + body`, as the signature header carries it."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, "sha256")
    return "sha256=" + digest.hexdigest()


# A refusal for these means "not now": the receiver timed out or is throttling.
RETRYABLE_4XX = {408, 429}


class WebhookChannel:
    """A signed POST per notice; 2xx delivers, a 4xx but 408/429 is permanent."""

    def __init__(self, settings: Settings, *, client: httpx.Client | None = None):
        self.url = settings.notice_webhook_url or ""
        secret = settings.notice_webhook_secret
        self.secret = secret.get_secret_value() if secret else ""
        self.client = client or httpx.Client(
            timeout=settings.notice_webhook_timeout_seconds, follow_redirects=False
        )

    def send(self, message: NoticeMessage) -> None:
        body = webhook_body(message)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "interview-retention-notices",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
            IDEMPOTENCY_HEADER: str(message.notice_id),
        }
        try:
            answer = self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise NoticeDeliveryError("webhook: timed out") from None
        except httpx.HTTPError as exc:
            raise NoticeDeliveryError(f"webhook: {type(exc).__name__}") from None

        status = answer.status_code
        if 200 <= status < 300:
            return
        permanent = 400 <= status < 500 and status not in RETRYABLE_4XX
        raise NoticeDeliveryError(f"webhook: HTTP {status}", permanent=permanent)


def get_channel(settings: Settings | None = None) -> NoticeChannel:
    """The channel NOTICE_CHANNEL names, built from its settings."""
    settings = settings or get_settings()
    if settings.notice_channel == "email":
        return EmailChannel(settings)
    if settings.notice_channel == "webhook":
        return WebhookChannel(settings)
    return LogChannel()
