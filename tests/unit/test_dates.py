from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from pond.errors import InvalidDateRange
from pond.snapshots.dates import YEAR_PATTERN, format_instant, parse_instant, parse_range


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-03-13T18:00:00.000Z", datetime(2019, 3, 13, 18, tzinfo=UTC)),
        ("2019-03-13T11:00:00-07:00", datetime(2019, 3, 13, 18, tzinfo=UTC)),
        ("2019-03-13T18:00:00+00:00", datetime(2019, 3, 13, 18, tzinfo=UTC)),
        ("2019-03-13 18:00:00.25Z", datetime(2019, 3, 13, 18, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_aware_iso_8601_is_read_as_utc(text: str, expected: datetime) -> None:
    assert parse_instant("created_at_from", text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2019-03-13T18:00:00", "no time zone"),
        ("2019-03-13", "no time zone"),
        ("13/03/2019", "not an ISO 8601"),
        ("", "required"),
        ("9" * 100, "too long"),
    ],
)
def test_unusable_dates_are_refused_with_the_reason(text: str, words: str) -> None:
    with pytest.raises(InvalidDateRange, match=words):
        parse_instant("created_at_from", text)


def test_range_must_be_ordered() -> None:
    with pytest.raises(InvalidDateRange, match="earlier"):
        parse_range("2019-03-28T18:00:00Z", "2019-03-13T18:00:00Z")


def test_instants_are_echoed_like_the_documentation() -> None:
    value = datetime(2019, 3, 13, 18, 0, 0, 123456, tzinfo=UTC)
    assert format_instant(value) == "2019-03-13T18:00:00.123Z"
    assert format_instant(datetime(5, 1, 2, tzinfo=UTC)) == "0005-01-02T00:00:00.000Z"


@pytest.mark.parametrize(
    "text", ["0001-06-01T00:00:00Z", "9999-01-01T00:00:00Z", "0000-01-01T00:00:00Z"]
)
def test_years_outside_0002_to_9998_are_refused(text: str) -> None:
    with pytest.raises(InvalidDateRange, match=r"0002 to 9998|not an ISO 8601"):
        parse_instant("created_at_from", text)


def test_the_extreme_years_with_any_offset_stay_within_utc() -> None:
    early = parse_instant("created_at_from", "0002-01-01T00:00:00+23:59")
    late = parse_instant("created_at_to", "9998-12-31T23:59:59.999-23:59")
    assert (early.year, late.year) == (1, 9999)


def test_rfc_3339_lower_case_separators_are_read() -> None:
    expected = datetime(2019, 3, 13, 18, tzinfo=UTC)
    assert parse_instant("created_at_from", "2019-03-13t18:00:00z") == expected


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("0002-01-01T00:00:00Z", True),
        ("2019-03-13T18:00:00Z", True),
        ("9998-12-31T00:00:00Z", True),
        ("0001-01-01T00:00:00Z", False),
        ("9999-01-01T00:00:00Z", False),
    ],
)
def test_the_documented_pattern_is_the_year_rule(text: str, matches: bool) -> None:
    assert bool(re.search(YEAR_PATTERN, text)) is matches
    if matches:
        parse_instant("created_at_from", text)
    else:
        with pytest.raises(InvalidDateRange):
            parse_instant("created_at_from", text)
