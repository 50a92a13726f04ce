"""Signed export links: a URL that downloads one session's report as a PDF
without an API token, for a notice to carry.

The link names the session and its owner and is signed with SECRET_KEY
(itsdangerous, HMAC-SHA256 with a timestamp). It stops working after
EXPORT_LINK_TTL_DAYS, and the endpoint that serves it checks the session as
every other endpoint does: once the session is gone or past its deadline, the
link answers 404 like the rest. Anyone holding the link can download the report
until then, as with any emailed link; that is why it lives no longer than a
notice needs and is never logged.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from interview_retention.config import Settings

EXPORT_PATH = "/api/interview/exports/"
_SALT = "interview-retention.report-export"


@dataclass(frozen=True)
class ExportGrant:
    session_id: str
    user_id: str


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.signing_key, salt=_SALT)


def export_token(session_id: str, user_id: str, settings: Settings) -> str:
    return _serializer(settings).dumps({"s": session_id, "u": user_id})


def export_url(session_id: str, user_id: str, settings: Settings) -> str:
    """The absolute link a notice carries."""
    return settings.base_url + EXPORT_PATH + export_token(session_id, user_id, settings)


def read_export_token(token: str, settings: Settings) -> ExportGrant | None:
    """What a link grants, or None if it is forged, altered or too old."""
    try:
        data = _serializer(settings).loads(
            token, max_age=int(settings.export_link_ttl.total_seconds())
        )
    except BadSignature:  # SignatureExpired is a BadSignature too.
        return None
    if not (
        isinstance(data, dict)
        and isinstance(data.get("s"), str)
        and isinstance(data.get("u"), str)
    ):
        return None
    return ExportGrant(session_id=data["s"], user_id=data["u"])
