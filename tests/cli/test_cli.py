"""The operator's CLI end to end, on a SQLite file: migrate, users, sample and
import, the three jobs, the backlog and legal holds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from freezegun import freeze_time
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from interview_retention.cli.main import app, missing_table
from interview_retention.clock import utcnow
from interview_retention.db.base import Base
from interview_retention.deletion.models import DeletionLogEntry, DeletionNotice
from interview_retention.sessions.models import InterviewSession, Question
from interview_retention.users.models import User
from interview_retention.users.service import user_for_token
from tests.cli.helpers import run, run_json

S = InterviewSession


def _token(result: Result) -> str:
    return result.stdout.strip().splitlines()[-1]


def _due_ids(engine: Engine) -> set[str]:
    now = utcnow()
    with Session(engine) as db:
        return set(
            db.scalars(
                select(S.id).where(
                    S.permanent_delete_at <= now, S.legal_hold.is_(False)
                )
            )
        )


def test_migrate_creates_every_table(runner: CliRunner, cli_db: str, cli_engine):
    result = run(runner, "migrate")

    assert "database at head" in result.stdout
    assert set(Base.metadata.tables) <= set(inspect(cli_engine).get_table_names())


def test_migrate_twice_changes_nothing(runner: CliRunner, migrated: str):
    result = run(runner, "migrate")

    assert "database at head" in result.stdout


class TestUsers:
    def test_create_prints_a_token_that_works(
        self, runner: CliRunner, migrated: str, cli_engine: Engine
    ):
        result = run(
            runner, "users", "create", "--email", "Ada@Example.com", "--name", "Ada"
        )

        token = _token(result)
        with Session(cli_engine) as db:
            user = user_for_token(db, token)
            assert user is not None
            assert (user.email, user.display_name, user.role) == (
                "ada@example.com",
                "Ada",
                "user",
            )

    def test_create_admin(self, runner: CliRunner, migrated: str, cli_engine: Engine):
        result = run(
            runner, "users", "create", "--email", "root@example.com", "--admin"
        )

        with Session(cli_engine) as db:
            assert user_for_token(db, _token(result)).role == "admin"

    def test_duplicate_email_fails_clearly(
        self, runner: CliRunner, migrated: str, cli_engine: Engine
    ):
        run(runner, "users", "create", "--email", "ada@example.com")

        result = run(runner, "users", "create", "--email", "ADA@example.com", code=1)

        assert "A user with that email already exists" in result.stderr
        assert "irt_" not in result.stdout
        with Session(cli_engine) as db:
            assert db.scalar(select(func.count()).select_from(User)) == 1

    def test_invalid_email_fails_clearly(self, runner: CliRunner, migrated: str):
        result = run(runner, "users", "create", "--email", "nobody", code=1)

        assert "A valid email address is required" in result.stderr

    def test_token_rotation_retires_the_old_token(
        self, runner: CliRunner, migrated: str, cli_engine: Engine
    ):
        old = _token(run(runner, "users", "create", "--email", "ada@example.com"))

        new = _token(run(runner, "users", "token", "--email", "ada@example.com"))

        with Session(cli_engine) as db:
            assert user_for_token(db, old) is None
            assert user_for_token(db, new).email == "ada@example.com"

    def test_revoke_retires_the_token_and_issues_none(
        self, runner: CliRunner, migrated: str, cli_engine: Engine
    ):
        old = _token(run(runner, "users", "create", "--email", "ada@example.com"))

        result = run(runner, "users", "revoke", "--email", "ADA@example.com")

        assert "revoked" in result.stdout
        assert "irt_" not in result.stdout
        with Session(cli_engine) as db:
            assert user_for_token(db, old) is None
            user = db.scalar(select(User))
            assert (user.token_hash, user.token_created_at) == (None, None)

    def test_revoke_of_an_unknown_user_fails_clearly(
        self, runner: CliRunner, migrated: str
    ):
        result = run(runner, "users", "revoke", "--email", "nobody@example.com", code=1)

        assert "User not found" in result.stderr


class TestImport:
    def test_sample_then_import(
        self, runner: CliRunner, migrated: str, tmp_path: Path, cli_engine: Engine
    ):
        path = tmp_path / "sample.jsonl"
        written = run(
            runner, "sample", "--out", str(path), "--users", "5", "--sessions", "60"
        )

        summary = run_json(runner, "import", str(path))

        assert "60 sessions" in written.stdout
        assert summary["users_created"] == 5
        assert summary["sessions_imported"] == 60
        with Session(cli_engine) as db:
            assert db.scalar(select(func.count()).select_from(S)) == 60
            assert (
                db.scalar(select(func.count()).select_from(Question))
                == (summary["questions"])
            )

    def test_second_import_skips_every_session(
        self, runner: CliRunner, imported: dict[str, Any], tmp_path: Path
    ):
        summary = run_json(runner, "import", str(tmp_path / "sample.jsonl"))

        assert summary["sessions_imported"] == 0
        assert summary["sessions_skipped_existing"] == imported["sessions_imported"]

    def test_human_readable_summary(
        self, runner: CliRunner, imported: dict[str, Any], tmp_path: Path
    ):
        result = run(runner, "import", str(tmp_path / "sample.jsonl"))

        assert "sessions_skipped_existing: 80" in result.stdout

    def test_bad_line_fails_and_writes_nothing(
        self, runner: CliRunner, migrated: str, tmp_path: Path, cli_engine: Engine
    ):
        path = tmp_path / "bad.jsonl"
        path.write_text(
            '{"type": "user", "email": "ada@example.com"}\n{"type": "interview"}\n',
            encoding="utf-8",
        )

        result = run(runner, "import", str(path), code=1)

        assert "line 2: unknown type 'interview'" in result.stderr
        with Session(cli_engine) as db:
            assert db.scalar(select(func.count()).select_from(User)) == 0

    def test_file_that_is_not_utf8_fails_cleanly(
        self, runner: CliRunner, migrated: str, tmp_path: Path
    ):
        path = tmp_path / "latin1.jsonl"
        path.write_bytes(b'{"type": "user", "email": "j\xe9r\xf4me@example.com"}\n')

        result = run(runner, "import", str(path), code=1)

        assert "line 1: not valid UTF-8" in result.stderr

    def test_missing_file_is_a_usage_error(self, runner: CliRunner, migrated: str):
        result = run(runner, "import", "nowhere.jsonl", code=2)

        assert "nowhere.jsonl" in result.stderr


def test_backlog_reports_counts(
    runner: CliRunner, imported: dict[str, Any], cli_engine: Engine
):
    due = _due_ids(cli_engine)

    backlog = run_json(runner, "backlog")

    assert backlog["dueNow"] == len(due) > 0
    assert backlog["overdue"] > 0
    assert backlog["softDeleted"] > 0
    assert 1 <= backlog["legalHolds"] <= 2
    assert backlog["noticesPending"] == 0


def test_backlog_table(runner: CliRunner, imported: dict[str, Any]):
    result = run(runner, "backlog")

    assert "due now" in result.stdout


def test_purge_removes_what_is_due_and_nothing_else(
    runner: CliRunner, imported: dict[str, Any], cli_engine: Engine
):
    due = _due_ids(cli_engine)
    with Session(cli_engine) as db:
        held = set(db.scalars(select(S.id).where(S.legal_hold.is_(True))))

    result = run_json(runner, "purge", "--batch-size", "7")

    assert result["purged"] == len(due) > 0
    assert result["batches"] >= 2
    with Session(cli_engine) as db:
        remaining = set(db.scalars(select(S.id)))
        tombstones = set(db.scalars(select(DeletionLogEntry.session_id)))
        orphans = db.scalar(
            select(func.count())
            .select_from(Question)
            .where(Question.session_id.in_(due))
        )
    assert not remaining & due
    assert held <= remaining
    assert len(remaining) == imported["sessions_imported"] - len(due)
    assert tombstones == due
    assert orphans == 0
    assert run_json(runner, "purge")["purged"] == 0


def test_deletion_log_lists_what_the_purge_removed(
    runner: CliRunner, imported: dict[str, Any], cli_engine: Engine
):
    due = _due_ids(cli_engine)
    run_json(runner, "purge")

    entries = run_json(runner, "deletion-log", "--limit", "10000")

    assert {e["sessionId"] for e in entries} == due
    assert {e["actor"] for e in entries} == {"system:purge"}
    assert all(e["rowsRemoved"]["interview_sessions"] == 1 for e in entries)
    assert "deletion log" in run(runner, "deletion-log").stdout


def test_deletion_log_refuses_an_unknown_reason(runner: CliRunner, migrated: str):
    result = runner.invoke(app, ["deletion-log", "--reason", "BOGUS"])

    assert result.exit_code == 2
    assert "BOGUS" in result.stderr


def test_retention_then_notices_then_purge_after_the_grace_period(
    runner: CliRunner, imported: dict[str, Any], cli_engine: Engine
):
    now = utcnow()
    with Session(cli_engine) as db:
        covered = set(
            db.scalars(
                select(S.id).where(
                    S.status.in_(("COMPLETED", "EVALUATED")),
                    S.created_at < now - timedelta(days=90),
                    S.permanent_delete_at.is_(None),
                    S.legal_hold.is_(False),
                )
            )
        )

    retention = run_json(runner, "retention")
    notices = run_json(runner, "notices")

    assert retention["queued"] == len(covered) > 0
    assert notices["sent"] == len(covered)
    assert run_json(runner, "retention")["queued"] == 0
    with Session(cli_engine) as db:
        rows = db.execute(
            select(S.id, S.retention_notice_at, S.permanent_delete_at).where(
                S.id.in_(covered)
            )
        ).all()
        sent = db.scalar(
            select(func.count())
            .select_from(DeletionNotice)
            .where(DeletionNotice.status == "SENT")
        )
    assert sent == len(covered)
    assert all(deadline == notice + timedelta(days=7) for _, notice, deadline in rows)

    with freeze_time(now + timedelta(days=7, hours=1)):
        purge = run_json(runner, "purge")

    assert purge["purged"] >= len(covered)
    with Session(cli_engine) as db:
        assert not set(db.scalars(select(S.id).where(S.id.in_(covered))))


class TestHold:
    def test_hold_outlives_the_deadline_and_lifting_it_grants_the_grace_period(
        self, runner: CliRunner, imported: dict[str, Any], cli_engine: Engine
    ):
        now = utcnow()
        with Session(cli_engine) as db:
            session_id, deadline = db.execute(
                select(S.id, S.permanent_delete_at)
                .where(
                    S.status == "DELETED",
                    S.permanent_delete_at > now,
                    S.legal_hold.is_(False),
                )
                .order_by(S.id)
                .limit(1)
            ).one()
        later = deadline + timedelta(days=1)

        held = run(runner, "hold", "set", session_id, "--reason", "Audit 2026-7")
        with freeze_time(later):
            purge = run_json(runner, "purge")

        assert f"hold set on {session_id}" in held.stdout
        assert purge["purged"] > 0
        with Session(cli_engine) as db:
            session = db.get(S, session_id)
            assert session is not None
            assert session.legal_hold
            assert session.legal_hold_reason == "Audit 2026-7"

        with freeze_time(later):
            lifted = run(runner, "hold", "lift", session_id, "--reason", "Closed")
            purge = run_json(runner, "purge")

        assert f"hold lifted on {session_id}" in lifted.stdout
        with Session(cli_engine) as db:
            session = db.get(S, session_id)
            assert session is not None
            assert not session.legal_hold
            assert session.permanent_delete_at == later + timedelta(days=7)

    def test_hold_refused_once_the_deadline_has_passed(
        self, runner: CliRunner, imported: dict[str, Any], cli_engine: Engine
    ):
        session_id = sorted(_due_ids(cli_engine))[0]

        result = run(runner, "hold", "set", session_id, "--reason", "xyz", code=1)

        assert "Session not found" in result.stderr

    def test_hold_on_an_unknown_session_fails(self, runner: CliRunner, migrated: str):
        result = run(runner, "hold", "set", "no-such-id", "--reason", "xyz", code=1)

        assert "Session not found" in result.stderr

    def test_lift_on_an_unknown_session_fails(self, runner: CliRunner, migrated: str):
        result = run(runner, "hold", "lift", "no-such-id", "--reason", "xyz", code=1)

        assert "Session not found" in result.stderr


class TestDatabaseNotMigrated:
    """A fresh clone's first command, before `migrate`: one line, exit code 2."""

    def test_a_command_on_an_empty_sqlite_file_says_to_migrate(
        self, runner: CliRunner, cli_db: str
    ):
        result = run(runner, "backlog", code=2)

        assert result.stderr.strip() == (
            "error: database is not migrated: run interview-retention migrate"
        )
        assert "Traceback" not in result.output

    def test_postgresqls_undefined_table_is_recognised(self, pg_engine: Engine):
        with pg_engine.connect() as conn, pytest.raises(ProgrammingError) as caught:
            conn.execute(text("SELECT 1 FROM no_table_of_this_name"))
        assert missing_table(caught.value)

    def test_other_database_errors_are_not_taken_for_it(self, pg_engine: Engine):
        with pg_engine.connect() as conn, pytest.raises(ProgrammingError) as caught:
            conn.execute(text("SELECT no_column_of_this_name FROM users"))
        assert not missing_table(caught.value)
