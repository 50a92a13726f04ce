"""Token lifetime: expiry at TOKEN_TTL_DAYS, revocation, rotation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from freezegun import freeze_time
from pydantic import ValidationError
from sqlalchemy import update

from interview_retention.api.app import create_app
from interview_retention.config import Settings
from interview_retention.users.models import User
from interview_retention.users.service import (
    create_user,
    revoke_token,
    rotate_token,
    token_expired,
)
from tests.factories import auth
from tests.sessions.helpers import SESSIONS, assert_error, ok_data

ISSUED = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
TTL = timedelta(days=90)
EXPIRED = "Token expired: ask for a new one"


def _client(settings, engine, cache, **overrides) -> TestClient:
    app = create_app(
        settings.model_copy(update=overrides), engine=engine, report_cache=cache
    )
    return TestClient(app, raise_server_exceptions=False)


def _user(db, *, admin: bool = False, at: datetime | None = ISSUED) -> tuple[User, str]:
    """A user whose token was issued `at` (None: now)."""
    user, token = create_user(
        db, email="ada@example.com", admin=admin, now=at or datetime.now(UTC)
    )
    db.commit()
    return user, token


class TestExpiry:
    def test_a_token_works_until_the_instant_before_its_lifetime_ends(self, client, db):
        _, token = _user(db)

        with freeze_time(ISSUED + TTL - timedelta(microseconds=1)):
            response = client.get(SESSIONS, headers=auth(token))

        assert ok_data(response)["total"] == 0

    def test_a_token_expires_at_the_instant_its_lifetime_ends(self, client, db):
        _, token = _user(db)

        with freeze_time(ISSUED + TTL):
            response = client.get(SESSIONS, headers=auth(token))

        assert_error(response, 401, EXPIRED)
        assert response.headers["www-authenticate"] == "Bearer"

    def test_an_expired_admin_token_is_401_not_403(self, client, db):
        _, token = _user(db, admin=True)

        with freeze_time(ISSUED + TTL + timedelta(days=1)):
            response = client.get("/api/admin/retention/backlog", headers=auth(token))

        assert_error(response, 401, EXPIRED)

    def test_the_lifetime_is_a_setting(self, settings, engine, cache, db):
        _, token = _user(db)
        client = _client(settings, engine, cache, token_ttl_days=7)

        with freeze_time(ISSUED + timedelta(days=7)):
            response = client.get(SESSIONS, headers=auth(token))

        assert_error(response, 401, EXPIRED)

    def test_zero_means_tokens_never_expire(self, settings, engine, cache, db):
        _, token = _user(db, at=datetime(2016, 1, 1, tzinfo=UTC))
        client = _client(settings, engine, cache, token_ttl_days=0)

        response = client.get(SESSIONS, headers=auth(token))

        assert ok_data(response)["total"] == 0

    def test_a_new_token_starts_a_new_lifetime(self, client, db):
        user, old = _user(db)
        later = ISSUED + TTL + timedelta(days=3)
        _, new = rotate_token(db, email=user.email, now=later)
        db.commit()

        with freeze_time(later + TTL - timedelta(seconds=1)):
            fresh = client.get(SESSIONS, headers=auth(new))
            retired = client.get(SESSIONS, headers=auth(old))

        assert ok_data(fresh)["total"] == 0
        assert_error(retired, 401, "Invalid or revoked token")

    def test_a_token_without_an_issue_time_counts_as_expired(self, client, db):
        user, token = _user(db)
        db.execute(update(User).where(User.id == user.id).values(token_created_at=None))
        db.commit()

        response = client.get(SESSIONS, headers=auth(token))

        assert_error(response, 401, EXPIRED)

    def test_expiry_is_judged_on_instants_not_local_dates(self):
        # Issued just before midnight UTC; 90 days on is still before midnight.
        user = User(token_created_at=datetime(2026, 3, 1, 23, 59, tzinfo=UTC))
        end = datetime(2026, 5, 30, 23, 59, tzinfo=UTC)

        assert not token_expired(user, now=end - timedelta(seconds=1), ttl=TTL)
        assert token_expired(user, now=end, ttl=TTL)


class TestRevocation:
    def test_a_revoked_token_is_401_at_once(self, client, db):
        user, token = _user(db, at=None)
        ok_data(client.get(SESSIONS, headers=auth(token)))

        revoke_token(db, email=user.email)
        db.commit()
        response = client.get(SESSIONS, headers=auth(token))

        assert_error(response, 401, "Invalid or revoked token")

    def test_rotating_revokes_the_old_token(self, client, db):
        user, old = _user(db, at=None)

        _, new = rotate_token(db, email=user.email, now=datetime.now(UTC))
        db.commit()

        assert_error(client.get(SESSIONS, headers=auth(old)), 401)
        assert ok_data(client.get(SESSIONS, headers=auth(new)))["total"] == 0


class TestSettings:
    @pytest.mark.parametrize("days", [-1, 3651])
    def test_a_lifetime_out_of_range_is_refused(self, days):
        with pytest.raises(ValidationError, match="token_ttl_days"):
            Settings(_env_file=None, token_ttl_days=days)  # type: ignore[call-arg]

    @pytest.mark.parametrize("limit", ["lots", "20/fortnight", ""])
    def test_a_limit_that_does_not_parse_is_refused(self, limit):
        with pytest.raises(ValidationError, match="AUTH_FAILURE_LIMIT"):
            Settings(_env_file=None, auth_failure_limit=limit)  # type: ignore[call-arg]

    def test_the_defaults(self):
        settings = Settings(_env_file=None)  # type: ignore[call-arg]

        assert settings.token_ttl == timedelta(days=90)
        assert settings.auth_failure_limit == "20/minute"
