"""Reading times and durations as users type them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from pond.client.errors import UsageError
from pond.client.times import (
    Zone,
    as_utc,
    compact_time,
    format_time,
    parse_duration,
    parse_time,
    zone,
)

LA = zone("America/Los_Angeles")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-03-13T18:00:00.000Z", datetime(2019, 3, 13, 18, tzinfo=UTC)),
        ("2019-03-13T11:00:00-07:00", datetime(2019, 3, 13, 18, tzinfo=UTC)),
        ("2019-03-13T19:00:00+01:00", datetime(2019, 3, 13, 18, tzinfo=UTC)),
    ],
)
def test_a_time_with_an_offset_keeps_it(text: str, expected: datetime) -> None:
    parsed = parse_time(text, LA)
    assert parsed.utc == expected
    assert not parsed.assumed_zone


def test_a_time_without_an_offset_is_read_in_the_given_zone_not_utc() -> None:
    parsed = parse_time("2019-03-13T11:00", LA)
    assert parsed.utc == datetime(2019, 3, 13, 18, tzinfo=UTC)  # PDT, -07:00
    assert parsed.zone == "America/Los_Angeles"


def test_the_zone_follows_daylight_saving_time() -> None:
    assert parse_time("2019-01-13T11:00", LA).utc == datetime(2019, 1, 13, 19, tzinfo=UTC)


def test_a_bare_date_is_its_midnight_in_the_zone() -> None:
    assert parse_time("2019-03-13", LA).utc == datetime(2019, 3, 13, 7, tzinfo=UTC)
    assert parse_time("2019-03-13", zone("UTC")).utc == datetime(2019, 3, 13, tzinfo=UTC)


def test_the_local_zone_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    local = zone(None)
    assert local.name == "Asia/Tokyo"
    assert parse_time("2019-03-13T09:00", local).utc == datetime(2019, 3, 13, tzinfo=UTC)


def test_the_system_local_rules_apply_without_a_zone_name() -> None:
    system = Zone("local", None)
    naive = datetime(2019, 3, 13, 11)
    assert parse_time("2019-03-13T11:00", system).utc == naive.astimezone().astimezone(UTC)


@pytest.mark.parametrize("text", ["yesterday", "2019-13-01", "13/03/2019", ""])
def test_unreadable_times_say_what_is_accepted(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_time(text, LA)
    assert caught.value.hint is not None
    assert "ISO 8601" in caught.value.hint


def test_an_unknown_zone_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown time zone"):
        zone("Mars/Olympus")


def test_the_sdk_refuses_naive_times() -> None:
    with pytest.raises(UsageError, match="no time zone"):
        as_utc(datetime(2019, 3, 13, 18))
    with pytest.raises(UsageError, match="no time zone"):
        as_utc("2019-03-13T18:00:00")


def test_wire_format_is_the_documented_one() -> None:
    moment = datetime(2019, 3, 13, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-7)))
    assert format_time(moment) == "2019-03-13T18:00:00.123Z"
    assert compact_time(moment) == "20190313T180000Z"


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("6h", 21600), ("1d", 86400), ("2w", 1209600)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["0d", "1y", "d", "1.5h", "-1d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)
