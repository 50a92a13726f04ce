"""Builders for users and sessions with every kind of child row."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from interview_retention.clock import utcnow
from interview_retention.sessions.models import (
    Answer,
    Evaluation,
    InterviewSession,
    Question,
    Report,
)
from interview_retention.users.models import Resume, User
from interview_retention.users.service import create_user

_counter = 0


def make_user(db: Session, *, admin: bool = False) -> tuple[User, str]:
    """A committed user and their bearer token."""
    global _counter
    _counter += 1
    user, token = create_user(
        db, email=f"user{_counter}@example.com", admin=admin, now=utcnow()
    )
    db.commit()
    return user, token


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_resume(db: Session, user: User) -> Resume:
    resume = Resume(user_id=user.id, title="Front-end engineer")
    db.add(resume)
    db.commit()
    return resume


def make_session(
    db: Session,
    user: User,
    *,
    status: str = "EVALUATED",
    created_at: datetime | None = None,
    resume: Resume | None = None,
    children: bool = True,
    **fields: Any,
) -> InterviewSession:
    """A committed session; with `children`, two questions (one with a follow-up),
    answers to all three, an evaluation and a report."""
    created = created_at or utcnow()
    session = InterviewSession(
        user_id=user.id,
        resume_id=resume.id if resume else None,
        status=status,
        question_count=2,
        config={"categories": ["javascript"]},
        created_at=created,
        updated_at=created,
        **fields,
    )
    db.add(session)
    db.flush()
    if children:
        first = Question(
            session_id=session.id,
            position=0,
            category="javascript",
            text="What is a closure?",
        )
        second = Question(
            session_id=session.id,
            position=2,
            category="css",
            text="Explain the box model.",
        )
        db.add_all([first, second])
        db.flush()
        follow_up = Question(
            session_id=session.id,
            parent_question_id=first.id,
            position=1,
            question_type="FOLLOW_UP",
            category="javascript",
            text="Where have you used one?",
        )
        db.add(follow_up)
        db.flush()
        for question in (first, follow_up, second):
            db.add(
                Answer(
                    session_id=session.id,
                    question_id=question.id,
                    text="A private answer",
                    submitted_at=created + timedelta(minutes=5),
                )
            )
        db.add(
            Evaluation(
                session_id=session.id,
                overall_score=7.5,
                feedback="Solid fundamentals.",
                category_scores={"javascript": 8, "css": 7},
                strengths=["clear explanations"],
                improvement_suggestions=["practise layout questions"],
                created_at=created + timedelta(minutes=30),
            )
        )
        db.add(
            Report(
                session_id=session.id,
                content={"summary": "Good session", "score": 7.5},
                generated_at=created + timedelta(minutes=31),
            )
        )
    db.commit()
    return session
