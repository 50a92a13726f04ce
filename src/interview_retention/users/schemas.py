"""What the users API returns."""

from __future__ import annotations

from typing import Literal

from interview_retention.sessions.schemas import CamelModel
from interview_retention.users.models import User


class MeOut(CamelModel):
    """The caller: no email, since the page has no use for it and shows only this."""

    id: str
    display_name: str
    role: Literal["user", "admin"]

    @classmethod
    def of(cls, user: User) -> MeOut:
        return cls(id=user.id, display_name=user.display_name, role=user.role)  # type: ignore[arg-type]
