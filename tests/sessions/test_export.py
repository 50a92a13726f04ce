"""The PDF export, read back as text with pypdf: what the document says, which
sessions it is served for, and the signed link that downloads it without a token."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import delete

from interview_retention.clock import utcnow
from interview_retention.sessions import export
from interview_retention.sessions.models import (
    Answer,
    Evaluation,
    Question,
    Report,
)
from tests.factories import auth, make_session, make_user
from tests.sessions.helpers import assert_error, path

HOSTILE = "<b>bold</b> & <i>co</i> > Zoë — naïve ✓ </para>"


def _export(client, session_id: str, token: str):
    return client.get(path(session_id, "/report/export"), headers=auth(token))


def _text(response) -> str:
    """The PDF's text, with every run of whitespace made one space."""
    assert response.status_code == 200, response.content[:300]
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.content))
    raw = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"\s+", " ", raw)


def _pages(response) -> int:
    return len(PdfReader(io.BytesIO(response.content)).pages)


class TestDocument:
    def test_is_a_pdf_attachment_named_by_date_and_short_id(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user)

        response = _export(client, session.id, token)

        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-")
        day = session.created_at.strftime("%Y-%m-%d")
        short = session.id.replace("-", "")[:8]
        assert response.headers["content-disposition"] == (
            f'attachment; filename="interview-report-{day}-{short}.pdf"'
        )
        assert response.headers["cache-control"] == "no-store"

    def test_holds_every_question_answer_score_strength_and_suggestion(
        self, client, db
    ):
        user, token = make_user(db)
        session = make_session(db, user)

        text = _text(_export(client, session.id, token))

        assert "Interview practice report" in text
        assert session.id in text
        assert "Status: EVALUATED" in text
        for question in (
            "1. What is a closure?",
            "1.1 Where have you used one?",
            "2. Explain the box model.",
        ):
            assert question in text
        assert text.count("A private answer") == 3
        assert "javascript · question" in text
        assert "javascript · follow-up" in text
        assert "css · question" in text
        assert "Overall score: 7.5" in text
        assert "javascript: 8" in text
        assert "css: 7" in text
        assert "Solid fundamentals." in text
        assert "clear explanations" in text
        assert "practise layout questions" in text
        assert "summary: Good session" in text

    def test_questions_come_in_order_with_follow_ups_under_their_question(
        self, client, db
    ):
        user, token = make_user(db)
        session = make_session(db, user)

        text = _text(_export(client, session.id, token))

        closure = text.index("What is a closure?")
        follow_up = text.index("Where have you used one?")
        box_model = text.index("Explain the box model.")
        evaluation = text.index("Overall score")
        assert closure < follow_up < box_model < evaluation

    def test_a_question_without_an_answer_says_no_answer(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user)
        db.execute(delete(Answer).where(Answer.session_id == session.id))
        db.commit()

        text = _text(_export(client, session.id, token))

        assert text.count("No answer") == 3
        assert "A private answer" not in text

    def test_a_session_with_no_children_still_exports_and_says_so(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user, status="CREATED", children=False)

        text = _text(_export(client, session.id, token))

        assert "No questions were asked in this session." in text
        assert "No evaluation yet" in text
        assert "No report generated." in text

    def test_an_evaluated_session_without_a_report_says_so(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user)
        db.execute(delete(Report).where(Report.session_id == session.id))
        db.commit()

        text = _text(_export(client, session.id, token))

        assert "No report generated." in text
        assert "Overall score: 7.5" in text

    def test_hostile_markup_and_unicode_print_as_written(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user, children=False)
        question = Question(
            session_id=session.id, position=0, category="a&b", text=HOSTILE
        )
        db.add(question)
        db.flush()
        db.add(Answer(session_id=session.id, question_id=question.id, text=HOSTILE))
        db.add(
            Evaluation(
                session_id=session.id,
                overall_score=3,
                feedback=HOSTILE,
                category_scores={"<css>": 2},
                strengths=[HOSTILE],
                improvement_suggestions=["a < b & c > d"],
            )
        )
        db.add(Report(session_id=session.id, content={"<x>": HOSTILE}))
        db.commit()

        text = _text(_export(client, session.id, token))

        assert text.count(HOSTILE) == 5
        assert "a&b · question" in text
        assert "<css>: 2" in text
        assert "a < b & c > d" in text
        assert "<x>: " + HOSTILE in text

    def test_evaluation_fields_of_an_unexpected_shape_still_print(self, client, db):
        # Evaluations are written by the interview service, not by us; a list of
        # scores or a lone string where a list belongs must not break the export.
        user, token = make_user(db)
        session = make_session(db, user, children=False)
        db.add(
            Evaluation(
                session_id=session.id,
                overall_score=6,
                category_scores=[{"name": "sql", "score": 4}],
                strengths="steady pace",
                improvement_suggestions=[{"area": "joins"}],
            )
        )
        db.commit()

        text = _text(_export(client, session.id, token))

        assert "Category scores" in text
        assert "sql" in text
        assert "score: 4" in text
        assert "steady pace" in text
        assert "joins" in text

    def test_a_20000_character_answer_wraps_across_pages(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user, children=False)
        question = Question(session_id=session.id, position=0, text="Tell me all.")
        db.add(question)
        db.flush()
        words = " ".join(f"word{i:05d}" for i in range(2000))
        unbroken = "x" * 3000
        answer = words + "\n\n" + unbroken
        db.add(Answer(session_id=session.id, question_id=question.id, text=answer))
        db.commit()

        response = _export(client, session.id, token)

        text = _text(response)
        assert len(answer) > 20_000
        assert _pages(response) >= 4
        assert "word00000" in text
        assert "word01999" in text
        # The unbroken word is split over lines (and pages, between which the
        # page footer is read), not cut off at the margin.
        assert re.sub(r"Page \d+|\s", "", text).count("x" * 3000) == 1

    def test_a_long_line_in_another_script_is_as_cheap_as_latin(self, client, db):
        # Each character Vera lacks used to get a <font> tag of its own, and the
        # layout of a line grows faster than its tags: 20,000 Cyrillic characters
        # took 1.8 s against 0.05 s for Latin, 60,000 took 12 s.
        user, token = make_user(db)
        session = make_session(db, user, children=False)
        question = Question(session_id=session.id, position=0, text="Расскажите.")
        db.add(question)
        db.flush()
        line = ("привет мир " * 2000).strip()
        db.add(Answer(session_id=session.id, question_id=question.id, text=line))
        db.commit()

        text = _text(_export(client, session.id, token))

        assert text.count("привет мир") == 2000
        markup = export.text(line)
        if export.FALLBACK_FONT in markup:  # The system has DejaVu Sans.
            assert markup.count("<font") == 1

    def test_control_characters_are_left_out(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user, children=False)
        question = Question(session_id=session.id, position=0, text="Bell\x07 and\x1b")
        db.add(question)
        db.commit()

        text = _text(_export(client, session.id, token))

        assert "Bell and" in text


class TestVisibility:
    def test_another_users_session_is_404_and_no_pdf(self, client, db):
        owner, _ = make_user(db)
        _, stranger = make_user(db)
        session = make_session(db, owner)

        response = _export(client, session.id, stranger)

        assert_error(response, 404, "Session not found")
        assert not response.content.startswith(b"%PDF")

    def test_an_unknown_id_is_404(self, client, db):
        _, token = make_user(db)

        response = _export(client, "not-a-session", token)

        assert_error(response, 404, "Session not found")

    def test_a_soft_deleted_session_exports_with_its_deadline(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user)
        client.patch(path(session.id), json={"status": "DELETED"}, headers=auth(token))

        text = _text(_export(client, session.id, token))

        assert "Status: DELETED" in text
        assert "Permanent deletion:" in text

    def test_a_session_in_its_grace_period_exports(self, client, db):
        user, token = make_user(db)
        session = make_session(
            db,
            user,
            retention_notice_at=utcnow() - timedelta(days=6),
            permanent_delete_at=utcnow() + timedelta(days=1),
            deletion_reason="RETENTION",
        )

        text = _text(_export(client, session.id, token))

        assert "What is a closure?" in text

    def test_a_session_past_its_deadline_is_404_before_any_purge(self, client, db):
        user, token = make_user(db)
        session = make_session(
            db,
            user,
            status="DELETED",
            status_before_deletion="EVALUATED",
            deleted_at=utcnow() - timedelta(days=30),
            permanent_delete_at=utcnow() - timedelta(seconds=1),
            deletion_reason="USER",
        )

        response = _export(client, session.id, token)

        assert_error(response, 404, "Session not found")

    def test_a_hard_deleted_session_is_404(self, client, db):
        user, token = make_user(db)
        session = make_session(db, user)
        client.delete(path(session.id), headers=auth(token))

        response = _export(client, session.id, token)

        assert_error(response, 404, "Session not found")

    def test_without_a_token_is_401(self, client, db):
        user, _ = make_user(db)
        session = make_session(db, user)

        response = client.get(path(session.id, "/report/export"))

        assert_error(response, 401)


@pytest.mark.parametrize("status", ["CREATED", "IN_PROGRESS", "COMPLETED"])
def test_every_status_exports(client, db, status):
    user, token = make_user(db)
    session = make_session(db, user, status=status)

    text = _text(_export(client, session.id, token))

    assert f"Status: {status}" in text
