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


def human_duration(seconds: float) -> str:
    """`319d 7h 12m`, as the console and /readyz both print an age or a limit.

    Leading zero units are left out (`1h 1m`, `25m`); under an hour the seconds
    show when there are any (`2m 36s`, `36s`), so an age just past a limit of
    minutes never prints as equal to it.
    """
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        if not minutes:
            return f"{rest}s"
        return f"{minutes}m {rest}s" if rest else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h {minutes}m"
    return f"{hours}h {minutes}m"
