"""The sessions API on its happy paths: create, list, read, change status, report."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from interview_retention.sessions.models import InterviewSession, Report
from tests.factories import auth, make_resume, make_session, make_user
from tests.sessions.helpers import (
    SESSIONS,
    T0,
    assert_error,
    at,
    ok_data,
    path,
    reload,
    rows_of,
)


def _session_count(db) -> int:
    count = db.scalar(select(func.count()).select_from(InterviewSession))
    db.rollback()
    return count


class TestCreate:
    def test_draws_questions_from_the_chosen_categories(self, client, db):
        user, token = make_user(db)
        resume = make_resume(db, user)
        body = {
            "resumeId": resume.id,
            "questionCount": 5,
            "config": {"categories": ["css", "html"]},
        }

        with freeze_time(T0):
            response = client.post(SESSIONS, json=body, headers=auth(token))

        data = ok_data(response)
        assert data["status"] == "CREATED"
        assert data["resumeId"] == resume.id
        assert data["questionCount"] == 5
        assert data["config"] == {"categories": ["css", "html"]}
        assert at(data["createdAt"]) == T0
        assert data["deletedAt"] is None
        assert data["permanentDeleteAt"] is None
        assert len(data["questions"]) == 5
        assert {q["category"] for q in data["questions"]} <= {"css", "html"}
        assert all(q["questionType"] == "ORIGINAL" for q in data["questions"])
        follow_ups = sum(len(q["followUps"]) for q in data["questions"])
        assert rows_of(db, data["sessionId"])["questions"] == 5 + follow_ups

    def test_created_session_is_the_callers(self, client, db):
        user, token = make_user(db)
        _, other_token = make_user(db)

        response = client.post(SESSIONS, json={"questionCount": 1}, headers=auth(token))

        session_id = ok_data(response)["sessionId"]
        assert reload(db, session_id).user_id == user.id
        own = client.get(path(session_id), headers=auth(token))
        assert ok_data(own)["sessionId"] == session_id
        assert_error(client.get(path(session_id), headers=auth(other_token)), 404)

    def test_without_a_body_field_uses_the_defaults(self, client, db):
        _, token = make_user(db)

        response = client.post(SESSIONS, json={}, headers=auth(token))

        data = ok_data(response)
        assert data["questionCount"] == 10
        assert data["resumeId"] is None
        assert len(data["questions"]) == 10

    def test_unknown_resume_is_404(self, client, db):
        _, token = make_user(db)
        body = {"resumeId": str(uuid.uuid4()), "questionCount": 3}

        response = client.post(SESSIONS, json=body, headers=auth(token))

        assert_error(response, 404, "Resume not found")
        assert _session_count(db) == 0

    def test_another_users_resume_is_404(self, client, db):
        _, token = make_user(db)
        stranger, _ = make_user(db)
        resume = make_resume(db, stranger)
        body = {"resumeId": resume.id, "questionCount": 3}

        response = client.post(SESSIONS, json=body, headers=auth(token))

        assert_error(response, 404, "Resume not found")
        assert _session_count(db) == 0

    @pytest.mark.parametrize("count", [0, 51, -1, "many"])
    def test_question_count_out_of_range_is_422(self, client, db, count):
        _, token = make_user(db)

        response = client.post(
            SESSIONS, json={"questionCount": count}, headers=auth(token)
        )

        assert "questionCount" in assert_error(response, 422)
        assert _session_count(db) == 0

    @pytest.mark.parametrize("count", [1, 50])
    def test_question_count_at_its_bounds_is_accepted(self, client, db, count):
        _, token = make_user(db)

        response = client.post(
            SESSIONS, json={"questionCount": count}, headers=auth(token)
        )

        assert ok_data(response)["questionCount"] == count

    def test_more_questions_than_the_categories_hold_is_422(self, client, db):
        _, token = make_user(db)
        body = {"questionCount": 10, "config": {"categories": ["fun"]}}

        response = client.post(SESSIONS, json=body, headers=auth(token))

        assert "hold only" in assert_error(response, 422)
        assert _session_count(db) == 0

    def test_unknown_category_is_422(self, client, db):
        _, token = make_user(db)
        body = {"questionCount": 3, "config": {"categories": ["cobol"]}}

        response = client.post(SESSIONS, json=body, headers=auth(token))

        assert "config.categories" in assert_error(response, 422)
        assert _session_count(db) == 0

    def test_unknown_field_is_422(self, client, db):
        _, token = make_user(db)

        response = client.post(
            SESSIONS, json={"questionCount": 3, "userId": "x"}, headers=auth(token)
        )

        assert "userId" in assert_error(response, 422)
        assert _session_count(db) == 0


class TestList:
    def test_lists_only_own_sessions_newest_first(self, client, db):
        user, token = make_user(db)
        stranger, _ = make_user(db)
        older = make_session(db, user, created_at=T0 - timedelta(hours=2))
        newer = make_session(db, user, created_at=T0 - timedelta(hours=1))
        make_session(db, stranger, created_at=T0)

        with freeze_time(T0):
            response = client.get(SESSIONS, headers=auth(token))

        data = ok_data(response)
        assert [s["sessionId"] for s in data["items"]] == [newer.id, older.id]
        assert data["total"] == 2
        assert data["page"] == 1
        assert data["pageSize"] == 20

    def test_each_item_carries_its_overall_score_when_evaluated(self, client, db):
        user, token = make_user(db)
        evaluated = make_session(db, user, created_at=T0 - timedelta(hours=2))
        fresh = make_session(db, user, status="CREATED", children=False, created_at=T0)

        with freeze_time(T0):
            data = ok_data(client.get(SESSIONS, headers=auth(token)))

        scores = {s["sessionId"]: s["overallScore"] for s in data["items"]}
        assert scores == {evaluated.id: 7.5, fresh.id: None}

    def test_soft_deleted_sessions_only_when_asked_for_by_status(self, client, db):
        user, token = make_user(db)
        kept = make_session(db, user)
        deleted = make_session(
            db,
            user,
            status="DELETED",
            status_before_deletion="EVALUATED",
            deleted_at=T0,
            permanent_delete_at=T0 + timedelta(days=30),
            deletion_reason="USER",
        )

        with freeze_time(T0 + timedelta(days=1)):
            default = client.get(SESSIONS, headers=auth(token))
            asked = client.get(
                SESSIONS, params={"status": "DELETED"}, headers=auth(token)
            )

        assert [s["sessionId"] for s in ok_data(default)["items"]] == [kept.id]
        assert [s["sessionId"] for s in ok_data(asked)["items"]] == [deleted.id]
        assert ok_data(asked)["items"][0]["status"] == "DELETED"

    def test_status_is_repeatable(self, client, db):
        user, token = make_user(db)
        created = make_session(db, user, status="CREATED", created_at=T0)
        completed = make_session(
            db, user, status="COMPLETED", created_at=T0 - timedelta(minutes=1)
        )
        make_session(db, user, status="EVALUATED")
        make_session(db, user, status="IN_PROGRESS")

        response = client.get(
            SESSIONS,
            params=[("status", "CREATED"), ("status", "COMPLETED")],
            headers=auth(token),
        )

        data = ok_data(response)
        assert [s["sessionId"] for s in data["items"]] == [created.id, completed.id]
        assert data["total"] == 2

    def test_created_before_and_after_are_strict(self, client, db):
        user, token = make_user(db)
        first = T0 - timedelta(hours=2)
        make_session(db, user, created_at=first)
        middle = make_session(db, user, created_at=T0 - timedelta(hours=1))
        make_session(db, user, created_at=T0)
        params = {
            "createdAfter": first.isoformat(),
            "createdBefore": T0.isoformat(),
        }

        response = client.get(SESSIONS, params=params, headers=auth(token))

        data = ok_data(response)
        assert [s["sessionId"] for s in data["items"]] == [middle.id]
        assert data["total"] == 1

    def test_created_before_accepts_any_offset(self, client, db):
        user, token = make_user(db)
        early = make_session(db, user, created_at=T0 - timedelta(minutes=1))
        make_session(db, user, created_at=T0 + timedelta(minutes=1))
        # T0 (09:30 UTC) written in UTC+02:00.
        params = {"createdBefore": "2026-03-02T11:30:00+02:00"}

        response = client.get(SESSIONS, params=params, headers=auth(token))

        assert [s["sessionId"] for s in ok_data(response)["items"]] == [early.id]

    def test_paginates_with_the_total(self, client, db):
        user, token = make_user(db)
        made = [
            make_session(db, user, created_at=T0 - timedelta(minutes=i), children=False)
            for i in range(5)
        ]

        pages = [
            ok_data(
                client.get(
                    SESSIONS,
                    params={"page": page, "pageSize": 2},
                    headers=auth(token),
                )
            )
            for page in (1, 2, 3, 4)
        ]

        ids = [[s["sessionId"] for s in page["items"]] for page in pages]
        assert ids == [
            [made[0].id, made[1].id],
            [made[2].id, made[3].id],
            [made[4].id],
            [],
        ]
        assert {page["total"] for page in pages} == {5}
        assert [page["page"] for page in pages] == [1, 2, 3, 4]
        assert {page["pageSize"] for page in pages} == {2}

    @pytest.mark.parametrize(
        "params",
        [
            {"status": "FOO"},
            {"status": "deleted"},
            {"createdBefore": "2026-03-02T09:30:00"},
            {"createdAfter": "yesterday"},
            {"page": 0},
            {"pageSize": 0},
            {"pageSize": 101},
        ],
    )
    def test_bad_query_is_422(self, client, db, params):
        user, token = make_user(db)
        make_session(db, user)

        response = client.get(SESSIONS, params=params, headers=auth(token))

        assert next(iter(params)) in assert_error(response, 422)


class TestGet:
    def test_returns_questions_follow_ups_answers_and_evaluation(self, client, db):
        user, token = make_user(db)
        resume = make_resume(db, user)
        session = make_session(db, user, resume=resume)

        response = client.get(path(session.id), headers=auth(token))

        data = ok_data(response)
        assert data["sessionId"] == session.id
        assert data["resumeId"] == resume.id
        assert data["status"] == "EVALUATED"
        assert [q["text"] for q in data["questions"]] == [
            "What is a closure?",
            "Explain the box model.",
        ]
        assert [f["text"] for f in data["questions"][0]["followUps"]] == [
            "Where have you used one?"
        ]
        assert len(data["answers"]) == 3
        assert data["evaluation"]["overallScore"] == 7.5
        assert data["evaluation"]["strengths"] == ["clear explanations"]

    def test_timestamps_are_utc_with_an_offset(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user, created_at=T0)

        response = client.get(path(session.id), headers=auth(token))

        data = ok_data(response)
        assert data["createdAt"] == "2026-03-02T09:30:00Z"
        assert at(data["createdAt"]) == T0

    def test_unknown_id_is_404(self, client, db):
        user, token = make_user(db)
        make_session(db, user)

        response = client.get(path(str(uuid.uuid4())), headers=auth(token))

        assert_error(response, 404, "Session not found")


class TestChangeStatus:
    def test_moves_forward_through_every_status(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user, status="CREATED", created_at=T0)
        seen = []

        for hours, target in enumerate(("IN_PROGRESS", "COMPLETED", "EVALUATED"), 1):
            with freeze_time(T0 + timedelta(hours=hours)):
                response = client.patch(
                    path(session.id), json={"status": target}, headers=auth(token)
                )
            seen.append(ok_data(response))

        assert [d["status"] for d in seen] == ["IN_PROGRESS", "COMPLETED", "EVALUATED"]
        final = seen[-1]
        assert at(final["completedAt"]) == T0 + timedelta(hours=2)
        assert at(final["evaluatedAt"]) == T0 + timedelta(hours=3)
        assert at(final["updatedAt"]) == T0 + timedelta(hours=3)
        assert reload(db, session.id).status == "EVALUATED"

    @pytest.mark.parametrize(
        ("current", "target"),
        [
            ("IN_PROGRESS", "CREATED"),
            ("COMPLETED", "IN_PROGRESS"),
            ("EVALUATED", "COMPLETED"),
            ("EVALUATED", "CREATED"),
            ("CREATED", "COMPLETED"),
            ("IN_PROGRESS", "EVALUATED"),
        ],
    )
    def test_moving_backwards_or_skipping_is_409(self, client, db, current, target):
        user, token = make_user(db)
        session = make_session(db, user, status=current)

        response = client.patch(
            path(session.id), json={"status": target}, headers=auth(token)
        )

        message = assert_error(response, 409)
        assert current in message
        assert target in message
        assert reload(db, session.id).status == current

    def test_same_status_changes_nothing(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user, status="IN_PROGRESS", created_at=T0)

        with freeze_time(T0 + timedelta(hours=1)):
            response = client.patch(
                path(session.id), json={"status": "IN_PROGRESS"}, headers=auth(token)
            )

        assert at(ok_data(response)["updatedAt"]) == T0
        assert reload(db, session.id).updated_at == T0

    @pytest.mark.parametrize("target", ["CREATED", "IN_PROGRESS", "EVALUATED"])
    def test_changing_a_deleted_session_is_409(self, client, db, target):
        user, token = make_user(db)
        session = make_session(
            db,
            user,
            status="DELETED",
            status_before_deletion="COMPLETED",
            deleted_at=T0,
            permanent_delete_at=T0 + timedelta(days=30),
            deletion_reason="USER",
        )

        with freeze_time(T0 + timedelta(days=1)):
            response = client.patch(
                path(session.id), json={"status": target}, headers=auth(token)
            )

        assert "restore" in assert_error(response, 409)
        assert reload(db, session.id).status == "DELETED"

    @pytest.mark.parametrize(
        "body",
        [
            {"status": "IN_PROGRESS", "questionCount": 3},
            {"status": "FOO"},
            {"status": None},
            {},
            {"status": "DELETED", "deletedAt": "not a date"},
        ],
    )
    def test_bad_body_is_422(self, client, db, body):
        user, token = make_user(db)
        session = make_session(db, user, status="CREATED")

        response = client.patch(path(session.id), json=body, headers=auth(token))

        assert_error(response, 422)
        assert reload(db, session.id).status == "CREATED"


class TestReport:
    def test_answers_the_report_and_fills_the_cache(self, client, db, cache):
        user, token = make_user(db)
        session = make_session(db, user, created_at=T0)

        response = client.get(path(session.id, "/report"), headers=auth(token))

        data = ok_data(response)
        assert data == {
            "sessionId": session.id,
            "generatedAt": "2026-03-02T10:01:00Z",
            "content": {"summary": "Good session", "score": 7.5},
        }
        assert cache.get(session.id) == data

    def test_second_read_is_served_from_the_cache(self, client, db, cache):
        user, token = make_user(db)
        session = make_session(db, user)
        first = ok_data(client.get(path(session.id, "/report"), headers=auth(token)))
        report = db.scalar(select(Report).where(Report.session_id == session.id))
        report.content = {"summary": "Rewritten"}
        db.commit()

        second = client.get(path(session.id, "/report"), headers=auth(token))

        assert ok_data(second) == first

    def test_session_without_a_report_is_404(self, client, db, cache):
        user, token = make_user(db)
        session = make_session(db, user, children=False)

        response = client.get(path(session.id, "/report"), headers=auth(token))

        assert_error(response, 404, "Report not found")
        assert cache.get(session.id) is None
