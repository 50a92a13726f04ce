"""A server, and a database, whose local time zone is not UTC, across a clock change.

The process runs with `TZ` set to a zone with daylight saving (and, for
PostgreSQL, the connection's TimeZone too). Instants must still be stored and
answered in UTC, and a soft delete made just before a change must still end
exactly 30 times 24 hours later, not 30 local days.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from freezegun import freeze_time
from sqlalchemy import text
from sqlalchemy.orm import Session

from interview_retention.api.app import create_app
from interview_retention.db.engine import create_db_engine
from tests.factories import auth, make_session, make_user
from tests.sessions.helpers import SESSIONS, ok_data, path

# Just before each 2026 change in Berlin (01:00 UTC on 29 March and 25 October),
# and in Lord Howe, whose clocks move by half an hour (15:00 UTC on 4 October).
CHANGES = [
    ("Europe/Berlin", datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2026, 10, 3, 14, 45, tzinfo=UTC)),
]
CHANGE_IDS = ["berlin-spring", "berlin-autumn", "lord-howe-half-hour"]


@pytest.fixture
def local_zone(request) -> Iterator[str]:
    """Set the process's local time zone for the test, and put it back after."""
    zone = request.param
    saved = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    yield zone
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


def _utc_text(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("local_zone", "moment"), CHANGES, ids=CHANGE_IDS, indirect=["local_zone"]
)
def test_a_soft_delete_across_a_change_is_stored_and_answered_in_utc(
    client, db, engine, backend, local_zone, moment
):
    # The zone really is in force: a day either side of the change has two
    # different local offsets.
    before = time.localtime((moment - timedelta(days=1)).timestamp()).tm_gmtoff
    after = time.localtime((moment + timedelta(days=1)).timestamp()).tm_gmtoff
    assert before != after
    with freeze_time(moment - timedelta(days=1)):
        user, token = make_user(db)
    session = make_session(db, user, created_at=moment - timedelta(days=2))

    with freeze_time(moment):
        response = client.patch(
            path(session.id), json={"status": "DELETED"}, headers=auth(token)
        )

    data = ok_data(response)
    deadline = moment + timedelta(days=30)
    assert data["deletedAt"] == _utc_text(moment)
    assert data["permanentDeleteAt"] == _utc_text(deadline)
    assert _stored_epoch(engine, backend, session.id) == deadline.timestamp()


def _stored_epoch(engine, backend: str, session_id: str) -> float:
    """The stored deadline as seconds since 1970, read without the models."""
    if backend == "postgresql":
        sql = "SELECT extract(epoch FROM permanent_delete_at) FROM interview_sessions"
    else:
        # SQLite keeps the UTC wall time as text; read it as UTC.
        sql = "SELECT strftime('%s', permanent_delete_at) FROM interview_sessions"
    with engine.connect() as conn:
        value = conn.execute(text(sql + " WHERE id = :id"), {"id": session_id})
        return float(value.scalar_one())


@pytest.mark.parametrize("local_zone", ["Europe/Berlin"], indirect=True)
def test_a_postgresql_session_in_a_local_zone_changes_nothing(
    pg_url, pg_engine, pg_settings, cache, local_zone
):
    # pg_engine is here for its teardown, which empties the tables.
    # The database connection itself reads and writes in Berlin time.
    engine = create_db_engine(
        pg_url, connect_args={"options": "-c timezone=Europe/Berlin"}
    )
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW timezone")).scalar_one() == "Europe/Berlin"
        app = create_app(pg_settings, engine=engine, report_cache=cache)
        client = TestClient(app, raise_server_exceptions=False)
        moment = CHANGES[0][1]
        with Session(engine, expire_on_commit=False) as db:
            with freeze_time(moment - timedelta(days=1)):
                user, token = make_user(db)
            session = make_session(db, user, created_at=moment - timedelta(hours=1))

        with freeze_time(moment):
            deleted = ok_data(
                client.patch(
                    path(session.id), json={"status": "DELETED"}, headers=auth(token)
                )
            )
        with freeze_time(moment + timedelta(days=30) - timedelta(microseconds=1)):
            listed = ok_data(
                client.get(
                    SESSIONS,
                    params={
                        "status": "DELETED",
                        "createdAfter": "2026-03-28T23:00:00Z",
                    },
                    headers=auth(token),
                )
            )
        with freeze_time(moment + timedelta(days=30)):
            gone = client.get(path(session.id), headers=auth(token))

        assert deleted["permanentDeleteAt"] == _utc_text(moment + timedelta(days=30))
        assert [item["sessionId"] for item in listed["items"]] == [session.id]
        assert listed["items"][0]["createdAt"] == _utc_text(moment - timedelta(hours=1))
        assert gone.status_code == 404
    finally:
        engine.dispose()
