"""SQL for the shared limits: rate buckets (`rate_limits`) and failure times (`token_failures`).

Each function is one short statement, atomic by itself (`INSERT ... ON CONFLICT DO
UPDATE` takes the row's lock), so processes that count the same key at once never
lose a count. Both tables are unlogged and kept small: the maintenance task
deletes rows that no longer say anything (`delete_stale`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

Conn = psycopg.AsyncConnection[Any]

_NOW = "extract(epoch FROM now())"
# How many of the requests asked for at once fit before `tat` would run more than
# `window` seconds ahead of the clock (GCRA); the epsilon keeps the last one that
# fits exactly from being lost to rounding.
_GRANTED = (
    f"greatest(0, least(EXCLUDED.granted, floor(({_NOW} + %(window)s"
    f" - greatest(r.tat, {_NOW})) / %(step)s + 1e-9)))::integer"
)
_TAKE = (
    "INSERT INTO rate_limits AS r (key, tat, granted)"
    f" SELECT key, {_NOW} + least(n, %(burst)s) * %(step)s, least(n, %(burst)s)"
    " FROM unnest(%(keys)s::text[], %(counts)s::integer[]) AS asked (key, n)"
    " ON CONFLICT (key) DO UPDATE SET"
    f" granted = {_GRANTED},"
    # Every expression of SET reads the row as it was: the count is spelled out again.
    f" tat = greatest(r.tat, {_NOW}) + %(step)s * {_GRANTED}"
    f" RETURNING key, granted, tat - {_NOW} AS ahead"
)


@dataclass
class Grant:
    """What counting some requests of one key at once gave: the first `granted` go ahead.

    `wait` is the seconds until one more request fits. The requests share the
    object, and each `claim`s its own answer.
    """

    granted: int
    wait: float

    def claim(self) -> float:
        """0.0 for each of the first `granted` calls, then the seconds to wait (> 0)."""
        if self.granted > 0:
            self.granted -= 1
            return 0.0
        return max(self.wait, 1e-3)


_WINDOW = 60.0


def counting(asked: dict[str, int], per_minute: int) -> tuple[str, dict[str, Any]]:
    """The statement that counts `asked[key]` requests of each key, and its parameters.

    Its rows are (key, granted, ahead); `grants` reads them. On its own it is what
    `take` runs; other reads may run it as a `WITH` query, in the same round trip.
    """
    step = 60.0 / per_minute
    params = {
        "keys": list(asked),
        "counts": list(asked.values()),
        "burst": per_minute,
        "step": step,
        "window": _WINDOW,
    }
    return _TAKE, params


def grant(per_minute: int, granted: int, ahead: float) -> Grant:
    """The `Grant` of one row of `counting`: when `tat` is back within the window, one more fits."""
    return Grant(int(granted), float(ahead) + 60.0 / per_minute - _WINDOW)


async def take(conn: Conn, asked: dict[str, int], per_minute: int) -> dict[str, Grant]:
    """Let through up to `asked[key]` requests of each key, within `per_minute` a minute.

    A key may spend a minute's worth at once, then gets one more every
    `60 / per_minute` seconds. Every key asked for is answered.
    """
    sql, params = counting(asked, per_minute)
    rows = await (await conn.execute(sql, params)).fetchall()
    return {key: grant(per_minute, granted, ahead) for key, granted, ahead in rows}


_FAILURE_WAITS = (
    "SELECT key, extract(epoch FROM"
    " times[cardinality(times) - %(limit)s + 1] + make_interval(secs => %(window)s) - now())"
    " FROM token_failures WHERE key = ANY(%(keys)s) AND cardinality(times) >= %(limit)s"
)
_FAIL = (
    "INSERT INTO token_failures AS f (key, times, expires_at)"
    " SELECT key, ARRAY[now()], now() + make_interval(secs => %(window)s)"
    " FROM unnest(%(keys)s::text[]) AS failed (key)"
    " ON CONFLICT (key) DO UPDATE SET"
    " times = ARRAY(SELECT t FROM (SELECT t FROM unnest(f.times || now()) AS u (t)"
    "  WHERE t > now() - make_interval(secs => %(window)s) ORDER BY t DESC LIMIT %(limit)s)"
    "  AS recent ORDER BY t),"
    " expires_at = now() + make_interval(secs => %(window)s)"
)


async def failure_waits(conn: Conn, keys: list[str], limit: int, window: int) -> dict[str, float]:
    """For each of `keys`, the seconds until it has fewer than `limit` failures in the
    last `window` seconds (0.0: it has now)."""
    rows = await (
        await conn.execute(_FAILURE_WAITS, {"keys": keys, "limit": limit, "window": window})
    ).fetchall()
    waits = dict.fromkeys(keys, 0.0)
    waits.update((key, max(0.0, float(wait))) for key, wait in rows)
    return waits


async def record_failure(conn: Conn, keys: list[str], limit: int, window: int) -> None:
    """Count one failure now for each of `keys` (distinct), keeping the latest `limit` of each."""
    await conn.execute(_FAIL, {"keys": keys, "limit": limit, "window": window})


def delete_stale(conn: psycopg.Connection[Any]) -> int:
    """Delete rows that no longer limit anything; how many went.

    A bucket whose `tat` is past is full, as a missing one is; failures whose
    window ended count for nothing.
    """
    buckets = conn.execute(f"DELETE FROM rate_limits WHERE tat < {_NOW}").rowcount
    failures = conn.execute("DELETE FROM token_failures WHERE expires_at < now()").rowcount
    return buckets + failures
