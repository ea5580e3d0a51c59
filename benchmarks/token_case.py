"""Case 19: access tokens, `POST /oauth2/token`, on a `pond serve` process of the benchmark's own.

The targets are absolute: at least `MIN_RATE` tokens a second with `CLIENTS`
clients at once, p99 at most `P99_LIMIT`. `/healthz` runs under the same load
on the same server, in alternation, to show what the machine gives any route:
the ratio of the two rates is context, not the target.
"""

from __future__ import annotations

import base64
import math
import statistics

from benchmarks.environment import Bench
from benchmarks.load import Load, generator
from benchmarks.measure import Comparison, Series, alternate
from benchmarks.serving import SCOPE, serve

CLIENTS = 8
MIN_RATE = 500
P99_LIMIT = 0.050
WARM_UP_SECONDS = 1
BODY = f"grant_type=client_credentials&scope={SCOPE.replace('/', '%2F')}".encode()


def _milliseconds(values: list[float]) -> str:
    return ", ".join(f"{value * 1000:.1f}" for value in values)


def tokens(bench: Bench) -> list[Comparison]:
    """Case 19: tokens against /healthz, `CLIENTS` at once, about `bench.requests` a run.

    Each run lasts the same whole seconds for both routes: what the slower one needs
    for `bench.requests` requests at its warm-up rate. A run's figure is seconds per
    1,000 requests.
    """
    load = generator(CLIENTS)
    credentials = base64.b64encode(f"{bench.client_id}:{bench.client_secret}".encode()).decode()
    token_headers = {
        "Authorization": f"Basic {credentials}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    warm_up_rates: dict[str, float] = {}
    loads: dict[str, list[Load]] = {"token": [], "healthz": []}
    with serve(bench, "serve-token") as api:
        requests = {
            "token": (f"{api.base}/oauth2/token", token_headers, BODY),
            "healthz": (f"{api.base}/healthz", {}, None),
        }

        def seconds() -> int:
            return max(1, math.ceil(bench.requests / min(warm_up_rates.values())))

        def run(name: str, number: int) -> float:
            url, headers, body = requests[name]
            if number < 0:
                done = load(url, headers, WARM_UP_SECONDS, body)
                warm_up_rates[name] = done.rate
            else:
                done = load(url, headers, seconds(), body)
                loads[name].append(done)
            return 1000 / done.rate

        pond = Series("POST /oauth2/token (client secret checked, RS256 signed), per 1,000")
        healthz = Series("GET /healthz (trivial JSON), per 1,000 requests")
        alternate(
            bench.repeat,
            (pond, lambda n: run("token", n)),
            (healthz, lambda n: run("healthz", n)),
            warm_up=True,
        )
    p99s = {name: [done.p99 for done in runs] for name, runs in loads.items()}
    p99 = {name: statistics.median(values) for name, values in p99s.items()}
    rate = {name: statistics.median(done.rate for done in runs) for name, runs in loads.items()}
    served = {
        name: statistics.median(done.requests for done in runs) for name, runs in loads.items()
    }
    return [
        Comparison(
            case="19",
            title=f"Access tokens: POST /oauth2/token, {CLIENTS} clients at once",
            pond=pond,
            reference=healthz,
            target=None,
            higher_is_better=True,
            ratio_meaning="tokens/s ÷ healthz requests/s, for context: the targets are absolute",
            notes=[
                f"load generator: {load.description}, each posting the benchmark client's"
                " credentials (HTTP Basic) again as soon as the last token is in; any answer"
                " but 200 fails the case",
                f"each run lasts {seconds()} s for both routes; requests per run (median):"
                f" tokens {served['token']:,.0f}, healthz {served['healthz']:,.0f}",
                f"requests/s (median): tokens {rate['token']:,.0f}, healthz {rate['healthz']:,.0f}",
                f"latency p99, the median of the runs' own p99s: tokens"
                f" {p99['token'] * 1000:.1f} ms (runs: {_milliseconds(p99s['token'])}),"
                f" healthz {p99['healthz'] * 1000:.1f} ms"
                f" (runs: {_milliseconds(p99s['healthz'])})",
                "the client secret is stored as HMAC-SHA-256 under the server's hash key;"
                " each token is an RS256 signature with a 2048-bit key",
            ],
            limits=[
                (f"≥ {MIN_RATE} tokens/s", rate["token"] >= MIN_RATE),
                (f"p99 ≤ {P99_LIMIT * 1000:g} ms", p99["token"] <= P99_LIMIT),
            ],
        )
    ]
