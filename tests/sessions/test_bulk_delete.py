"""`POST /api/interview/sessions/bulk-delete`: a result per id and the counts, as the
seed page's bulk client computes them, each id deleted or not on its own."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy.exc import OperationalError

from interview_retention.deletion import service as deletion
from tests.deletion.support import make_soft_deleted
from tests.factories import auth, make_session, make_user
from tests.sessions.helpers import (
    SESSIONS,
    T0,
    assert_error,
    ok_data,
    path,
    rows_of,
    tombstones,
)

BULK = f"{SESSIONS}/bulk-delete"


@pytest.fixture
def owner(db):
    user, token = make_user(db)
    return user, auth(token)


def bulk(client, headers, ids):
    return client.post(BULK, json={"ids": ids}, headers=headers)


def results(data) -> dict[str, tuple[str, str | None]]:
    return {r["sessionId"]: (r["result"], r["reason"]) for r in data["results"]}


def test_a_result_per_id_and_the_counts(client, db, owner):
    user, headers = owner
    stranger, _ = make_user(db)
    mine = [make_session(db, user) for _ in range(2)]
    held = make_session(db, user, legal_hold=True, legal_hold_at=T0)
    theirs = make_session(db, stranger)
    unknown = str(uuid.uuid4())
    ids = [mine[0].id, unknown, held.id, theirs.id, mine[1].id, "not-a-uuid"]

    response = bulk(client, headers, ids)

    data = ok_data(response)
    assert [r["sessionId"] for r in data["results"]] == ids
    assert results(data) == {
        mine[0].id: ("deleted", None),
        unknown: ("not_found", None),
        held.id: ("failed", "Session is under legal hold and cannot be deleted"),
        theirs.id: ("not_found", None),
        mine[1].id: ("deleted", None),
        "not-a-uuid": ("not_found", None),
    }
    assert {k: data[k] for k in ("requested", "deleted", "notFound", "failed")} == {
        "requested": 6,
        "deleted": 2,
        "notFound": 3,
        "failed": 1,
    }
    # The seed's clients treat a 404 on delete as the session gone: a success.
    assert data["succeeded"] == 5
    for session in mine:
        assert rows_of(db, session.id)["interview_sessions"] == 0
    assert rows_of(db, held.id)["interview_sessions"] == 1
    assert rows_of(db, theirs.id)["questions"] == 3
    assert {t.session_id for t in tombstones(db)} == {s.id for s in mine}
    assert {t.actor for t in tombstones(db)} == {f"user:{user.id}"}


def test_a_repeated_id_is_deleted_once(client, db, owner):
    user, headers = owner
    session = make_session(db, user)

    data = ok_data(bulk(client, headers, [session.id, session.id, session.id]))

    assert data["requested"] == 1
    assert results(data) == {session.id: ("deleted", None)}
    assert len(tombstones(db)) == 1


def test_sessions_gone_for_the_api_are_not_found(client, db, owner):
    user, headers = owner
    past = make_soft_deleted(db, user, deadline=T0)
    inside = make_soft_deleted(db, user, deadline=T0 + timedelta(days=3))
    deleted_before = make_session(db, user)
    ok_data(client.delete(path(deleted_before.id), headers=headers))

    with freeze_time(T0):
        data = ok_data(bulk(client, headers, [past.id, inside.id, deleted_before.id]))

    assert results(data) == {
        past.id: ("not_found", None),
        inside.id: ("deleted", None),
        deleted_before.id: ("not_found", None),
    }


def test_one_failure_does_not_undo_the_others(client, db, owner, monkeypatch):
    user, headers = owner
    first, broken, last = (make_session(db, user) for _ in range(3))
    real = deletion.hard_delete

    def fails_after_deleting(db_, *, session_id, **kwargs):
        real(db_, session_id=session_id, **kwargs)
        if session_id == broken.id:
            raise OperationalError("DELETE ...", {}, Exception("connection reset"))

    monkeypatch.setattr(deletion, "hard_delete", fails_after_deleting)

    data = ok_data(bulk(client, headers, [first.id, broken.id, last.id]))

    assert results(data) == {
        first.id: ("deleted", None),
        broken.id: ("failed", "Server error"),
        last.id: ("deleted", None),
    }
    # The failed id's savepoint was rolled back whole: its rows and no tombstone.
    kept = rows_of(db, broken.id)
    assert (kept["interview_sessions"], kept["questions"], kept["answers"]) == (1, 3, 3)
    assert {t.session_id for t in tombstones(db)} == {first.id, last.id}


def test_the_seeds_text_plain_body_is_accepted(client, db, owner):
    user, headers = owner
    session = make_session(db, user)

    response = client.post(
        BULK,
        content=f'{{"ids": ["{session.id}"]}}',
        headers={**headers, "content-type": "text/plain;charset=UTF-8"},
    )

    assert ok_data(response)["deleted"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ids": []},
        {"ids": "abc"},
        {"ids": [1, 2]},
        {"ids": ["a"] * 501},
        {"ids": ["a"], "force": True},
    ],
    ids=["missing", "empty", "not-a-list", "not-strings", "too-many", "unknown-field"],
)
def test_a_bad_body_is_422_and_deletes_nothing(client, db, owner, body):
    user, headers = owner
    session = make_session(db, user)

    response = client.post(BULK, json=body, headers=headers)

    assert_error(response, 422)
    assert rows_of(db, session.id)["interview_sessions"] == 1


def test_five_hundred_ids_are_accepted(client, db, owner):
    _, headers = owner

    data = ok_data(bulk(client, headers, [f"id-{i}" for i in range(500)]))

    assert data["notFound"] == 500


def test_without_a_token_is_401(client, db):
    owner, _ = make_user(db)
    session = make_session(db, owner)

    response = client.post(BULK, json={"ids": [session.id]})

    assert_error(response, 401)
    assert rows_of(db, session.id)["interview_sessions"] == 1
