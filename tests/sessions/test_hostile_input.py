"""Hostile input: an error envelope and nothing changed, never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from interview_retention.sessions.models import InterviewSession
from interview_retention.users.models import Resume
from tests.factories import auth, make_session, make_user
from tests.sessions.helpers import SESSIONS, assert_error, ok_data, reload

# Instants with an offset that parse, but whose UTC instant is before year 1 or
# after year 9999.
OUTSIDE_UTC = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-12:00",
    "9999-12-31T23:59:59-00:01",
]
OUTSIDE_UTC_IDS = ["year-1-east", "year-1-one-hour", "year-9999-west", "one-minute"]


def _sessions(db) -> int:
    count = db.scalar(select(func.count()).select_from(InterviewSession))
    db.rollback()
    return count


class TestListFilters:
    @pytest.mark.parametrize("value", OUTSIDE_UTC, ids=OUTSIDE_UTC_IDS)
    @pytest.mark.parametrize("name", ["createdBefore", "createdAfter"])
    def test_an_instant_outside_utc_is_422(self, client, db, name, value):
        _, token = make_user(db)

        response = client.get(SESSIONS, params={name: value}, headers=auth(token))

        message = assert_error(response, 422)
        assert name in message

    @pytest.mark.parametrize(
        "value", ["0001-01-01T00:00:00-12:00", "9999-12-31T23:59:59+14:00"]
    )
    def test_the_first_and_last_day_of_the_calendar_are_accepted(
        self, client, db, value
    ):
        user, token = make_user(db)
        make_session(db, user, children=False)

        response = client.get(
            SESSIONS,
            params={"createdBefore": value, "createdAfter": value},
            headers=auth(token),
        )

        assert ok_data(response)["total"] == 0


class TestDeletionLogFilters:
    @pytest.mark.parametrize("value", OUTSIDE_UTC, ids=OUTSIDE_UTC_IDS)
    @pytest.mark.parametrize("name", ["since", "until"])
    def test_an_instant_outside_utc_is_422(self, client, db, name, value):
        _, token = make_user(db, admin=True)

        response = client.get(
            "/api/admin/deletion-log", params={name: value}, headers=auth(token)
        )

        message = assert_error(response, 422)
        assert name in message


class TestCreateBody:
    @pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
    def test_a_number_json_does_not_have_is_422_and_stores_nothing(
        self, client, db, constant
    ):
        _, token = make_user(db)
        body = '{"questionCount": 3, "config": {"weight": ' + constant + "}}"

        response = client.post(SESSIONS, content=body, headers=auth(token))

        assert_error(response, 422, "Invalid request: the body is not valid JSON")
        assert _sessions(db) == 0

    @pytest.mark.parametrize(
        "config",
        ['{"note": "\\ud800"}', '{"\\udfff": 1}', '{"tags": ["ok", "\\ud83d"]}'],
        ids=["value", "key", "in-a-list"],
    )
    def test_a_lone_surrogate_is_422_and_stores_nothing(self, client, db, config):
        _, token = make_user(db)
        body = '{"questionCount": 3, "config": ' + config + "}"

        response = client.post(SESSIONS, content=body, headers=auth(token))

        message = assert_error(response, 422)
        assert "surrogate" in message
        assert _sessions(db) == 0

    def test_a_surrogate_pair_is_text_and_accepted(self, client, db):
        _, token = make_user(db)
        body = '{"questionCount": 3, "config": {"mood": "\\ud83d\\ude00"}}'

        response = client.post(SESSIONS, content=body, headers=auth(token))

        assert ok_data(response)["config"] == {"mood": "\N{GRINNING FACE}"}

    @pytest.mark.parametrize(
        "categories",
        [[["javascript"]], [{"name": "css"}], [None], [1]],
        ids=["list", "object", "null", "number"],
    )
    def test_categories_that_are_not_names_are_422_and_store_nothing(
        self, client, db, categories
    ):
        _, token = make_user(db)
        body = {"questionCount": 3, "config": {"categories": categories}}

        response = client.post(SESSIONS, json=body, headers=auth(token))

        message = assert_error(response, 422)
        assert message.startswith("config.categories must be a list of")
        assert _sessions(db) == 0


class TestLegalHoldBody:
    def test_a_lone_surrogate_in_the_reason_is_422_and_holds_nothing(self, client, db):
        user, _ = make_user(db)
        _, admin_token = make_user(db, admin=True)
        session = make_session(db, user, children=False)

        response = client.put(
            f"/api/admin/sessions/{session.id}/legal-hold",
            content='{"reason": "court order \\ud800"}',
            headers=auth(admin_token),
        )

        assert_error(response, 422)
        assert reload(db, session.id).legal_hold is False


class TestDatabaseErrors:
    def test_a_refused_statement_names_no_row_values(self, db):
        db.add(Resume(user_id="no-such-user", title="ada@example.com"))

        with pytest.raises(IntegrityError) as refused:
            db.flush()

        # This message is what the server, Celery and the CLI log on a failure.
        assert "ada@example.com" not in str(refused.value)
