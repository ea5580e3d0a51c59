"""Property-based fuzzing of the running API from its own OpenAPI description (schemathesis).

Every operation of `/openapi.json` gets generated requests, valid and invalid, sent
over loopback with a real access token; every answer must be free of 5xx and match
the schema (status code, content type, headers, body). `POND_FUZZ_EXAMPLES` sets
the examples per operation and mode (default: enough for the 1,000 cases the
suite promises, in about a minute).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi import checks

from tests.conftest import RunningServer

EXAMPLES = int(os.environ.get("POND_FUZZ_EXAMPLES", "100"))
MIN_CASES = 1000
# These judge how strictly requests are validated, not the answers: the schema states
# types, not every rule (a date range in order, an entity that exists).
LENIENCY = [checks.positive_data_acceptance, checks.negative_data_rejection]

Creds = Callable[[str], tuple[str, str]]


@dataclass
class Fuzzer:
    """Sends generated cases to one server; counts them and keeps what went wrong."""

    base_url: str
    auth: dict[str, str]
    session: requests.Session = field(default_factory=requests.Session)
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    failures: dict[str, list[str]] = field(default_factory=dict)

    def fuzz(self, operation: Any, mode: GenerationMode) -> None:
        """Run up to EXAMPLES generated cases of `operation` in `mode`."""
        # The token endpoint authenticates with its own (generated) credentials.
        headers = None if operation.path.startswith("/oauth2") else self.auth

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            self.check(case, operation.label, mode, headers)

        try:
            run()
        except Unsatisfiable:
            # Nothing to make invalid (an operation without parameters or body).
            assert mode is GenerationMode.NEGATIVE, operation.label

    def check(
        self, case: Any, label: str, mode: GenerationMode, headers: dict[str, str] | None
    ) -> None:
        response = case.call(base_url=self.base_url, session=self.session, headers=headers)
        self.sent[label] += 1
        self.statuses[f"{label} {response.status_code}"] += 1
        try:
            case.validate_response(response, headers=headers, excluded_checks=LENIENCY)
        except FailureGroup as exc:
            problems = self.failures.setdefault(label, [])
            if len(problems) < 3:
                problems.append(f"{mode.value}: {str(exc).strip()[:1500]}")
            for failure in exc.exceptions:
                self.kinds[f"{label}: {getattr(failure, 'title', type(failure).__name__)}"] += 1


@pytest.mark.slow
def test_generated_requests_get_no_5xx_and_answers_match_the_schema(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> None:
    # Without the brute-force limit: after ten failures the token endpoint would answer
    # only 429 and the fuzzer would never reach its parsing (test_token_throttle.py has 429).
    server = start_server(token_failure_limit=0)
    client_id, secret = client_credentials("acme")
    answer = httpx.post(
        server.token_url, auth=(client_id, secret), data={"grant_type": "client_credentials"}
    )
    fuzzer = Fuzzer(server.base_url, {"Authorization": f"Bearer {answer.json()['access_token']}"})
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]

    started = time.monotonic()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzzer.fuzz(operation, mode)

    total = sum(fuzzer.sent.values())
    print(f"fuzz: {total} cases, {len(fuzzer.sent)} operations, {time.monotonic() - started:.0f} s")
    for status, count in sorted(fuzzer.statuses.items()):
        print(f"fuzz status: {count:5d} {status}")
    for kind, count in fuzzer.kinds.most_common():
        print(f"fuzz failure: {count:5d} {kind}")
    assert not fuzzer.failures, "\n\n".join(
        f"== {label}\n" + "\n--\n".join(problems) for label, problems in fuzzer.failures.items()
    )
    if EXAMPLES >= 100:
        assert total >= MIN_CASES, fuzzer.sent
