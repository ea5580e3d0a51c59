"""Backoff delays, Retry-After and deadlines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pond.client.backoff import Backoff, Deadline, next_delay, retry_after


def test_delays_grow_exponentially_up_to_the_cap() -> None:
    backoff = Backoff(initial=1, factor=2, maximum=10, jitter=0)
    assert [backoff.delay(n) for n in range(6)] == [1, 2, 4, 8, 10, 10]


def test_jitter_takes_up_to_its_share_off_the_delay() -> None:
    backoff = Backoff(initial=4, factor=2, maximum=100, jitter=0.5)
    assert backoff.delay(0, rand=lambda: 0.0) == 4
    assert backoff.delay(0, rand=lambda: 1.0) == 2
    assert 2 <= backoff.delay(0) <= 4


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert Backoff(maximum=30, jitter=0).delay(10_000) == 30


@pytest.mark.parametrize(
    "arguments",
    [{"initial": 0}, {"factor": 0.5}, {"initial": 5, "maximum": 1}, {"jitter": 1.5}],
)
def test_nonsense_backoffs_are_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"backoff|jitter"):
        Backoff(**arguments)


def test_retry_after_in_seconds_and_as_a_date() -> None:
    now = datetime(2019, 3, 13, 18, 0, 0, tzinfo=UTC)
    assert retry_after({"retry-after": "7"}) == 7
    assert retry_after({"retry-after": "Wed, 13 Mar 2019 18:00:30 GMT"}, now) == 30
    assert retry_after({"retry-after": "Wed, 13 Mar 2019 17:00:00 GMT"}, now) == 0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_the_server_hint_is_a_minimum() -> None:
    backoff = Backoff(initial=1, factor=2, maximum=30, jitter=0)
    assert next_delay(backoff, 0, 5.0) == 5.0
    assert next_delay(backoff, 4, 5.0) == 16.0
    assert next_delay(backoff, 0, None) == 1.0


def test_a_deadline_clips_sleeps_and_expires() -> None:
    now = [100.0]
    deadline = Deadline(10, clock=lambda: now[0])
    assert deadline.clip(30) == 10
    now[0] = 108
    assert deadline.clip(30) == pytest.approx(2)
    assert not deadline.expired
    now[0] = 111
    assert deadline.expired
    assert deadline.remaining() == 0


def test_no_deadline_never_expires() -> None:
    deadline = Deadline(None)
    assert deadline.clip(30) == 30
    assert not deadline.expired
    assert deadline.remaining() is None
