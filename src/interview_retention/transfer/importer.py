"""Importing users, resumes and sessions from JSON Lines, keeping each row's own age.

One JSON object per line, each with a `type`: `user`, `resume` or `session` (the
format `sample.generate` writes; the fields are the pydantic models below, in
camelCase). Users are matched by email; resumes and sessions keep their ids and
timestamps, so imported data ages exactly as it would have here.

Every timestamp must carry an offset; it is stored as the same instant in UTC.
None may be later than the import but a deadline, and a deadline must keep to
the periods of the contract: it can neither cut short a recovery window or a
grace period nor lie beyond any deadline the service itself would set.
A user new to this database is created without a token (issue one with
`interview-retention users token`); an existing user is matched by email and
left as they are.

The whole import runs inside the caller's transaction and never commits. Lines
are read one at a time and sessions are written in chunks, one batched insert
per table and chunk, so memory stays flat whatever the size of the file. The
first line that is not valid raises `ImportFailed` naming it; the caller rolls
back and nothing is written. A session whose id exists already is skipped (one
of another user's fails the import), and so is one whose id is in the deletion
log: data that was deleted must never come back.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import structlog
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from sqlalchemy import Column, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from interview_retention.clock import NEEDS_OFFSET, UTCInstant
from interview_retention.config import Settings, get_settings
from interview_retention.deletion.models import DeletionLogEntry
from interview_retention.errors import Invalid
from interview_retention.sessions.models import (
    DELETION_REASONS,
    STATUSES,
    Answer,
    Evaluation,
    InterviewSession,
    Question,
    Report,
)
from interview_retention.users.models import ROLES, Resume, User, new_id
from interview_retention.users.service import get_or_create_by_email, normalize_email

log = structlog.get_logger("interview_retention.transfer")

# Sessions written per round of inserts: large enough that the per-statement cost
# vanishes, small enough that a chunk's rows (about 25 per session) stay modest.
SESSION_CHUNK = 500
# Ids per `IN (...)` lookup, well below SQLite's limit on bound parameters.
LOOKUP_CHUNK = 1000
# The largest value of an INTEGER column on PostgreSQL.
MAX_INT = 2**31 - 1
# A NUL character, escaped as JSON writes it (an odd number of backslashes before
# u0000); PostgreSQL cannot store it in text or JSON.
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

# What `import_jsonl` returns, in this order.
COUNTS = (
    "users_created",
    "users_existing",
    "resumes_created",
    "resumes_skipped_existing",
    "sessions_imported",
    "sessions_skipped_existing",
    "sessions_skipped_deleted",
    "questions",
    "answers",
    "evaluations",
    "reports",
)


class ImportFailed(Exception):
    """A line could not be imported; the message names it. Roll back everything."""


def _email(value: str) -> str:
    try:
        return normalize_email(value)
    except Invalid:
        raise ValueError("not a valid email address") from None


Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9_-]+$"),
]
Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email)]
Status = Literal[STATUSES]  # type: ignore[valid-type]
Reason = Literal[DELETION_REASONS]  # type: ignore[valid-type]
Score = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Category = Annotated[str, StringConstraints(max_length=64)]


class _Line(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid")


class UserLine(_Line):
    type: Literal["user"]
    email: Email
    display_name: Annotated[str, StringConstraints(max_length=200)] = ""
    role: Literal[ROLES] = "user"  # type: ignore[valid-type]


class ResumeLine(_Line):
    type: Literal["resume"]
    resume_id: Id
    user_email: Email
    title: Annotated[str, StringConstraints(max_length=200)] = ""
    created_at: UTCInstant


class QuestionIn(_Line):
    question_id: Id
    parent_question_id: Id | None = None
    position: int = Field(ge=0, le=MAX_INT)
    question_type: Literal["ORIGINAL", "FOLLOW_UP"]
    category: Category = ""
    text: Annotated[str, StringConstraints(min_length=1)]


class AnswerIn(_Line):
    answer_id: Id
    question_id: Id
    text: str
    submitted_at: UTCInstant


class EvaluationIn(_Line):
    overall_score: Score
    feedback: str = ""
    category_scores: dict[Category, Score] = Field(default_factory=dict)
    strengths: list[str] = Field(default_factory=list)
    improvement_suggestions: list[str] = Field(default_factory=list)
    created_at: UTCInstant


class ReportIn(_Line):
    content: dict[str, Any]
    generated_at: UTCInstant


class SessionLine(_Line):
    """A session with its children. The checks keep the deletion columns as
    consistent as the service would have left them: the jobs rely on them."""

    type: Literal["session"]
    session_id: Id
    user_email: Email
    resume_id: Id | None = None
    status: Status
    status_before_deletion: Status | None = None
    # Defaults to the number of original questions, as a new session counts them.
    question_count: int | None = Field(None, ge=0, le=MAX_INT)
    config: dict[str, Any] = Field(default_factory=dict)
    created_at: UTCInstant
    updated_at: UTCInstant | None = None
    completed_at: UTCInstant | None = None
    evaluated_at: UTCInstant | None = None
    deleted_at: UTCInstant | None = None
    permanent_delete_at: UTCInstant | None = None
    deletion_reason: Reason | None = None
    retention_notice_at: UTCInstant | None = None
    legal_hold: bool = False
    legal_hold_reason: Annotated[str, StringConstraints(max_length=500)] | None = None
    legal_hold_at: UTCInstant | None = None
    questions: list[QuestionIn] = Field(default_factory=list)
    answers: list[AnswerIn] = Field(default_factory=list)
    evaluation: EvaluationIn | None = None
    report: ReportIn | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SessionLine:
        self._check_lifecycle()
        self._check_children()
        return self

    def _check_lifecycle(self) -> None:
        if self.status == "DELETED":
            missing = [
                name
                for name, value in (
                    ("deletedAt", self.deleted_at),
                    ("permanentDeleteAt", self.permanent_delete_at),
                    ("statusBeforeDeletion", self.status_before_deletion),
                )
                if value is None
            ]
            if missing:
                raise ValueError(f"a DELETED session needs {', '.join(missing)}")
            if self.status_before_deletion == "DELETED":
                raise ValueError("statusBeforeDeletion cannot be DELETED")
        elif self.deleted_at is not None or self.status_before_deletion is not None:
            raise ValueError(
                "deletedAt and statusBeforeDeletion belong to DELETED sessions only"
            )
        # The purge and the backlog read the reason of every deadline.
        if (self.permanent_delete_at is None) != (self.deletion_reason is None):
            raise ValueError("permanentDeleteAt and deletionReason go together")
        if self.deletion_reason == "RETENTION" and not self.retention_notice_at:
            raise ValueError("deletionReason RETENTION needs retentionNoticeAt")
        if (
            self.status != "DELETED"
            and self.permanent_delete_at is not None
            and self.deletion_reason != "RETENTION"
        ):
            raise ValueError(
                "a deadline on a session that is not DELETED must come from the"
                " retention rule: deletionReason RETENTION and retentionNoticeAt"
            )
        if not self.legal_hold and (self.legal_hold_reason or self.legal_hold_at):
            raise ValueError("legalHoldReason and legalHoldAt need legalHold true")
        # A hold calls off the rule's schedule; lifting it must lead to a new notice.
        if self.legal_hold and self.status != "DELETED" and self.permanent_delete_at:
            raise ValueError(
                "a session on legal hold that is not DELETED has no permanentDeleteAt"
            )

    def _check_children(self) -> None:
        kinds: dict[str, str] = {}
        positions: set[int] = set()
        for index, question in enumerate(self.questions):
            where = f"questions[{index}]"
            if question.question_id in kinds:
                raise ValueError(f"{where}: questionId is used twice")
            if question.position in positions:
                raise ValueError(f"{where}: position {question.position} is used twice")
            kinds[question.question_id] = question.question_type
            positions.add(question.position)
        for index, question in enumerate(self.questions):
            where = f"questions[{index}]"
            parent = question.parent_question_id
            if question.question_type == "ORIGINAL" and parent is not None:
                raise ValueError(f"{where}: an ORIGINAL question has no parent")
            if question.question_type == "FOLLOW_UP" and parent is None:
                raise ValueError(f"{where}: a FOLLOW_UP needs parentQuestionId")
            if parent is not None and kinds.get(parent) != "ORIGINAL":
                raise ValueError(
                    f"{where}: parentQuestionId is not an ORIGINAL question"
                    " of this session"
                )
        answer_ids: set[str] = set()
        for index, answer in enumerate(self.answers):
            where = f"answers[{index}]"
            if answer.answer_id in answer_ids:
                raise ValueError(f"{where}: answerId is used twice")
            answer_ids.add(answer.answer_id)
            if answer.question_id not in kinds:
                raise ValueError(
                    f"{where}: questionId is not a question of this session"
                )


AnyLine = Annotated[UserLine | ResumeLine | SessionLine, Field(discriminator="type")]
_LINE = TypeAdapter(AnyLine)


def _place(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _describe(error: ValidationError) -> str:
    """The first few problems of a line, in words, without echoing its values."""
    problems = error.errors(include_url=False, include_input=False)
    first = problems[0]
    kind = first["type"]
    if kind == "json_invalid":
        return f"not valid JSON ({first.get('ctx', {}).get('error', 'parse error')})"
    if kind == "union_tag_invalid":
        tag = first.get("ctx", {}).get("tag", "")
        return f"unknown type {tag!r}; expected user, resume or session"
    if kind in ("union_tag_not_found", "model_attributes_type", "dict_type"):
        return 'expected a JSON object with a "type" of user, resume or session'

    parts = []
    for problem in problems[:3]:
        if problem["type"] == "extra_forbidden":
            message = "unknown field"
        elif problem["type"] == "timezone_aware":
            message = NEEDS_OFFSET
        else:
            message = problem["msg"].removeprefix("Value error, ")
        where = _place(problem["loc"])
        parts.append(f"{where}: {message}" if where else message)
    if len(problems) > 3:
        parts.append(f"and {len(problems) - 3} more")
    return "; ".join(parts)


@dataclass
class _PendingSession:
    line: int
    item: SessionLine
    user_id: str


@dataclass
class _Importer:
    db: Session
    now: datetime
    settings: Settings
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    # Kept for the whole import, so that every reference is checked once: email to
    # user id, resume id to its owner, session id to the line that brought it.
    # These grow with the file, about 150 bytes per session: some 15 MB for
    # 100,000 sessions, the price of naming the first line of a duplicate.
    users: dict[str, str] = field(default_factory=dict)
    resume_owner: dict[str, str] = field(default_factory=dict)
    session_lines: dict[str, int] = field(default_factory=dict)
    resumes: list[tuple[int, ResumeLine, str]] = field(default_factory=list)
    sessions: list[_PendingSession] = field(default_factory=list)

    def add(self, number: int, item: UserLine | ResumeLine | SessionLine) -> None:
        if isinstance(item, UserLine):
            self._user(item)
        elif isinstance(item, ResumeLine):
            self._resume(number, item)
        else:
            self._session(number, item)
        if len(self.sessions) >= SESSION_CHUNK or len(self.resumes) >= SESSION_CHUNK:
            self.flush()

    def _user(self, item: UserLine) -> None:
        # An existing user keeps their name and role; only a new one takes the file's.
        user, created = get_or_create_by_email(
            self.db,
            email=item.email,
            display_name=item.display_name,
            role=item.role,
            now=self.now,
        )
        self.counts["users_created" if created else "users_existing"] += 1
        self.users[item.email] = user.id

    def _user_id(self, number: int, email: str) -> str:
        user_id = self.users.get(email)
        if user_id is None:
            user_id = self.db.scalar(select(User.id).where(User.email == email))
            if user_id is None:
                raise ImportFailed(
                    f"line {number}: userEmail matches no user line before it"
                    " and no user in the database"
                )
            self.users[email] = user_id
        return user_id

    def _resume(self, number: int, item: ResumeLine) -> None:
        self._check_past(number, [("createdAt", item.created_at)])
        user_id = self._user_id(number, item.user_email)
        if item.resume_id in self.resume_owner:
            raise ImportFailed(
                f"line {number}: resume {item.resume_id} appears twice in the file"
            )
        self.resume_owner[item.resume_id] = user_id
        self.resumes.append((number, item, user_id))

    def _session(self, number: int, item: SessionLine) -> None:
        self._check_times(number, item)
        user_id = self._user_id(number, item.user_email)
        first = self.session_lines.get(item.session_id)
        if first is not None:
            raise ImportFailed(
                f"line {number}: session {item.session_id} appears twice in the file"
                f" (first on line {first})"
            )
        owner = self.resume_owner.get(item.resume_id) if item.resume_id else None
        if owner is not None and owner != user_id:
            raise ImportFailed(
                f"line {number}: resume {item.resume_id} belongs to another user"
            )
        self.session_lines[item.session_id] = number
        self.sessions.append(_PendingSession(number, item, user_id))

    def _check_past(
        self, number: int, moments: Iterable[tuple[str, datetime | None]]
    ) -> None:
        for name, moment in moments:
            if moment is not None and moment > self.now:
                raise ImportFailed(
                    f"line {number}: {name} is after the import ({_iso(self.now)})"
                )

    def _check_times(self, number: int, item: SessionLine) -> None:
        """Refuse what this service could not have written by `now`.

        Events after the import would keep a session from the retention rule, and
        a deadline outside the periods of the contract would delete it before the
        user or the notice was given their time, or never.
        """
        evaluation, report = item.evaluation, item.report
        self._check_past(
            number,
            [
                ("createdAt", item.created_at),
                ("updatedAt", item.updated_at),
                ("completedAt", item.completed_at),
                ("evaluatedAt", item.evaluated_at),
                ("deletedAt", item.deleted_at),
                ("retentionNoticeAt", item.retention_notice_at),
                ("legalHoldAt", item.legal_hold_at),
                *(
                    (f"answers[{index}].submittedAt", answer.submitted_at)
                    for index, answer in enumerate(item.answers)
                ),
                ("evaluation.createdAt", evaluation and evaluation.created_at),
                ("report.generatedAt", report and report.generated_at),
            ],
        )

        deadline = item.permanent_delete_at
        if deadline is None:
            return
        settings = self.settings
        deleted, noticed = item.deleted_at, item.retention_notice_at
        if (
            item.deletion_reason == "USER"
            and deleted is not None
            and deadline < deleted + settings.recovery_period
        ):
            raise ImportFailed(
                f"line {number}: permanentDeleteAt is before deletedAt +"
                f" RECOVERY_DAYS ({settings.recovery_days})"
            )
        if (
            item.deletion_reason == "RETENTION"
            and noticed is not None
            and deadline < noticed + settings.grace_period
        ):
            raise ImportFailed(
                f"line {number}: permanentDeleteAt is before retentionNoticeAt +"
                f" GRACE_DAYS ({settings.grace_days})"
            )
        # A deadline is set at a soft delete, a notice or a lifted hold, none of
        # which can be later than now.
        latest = self.now + max(settings.recovery_period, settings.grace_period)
        if deadline > latest:
            raise ImportFailed(
                f"line {number}: permanentDeleteAt is later than any deadline this"
                f" service sets ({_iso(latest)})"
            )

    def flush(self) -> None:
        """Write the buffered resumes, then the buffered sessions and their children."""
        resumes, self.resumes = self.resumes, []
        sessions, self.sessions = self.sessions, []
        self.db.flush()
        if resumes:
            self._write_resumes(resumes)
        if sessions:
            self._write_sessions(sessions)

    def _write_resumes(self, pending: list[tuple[int, ResumeLine, str]]) -> None:
        existing = dict(
            _lookup(
                self.db,
                (Resume.id, Resume.user_id),
                Resume.id,
                [item.resume_id for _, item, _ in pending],
            )
        )
        rows = []
        for number, item, user_id in pending:
            owner = existing.get(item.resume_id)
            if owner is None:
                rows.append(
                    {
                        "id": item.resume_id,
                        "user_id": user_id,
                        "title": item.title,
                        "created_at": item.created_at,
                    }
                )
            elif owner == user_id:
                self.counts["resumes_skipped_existing"] += 1
            else:
                raise ImportFailed(
                    f"line {number}: resume {item.resume_id} exists already and"
                    " belongs to another user"
                )
        if rows:
            self.db.execute(insert(Resume.__table__), rows)
        self.counts["resumes_created"] += len(rows)

    def _write_sessions(self, pending: list[_PendingSession]) -> None:
        ids = [p.item.session_id for p in pending]
        existing = dict(
            _lookup(
                self.db,
                (InterviewSession.id, InterviewSession.user_id),
                InterviewSession.id,
                ids,
            )
        )
        tombstoned = {
            row[0]
            for row in _lookup(
                self.db,
                (DeletionLogEntry.session_id,),
                DeletionLogEntry.session_id,
                ids,
            )
        }
        self._check_resumes(pending)

        fresh = []
        for p in pending:
            if p.item.session_id in tombstoned:
                self.counts["sessions_skipped_deleted"] += 1
            elif existing.get(p.item.session_id, p.user_id) != p.user_id:
                raise ImportFailed(
                    f"line {p.line}: session {p.item.session_id} exists already and"
                    " belongs to another user"
                )
            elif p.item.session_id in existing:
                self.counts["sessions_skipped_existing"] += 1
            else:
                fresh.append(p)
        if not fresh:
            return
        self._check_child_ids_unique(fresh)

        rows = _Rows(self.now)
        for p in fresh:
            rows.add(p)
        try:
            with self._savepoint():
                self._insert(rows)
        except IntegrityError as exc:
            self._explain_refusal(fresh)
            raise ImportFailed(
                f"lines {fresh[0].line}-{fresh[-1].line}: the database refused these"
                f" sessions ({type(exc.orig).__name__})"
            ) from exc
        self.counts["sessions_imported"] += len(rows.sessions)
        self.counts["questions"] += len(rows.originals) + len(rows.follow_ups)
        self.counts["answers"] += len(rows.answers)
        self.counts["evaluations"] += len(rows.evaluations)
        self.counts["reports"] += len(rows.reports)

    def _check_resumes(self, pending: list[_PendingSession]) -> None:
        """Resumes not named in the file must exist here and belong to the session's
        user; those in the file were checked when their session was read."""
        unknown = {
            p.item.resume_id
            for p in pending
            if p.item.resume_id and p.item.resume_id not in self.resume_owner
        }
        if unknown:
            self.resume_owner.update(
                _lookup(
                    self.db, (Resume.id, Resume.user_id), Resume.id, sorted(unknown)
                )
            )
        for p in pending:
            if p.item.resume_id is None:
                continue
            owner = self.resume_owner.get(p.item.resume_id)
            if owner is None:
                raise ImportFailed(
                    f"line {p.line}: resume {p.item.resume_id} is neither in the file"
                    " nor in the database"
                )
            if owner != p.user_id:
                raise ImportFailed(
                    f"line {p.line}: resume {p.item.resume_id} belongs to another user"
                )

    def _check_child_ids_unique(self, fresh: list[_PendingSession]) -> None:
        """Question and answer ids are primary keys: no two sessions of a chunk may
        share one. (Each session's own ids were checked when its line was read.)"""
        for label, ids_of in _CHILD_IDS:
            line_of: dict[str, int] = {}
            for p in fresh:
                for child_id in ids_of(p.item):
                    if child_id in line_of:
                        raise ImportFailed(
                            f"line {p.line}: {label} {child_id} is also used on line"
                            f" {line_of[child_id]}"
                        )
                    line_of[child_id] = p.line

    def _savepoint(self) -> AbstractContextManager[Any]:
        # PostgreSQL aborts the whole transaction on a refused row, so the inserts
        # run under a savepoint to keep it usable for `_explain_refusal`. SQLite
        # only undoes the refused statement, and a savepoint opened before the
        # first write would become the transaction itself and commit on release.
        if self.db.get_bind().dialect.name == "postgresql":
            return self.db.begin_nested()
        return nullcontext()

    def _insert(self, rows: _Rows) -> None:
        for model, params in (
            (InterviewSession, rows.sessions),
            # Originals before follow-ups: a follow-up references its parent's row.
            (Question, rows.originals),
            (Question, rows.follow_ups),
            (Answer, rows.answers),
            (Evaluation, rows.evaluations),
            (Report, rows.reports),
        ):
            if params:
                self.db.execute(insert(model.__table__), params)

    def _explain_refusal(self, fresh: list[_PendingSession]) -> None:
        """Name the line whose question or answer id another session already uses.

        Only run once the database has refused a chunk, so that a clean import
        pays for no lookups. Rows of this chunk that went in before the refusal
        (SQLite keeps them until the rollback) belong to their own session and
        are told apart by their session id.
        """
        for label, ids_of, model in (
            (*_CHILD_IDS[0], Question),
            (*_CHILD_IDS[1], Answer),
        ):
            owner = {child_id: p for p in fresh for child_id in ids_of(p.item)}
            for child_id, session_id in _lookup(
                self.db, (model.id, model.session_id), model.id, list(owner)
            ):
                if session_id != owner[child_id].item.session_id:
                    raise ImportFailed(
                        f"line {owner[child_id].line}: {label} {child_id} is already"
                        " used by another session in the database"
                    )


_CHILD_IDS: tuple[tuple[str, Callable[[SessionLine], list[str]]], ...] = (
    ("questionId", lambda s: [q.question_id for q in s.questions]),
    ("answerId", lambda s: [a.answer_id for a in s.answers]),
)


@dataclass
class _Rows:
    """The insert parameters of one chunk of sessions, table by table."""

    now: datetime
    sessions: list[dict[str, Any]] = field(default_factory=list)
    originals: list[dict[str, Any]] = field(default_factory=list)
    follow_ups: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)

    def add(self, pending: _PendingSession) -> None:
        s = pending.item
        sid = s.session_id
        count = s.question_count
        if count is None:
            count = sum(q.question_type == "ORIGINAL" for q in s.questions)
        held_at = s.legal_hold_at
        if s.legal_hold and held_at is None:
            # A hold without its date dates from the import, when this database
            # learnt of it.
            held_at = self.now
        self.sessions.append(
            {
                "id": sid,
                "user_id": pending.user_id,
                "resume_id": s.resume_id,
                "status": s.status,
                "status_before_deletion": s.status_before_deletion,
                "question_count": count,
                "config": s.config,
                "created_at": s.created_at,
                "updated_at": s.updated_at or s.created_at,
                "completed_at": s.completed_at,
                "evaluated_at": s.evaluated_at,
                "deleted_at": s.deleted_at,
                "permanent_delete_at": s.permanent_delete_at,
                "deletion_reason": s.deletion_reason,
                "retention_notice_at": s.retention_notice_at,
                "notice_cycle": 0,
                "legal_hold": s.legal_hold,
                "legal_hold_reason": s.legal_hold_reason,
                "legal_hold_at": held_at,
            }
        )
        for q in s.questions:
            target = self.originals if q.parent_question_id is None else self.follow_ups
            target.append(
                {
                    "id": q.question_id,
                    "session_id": sid,
                    "parent_question_id": q.parent_question_id,
                    "position": q.position,
                    "question_type": q.question_type,
                    "category": q.category,
                    "text": q.text,
                }
            )
        for a in s.answers:
            self.answers.append(
                {
                    "id": a.answer_id,
                    "session_id": sid,
                    "question_id": a.question_id,
                    "text": a.text,
                    "submitted_at": a.submitted_at,
                }
            )
        if s.evaluation is not None:
            e = s.evaluation
            self.evaluations.append(
                {
                    "id": new_id(),
                    "session_id": sid,
                    "overall_score": e.overall_score,
                    "feedback": e.feedback,
                    "category_scores": e.category_scores,
                    "strengths": e.strengths,
                    "improvement_suggestions": e.improvement_suggestions,
                    "created_at": e.created_at,
                }
            )
        if s.report is not None:
            self.reports.append(
                {
                    "id": new_id(),
                    "session_id": sid,
                    "content": s.report.content,
                    "generated_at": s.report.generated_at,
                }
            )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _lookup(
    db: Session, columns: tuple[Any, ...], key: Column[Any] | Any, ids: list[str]
) -> Iterator[tuple[Any, ...]]:
    """Rows of `columns` whose `key` is among `ids`, in bounded `IN` lists."""
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        yield from db.execute(select(*columns).where(key.in_(chunk)))


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """Lines with their numbers; a file that is not UTF-8 fails like a bad line."""
    number = 0
    stream = iter(lines)
    while True:
        try:
            raw = next(stream)
        except StopIteration:
            return
        except UnicodeDecodeError:
            # The file is decoded in blocks, so the bad byte may sit a few lines on.
            raise ImportFailed(
                f"line {number + 1}: not valid UTF-8 (at or after this line)"
            ) from None
        number += 1
        yield number, raw


def import_jsonl(
    db: Session,
    lines: Iterable[str],
    *,
    now: datetime,
    settings: Settings | None = None,
) -> dict[str, int]:
    """Import every line into the caller's transaction and return what was written.

    Never commits. Raises `ImportFailed("line N: ...")` at the first line that is
    not valid; the caller must then roll back, and nothing of the file remains.
    Running the same file twice imports nothing the second time. Deadlines are
    checked against the periods of `settings` (the service's own by default).
    """
    started = time.perf_counter()
    importer = _Importer(db, now, settings or get_settings())

    for number, raw in _numbered(lines):
        text = raw.lstrip("\ufeff") if number == 1 else raw
        if not text.strip():
            continue
        if _NUL.search(text):
            raise ImportFailed(f"line {number}: contains a NUL character (\\u0000)")
        try:
            item = _LINE.validate_json(text)
        except ValidationError as exc:
            raise ImportFailed(f"line {number}: {_describe(exc)}") from None
        importer.add(number, item)
    importer.flush()

    log.info(
        "import.finished",
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
        **importer.counts,
    )
    return dict(importer.counts)
