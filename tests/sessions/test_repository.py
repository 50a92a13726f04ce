"""Queries of the session domain that the API and the jobs share."""

from datetime import timedelta

from interview_retention.clock import utcnow
from interview_retention.sessions import repository
from interview_retention.sessions.models import InterviewSession
from tests.factories import make_session, make_user


def _change_elsewhere(factory, session_id, **values):
    with factory() as other:
        row = other.get(InterviewSession, session_id)
        for name, value in values.items():
            setattr(row, name, value)
        other.commit()


def test_a_locked_read_sees_a_change_made_after_the_row_was_loaded(db, factory):
    user, _ = make_user(db)
    session = make_session(db, user, status="COMPLETED")
    now = utcnow()
    _change_elsewhere(factory, session.id, status="EVALUATED")

    locked = repository.get_owned(
        db, user_id=user.id, session_id=session.id, now=now, lock=True
    )

    assert locked is session
    assert locked.status == "EVALUATED"


def test_an_admin_locked_read_sees_a_hold_set_after_the_row_was_loaded(db, factory):
    user, _ = make_user(db)
    session = make_session(db, user, permanent_delete_at=utcnow() + timedelta(days=1))
    _change_elsewhere(factory, session.id, legal_hold=True)

    locked = repository.get_for_update(db, session.id)

    assert locked is session
    assert locked.legal_hold is True
