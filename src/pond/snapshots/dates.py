"""The API's dates: ISO 8601 in, always with a time zone; `2019-03-13T18:00:00.000Z` out."""

from __future__ import annotations

from datetime import UTC, datetime

from pond.errors import InvalidDateRange

_EXAMPLE = "2019-03-13T18:00:00.000Z"
MAX_LENGTH = 64
# Years as written. Any offset then keeps the instant within years 1 to 9999 in UTC,
# which is all that Python and the answers' four-digit years can hold.
FIRST_YEAR, LAST_YEAR = 2, 9998
# The same bound on the text, as the OpenAPI description states it (`pond.api.openapi_schemas`).
YEAR_PATTERN = (
    "^(000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-"
)


def parse_instant(name: str, value: object) -> datetime:
    """`value` as an aware UTC datetime, or `InvalidDateRange` naming the parameter."""
    if value is None or value == "":
        raise InvalidDateRange(f"{name} is required, e.g. {name}={_EXAMPLE}")
    if not isinstance(value, str):
        raise InvalidDateRange(f"{name} must be an ISO 8601 string such as {_EXAMPLE}")
    text = value.strip()
    if len(text) > MAX_LENGTH:
        raise InvalidDateRange(f"{name} is too long to be a date")
    try:
        # RFC 3339 allows a lower-case `t` and `z`; Python reads only capitals.
        parsed = datetime.fromisoformat(text.upper())
    except ValueError:
        raise InvalidDateRange(
            f"{name} is not an ISO 8601 date-time: {text!r}; use a form like {_EXAMPLE}"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidDateRange(
            f"{name} has no time zone: {text!r}; add Z or an offset, e.g. {_EXAMPLE}"
        )
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise InvalidDateRange(
            f"{name} is out of range: {text!r}; the year must be from"
            f" {FIRST_YEAR:04d} to {LAST_YEAR:04d}"
        )
    return parsed.astimezone(UTC)


def parse_range(
    start: object, end: object, *, names: tuple[str, str] = ("created_at_from", "created_at_to")
) -> tuple[datetime, datetime]:
    """The half-open range `[start, end)`, checked for order; errors use `names`."""
    lower = parse_instant(names[0], start)
    upper = parse_instant(names[1], end)
    if lower >= upper:
        raise InvalidDateRange(
            f"{names[0]} must be earlier than {names[1]}"
            f" (got {format_instant(lower)} and {format_instant(upper)})"
        )
    return lower, upper


def format_instant(value: datetime) -> str:
    """`value` in UTC with milliseconds and a Z, as the documented answers show."""
    utc = value.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )
