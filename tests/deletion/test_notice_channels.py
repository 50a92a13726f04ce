"""Choosing a channel by its settings, and what a notice's templates render."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from interview_retention.config import Settings
from interview_retention.deletion.channels import (
    EmailChannel,
    LogChannel,
    NoticeMessage,
    WebhookChannel,
    build_email,
    get_channel,
    render,
)

EMAIL = {
    "notice_channel": "email",
    "smtp_host": "mail.example",
    "smtp_from": "notices@retention.example",
}
WEBHOOK = {
    "notice_channel": "webhook",
    "notice_webhook_url": "https://hooks.example/retention",
    "notice_webhook_secret": "s" * 16,
}
DEPLOYMENT = {
    "environment": "production",
    "database_url": "postgres://app@db/retention",
    "redis_url": "redis://cache:6379/0",
    "secret_key": "k" * 32,
}


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def message(**fields: object) -> NoticeMessage:
    values: dict = {
        "notice_id": 41,
        "attempt": 1,
        "session_id": "s-1",
        "user_id": "u-1",
        "email": "ada@example.com",
        "display_name": "Ada",
        "session_created_at": datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        "session_status": "EVALUATED",
        "question_count": 4,
        "delete_at": datetime(2026, 4, 10, 8, 5, tzinfo=UTC),
        "export_url": "https://retention.example/api/interview/exports/t.k",
        "app_url": "https://retention.example/app/",
        **fields,
    }
    return NoticeMessage(**values)


def test_the_log_channel_is_the_default():
    assert isinstance(get_channel(settings()), LogChannel)


def test_email_with_its_settings_is_chosen():
    assert isinstance(get_channel(settings(**EMAIL)), EmailChannel)


def test_webhook_with_its_settings_is_chosen():
    assert isinstance(get_channel(settings(**WEBHOOK)), WebhookChannel)


@pytest.mark.parametrize(
    ("missing", "named"),
    [("smtp_host", "SMTP_HOST"), ("smtp_from", "SMTP_FROM")],
)
def test_email_without_its_server_or_sender_does_not_start(missing, named):
    values = {**EMAIL, missing: None}

    with pytest.raises(ValidationError, match=named):
        settings(**values)


def test_email_with_a_username_but_no_password_does_not_start():
    with pytest.raises(ValidationError, match="SMTP_PASSWORD"):
        settings(**EMAIL, smtp_username="notices")


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"notice_webhook_url": None}, "NOTICE_WEBHOOK_URL"),
        ({"notice_webhook_url": "ftp://hooks.example/x"}, "NOTICE_WEBHOOK_URL"),
        ({"notice_webhook_secret": None}, "NOTICE_WEBHOOK_SECRET"),
        ({"notice_webhook_secret": "short"}, "NOTICE_WEBHOOK_SECRET"),
    ],
    ids=["no-url", "not-http", "no-secret", "short-secret"],
)
def test_webhook_without_its_url_or_secret_does_not_start(values, named):
    with pytest.raises(ValidationError, match=named):
        settings(**{**WEBHOOK, **values})


@pytest.mark.parametrize("channel", [EMAIL, WEBHOOK], ids=["email", "webhook"])
def test_a_deployment_sending_notices_needs_its_public_address(channel):
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL"):
        settings(**DEPLOYMENT, **channel)


@pytest.mark.parametrize("channel", [EMAIL, WEBHOOK], ids=["email", "webhook"])
def test_a_deployment_with_its_public_address_starts(channel):
    config = settings(
        **DEPLOYMENT, **channel, public_base_url="https://retention.example"
    )

    assert config.notice_channel == channel["notice_channel"]


def test_the_secrets_are_not_shown_in_the_settings():
    config = settings(**WEBHOOK, smtp_password="hunter2-but-longer")

    assert "s" * 16 not in repr(config)
    assert "hunter2" not in repr(config)


def test_a_display_name_stays_text_in_the_html_part():
    _, html = render(message(display_name="<script>alert(1)</script>"))

    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_text_part_shows_the_display_name_as_written():
    text, _ = render(message(display_name="Ada <b>& co</b>"))

    assert "Hello Ada <b>& co</b>," in text


def test_without_a_display_name_the_greeting_has_none():
    text, html = render(message(display_name="  "))

    assert text.startswith("Hello,\n")
    assert "<p>Hello,</p>" in html


def test_the_recipient_header_quotes_an_odd_display_name():
    email = build_email(
        message(display_name='Eve "<x@evil.example>"'),
        settings(**EMAIL),
    )

    assert [a.addr_spec for a in email["To"].addresses] == ["ada@example.com"]


def test_the_date_is_written_in_utc_whatever_the_offset():
    moment = datetime.fromisoformat("2026-04-10T10:05:00+02:00")

    text, _ = render(message(delete_at=moment))

    assert "Friday 10 April 2026 at 08:05 UTC" in text
