"""Hostile JSON Lines: every bad line fails naming itself, and nothing is written."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from interview_retention.sessions.models import Answer, InterviewSession
from interview_retention.transfer.importer import ImportFailed, import_jsonl
from interview_retention.users.service import create_user
from tests.transfer.test_importer import (
    NOW,
    _jsonl,
    _table_counts,
    resume_line,
    session_line,
    user_line,
)

RECOVERY = timedelta(days=30)
GRACE = timedelta(days=7)


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _refused(db: Session, lines: list[str]) -> str:
    """Import `lines`, expect a refusal, and return its message."""
    before = _table_counts(db)
    with pytest.raises(ImportFailed) as failure:
        import_jsonl(db, lines, now=NOW)
    db.rollback()
    assert _table_counts(db) == before
    return str(failure.value)


def _soft_deleted(session_id: str, deleted_at, deadline) -> dict[str, Any]:
    return session_line(
        session_id,
        status="DELETED",
        statusBeforeDeletion="EVALUATED",
        deletedAt=_iso(deleted_at),
        permanentDeleteAt=_iso(deadline),
        deletionReason="USER",
        updatedAt=_iso(deleted_at),
    )


def _scheduled(session_id: str, noticed_at, deadline) -> dict[str, Any]:
    return session_line(
        session_id,
        retentionNoticeAt=_iso(noticed_at),
        permanentDeleteAt=_iso(deadline),
        deletionReason="RETENTION",
        updatedAt=_iso(noticed_at),
    )


class TestTimestamps:
    @pytest.mark.parametrize(
        "value", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"]
    )
    def test_an_instant_outside_utc_fails_naming_the_line(self, db, value):
        lines = _jsonl(user_line(), session_line("s-1", createdAt=value))

        message = _refused(db, lines)

        assert message == (
            "line 2: session.createdAt: is out of range once converted to UTC"
        )

    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            ("2026-01-05T10:00:00", "needs a UTC offset"),
            ("2026-01-05", "needs a UTC offset"),
            (1767607200, "is a number"),
            ("1767607200", "is a number"),
        ],
        ids=["naive", "date-only", "epoch-number", "epoch-string"],
    )
    def test_an_instant_without_an_offset_fails_naming_the_line(
        self, db, value, problem
    ):
        lines = _jsonl(user_line(), session_line("s-1", createdAt=value))

        message = _refused(db, lines)

        assert message.startswith("line 2: session.createdAt: ")
        assert problem in message

    @pytest.mark.parametrize(
        "field",
        [
            "createdAt",
            "updatedAt",
            "completedAt",
            "evaluatedAt",
            "answers[0].submittedAt",
            "evaluation.createdAt",
            "report.generatedAt",
        ],
    )
    def test_a_session_timestamp_in_the_future_fails(self, db, field):
        line = session_line("s-1")
        *parents, name = field.replace("[0]", ".0").split(".")
        target: Any = line
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[name] = _iso(NOW + timedelta(seconds=1))

        message = _refused(db, _jsonl(user_line(), line))

        assert message.startswith("line 2: ")
        assert field in message
        assert "after the import" in message

    def test_a_created_at_far_in_the_future_fails(self, db):
        lines = _jsonl(
            user_line(), session_line("s-1", createdAt="9999-12-31T23:59:59Z")
        )

        message = _refused(db, lines)

        assert message == "line 2: createdAt is after the import (2026-03-01T12:00:00Z)"

    def test_a_resume_created_in_the_future_fails(self, db):
        resume = {**resume_line("r-1"), "createdAt": _iso(NOW + timedelta(days=1))}

        message = _refused(db, _jsonl(user_line(), resume))

        assert message.startswith("line 2: createdAt is after the import")

    def test_timestamps_at_the_import_instant_are_accepted(self, db):
        moment = _iso(NOW)
        line = session_line("s-1", createdAt=moment, updatedAt=moment)
        line["report"]["generatedAt"] = moment

        result = import_jsonl(db, _jsonl(user_line(), line), now=NOW)

        assert result["sessions_imported"] == 1


class TestDeadlines:
    def test_a_user_deadline_inside_the_recovery_window_fails(self, db):
        deleted = NOW - timedelta(days=1)
        line = _soft_deleted("s-1", deleted, deleted + RECOVERY - timedelta(seconds=1))

        message = _refused(db, _jsonl(user_line(), line))

        assert message.startswith("line 2: permanentDeleteAt")
        assert "deletedAt + RECOVERY_DAYS" in message

    def test_a_user_deadline_at_the_end_of_the_recovery_window_is_accepted(self, db):
        deleted = NOW - timedelta(days=1)
        line = _soft_deleted("s-1", deleted, deleted + RECOVERY)

        result = import_jsonl(db, _jsonl(user_line(), line), now=NOW)

        assert result["sessions_imported"] == 1

    def test_a_retention_deadline_inside_the_grace_period_fails(self, db):
        noticed = NOW - timedelta(hours=1)
        line = _scheduled("s-1", noticed, NOW)

        message = _refused(db, _jsonl(user_line(), line))

        assert message.startswith("line 2: permanentDeleteAt")
        assert "retentionNoticeAt + GRACE_DAYS" in message

    def test_a_retention_deadline_at_the_end_of_the_grace_period_is_accepted(self, db):
        noticed = NOW - timedelta(hours=1)
        line = _scheduled("s-1", noticed, noticed + GRACE)

        result = import_jsonl(db, _jsonl(user_line(), line), now=NOW)

        assert result["sessions_imported"] == 1

    def test_a_retention_deadline_without_its_notice_fails(self, db):
        deleted = NOW - timedelta(days=1)
        line = {**_soft_deleted("s-1", deleted, NOW), "deletionReason": "RETENTION"}

        message = _refused(db, _jsonl(user_line(), line))

        assert "RETENTION needs retentionNoticeAt" in message

    def test_a_soft_deleted_session_due_far_in_the_future_fails(self, db):
        deleted = NOW - timedelta(days=1)
        line = _soft_deleted("s-1", deleted, deleted.replace(year=9999))

        message = _refused(db, _jsonl(user_line(), line))

        assert message.startswith("line 2: permanentDeleteAt")
        assert "later than any deadline" in message

    def test_a_held_live_session_with_a_retention_deadline_fails(self, db):
        noticed = NOW - timedelta(days=1)
        line = {**_scheduled("s-1", noticed, noticed + GRACE), "legalHold": True}

        message = _refused(db, _jsonl(user_line(), line))

        assert message == (
            "line 2: session: a session on legal hold that is not DELETED has no"
            " permanentDeleteAt"
        )

    def test_a_deadline_a_lifted_hold_could_have_set_is_accepted(self, db):
        # Deleted long ago, held past its deadline, and the hold lifted just now:
        # the deadline is the lift plus GRACE_DAYS.
        deleted = NOW - timedelta(days=200)
        line = _soft_deleted("s-1", deleted, NOW + GRACE)

        result = import_jsonl(db, _jsonl(user_line(), line), now=NOW)

        assert result["sessions_imported"] == 1


class TestUnstorableValues:
    @pytest.mark.parametrize(
        "change",
        [
            lambda line: line["config"].update(note="a\x00b"),
            lambda line: line["config"].update({"k\x00": 1}),
            lambda line: line["answers"][0].update(text="my answer\x00"),
            lambda line: line["questions"][0].update(text="What\x00?"),
            lambda line: line["report"]["content"].update(summary=["\x00"]),
            lambda line: line["evaluation"].update(strengths=["\x00"]),
            lambda line: line.update(legalHold=True, legalHoldReason="court\x00"),
        ],
        ids=[
            "config",
            "config-key",
            "answer",
            "question",
            "report",
            "evaluation",
            "hold-reason",
        ],
    )
    def test_a_nul_character_in_a_session_fails_naming_the_line(self, db, change):
        line = session_line("s-1")
        change(line)

        message = _refused(db, _jsonl(user_line(), line))

        assert message == "line 2: contains a NUL character (\\u0000)"

    def test_a_nul_character_in_an_email_fails_and_creates_no_user(self, db):
        message = _refused(db, _jsonl(user_line("ada@example.com\x00")))

        assert message == "line 1: contains a NUL character (\\u0000)"

    def test_a_nul_character_in_a_resume_title_fails(self, db):
        resume = {**resume_line("r-1"), "title": "CV\x00"}

        message = _refused(db, _jsonl(user_line(), resume))

        assert message == "line 2: contains a NUL character (\\u0000)"

    def test_an_escaped_backslash_before_u0000_is_plain_text(self, db):
        line = session_line("s-1")
        line["answers"][0]["text"] = "\\u0000 is how JSON writes NUL"

        import_jsonl(db, _jsonl(user_line(), line), now=NOW)

        stored = db.get(Answer, "s-1-a1")
        assert stored.text == "\\u0000 is how JSON writes NUL"

    @pytest.mark.parametrize(
        ("field", "change"),
        [
            ("questionCount", lambda line: line.update(questionCount=2**31)),
            (
                "questions[0].position",
                lambda line: line["questions"][0].update(position=2**31),
            ),
        ],
        ids=["question-count", "position"],
    )
    def test_an_integer_beyond_the_column_fails_naming_the_line(
        self, db, field, change
    ):
        line = session_line("s-1")
        change(line)

        message = _refused(db, _jsonl(user_line(), line))

        assert message.startswith(f"line 2: session.{field}: Input should be less")

    def test_a_line_nested_beyond_the_parser_limit_fails(self, db):
        deep = "{" + '"a":{' * 5000 + "}" * 5001
        text = json.dumps(session_line("s-1")).replace(
            '"config": {"categories": ["javascript"]}', f'"config": {deep}'
        )

        message = _refused(db, [json.dumps(user_line()), text])

        assert message.startswith("line 2: not valid JSON")


class TestCollisions:
    def test_a_session_id_of_another_users_session_fails(self, db):
        other, _ = create_user(db, email="bob@example.com", now=NOW)
        db.add(
            InterviewSession(
                id="taken-1",
                user_id=other.id,
                status="CREATED",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        db.commit()

        message = _refused(db, _jsonl(user_line(), session_line("taken-1")))

        assert message == (
            "line 2: session taken-1 exists already and belongs to another user"
        )
        assert db.get(InterviewSession, "taken-1").user_id == other.id

    def test_a_session_id_of_the_same_users_session_is_skipped(self, db):
        lines = _jsonl(user_line(), session_line("s-1"))
        import_jsonl(db, lines, now=NOW)
        db.commit()

        result = import_jsonl(db, lines, now=NOW)

        assert result["sessions_skipped_existing"] == 1
        assert result["sessions_imported"] == 0

    def test_duplicate_session_lines_fail_naming_both(self, db):
        lines = _jsonl(user_line(), session_line("s-1"), session_line("s-1"))

        message = _refused(db, lines)

        assert message == (
            "line 3: session s-1 appears twice in the file (first on line 2)"
        )
