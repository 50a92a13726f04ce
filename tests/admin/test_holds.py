"""Legal holds are recorded: who set or lifted one, when and why, kept after a purge."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from interview_retention.deletion.models import LegalHoldEvent
from tests.deletion.support import make_soft_deleted, run_purge
from tests.factories import auth, make_session, make_user
from tests.sessions.helpers import T0, assert_error, at, ok_data, reload

HOLD = {"reason": "Litigation hold, case 2026-17"}
LIFT = {"reason": "Case 2026-17 settled"}


def hold_path(session_id: str) -> str:
    return f"/api/admin/sessions/{quote(session_id, safe='')}/legal-hold"


def events(db, session_id: str) -> list[tuple]:
    E = LegalHoldEvent
    rows = db.execute(
        select(E.action, E.reason, E.actor, E.at)
        .where(E.session_id == session_id)
        .order_by(E.id)
    ).all()
    db.rollback()
    return [tuple(r) for r in rows]


@pytest.fixture
def admin(db):
    user, token = make_user(db, admin=True)
    return user, auth(token)


@pytest.fixture
def session(db):
    owner, _ = make_user(db)
    return make_session(db, owner)


class TestRecord:
    def test_set_and_lift_are_recorded_with_actor_and_reason(
        self, client, db, admin, session
    ):
        user, headers = admin

        with freeze_time(T0):
            ok_data(client.put(hold_path(session.id), json=HOLD, headers=headers))
        with freeze_time(T0 + timedelta(days=1)):
            lifted = client.request(
                "DELETE", hold_path(session.id), json=LIFT, headers=headers
            )

        assert ok_data(lifted)["legalHold"] is False
        assert events(db, session.id) == [
            ("SET", HOLD["reason"], f"admin:{user.id}", T0),
            ("LIFT", LIFT["reason"], f"admin:{user.id}", T0 + timedelta(days=1)),
        ]

    def test_lift_takes_its_reason_from_the_query_too(self, client, db, admin, session):
        _, headers = admin
        ok_data(client.put(hold_path(session.id), json=HOLD, headers=headers))

        response = client.delete(
            hold_path(session.id), params={"reason": "released"}, headers=headers
        )

        assert ok_data(response)["legalHold"] is False
        assert [e[:2] for e in events(db, session.id)] == [
            ("SET", HOLD["reason"]),
            ("LIFT", "released"),
        ]

    @pytest.mark.parametrize(
        "request_kwargs",
        [{}, {"json": {"reason": "no"}}, {"params": {"reason": ""}}],
        ids=["missing", "too-short", "empty-query"],
    )
    def test_lift_without_a_reason_is_422_and_changes_nothing(
        self, client, db, admin, session, request_kwargs
    ):
        _, headers = admin
        ok_data(client.put(hold_path(session.id), json=HOLD, headers=headers))

        response = client.request(
            "DELETE", hold_path(session.id), headers=headers, **request_kwargs
        )

        assert_error(response, 422)
        assert reload(db, session.id).legal_hold is True
        assert [e[0] for e in events(db, session.id)] == ["SET"]

    def test_holding_twice_or_lifting_no_hold_records_nothing_more(
        self, client, db, admin, session
    ):
        _, headers = admin

        ok_data(
            client.request("DELETE", hold_path(session.id), json=LIFT, headers=headers)
        )
        ok_data(client.put(hold_path(session.id), json=HOLD, headers=headers))
        ok_data(
            client.put(hold_path(session.id), json={"reason": "again"}, headers=headers)
        )

        assert [e[:2] for e in events(db, session.id)] == [("SET", HOLD["reason"])]
        assert reload(db, session.id).legal_hold_reason == HOLD["reason"]

    def test_a_refused_hold_records_nothing(self, client, db, admin):
        _, headers = admin
        owner, _ = make_user(db)
        gone = make_soft_deleted(db, owner, deadline=T0)

        with freeze_time(T0):
            response = client.put(hold_path(gone.id), json=HOLD, headers=headers)

        assert_error(response, 404, "Session not found")
        assert events(db, gone.id) == []


class TestHistory:
    def test_lists_every_change_oldest_first(self, client, db, admin, session):
        user, headers = admin
        for day, (method, body) in enumerate(
            [("PUT", HOLD), ("DELETE", LIFT), ("PUT", {"reason": "Second case"})]
        ):
            with freeze_time(T0 + timedelta(days=day)):
                ok_data(
                    client.request(
                        method, hold_path(session.id), json=body, headers=headers
                    )
                )

        response = client.get(hold_path(session.id), headers=headers)

        data = ok_data(response)
        assert data["sessionId"] == session.id
        assert data["legalHold"] is True
        assert data["legalHoldReason"] == "Second case"
        assert [(e["action"], e["reason"]) for e in data["events"]] == [
            ("SET", HOLD["reason"]),
            ("LIFT", LIFT["reason"]),
            ("SET", "Second case"),
        ]
        assert {e["actor"] for e in data["events"]} == {f"admin:{user.id}"}
        assert at(data["events"][1]["at"]) == T0 + timedelta(days=1)

    def test_outlives_the_purged_session(
        self, client, db, admin, factory, settings, cache
    ):
        _, headers = admin
        owner, _ = make_user(db)
        session = make_soft_deleted(db, owner, deadline=T0 + timedelta(days=1))
        with freeze_time(T0):
            ok_data(client.put(hold_path(session.id), json=HOLD, headers=headers))
            ok_data(
                client.request(
                    "DELETE", hold_path(session.id), json=LIFT, headers=headers
                )
            )
        run_purge(factory, settings, cache, T0 + timedelta(days=8))
        assert reload(db, session.id) is None

        response = client.get(hold_path(session.id), headers=headers)

        data = ok_data(response)
        assert data["legalHold"] is None
        assert [e["action"] for e in data["events"]] == ["SET", "LIFT"]

    def test_a_session_never_held_has_no_events(self, client, db, admin, session):
        _, headers = admin

        data = ok_data(client.get(hold_path(session.id), headers=headers))

        assert data["legalHold"] is False
        assert data["events"] == []

    @pytest.mark.parametrize(
        "session_id",
        ["no-such-id", "x" * 500, "a\x00b"],
        ids=["unknown", "long", "nul"],
    )
    def test_an_unknown_session_is_404(self, client, db, admin, session_id):
        _, headers = admin

        response = client.get(hold_path(session_id), headers=headers)

        assert_error(response, 404, "Session not found")


class TestList:
    def test_lists_held_sessions_oldest_first_with_the_hold_in_force(
        self, client, db, admin
    ):
        user, headers = admin
        owner, _ = make_user(db)
        older = make_session(db, owner, children=False, created_at=T0)
        newer = make_session(
            db, owner, children=False, created_at=T0 + timedelta(days=2)
        )
        free = make_session(db, owner, children=False, created_at=T0)
        for day, (method, sid, body) in enumerate(
            [
                ("PUT", newer.id, HOLD),
                ("PUT", older.id, {"reason": "First case"}),
                ("DELETE", older.id, LIFT),
                ("PUT", older.id, {"reason": "Second case"}),
                ("PUT", free.id, HOLD),
                ("DELETE", free.id, LIFT),
            ]
        ):
            with freeze_time(T0 + timedelta(days=10 + day)):
                ok_data(
                    client.request(method, hold_path(sid), json=body, headers=headers)
                )

        data = ok_data(client.get("/api/admin/legal-holds", headers=headers))

        assert data["total"] == 2
        assert [i["sessionId"] for i in data["items"]] == [older.id, newer.id]
        first = data["items"][0]
        assert first["reason"] == "Second case"
        assert at(first["heldSince"]) == T0 + timedelta(days=13)
        assert first["heldBy"] == f"admin:{user.id}"
        assert first["userId"] == owner.id
        assert first["status"] == "EVALUATED"

    def test_pages(self, client, db, admin):
        _, headers = admin
        owner, _ = make_user(db)
        ids = []
        for day in range(3):
            held = make_session(
                db, owner, children=False, created_at=T0 + timedelta(days=day)
            )
            ok_data(client.put(hold_path(held.id), json=HOLD, headers=headers))
            ids.append(held.id)

        second = ok_data(
            client.get("/api/admin/legal-holds?page=2&pageSize=2", headers=headers)
        )

        assert second["total"] == 3
        assert second["page"] == 2
        assert [i["sessionId"] for i in second["items"]] == [ids[2]]

    def test_a_hold_without_events_still_shows(self, client, db, admin):
        _, headers = admin
        owner, _ = make_user(db)
        make_session(db, owner, children=False, legal_hold=True)

        (item,) = ok_data(client.get("/api/admin/legal-holds", headers=headers))[
            "items"
        ]

        assert item["heldSince"] is None
        assert item["heldBy"] is None

    def test_bad_paging_is_refused(self, client, admin):
        _, headers = admin
        response = client.get("/api/admin/legal-holds?pageSize=0", headers=headers)
        assert_error(response, 422)

    def test_users_are_refused(self, client, db):
        _, token = make_user(db)
        response = client.get("/api/admin/legal-holds", headers=auth(token))
        assert_error(response, 403)
