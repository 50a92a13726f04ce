"""The one clock of the service. Tests set it with freezegun."""

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator


def utcnow() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(UTC)


def _in_utc(value: datetime) -> datetime:
    # 0001-01-01T00:00+01:00 and 9999-12-31T23:59-01:00 parse, but their UTC
    # instants fall outside what a datetime can hold, and every query and column
    # works in UTC.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


def _not_a_number(value: object) -> object:
    # pydantic reads a number, or a string of digits, as seconds since 1970:
    # `createdBefore=2026` would mean 00:33:46 on 1 January 1970.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(_SPELLING)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        raise ValueError(_SPELLING)
    return value


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
# How a refused instant is explained, by the API and the importer alike.
NEEDS_OFFSET = "needs a UTC offset, as in 2026-03-01T12:00:00Z"
_SPELLING = "is a number; send an ISO 8601 instant with a UTC offset instead"


# An instant from outside (a query, a body, an imported file): an ISO 8601 text
# with an offset (a naive one is refused, not guessed), that exists in UTC.
UTCInstant = Annotated[
    AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_in_utc)
]
