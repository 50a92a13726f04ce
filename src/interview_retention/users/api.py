"""Who the caller is: what the web page needs to greet them and show admin tools."""

from __future__ import annotations

from fastapi import APIRouter

from interview_retention.api.deps import CurrentUser
from interview_retention.api.envelope import Envelope, error_responses, ok
from interview_retention.users.schemas import MeOut

router = APIRouter(
    prefix="/api",
    tags=["users"],
    responses=error_responses(401, 422, 429, 500),
)


@router.get("/me", response_model=Envelope[MeOut], summary="The caller's own account")
def me(user: CurrentUser) -> dict:
    return ok(MeOut.of(user))
