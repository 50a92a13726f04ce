"""The JSON Lines import: a generated sample round-trips, nothing comes back from
the deletion log, and a bad line stops the import with nothing written."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from interview_retention.config import Settings
from interview_retention.db.base import Base
from interview_retention.deletion import service
from interview_retention.deletion.models import DeletionLogEntry
from interview_retention.sample.generate import write_sample
from interview_retention.sessions.cache import NoCache
from interview_retention.sessions.models import (
    Answer,
    Evaluation,
    InterviewSession,
    Question,
    Report,
)
from interview_retention.transfer import importer
from interview_retention.transfer.importer import ImportFailed, import_jsonl
from interview_retention.users.models import Resume, User
from interview_retention.users.service import create_user, user_for_token

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TIMESTAMPS = {
    "created_at": "createdAt",
    "updated_at": "updatedAt",
    "completed_at": "completedAt",
    "evaluated_at": "evaluatedAt",
    "deleted_at": "deletedAt",
    "permanent_delete_at": "permanentDeleteAt",
    "retention_notice_at": "retentionNoticeAt",
    "legal_hold_at": "legalHoldAt",
}


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _import_file(db: Session, path: Path, settings: Settings) -> dict[str, int]:
    """Import the whole file at NOW and commit."""
    with path.open(encoding="utf-8") as stream:
        counts = import_jsonl(db, stream, now=NOW, settings=settings)
    db.commit()
    return counts


def _read(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def _jsonl(*items: dict[str, Any] | str) -> list[str]:
    return [item if isinstance(item, str) else json.dumps(item) for item in items]


def _table_counts(db: Session) -> dict[str, int]:
    return {
        table.name: db.scalar(select(func.count()).select_from(table)) or 0
        for table in Base.metadata.sorted_tables
    }


def user_line(email: str = "ada@example.com", **fields: Any) -> dict[str, Any]:
    return {"type": "user", "email": email, "displayName": "Ada", **fields}


def resume_line(resume_id: str, email: str = "ada@example.com") -> dict[str, Any]:
    return {
        "type": "resume",
        "resumeId": resume_id,
        "userEmail": email,
        "title": "Front-end engineer",
        "createdAt": "2025-01-02T03:04:05Z",
    }


def session_line(
    session_id: str, email: str = "ada@example.com", **fields: Any
) -> dict[str, Any]:
    """A valid EVALUATED session with a question, its follow-up and two answers."""
    line = {
        "type": "session",
        "sessionId": session_id,
        "userEmail": email,
        "resumeId": None,
        "status": "EVALUATED",
        "questionCount": 1,
        "config": {"categories": ["javascript"]},
        "createdAt": "2025-11-01T10:00:00.250+01:00",
        "updatedAt": "2025-11-01T10:40:00Z",
        "completedAt": "2025-11-01T10:30:00Z",
        "evaluatedAt": "2025-11-01T10:40:00Z",
        "questions": [
            {
                "questionId": f"{session_id}-q1",
                "parentQuestionId": None,
                "position": 0,
                "questionType": "ORIGINAL",
                "category": "javascript",
                "text": "What is a closure?",
            },
            {
                "questionId": f"{session_id}-q2",
                "parentQuestionId": f"{session_id}-q1",
                "position": 1,
                "questionType": "FOLLOW_UP",
                "category": "javascript",
                "text": "Where have you used one?",
            },
        ],
        "answers": [
            {
                "answerId": f"{session_id}-a1",
                "questionId": f"{session_id}-q1",
                "text": "A function with its captured scope.",
                "submittedAt": "2025-11-01T10:05:00Z",
            },
            {
                "answerId": f"{session_id}-a2",
                "questionId": f"{session_id}-q2",
                "text": "In an event handler factory.",
                "submittedAt": "2025-11-01T10:09:00Z",
            },
        ],
        "evaluation": {
            "overallScore": 7.5,
            "feedback": "Solid.",
            "categoryScores": {"javascript": 7.5},
            "strengths": ["clear"],
            "improvementSuggestions": ["more examples"],
            "createdAt": "2025-11-01T10:40:00Z",
        },
        "report": {
            "content": {"summary": "Good"},
            "generatedAt": "2025-11-02T08:00:00Z",
        },
    }
    line.update(fields)
    return line


@pytest.fixture
def sample(tmp_path: Path, settings: Settings) -> tuple[Path, dict[str, int]]:
    path = tmp_path / "sample.jsonl"
    counts = write_sample(
        path, users=8, sessions=120, seed=11, now=NOW, settings=settings
    )
    return path, counts


class TestRoundTrip:
    def test_counts_match_the_sample(
        self,
        db: Session,
        sample: tuple[Path, dict[str, int]],
        settings: Settings,
        monkeypatch,
    ):
        path, counts = sample
        # Small chunks, so that the import crosses several flushes.
        monkeypatch.setattr(importer, "SESSION_CHUNK", 25)

        with path.open(encoding="utf-8") as lines:
            result = import_jsonl(db, lines, now=NOW, settings=settings)
        db.commit()

        assert result == {
            "users_created": counts["users"],
            "users_existing": 0,
            "resumes_created": counts["resumes"],
            "resumes_skipped_existing": 0,
            "sessions_imported": counts["sessions"],
            "sessions_skipped_existing": 0,
            "sessions_skipped_deleted": 0,
            "questions": counts["questions"],
            "answers": counts["answers"],
            "evaluations": counts["evaluations"],
            "reports": counts["reports"],
        }
        tables = _table_counts(db)
        assert tables["interview_sessions"] == counts["sessions"]
        assert tables["questions"] == counts["questions"]
        assert tables["answers"] == counts["answers"]
        assert tables["evaluations"] == counts["evaluations"]
        assert tables["reports"] == counts["reports"]

    def test_timestamps_and_fields_are_kept_exactly(
        self, db: Session, sample: tuple[Path, dict[str, int]], settings: Settings
    ):
        path, _ = sample
        lines = _read(path)

        _import_file(db, path, settings)

        rows = {s.id: s for s in db.scalars(select(InterviewSession))}
        emails = dict(db.execute(select(User.id, User.email)).all())
        for line in (item for item in lines if item["type"] == "session"):
            row = rows[line["sessionId"]]
            for column, key in TIMESTAMPS.items():
                assert getattr(row, column) == _when(line[key]), (row.id, column)
            assert emails[row.user_id] == line["userEmail"]
            assert row.resume_id == line["resumeId"]
            assert row.status == line["status"]
            assert row.status_before_deletion == line["statusBeforeDeletion"]
            assert row.deletion_reason == line["deletionReason"]
            assert row.legal_hold is line["legalHold"]
            assert row.question_count == line["questionCount"]
            assert row.config == line["config"]

    def test_children_are_linked_to_their_session(
        self, db: Session, sample: tuple[Path, dict[str, int]], settings: Settings
    ):
        path, _ = sample
        sessions = [item for item in _read(path) if item["type"] == "session"]

        _import_file(db, path, settings)

        questions = {
            q.id: (q.session_id, q.parent_question_id, q.position, q.question_type)
            for q in db.scalars(select(Question))
        }
        answers = {
            a.id: (a.session_id, a.question_id, a.submitted_at)
            for a in db.scalars(select(Answer))
        }
        evaluations = {e.session_id: e for e in db.scalars(select(Evaluation))}
        reports = {r.session_id: r for r in db.scalars(select(Report))}
        for line in sessions:
            sid = line["sessionId"]
            for q in line["questions"]:
                assert questions[q["questionId"]] == (
                    sid,
                    q["parentQuestionId"],
                    q["position"],
                    q["questionType"],
                )
            for a in line["answers"]:
                assert answers[a["answerId"]] == (
                    sid,
                    a["questionId"],
                    _when(a["submittedAt"]),
                )
            if line["evaluation"] is None:
                assert sid not in evaluations
            else:
                evaluation = evaluations[sid]
                assert evaluation.overall_score == line["evaluation"]["overallScore"]
                assert (
                    evaluation.category_scores == (line["evaluation"]["categoryScores"])
                )
                assert evaluation.created_at == _when(line["evaluation"]["createdAt"])
            if line["report"] is None:
                assert sid not in reports
            else:
                assert reports[sid].content == line["report"]["content"]
                assert reports[sid].generated_at == _when(line["report"]["generatedAt"])

    def test_users_are_created_without_token_and_keep_their_role(
        self, db: Session, sample: tuple[Path, dict[str, int]], settings: Settings
    ):
        path, _ = sample
        first = _read(path)[0]

        _import_file(db, path, settings)

        users = db.scalars(select(User)).all()
        assert all(u.token_hash is None for u in users)
        assert all(u.created_at == NOW for u in users)
        admin = db.scalar(select(User).where(User.email == first["email"]))
        assert admin.role == first["role"] == "admin"
        assert admin.display_name == first["displayName"]

    def test_resumes_belong_to_their_users(
        self, db: Session, sample: tuple[Path, dict[str, int]], settings: Settings
    ):
        path, _ = sample
        resumes = [item for item in _read(path) if item["type"] == "resume"]

        _import_file(db, path, settings)

        rows = {
            r.id: (r.user_id, r.created_at, r.title) for r in db.scalars(select(Resume))
        }
        emails = dict(db.execute(select(User.id, User.email)).all())
        for line in resumes:
            user_id, created_at, title = rows[line["resumeId"]]
            assert emails[user_id] == line["userEmail"]
            assert created_at == _when(line["createdAt"])
            assert title == line["title"]


def test_second_import_skips_everything(
    db: Session, sample: tuple[Path, dict[str, int]], settings: Settings
):
    path, counts = sample
    _import_file(db, path, settings)
    before = _table_counts(db)

    with path.open(encoding="utf-8") as stream:
        result = import_jsonl(
            db, stream, now=NOW + timedelta(days=1), settings=settings
        )
    db.commit()

    assert result == {
        "users_created": 0,
        "users_existing": counts["users"],
        "resumes_created": 0,
        "resumes_skipped_existing": counts["resumes"],
        "sessions_imported": 0,
        "sessions_skipped_existing": counts["sessions"],
        "sessions_skipped_deleted": 0,
        "questions": 0,
        "answers": 0,
        "evaluations": 0,
        "reports": 0,
    }
    assert _table_counts(db) == before


def test_sample_with_other_periods_imports_under_the_same_settings(
    db: Session, tmp_path: Path
):
    periods = Settings(  # type: ignore[call-arg]
        _env_file=None, recovery_days=45, grace_days=10, retention_days=120
    )
    path = tmp_path / "sample.jsonl"
    counts = write_sample(
        path, users=6, sessions=120, seed=11, now=NOW, settings=periods
    )

    with path.open(encoding="utf-8") as stream:
        result = import_jsonl(db, stream, now=NOW, settings=periods)
    db.commit()

    assert result["sessions_imported"] == counts["sessions"]
    deleted = db.scalars(
        select(InterviewSession).where(InterviewSession.deleted_at.is_not(None))
    ).all()
    assert deleted
    for session in deleted:
        assert session.permanent_delete_at == session.deleted_at + timedelta(days=45)


def test_purged_session_never_comes_back(db: Session):
    lines = _jsonl(
        user_line(),
        session_line(
            "gone-1",
            status="DELETED",
            statusBeforeDeletion="EVALUATED",
            deletedAt="2026-01-01T00:00:00Z",
            permanentDeleteAt="2026-01-31T00:00:00Z",
            deletionReason="USER",
        ),
        session_line("kept-1"),
    )
    import_jsonl(db, lines, now=NOW)
    db.commit()
    purged = service.purge_batch(
        db, now=NOW, batch_size=10, cache=NoCache(), task_id="test"
    )
    db.commit()
    assert [p.session_id for p in purged.purged] == ["gone-1"]

    result = import_jsonl(db, lines, now=NOW)
    db.commit()

    assert result["sessions_skipped_deleted"] == 1
    assert result["sessions_skipped_existing"] == 1
    assert result["sessions_imported"] == 0
    assert db.get(InterviewSession, "gone-1") is None
    assert db.scalar(select(func.count()).select_from(Question)) == 2


def test_tombstoned_id_is_skipped(db: Session):
    db.add(
        DeletionLogEntry(
            session_id="tomb-1",
            user_id="someone",
            reason="USER",
            actor="user:someone",
            requested_at=NOW - timedelta(days=40),
            purged_at=NOW - timedelta(days=10),
        )
    )
    db.commit()

    result = import_jsonl(
        db, _jsonl(user_line(), session_line("tomb-1"), session_line("new-1")), now=NOW
    )
    db.commit()

    assert result["sessions_skipped_deleted"] == 1
    assert result["sessions_imported"] == 1
    assert result["questions"] == 2
    assert db.get(InterviewSession, "tomb-1") is None


def test_existing_user_is_matched_by_email_and_left_alone(db: Session):
    user, token = create_user(db, email="ada@example.com", display_name="A", now=NOW)
    db.commit()

    result = import_jsonl(
        db,
        _jsonl(
            user_line("  ADA@Example.com ", role="admin", displayName="Other"),
            session_line("s-1", email="Ada@example.com"),
        ),
        now=NOW,
    )
    db.commit()

    assert result["users_created"] == 0
    assert result["users_existing"] == 1
    db.refresh(user)
    assert (user.role, user.display_name) == ("user", "A")
    assert user_for_token(db, token).id == user.id
    assert db.get(InterviewSession, "s-1").user_id == user.id


def test_each_user_line_costs_one_lookup_and_a_new_user_one_insert(db: Session):
    create_user(db, email="grace@example.com", display_name="G", now=NOW)
    db.commit()
    engine = db.get_bind()
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        if re.search(r"\b(FROM|INTO|UPDATE) users\b", statement):
            statements.append(statement.split(None, 1)[0])

    event.listen(engine, "before_cursor_execute", record)
    try:
        result = import_jsonl(
            db,
            _jsonl(
                user_line("ada@example.com", role="admin"),
                user_line("bob@example.com"),
                user_line("grace@example.com", role="admin"),
            ),
            now=NOW,
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert statements == ["SELECT", "INSERT", "SELECT", "INSERT", "SELECT"]
    assert (result["users_created"], result["users_existing"]) == (2, 1)
    roles = dict(db.execute(select(User.email, User.role)).all())
    assert roles == {
        "ada@example.com": "admin",
        "bob@example.com": "user",
        "grace@example.com": "user",
    }


def test_session_of_a_user_already_in_the_database_needs_no_user_line(db: Session):
    user, _ = create_user(db, email="ada@example.com", now=NOW)
    resume = Resume(id="r-db", user_id=user.id, title="CV", created_at=NOW)
    db.add(resume)
    db.commit()

    result = import_jsonl(db, _jsonl(session_line("s-1", resumeId="r-db")), now=NOW)
    db.commit()

    assert result["sessions_imported"] == 1
    assert db.get(InterviewSession, "s-1").resume_id == "r-db"


def test_blank_lines_and_a_byte_order_mark_are_accepted(db: Session):
    lines = ["\ufeff" + json.dumps(user_line()), "\n", json.dumps(session_line("s-1"))]

    result = import_jsonl(db, lines, now=NOW)

    assert result["sessions_imported"] == 1


def test_logs_counts_without_personal_data(db: Session):
    with capture_logs() as logs:
        import_jsonl(db, _jsonl(user_line(), session_line("s-1")), now=NOW)

    (event,) = [e for e in logs if e["event"] == "import.finished"]
    assert event["sessions_imported"] == 1
    assert event["users_created"] == 1
    assert not any("@" in str(value) for value in event.values())


def _deleted_without_deadline() -> dict[str, Any]:
    return session_line(
        "s-bad",
        status="DELETED",
        statusBeforeDeletion="COMPLETED",
        deletedAt="2026-01-01T00:00:00Z",
    )


def _answer_to_foreign_question() -> dict[str, Any]:
    line = session_line("s-bad")
    line["answers"][0]["questionId"] = "s-good-q1"
    return line


def _follow_up_of_foreign_question() -> dict[str, Any]:
    line = session_line("s-bad")
    line["questions"][1]["parentQuestionId"] = "s-good-q1"
    return line


def _question_of_another_session() -> dict[str, Any]:
    line = session_line("s-bad")
    line["questions"][0]["questionId"] = "s-good-q1"
    line["questions"][1]["parentQuestionId"] = "s-good-q1"
    line["answers"][0]["questionId"] = "s-good-q1"
    return line


def _naive_answer_time() -> dict[str, Any]:
    line = session_line("s-bad")
    line["answers"][1]["submittedAt"] = "2025-11-01T10:09:00"
    return line


BAD_LINES: dict[str, tuple[Callable[[], dict[str, Any] | str], str]] = {
    "invalid_json": (lambda: '{"type": "session", "sessionId": ', "not valid JSON"),
    "not_an_object": (lambda: "[1, 2]", 'expected a JSON object with a "type"'),
    "unknown_type": (lambda: {"type": "interview"}, "unknown type 'interview'"),
    "missing_type": (lambda: {"sessionId": "x"}, 'a "type" of user, resume'),
    "naive_timestamp": (
        lambda: session_line("s-bad", createdAt="2025-11-01T10:00:00"),
        "session.createdAt: needs a UTC offset",
    ),
    "naive_child_timestamp": (
        _naive_answer_time,
        "session.answers[1].submittedAt: needs a UTC offset",
    ),
    "unknown_field": (
        lambda: session_line("s-bad", colour="red"),
        "session.colour: unknown field",
    ),
    "snake_case_field": (
        lambda: {"type": "user", "email": "x@example.com", "display_name": "X"},
        "user.display_name: unknown field",
    ),
    "unknown_status": (lambda: session_line("s-bad", status="ARCHIVED"), "status"),
    "unknown_deletion_reason": (
        lambda: session_line(
            "s-bad",
            status="DELETED",
            statusBeforeDeletion="CREATED",
            deletedAt="2026-01-01T00:00:00Z",
            permanentDeleteAt="2026-01-31T00:00:00Z",
            deletionReason="BORED",
        ),
        "deletionReason",
    ),
    "deleted_without_deadline": (
        _deleted_without_deadline,
        "a DELETED session needs permanentDeleteAt",
    ),
    "deadline_without_reason": (
        lambda: session_line(
            "s-bad",
            status="DELETED",
            statusBeforeDeletion="CREATED",
            deletedAt="2026-01-01T00:00:00Z",
            permanentDeleteAt="2026-01-31T00:00:00Z",
        ),
        "permanentDeleteAt and deletionReason go together",
    ),
    "answer_to_foreign_question": (
        _answer_to_foreign_question,
        "answers[0]: questionId is not a question of this session",
    ),
    "follow_up_of_foreign_question": (
        _follow_up_of_foreign_question,
        "questions[1]: parentQuestionId is not an ORIGINAL question",
    ),
    "resume_of_another_user": (
        lambda: session_line("s-bad", resumeId="r-grace"),
        "resume r-grace belongs to another user",
    ),
    "unknown_resume": (
        lambda: session_line("s-bad", resumeId="r-nowhere"),
        "resume r-nowhere is neither in the file nor in the database",
    ),
    "unknown_user": (
        lambda: session_line("s-bad", email="nobody@example.com"),
        "userEmail matches no user",
    ),
    "invalid_email": (lambda: user_line("not-an-email"), "not a valid email"),
    "duplicate_session": (
        lambda: session_line("s-good"),
        "session s-good appears twice in the file (first on line 5)",
    ),
    "question_id_of_another_session": (
        _question_of_another_session,
        "questionId s-good-q1 is already used by another session",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_line_fails_naming_it_and_writes_nothing(
    db: Session, monkeypatch, case: str
):
    make_bad, reason = BAD_LINES[case]
    create_user(db, email="existing@example.com", now=NOW)
    db.commit()
    before = _table_counts(db)
    lines = _jsonl(
        user_line(),
        user_line("grace@example.com"),
        resume_line("r-ada"),
        resume_line("r-grace", email="grace@example.com"),
        session_line("s-good", resumeId="r-ada"),
        make_bad(),
        session_line("s-after"),
    )
    # One session per chunk: the good session is in the database when the bad
    # line is read, so the rollback is what keeps the database unchanged.
    monkeypatch.setattr(importer, "SESSION_CHUNK", 1)

    with pytest.raises(ImportFailed) as failure:
        import_jsonl(db, lines, now=NOW)
    db.rollback()

    assert str(failure.value).startswith("line 6: ")
    assert reason in str(failure.value)
    assert _table_counts(db) == before


def test_resume_owned_by_another_user_in_the_database_fails(db: Session):
    grace, _ = create_user(db, email="grace@example.com", now=NOW)
    db.add(Resume(id="r-grace", user_id=grace.id, title="CV", created_at=NOW))
    db.commit()
    before = _table_counts(db)

    with pytest.raises(ImportFailed, match=r"^line 2: resume r-grace belongs to"):
        import_jsonl(
            db, _jsonl(user_line(), session_line("s-1", resumeId="r-grace")), now=NOW
        )
    db.rollback()

    assert _table_counts(db) == before


def test_resume_line_reusing_an_id_of_another_user_fails(db: Session):
    grace, _ = create_user(db, email="grace@example.com", now=NOW)
    db.add(Resume(id="r-1", user_id=grace.id, title="CV", created_at=NOW))
    db.commit()

    with pytest.raises(ImportFailed, match=r"^line 2: resume r-1 exists already"):
        import_jsonl(db, _jsonl(user_line(), resume_line("r-1")), now=NOW)
    db.rollback()


def test_question_id_taken_in_the_database_fails(db: Session):
    import_jsonl(db, _jsonl(user_line(), session_line("s-1")), now=NOW)
    db.commit()
    clash = session_line("s-2")
    clash["questions"][0]["questionId"] = "s-1-q1"
    clash["questions"][1]["parentQuestionId"] = "s-1-q1"
    clash["answers"][0]["questionId"] = "s-1-q1"

    with pytest.raises(ImportFailed, match=r"^line 2: questionId s-1-q1 is already"):
        import_jsonl(db, _jsonl(user_line(), clash), now=NOW)
    db.rollback()

    assert db.get(InterviewSession, "s-2") is None


def test_question_id_shared_by_two_sessions_of_the_file_fails(db: Session):
    second = session_line("s-2")
    second["questions"][0]["questionId"] = "s-1-q1"
    second["questions"][1]["parentQuestionId"] = "s-1-q1"
    second["answers"][0]["questionId"] = "s-1-q1"

    with pytest.raises(
        ImportFailed, match=r"^line 3: questionId s-1-q1 is also used on line 2"
    ):
        import_jsonl(db, _jsonl(user_line(), session_line("s-1"), second), now=NOW)
    db.rollback()

    assert db.scalar(select(func.count()).select_from(InterviewSession)) == 0


def test_optional_fields_take_their_defaults(db: Session):
    line = session_line("s-1", legalHold=True, legalHoldReason="Audit")
    for key in ("questionCount", "updatedAt", "config", "resumeId"):
        del line[key]

    import_jsonl(db, _jsonl(user_line(), line), now=NOW)

    session = db.get(InterviewSession, "s-1")
    assert session.question_count == 1
    assert session.updated_at == session.created_at
    assert session.config == {}
    assert session.resume_id is None
    assert (session.legal_hold, session.legal_hold_at) == (True, NOW)
