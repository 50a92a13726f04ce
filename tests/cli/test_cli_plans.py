"""The CLI's dry runs, plan runs, limits, progress bar, filters, holds and --json."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from interview_retention.clock import utcnow
from interview_retention.deletion.models import DeletionLogEntry, DeletionPlan
from interview_retention.sessions.models import InterviewSession
from interview_retention.users.models import User
from tests.cli.helpers import run, run_json
from tests.deletion.support import make_soft_deleted, table_snapshot

S = InterviewSession


def due_ids(engine: Engine, now: datetime | None = None) -> list[str]:
    """What the purge would take, oldest deadline first."""
    now = now or utcnow()
    with Session(engine) as db:
        return list(
            db.scalars(
                select(S.id)
                .where(S.permanent_delete_at <= now, S.legal_hold.is_(False))
                .order_by(S.permanent_delete_at, S.id)
            )
        )


def remaining(engine: Engine) -> set[str]:
    with Session(engine) as db:
        return set(db.scalars(select(S.id)))


def snapshot(engine: Engine) -> dict[str, list[str]]:
    with Session(engine) as db:
        return table_snapshot(db, skip=("deletion_plans",))


class TestDryRun:
    @pytest.mark.parametrize("job", ["purge", "retention", "notices"])
    def test_changes_nothing(
        self, runner: CliRunner, imported: dict[str, Any], cli_engine: Engine, job: str
    ):
        before = snapshot(cli_engine)

        result = run(runner, job, "--dry-run")

        assert snapshot(cli_engine) == before
        assert f"{job} plan (dry run)" in result.stdout
        assert "nothing changed" in result.stdout
        with Session(cli_engine) as db:
            assert db.scalar(select(func.count()).select_from(DeletionPlan)) == 1

    def test_json_lists_the_due_set(
        self, runner: CliRunner, imported: dict[str, Any], cli_engine: Engine
    ):
        due = due_ids(cli_engine)

        plan = run_json(runner, "purge", "--dry-run")

        assert plan["sessionIds"] == due
        assert plan["count"] == len(due) > 0
        assert (
            plan["digest"]
            == hashlib.sha256("\n".join(sorted(due)).encode()).hexdigest()
        )
        assert plan["state"] == "READY"

    def test_the_table_shows_count_oldest_deadline_and_digest(
        self, runner: CliRunner, imported: dict[str, Any]
    ):
        plan = run_json(runner, "purge", "--dry-run", "--limit", "4")

        table = run(runner, "plan", plan["planId"]).stdout

        assert plan["planId"] in table
        assert "4 (truncated)" in table
        assert plan["oldestDeadline"][:19] in table
        # The digest may wrap on a narrow terminal, but is never cut.
        assert plan["digest"] in "".join(
            part.strip("│ ") for part in table.splitlines()
        ).replace(" ", "")


class TestPlanRun:
    def test_acts_on_the_plans_set_only(
        self, runner: CliRunner, imported: dict[str, Any], cli_engine: Engine
    ):
        due = due_ids(cli_engine)
        plan = run_json(runner, "purge", "--dry-run", "--limit", "5")

        result = run_json(
            runner, "purge", "--plan", plan["planId"], "--batch-size", "2"
        )

        assert result["purged"] == 5
        assert result["planned"] == 5
        assert result["skipped"] == 0
        assert result["batches"] == 3
        assert not remaining(cli_engine) & set(due[:5])
        assert set(due[5:]) <= remaining(cli_engine)
        with Session(cli_engine) as db:
            logged = set(db.scalars(select(DeletionLogEntry.session_id)))
        assert logged == set(due[:5])

    def test_a_plan_runs_once(self, runner: CliRunner, imported: dict[str, Any]):
        plan = run_json(runner, "purge", "--dry-run")
        first = run_json(runner, "purge", "--plan", plan["planId"])

        again = run(runner, "purge", "--plan", plan["planId"], code=3)
        as_json = run_json(runner, "purge", "--plan", plan["planId"], code=3)

        assert "a plan runs once" in again.stderr
        assert again.stdout == ""
        assert as_json["refused"] is True
        assert as_json["executedRunId"] == first["run_id"]

    def test_refused_with_the_drift_after_a_hold(
        self, runner: CliRunner, imported: dict[str, Any], cli_engine: Engine
    ):
        plan = run_json(runner, "retention", "--dry-run")
        held = plan["sessionIds"][0]
        run(runner, "hold", "set", held, "--reason", "Audit 2026-7")
        before = snapshot(cli_engine)

        table = run(runner, "retention", "--plan", plan["planId"], code=3)
        drift = run_json(runner, "retention", "--plan", plan["planId"], code=3)

        assert snapshot(cli_engine) == before
        assert "drifted" in table.stderr
        assert held in table.stderr
        assert drift["removed"] == [{"sessionId": held, "why": "legal_hold"}]
        assert drift["removedCount"] == 1
        assert drift["addedCount"] == 0

    def test_refused_when_a_session_fell_due_since(
        self, runner: CliRunner, imported: dict[str, Any], cli_engine: Engine
    ):
        now = utcnow()
        plan = run_json(runner, "purge", "--dry-run")
        with Session(cli_engine, expire_on_commit=False) as db:
            owner = db.scalar(select(User).limit(1))
            soon = make_soft_deleted(db, owner, deadline=now + timedelta(minutes=5))

        with freeze_time(now + timedelta(minutes=10)):
            drift = run_json(runner, "purge", "--plan", plan["planId"], code=3)

        assert soon.id in drift["added"]
        assert drift["removedCount"] == 0
        assert soon.id in remaining(cli_engine)

    def test_plan_check_shows_the_drift(
        self, runner: CliRunner, imported: dict[str, Any]
    ):
        plan = run_json(runner, "retention", "--dry-run")
        run(runner, "hold", "set", plan["sessionIds"][0], "--reason", "Audit 2026-7")

        shown = run_json(runner, "plan", plan["planId"], "--check")

        assert shown["drift"]["removedCount"] == 1
        assert shown["state"] == "READY"

    @pytest.mark.parametrize(
        "args",
        [
            ("--dry-run", "--plan", "p-1"),
            ("--plan", "p-1", "--limit", "3"),
            ("--batch-size", "0"),
            ("--batch-size", "10001"),
            ("--limit", "0"),
        ],
        ids=[
            "dry-run-and-plan",
            "plan-and-limit",
            "batch-zero",
            "batch-big",
            "limit-0",
        ],
    )
    def test_conflicting_or_bad_options_are_usage_errors(
        self, runner: CliRunner, imported: dict[str, Any], cli_engine: Engine, args
    ):
        before = snapshot(cli_engine)

        run(runner, "purge", *args, code=2)

        assert snapshot(cli_engine) == before

    def test_an_unknown_plan_fails(self, runner: CliRunner, migrated: str):
        result = run(runner, "purge", "--plan", "no-such-plan", code=1)

        assert "Plan not found" in result.stderr


class TestRuns:
    def test_limit_stops_the_purge(
        self, runner: CliRunner, imported: dict[str, Any], cli_engine: Engine
    ):
        due = due_ids(cli_engine)

        result = run_json(runner, "purge", "--limit", "3", "--batch-size", "2")

        assert result["purged"] == 3
        assert not remaining(cli_engine) & set(due[:3])
        assert set(due[3:]) <= remaining(cli_engine)

    def test_a_run_shows_a_progress_bar_on_stderr(
        self, runner: CliRunner, imported: dict[str, Any], cli_engine: Engine
    ):
        due = len(due_ids(cli_engine))

        result = run(runner, "purge", "--batch-size", "7")

        assert f"{due}/{due}" in result.stderr
        assert "purged" in result.stdout

    def test_json_prints_only_json(self, runner: CliRunner, imported: dict[str, Any]):
        result = run(runner, "purge", "--batch-size", "7", "--json")

        assert json.loads(result.stdout)["purged"] > 0
        assert "━" not in result.stdout + result.stderr


class TestDeletionLog:
    @pytest.fixture
    def purged(self, runner: CliRunner, imported: dict[str, Any], cli_engine: Engine):
        run_json(runner, "purge")
        with Session(cli_engine) as db:
            return list(db.scalars(select(DeletionLogEntry)))

    def test_filters_by_user_and_reason(self, runner: CliRunner, purged):
        user = purged[0].user_id

        entries = run_json(
            runner,
            "deletion-log",
            "--user",
            user,
            "--reason",
            "user",
            "--limit",
            "1000",
        )

        assert {e["sessionId"] for e in entries} == {
            t.session_id for t in purged if t.user_id == user and t.reason == "USER"
        }

    def test_filters_by_time(self, runner: CliRunner, purged):
        at = purged[0].purged_at

        since = run_json(runner, "deletion-log", "--since", at.isoformat())
        until = run_json(runner, "deletion-log", "--until", at.isoformat())
        naive = run(
            runner,
            "deletion-log",
            "--since",
            at.astimezone(UTC).replace(tzinfo=None).isoformat(),
            code=2,
        )

        assert len(since) == min(len(purged), 20)
        assert until == []
        # Like the API, the CLI does not guess the zone of an instant without one.
        assert "needs a UTC offset" in naive.stderr

    def test_the_table_names_user_and_reason(self, runner: CliRunner, purged):
        result = run(runner, "deletion-log", "--limit", "3")

        assert f"newest 3 of {len(purged)}" in result.stdout
        assert "USER" in result.stdout or "RETENTION" in result.stdout

    def test_a_bad_instant_is_a_usage_error(self, runner: CliRunner, migrated: str):
        result = run(runner, "deletion-log", "--since", "yesterday", code=2)

        assert "--since" in result.stderr


class TestHolds:
    def test_set_lift_and_history(
        self, runner: CliRunner, imported: dict[str, Any], cli_engine: Engine
    ):
        with Session(cli_engine) as db:
            session_id = db.scalar(
                select(S.id).where(
                    S.legal_hold.is_(False), S.permanent_delete_at.is_(None)
                )
            )

        held = run_json(runner, "hold", "set", session_id, "--reason", "Audit 2026-7")
        lifted = run_json(
            runner, "hold", "lift", session_id, "--reason", "Audit closed"
        )
        events = run_json(runner, "hold", "history", session_id)
        table = run(runner, "hold", "history", session_id)

        assert held["legalHold"] is True
        assert lifted["legalHold"] is False
        assert [(e["action"], e["reason"], e["actor"]) for e in events] == [
            ("SET", "Audit 2026-7", "cli"),
            ("LIFT", "Audit closed", "cli"),
        ]
        assert "Audit closed" in table.stdout

    def test_lift_needs_a_reason(self, runner: CliRunner, migrated: str):
        result = run(runner, "hold", "lift", "some-id", code=2)

        assert "--reason" in result.stderr

    def test_a_reason_too_short_is_refused(self, runner: CliRunner, migrated: str):
        result = run(runner, "hold", "set", "some-id", "--reason", "  x ", code=2)

        assert "3 to 500 characters" in result.stderr

    def test_history_of_a_session_never_held(self, runner: CliRunner, migrated: str):
        assert run_json(runner, "hold", "history", "no-such-id") == []
        assert (
            "no hold was ever set"
            in run(runner, "hold", "history", "no-such-id", code=1).stderr
        )


class TestBacklog:
    def test_shows_each_jobs_heartbeat(
        self, runner: CliRunner, imported: dict[str, Any]
    ):
        run_json(runner, "purge")

        status = run_json(runner, "backlog")
        table = run(runner, "backlog").stdout

        jobs = {job["job"]: job for job in status["jobs"]}
        assert jobs["purge"]["lastSuccessAt"] is not None
        assert jobs["retention"]["lastStartedAt"] is None
        assert status["dueNow"] == 0
        assert "never ran" in table
        assert "ok" in table
