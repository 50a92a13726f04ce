"""Imports every model so that `Base.metadata` knows the whole schema."""

from interview_retention.db.base import Base
from interview_retention.deletion.models import DeletionLogEntry, DeletionNotice, JobRun
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
    "Evaluation",
    "InterviewSession",
    "JobRun",
    "Question",
    "Report",
    "Resume",
    "User",
]
