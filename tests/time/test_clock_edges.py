"""Clock edges: a deadline exactly now, leap days, far dates, naive client times.

The contract: a session is gone from the instant its `permanentDeleteAt` is
reached (`now >= permanentDeleteAt`), and a period of n days is n times 24 hours
between two instants, whatever the calendar does in between.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from pydantic import ValidationError

from interview_retention.config import MAX_PERIOD_DAYS, Settings
from interview_retention.deletion import jobs
from interview_retention.deletion.channels import LogChannel
from interview_retention.sessions.models import InterviewSession
from interview_retention.users.service import create_user, token_expired
from tests.factories import auth, make_session, make_user
from tests.routes import served_operations
from tests.sessions.helpers import SESSIONS, assert_error, ok_data, path, reload
from tests.snapshot import changed_tables, table_digests

MICROSECOND = timedelta(microseconds=1)
# A deadline with microseconds, so that truncation anywhere would show.
DEADLINE = datetime(2026, 3, 31, 12, 0, 0, 123456, tzinfo=UTC)
ON_A_SESSION = [
    op
    for op in served_operations()
    if op.path.startswith("/api/interview/sessions/{sessionId}")
]
BODIES = {"PATCH": {"status": "COMPLETED"}}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _soft_deleted(db, user, deadline: datetime = DEADLINE) -> InterviewSession:
    return make_session(
        db,
        user,
        status="DELETED",
        status_before_deletion="COMPLETED",
        deleted_at=deadline - timedelta(days=30),
        permanent_delete_at=deadline,
        deletion_reason="USER",
        created_at=deadline - timedelta(days=40),
    )


def _run(job: str, factory, settings, cache, now: datetime) -> dict:
    body = jobs.body_of(job, cache=cache, channel=LogChannel())
    return jobs.run_job(job, body, factory=factory, settings=settings, now=now)


class TestDeadlineExactlyNow:
    def test_at_the_deadline_every_operation_answers_404_and_changes_nothing(
        self, client, db, engine
    ):
        user, token = make_user(db)
        _, admin = make_user(db, admin=True)
        session = _soft_deleted(db, user)
        before = table_digests(engine)

        with freeze_time(DEADLINE):
            answers = {
                op.label: client.request(
                    op.method,
                    op.url(sessionId=session.id),
                    json=BODIES.get(op.method),
                    headers=auth(token),
                )
                for op in ON_A_SESSION
            }
            listed = client.get(
                SESSIONS, params={"status": "DELETED"}, headers=auth(token)
            )
            hold = client.put(
                f"/api/admin/sessions/{session.id}/legal-hold",
                json={"reason": "Case 2026-17"},
                headers=auth(admin),
            )
            backlog = client.get("/api/admin/retention/backlog", headers=auth(admin))

        for label, response in answers.items():
            assert (response.status_code, response.json()["message"]) == (
                404,
                "Session not found",
            ), label
        assert ok_data(listed)["total"] == 0
        assert_error(hold, 404, "Session not found")
        assert ok_data(backlog)["dueNow"] == 1
        assert changed_tables(before, table_digests(engine)) == []

    def test_a_microsecond_before_it_is_there_and_can_be_restored(self, client, db):
        user, token = make_user(db)
        session = _soft_deleted(db, user)

        with freeze_time(DEADLINE - MICROSECOND):
            shown = client.get(path(session.id), headers=auth(token))
            listed = client.get(
                SESSIONS, params={"status": "DELETED"}, headers=auth(token)
            )
            restored = client.post(path(session.id, "/restore"), headers=auth(token))

        assert ok_data(shown)["permanentDeleteAt"] == "2026-03-31T12:00:00.123456Z"
        assert ok_data(listed)["total"] == 1
        assert ok_data(restored)["status"] == "COMPLETED"

    def test_the_purge_takes_it_at_the_deadline_and_not_a_microsecond_before(
        self, db, factory, settings, cache
    ):
        user, _ = make_user(db)
        session = _soft_deleted(db, user)

        early = _run("purge", factory, settings, cache, DEADLINE - MICROSECOND)
        still_there = reload(db, session.id) is not None
        on_time = _run("purge", factory, settings, cache, DEADLINE)

        assert (early["purged"], still_there) == (0, True)
        assert on_time["purged"] == 1
        assert reload(db, session.id) is None

    def test_the_retention_rule_covers_a_session_only_once_strictly_older(
        self, db, factory, settings, cache
    ):
        user, _ = make_user(db)
        created = datetime(2026, 1, 1, 9, 0, 0, 654321, tzinfo=UTC)
        make_session(db, user, created_at=created)
        boundary = created + settings.retention_period

        at_boundary = _run("retention", factory, settings, cache, boundary)
        after = _run("retention", factory, settings, cache, boundary + MICROSECOND)

        assert at_boundary["queued"] == 0
        assert after["queued"] == 1

    def test_a_noticed_session_is_gone_exactly_grace_days_after_the_send(
        self, client, db, factory, settings, cache
    ):
        user, token = make_user(db)
        session = make_session(db, user, created_at=DEADLINE - timedelta(days=200))
        sent_at = DEADLINE
        _run("retention", factory, settings, cache, sent_at)
        with freeze_time(sent_at):
            _run("notices", factory, settings, cache, sent_at)
        deadline = reload(db, session.id).permanent_delete_at

        with freeze_time(deadline - MICROSECOND):
            during_grace = client.get(path(session.id), headers=auth(token))
        with freeze_time(deadline):
            after_grace = client.get(path(session.id), headers=auth(token))

        assert deadline == sent_at + timedelta(days=7)
        assert ok_data(during_grace)["permanentDeleteAt"] == _iso(deadline)
        assert_error(after_grace, 404, "Session not found")


class TestLeapDay:
    @pytest.mark.parametrize(
        ("deleted_at", "deadline"),
        [
            ("2028-02-29T12:00:00Z", "2028-03-30T12:00:00Z"),
            ("2028-01-30T12:00:00Z", "2028-02-29T12:00:00Z"),
            ("2027-02-28T12:00:00Z", "2027-03-30T12:00:00Z"),
            ("2028-12-31T23:59:59.999999Z", "2029-01-30T23:59:59.999999Z"),
        ],
        ids=["on-feb-29", "onto-feb-29", "no-feb-29", "over-new-year"],
    )
    def test_a_soft_delete_gives_thirty_days_of_24_hours(
        self, client, db, deleted_at, deadline
    ):
        moment = datetime.fromisoformat(deleted_at)
        with freeze_time(moment - timedelta(days=1)):
            # Issued then, so that the token has not expired by the deadline.
            user, token = make_user(db)
        session = make_session(db, user, created_at=moment - timedelta(days=1))

        with freeze_time(moment):
            response = client.patch(
                path(session.id), json={"status": "DELETED"}, headers=auth(token)
            )
        with freeze_time(datetime.fromisoformat(deadline)):
            gone = client.get(path(session.id), headers=auth(token))

        data = ok_data(response)
        assert (data["deletedAt"], data["permanentDeleteAt"]) == (deleted_at, deadline)
        assert_error(gone, 404)

    def test_a_session_created_on_feb_29_is_covered_90_days_later(
        self, db, factory, settings, cache
    ):
        user, _ = make_user(db)
        make_session(db, user, created_at=datetime(2028, 2, 29, 8, 0, tzinfo=UTC))
        ninety_days = datetime(2028, 5, 29, 8, 0, tzinfo=UTC)

        at = _run("retention", factory, settings, cache, ninety_days)
        after = _run("retention", factory, settings, cache, ninety_days + MICROSECOND)

        assert (at["queued"], after["queued"]) == (0, 1)

    def test_a_grace_period_over_feb_29_is_seven_days(
        self, db, factory, settings, cache
    ):
        user, _ = make_user(db)
        session = make_session(db, user, created_at=datetime(2027, 6, 1, tzinfo=UTC))
        sent_at = datetime(2028, 2, 25, 12, 0, tzinfo=UTC)
        _run("retention", factory, settings, cache, sent_at)

        with freeze_time(sent_at):
            _run("notices", factory, settings, cache, sent_at)

        deadline = reload(db, session.id).permanent_delete_at
        assert deadline == datetime(2028, 3, 3, 12, 0, tzinfo=UTC)

    def test_a_token_issued_on_feb_29_lives_its_days_not_a_calendar_year(self, db):
        user, _ = create_user(
            db, email="leap@example.com", now=datetime(2028, 2, 29, 9, 0, tzinfo=UTC)
        )
        ttl = timedelta(days=365)
        end = datetime(2029, 2, 28, 9, 0, tzinfo=UTC)

        assert not token_expired(user, now=end - MICROSECOND, ttl=ttl)
        assert token_expired(user, now=end, ttl=ttl)


class TestNaiveClientTimes:
    def test_the_soft_delete_bodys_own_times_are_ignored_naive_or_not(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user, status="COMPLETED")
        now = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
        body = {
            "status": "DELETED",
            "deletedAt": "2020-01-01T00:00:00",
            "permanentDeleteAt": "2020-01-02T00:00:00",
        }

        with freeze_time(now):
            response = client.patch(path(session.id), json=body, headers=auth(token))

        data = ok_data(response)
        assert data["deletedAt"] == "2026-07-01T10:00:00Z"
        assert data["permanentDeleteAt"] == "2026-07-31T10:00:00Z"

    @pytest.mark.parametrize(
        ("url", "name"),
        [(SESSIONS, "createdBefore"), ("/api/admin/deletion-log", "since")],
    )
    def test_a_naive_filter_is_refused_with_what_to_send(self, client, db, url, name):
        _, token = make_user(db, admin=True)

        response = client.get(
            url, params={name: "2026-03-29T02:30:00"}, headers=auth(token)
        )

        message = assert_error(response, 422)
        assert message == (
            f"Invalid request: query.{name}: needs a UTC offset,"
            " as in 2026-03-01T12:00:00Z"
        )


class TestFarDates:
    @pytest.mark.parametrize("name", ["recovery_days", "retention_days", "grace_days"])
    def test_a_period_that_would_overflow_a_deadline_is_refused(self, name):
        with pytest.raises(ValidationError, match=name):
            Settings(_env_file=None, **{name: 3_000_000})  # type: ignore[arg-type]

    def test_the_longest_periods_still_give_a_deadline(
        self, client, db, settings, engine, cache
    ):
        from fastapi.testclient import TestClient

        from interview_retention.api.app import create_app

        longest = Settings(
            **{
                **settings.model_dump(),
                "recovery_days": MAX_PERIOD_DAYS,
                "retention_days": MAX_PERIOD_DAYS,
                "grace_days": MAX_PERIOD_DAYS,
            },
            _env_file=None,  # type: ignore[call-arg]
        )
        app = create_app(longest, engine=engine, report_cache=cache)
        user, token = make_user(db)
        session = make_session(db, user)
        now = datetime(2026, 3, 1, tzinfo=UTC)

        with freeze_time(now):
            response = TestClient(app).patch(
                path(session.id), json={"status": "DELETED"}, headers=auth(token)
            )

        assert ok_data(response)["permanentDeleteAt"] == _iso(
            now + timedelta(days=MAX_PERIOD_DAYS)
        )

    def test_sessions_created_in_year_1_are_covered_by_the_rule(
        self, db, factory, settings, cache
    ):
        user, _ = make_user(db)
        make_session(db, user, created_at=datetime(1, 1, 1, tzinfo=UTC))

        result = _run("retention", factory, settings, cache, DEADLINE)

        assert result["queued"] == 1
