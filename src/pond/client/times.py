"""Times and durations as users type them, turned into UTC instants.

A time is ISO 8601 with an offset (`2019-03-13T11:00:00-07:00`), with `Z`, or
without an offset (`2019-03-13T11:00`, or a bare date meaning its midnight).
A time without an offset is read in the zone the caller names, by default the
local zone, and the result says so: it is never silently taken as UTC.
Everything here raises `UsageError` with a hint on input it cannot read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pond.client.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_TIME_HINT = "use ISO 8601, e.g. 2019-03-13T18:00:00Z, 2019-03-13T11:00:00-07:00 or 2019-03-13"


@dataclass(frozen=True)
class Zone:
    """A zone to read offset-less times in; `tz` None means the system's local rules."""

    name: str
    tz: tzinfo | None

    def attach(self, naive: datetime) -> datetime:
        """`naive` as an aware time in this zone (DST rules included)."""
        if self.tz is None:
            return naive.astimezone()  # the platform's local-time rules
        return naive.replace(tzinfo=self.tz)


@dataclass(frozen=True)
class ParsedTime:
    """A UTC instant and how it was read: `zone` names the zone assumed, if one was."""

    text: str
    utc: datetime
    zone: str | None

    @property
    def assumed_zone(self) -> bool:
        return self.zone is not None


def local_zone() -> Zone:
    """The local zone, named by its IANA key when the system says it, else its abbreviation."""
    key = os.environ.get("TZ", "").lstrip(":")
    if not key:
        try:
            target = Path("/etc/localtime").resolve(strict=True)
        except OSError:
            target = None
        if target is not None and "zoneinfo" in target.parts:
            key = "/".join(target.parts[target.parts.index("zoneinfo") + 1 :])
    if key:
        try:
            return Zone(key, ZoneInfo(key))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return Zone(datetime.now().astimezone().tzname() or "local", None)


def zone(name: str | None) -> Zone:
    """The zone called `name` (`UTC`, `America/Los_Angeles`), or the local zone for None."""
    if name is None:
        return local_zone()
    if name.upper() in ("UTC", "Z"):
        return Zone("UTC", UTC)
    try:
        return Zone(name, ZoneInfo(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone {name!r}", hint="use an IANA name such as Europe/Paris, or UTC"
        ) from None


def parse_time(text: str, in_zone: Zone) -> ParsedTime:
    """`text` as a UTC instant; offset-less times are read in `in_zone`.

    Raises `UsageError` when `text` is not a time.
    """
    raw = text.strip()
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(raw), datetime.min.time())
        except ValueError:
            raise UsageError(f"cannot read {text!r} as a time", hint=_TIME_HINT) from None
    if parsed.tzinfo is not None:
        return ParsedTime(text, parsed.astimezone(UTC), None)
    return ParsedTime(text, in_zone.attach(parsed).astimezone(UTC), in_zone.name)


def as_utc(value: datetime | str) -> datetime:
    """An aware datetime, or an ISO 8601 string with an offset, as a UTC datetime.

    Raises `UsageError` for naive input: the SDK never guesses a zone.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise UsageError(f"cannot read {value!r} as a time", hint=_TIME_HINT) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise UsageError(
            f"time {value.isoformat()} has no time zone",
            hint="pass an aware datetime (e.g. tzinfo=datetime.UTC) or a string with an offset",
        )
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """The wire form of an instant, as the documentation writes it: `2019-03-13T18:00:00.000Z`."""
    utc = as_utc(value)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def compact_time(value: datetime) -> str:
    """An instant for a file name: `20190313T180000Z`."""
    return as_utc(value).strftime("%Y%m%dT%H%M%SZ")


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `6h`, `1d` or `2w` as a positive duration; else `UsageError`."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise UsageError(
            f"cannot read {text!r} as a duration", hint="use a number and a unit: 90s, 30m, 6h, 1d"
        )
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
