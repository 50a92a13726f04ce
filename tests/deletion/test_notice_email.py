"""The email channel against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from interview_retention.deletion.channels import EmailChannel
from interview_retention.sessions.links import EXPORT_PATH, read_export_token
from tests.deletion.receivers import free_port
from tests.deletion.support import (
    notices_of,
    reload,
    run_notices,
    run_retention,
)
from tests.factories import make_session

GRACE = timedelta(days=7)
LINK = re.compile(r"https?://[^\s\"<>]+" + re.escape(EXPORT_PATH) + r"[\w.\-]+")


@pytest.fixture
def email_settings(settings, mail_server):
    controller, _ = mail_server
    return settings.model_copy(
        update={
            "notice_channel": "email",
            "smtp_host": "127.0.0.1",
            "smtp_port": controller.port,
            "smtp_security": "none",
            "smtp_timeout_seconds": 5,
            "smtp_from": "notices@retention.example",
            "public_base_url": "https://retention.example",
        }
    )


def _send(factory, settings, now):
    run_retention(factory, settings, now)
    return run_notices(factory, settings, now, EmailChannel(settings))


def _parts(message) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def test_the_owner_gets_one_message_with_both_parts(
    db, factory, email_settings, mail_server, user, old_session, now
):
    _, received = mail_server

    result = _send(factory, email_settings, now)

    assert result["sent"] == 1
    [message] = received.messages
    assert message["To"].addresses[0].addr_spec == user.email
    assert message["From"] == "notices@retention.example"
    assert message.get_content_type() == "multipart/alternative"
    assert received.envelopes == [("notices@retention.example", [user.email])]


def test_the_subject_and_both_parts_give_the_deletion_date(
    factory, email_settings, mail_server, old_session, now
):
    _, received = mail_server

    _send(factory, email_settings, now)

    [message] = received.messages
    text, html = _parts(message)
    # `now` is Sunday 1 March 2026, 12:00 UTC; the grace period is seven days.
    assert message["Subject"] == (
        "Your interview practice session will be deleted on 8 March 2026"
    )
    assert "Sunday 8 March 2026 at 12:00 UTC" in text
    assert "Sunday 8 March 2026 at 12:00 UTC" in html


def test_the_message_describes_the_session_without_its_answers(
    factory, email_settings, mail_server, old_session, now
):
    _, received = mail_server

    _send(factory, email_settings, now)

    text, html = _parts(received.messages[0])
    assert "Started:   21 November 2025" in text
    assert "Status:    evaluated" in text
    assert "Questions: 2" in text
    for part in (text, html):
        assert "A private answer" not in part
        assert "What is a closure?" not in part
        assert "Solid fundamentals." not in part


def test_the_export_link_grants_the_owners_session(
    factory, email_settings, mail_server, user, old_session, now
):
    _, received = mail_server

    _send(factory, email_settings, now)

    text, html = _parts(received.messages[0])
    [link] = LINK.findall(text)
    assert link.startswith("https://retention.example" + EXPORT_PATH)
    assert link in html
    grant = read_export_token(link.rsplit("/", 1)[1], email_settings)
    assert grant is not None
    assert (grant.session_id, grant.user_id) == (old_session.id, user.id)
    assert "https://retention.example/app/" in text


def test_the_deadline_follows_the_accepted_message(
    db, factory, email_settings, mail_server, old_session, now
):
    _send(factory, email_settings, now)

    session = reload(db, old_session.id)
    [notice] = notices_of(db, old_session.id)
    assert notice.status == "SENT"
    assert session.permanent_delete_at == now + GRACE


def test_the_message_id_is_the_notices_own(
    db, factory, email_settings, mail_server, old_session, now
):
    _, received = mail_server

    _send(factory, email_settings, now)

    [notice] = notices_of(db, old_session.id)
    assert received.messages[0]["Message-ID"] == (
        f"<deletion-notice-{notice.id}@retention.example>"
    )


def test_a_refused_mailbox_is_a_dead_letter_at_once(
    db, factory, email_settings, mail_server, user, old_session, now
):
    _, received = mail_server
    received.refuse.add(user.email)

    result = _send(factory, email_settings, now)

    [notice] = notices_of(db, old_session.id)
    assert result["failed"] == 1
    assert notice.status == "FAILED"
    assert notice.attempts == 1
    assert notice.last_error == "smtp: recipient refused (550)"
    assert user.email not in notice.last_error
    assert reload(db, old_session.id).permanent_delete_at is None


def test_a_mail_server_that_is_down_means_a_retry(
    db, factory, email_settings, old_session, now
):
    down = email_settings.model_copy(update={"smtp_port": free_port()})

    result = _send(factory, down, now)

    [notice] = notices_of(db, old_session.id)
    assert result["retried"] == 1
    assert notice.status == "RETRY"
    assert notice.last_error == "smtp: ConnectionRefusedError"
    assert notice.next_attempt_at == now + timedelta(seconds=60)
    assert reload(db, old_session.id).permanent_delete_at is None


def test_each_session_gets_its_own_message(
    db, factory, email_settings, mail_server, user, now
):
    _, received = mail_server
    ids = {
        make_session(db, user, created_at=now - timedelta(days=100 + n)).id
        for n in range(3)
    }

    result = _send(factory, email_settings, now)

    assert result["sent"] == 3
    links = [LINK.findall(_parts(m)[0])[0] for m in received.messages]
    granted = {
        read_export_token(link.rsplit("/", 1)[1], email_settings).session_id
        for link in links
    }
    assert granted == ids


@pytest.mark.parametrize(
    "name",
    ["Eve\r\nBcc: attacker@evil.example", "Eve\nCall +1 555 0100", "Eve\x1b[31m\x7f"],
)
def test_a_display_name_with_line_breaks_still_gets_its_notice(
    db, factory, email_settings, mail_server, user, old_session, now, name
):
    # A name imported from another system may carry a line break or a control
    # character: neither may stop the notice (and so the deletion), add a header,
    # or start a line of its own in the message.
    user.display_name = name
    db.commit()
    _, received = mail_server

    result = _send(factory, email_settings, now)

    assert result["sent"] == 1
    [message] = received.messages
    assert message["Bcc"] is None
    assert [a.addr_spec for a in message["To"].addresses] == [user.email]
    text, _ = _parts(message)
    first = text.splitlines()[0]
    assert first.startswith("Hello Eve")
    assert first.endswith(",")
    assert not any(ch < " " for ch in message["To"])
