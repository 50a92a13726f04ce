"""`interview-retention dead-letters list|retry`: the admin endpoints' twins."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from interview_retention.clock import utcnow
from interview_retention.deletion.models import DeletionNotice
from tests.cli.helpers import run, run_json
from tests.factories import make_session, make_user


def _dead_letter(engine: Engine) -> int:
    with Session(engine) as db:
        user, _ = make_user(db)
        session = make_session(db, user, created_at=utcnow() - timedelta(days=100))
        notice = DeletionNotice(
            session_id=session.id,
            cycle=0,
            status="FAILED",
            attempts=8,
            next_attempt_at=utcnow(),
            last_error="webhook: HTTP 410",
        )
        db.add(notice)
        db.commit()
        return notice.id


def test_list_shows_the_dead_letters(
    runner: CliRunner, migrated: str, cli_engine: Engine
):
    notice_id = _dead_letter(cli_engine)

    rows = run_json(runner, "dead-letters", "list")

    assert [(r["id"], r["lastError"]) for r in rows] == [
        (notice_id, "webhook: HTTP 410")
    ]


def test_retry_queues_the_notice_again(
    runner: CliRunner, migrated: str, cli_engine: Engine
):
    notice_id = _dead_letter(cli_engine)

    result = run(runner, "dead-letters", "retry", str(notice_id))

    assert f"notice {notice_id} queued again" in result.stdout
    with Session(cli_engine) as db:
        notice = db.scalars(
            select(DeletionNotice).where(DeletionNotice.id == notice_id)
        ).one()
    assert (notice.status, notice.attempts) == ("PENDING", 0)


def test_retry_of_a_notice_that_is_no_dead_letter_fails(
    runner: CliRunner, migrated: str, cli_engine: Engine
):
    notice_id = _dead_letter(cli_engine)
    run(runner, "dead-letters", "retry", str(notice_id))

    result = run(runner, "dead-letters", "retry", str(notice_id), code=1)

    assert "Only a FAILED notice can be retried" in result.output


def test_retry_of_an_unknown_notice_fails(runner: CliRunner, migrated: str):
    result = run(runner, "dead-letters", "retry", "424242", code=1)

    assert "Notice not found" in result.output
