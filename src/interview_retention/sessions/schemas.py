"""What the sessions API accepts and returns, in the seed page's camelCase."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from interview_retention.sessions.models import (
    Answer,
    Evaluation,
    InterviewSession,
    Question,
)

Status = Literal["CREATED", "IN_PROGRESS", "COMPLETED", "EVALUATED", "DELETED"]


Item = TypeVar("Item")


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, from_attributes=True
    )


# What a client sends is read by its camelCase names only, and an unknown name is
# refused: accepting `question_count` beside `questionCount` would let one body
# say two things.
REQUEST = ConfigDict(extra="forbid", validate_by_name=False, validate_by_alias=True)


class SessionCreate(CamelModel):
    model_config = REQUEST

    resume_id: str | None = Field(None, max_length=36)
    # Strict: `true`, `2.0` and `"3"` are not counts.
    question_count: int = Field(10, ge=1, le=50, strict=True)
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("config")
    @classmethod
    def _small_config(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(repr(value)) > 4000:
            raise ValueError("config is too large (4000 characters at most)")
        return value


class SessionUpdate(CamelModel):
    """A status change. The soft-delete client also sends its own timestamps;
    they are accepted and ignored, because the server decides the deadline."""

    model_config = REQUEST

    status: Status
    deleted_at: datetime | None = None
    permanent_delete_at: datetime | None = None


class SessionOut(CamelModel):
    session_id: str
    resume_id: str | None
    status: Status
    status_before_deletion: Status | None
    question_count: int
    config: dict[str, Any]
    created_at: AwareDatetime
    updated_at: AwareDatetime
    completed_at: AwareDatetime | None
    evaluated_at: AwareDatetime | None
    deleted_at: AwareDatetime | None
    permanent_delete_at: AwareDatetime | None
    deletion_reason: str | None
    retention_notice_at: AwareDatetime | None
    legal_hold: bool

    @classmethod
    def of(cls, session: InterviewSession) -> SessionOut:
        return cls.model_validate(
            {**_columns(session), "session_id": session.id}, from_attributes=False
        )


class QuestionOut(CamelModel):
    question_id: str
    position: int
    question_type: str
    category: str
    text: str
    follow_ups: list[QuestionOut] = Field(default_factory=list)

    @classmethod
    def of(cls, question: Question) -> QuestionOut:
        return cls(
            question_id=question.id,
            position=question.position,
            question_type=question.question_type,
            category=question.category,
            text=question.text,
        )


class AnswerOut(CamelModel):
    answer_id: str
    question_id: str
    text: str
    submitted_at: AwareDatetime

    @classmethod
    def of(cls, answer: Answer) -> AnswerOut:
        return cls(
            answer_id=answer.id,
            question_id=answer.question_id,
            text=answer.text,
            submitted_at=answer.submitted_at,
        )


class EvaluationOut(CamelModel):
    overall_score: float
    feedback: str
    category_scores: dict[str, Any]
    strengths: list[str]
    improvement_suggestions: list[str]
    created_at: AwareDatetime

    @classmethod
    def of(cls, evaluation: Evaluation) -> EvaluationOut:
        return cls.model_validate(evaluation)


class SessionDetail(SessionOut):
    questions: list[QuestionOut]
    answers: list[AnswerOut]
    evaluation: EvaluationOut | None

    @classmethod
    def of_loaded(cls, session: InterviewSession) -> SessionDetail:
        originals: dict[str, QuestionOut] = {}
        for question in session.questions:
            if question.parent_question_id is None:
                originals[question.id] = QuestionOut.of(question)
        for question in session.questions:
            parent = originals.get(question.parent_question_id or "")
            if parent is not None:
                parent.follow_ups.append(QuestionOut.of(question))
        return cls.model_validate(
            {
                **_columns(session),
                "session_id": session.id,
                "questions": list(originals.values()),
                "answers": [AnswerOut.of(a) for a in session.answers],
                "evaluation": session.evaluation
                and EvaluationOut.of(session.evaluation),
            },
            from_attributes=False,
        )


class Page(CamelModel, Generic[Item]):
    """One page of a list: its items, how many match in all, and which page."""

    items: list[Item]
    total: int
    page: int
    page_size: int


class SessionListItem(SessionOut):
    """A session as the list shows it: with its overall score, when evaluated, so
    that a list needs no request per session to show it."""

    overall_score: float | None

    @classmethod
    def listed(
        cls, session: InterviewSession, overall_score: float | None
    ) -> SessionListItem:
        return cls.model_validate(
            {
                **_columns(session),
                "session_id": session.id,
                "overall_score": overall_score,
            },
            from_attributes=False,
        )


class ReportOut(CamelModel):
    session_id: str
    generated_at: AwareDatetime
    content: dict[str, Any]


# The most ids one bulk delete takes.
BULK_DELETE_MAX_IDS = 500


class BulkDeleteRequest(CamelModel):
    model_config = REQUEST

    ids: list[str] = Field(min_length=1, max_length=BULK_DELETE_MAX_IDS)


class BulkDeleteItem(CamelModel):
    session_id: str
    result: Literal["deleted", "not_found", "failed"]
    # Why a delete failed, in words a person can act on; null otherwise.
    reason: str | None = None


class BulkDeleteOut(CamelModel):
    """One result per distinct id, in the order sent, and the counts.

    `succeeded` is `deleted + notFound`: the seed page treats a 404 on delete as
    the desired state reached, and its bulk client counts it as a success.
    """

    requested: int
    deleted: int
    not_found: int
    failed: int
    succeeded: int
    results: list[BulkDeleteItem]


def _columns(session: InterviewSession) -> dict[str, Any]:
    names = SessionOut.model_fields.keys() - {"session_id"}
    return {name: getattr(session, name) for name in names}
