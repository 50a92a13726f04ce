"""The one clock of the service. Tests set it with freezegun."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


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


# An instant from outside (a query, a body, an imported file): with an offset, and
# one that exists in UTC.
UTCInstant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
