"""Imports every model so that `Base.metadata` knows the whole schema."""

from interview_retention.db.base import Base
from interview_retention.deletion.models import (
    DeletionLogEntry,
    DeletionNotice,
    DeletionPlan,
    JobHeartbeat,
    JobRun,
    LegalHoldEvent,
)
from interview_retention.sessions.models import (
    Answer,
    Evaluation,
    InterviewSession,
    Question,
    Report,
)
from interview_retention.users.models import Resume, User

__all__ = [
    "Answer",
    "Base",
    "DeletionLogEntry",
    "DeletionNotice",
    "DeletionPlan",
    "Evaluation",
    "InterviewSession",
    "JobHeartbeat",
    "JobRun",
    "LegalHoldEvent",
    "Question",
    "Report",
    "Resume",
    "User",
]
