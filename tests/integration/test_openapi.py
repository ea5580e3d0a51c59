"""`/openapi.json` describes every route, and the live answers match what it says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from pond.events import seeding
from pond.snapshots.dates import parse_instant
from tests.conftest import RunningServer
from tests.integration.helpers import FROM, TO, bearer, schedule, wait_done

Creds = Callable[[str], tuple[str, str]]


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def conform(spec: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> None:
    """Assert `value` fits `schema`: types, required and allowed keys, enums, nested."""
    schema = resolve(spec, schema)
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds] if kinds else []
    python = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "number": (int, float),
        "null": type(None),
    }
    if kinds:
        assert any(isinstance(value, python[k]) for k in kinds), (where, kinds, value)
    if "enum" in schema:
        assert value in schema["enum"], (where, value)
    if isinstance(value, dict) and "properties" in schema:
        missing = set(schema.get("required", [])) - set(value)
        assert not missing, (where, "missing", missing)
        if schema.get("additionalProperties") is False:
            extra = set(value) - set(schema["properties"])
            assert not extra, (where, "undocumented", extra)
        for key, item in value.items():
            if key in schema["properties"]:
                conform(spec, schema["properties"][key], item, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for n, item in enumerate(value):
            conform(spec, schema["items"], item, f"{where}[{n}]")


def check(spec: dict[str, Any], path: str, method: str, answer: httpx.Response) -> None:
    """The answer's status and media type are documented for the operation, and its JSON
    body fits."""
    responses = spec["paths"][path][method]["responses"]
    status = str(answer.status_code)
    assert status in responses, f"{method.upper()} {path} answered {status}: not in the spec"
    content = responses[status].get("content", {})
    if content and answer.content:
        media_type = answer.headers["content-type"].split(";")[0].strip()
        assert media_type in content, (path, status, media_type, list(content))
    if "application/json" in content:
        assert answer.headers["content-type"].startswith("application/json")
        conform(spec, content["application/json"]["schema"], answer.json(), f"{path} {status}")
    for header, described in responses[status].get("headers", {}).items():
        if described.get("required"):
            assert header.lower() in answer.headers, (path, status, header)


@pytest.fixture
def spec(pond_server: RunningServer) -> dict[str, Any]:
    answer = httpx.get(f"{pond_server.base_url}/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def test_the_spec_is_valid_openapi(spec: dict[str, Any], pond_server: RunningServer) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(spec)
    assert spec["servers"] == [{"url": pond_server.base_url}]


def test_every_api_route_is_described(spec: dict[str, Any], pond_server: RunningServer) -> None:
    served = set()
    for route in pond_server.app.routes:
        # Trailing-slash aliases and the web console (HTML for people) are not API routes.
        if not isinstance(route, Route) or route.path.endswith("/"):
            continue
        if route.path.startswith("/console"):
            continue
        for method in route.methods or ():
            if method != "HEAD":
                served.add((route.path, method.lower()))
    described = {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert served == described


def test_live_answers_match_the_spec(
    spec: dict[str, Any], pond_server: RunningServer, client_credentials: Creds
) -> None:
    base = pond_server.base_url
    creds = client_credentials("acme")
    form = {"grant_type": "client_credentials"}
    token_answer = httpx.post(f"{base}/oauth2/token", auth=creds, data=form)
    check(spec, "/oauth2/token", "post", token_answer)
    check(spec, "/oauth2/token", "post", httpx.post(f"{base}/oauth2/token", data=form))
    token = token_answer.json()["access_token"]
    for path in ("/.well-known/jwks.json", "/.well-known/openid-configuration", "/healthz"):
        check(spec, path, "get", httpx.get(f"{base}{path}"))
    check(spec, "/readyz", "get", httpx.get(f"{base}/readyz"))

    snapshots = "/insights/snapshots"
    headers = {**bearer(token), "Idempotency-Key": "spec"}
    created = httpx.post(
        f"{base}{snapshots}",
        headers=headers,
        data={"created_at_from": "2019-03-13T18:00:00Z", "created_at_to": "2019-03-14T18:00:00Z"},
    )
    check(spec, snapshots, "post", created)
    conflict = httpx.post(
        f"{base}{snapshots}",
        headers=headers,
        data={"created_at_from": "2019-03-13T18:00:00Z", "created_at_to": "2019-03-15T18:00:00Z"},
    )
    assert conflict.status_code == 409
    check(spec, snapshots, "post", conflict)
    check(spec, snapshots, "post", schedule(base, token, created_at_from="bad"))
    check(spec, snapshots, "post", schedule(base, "not-a-token"))

    one = "/insights/snapshots/{snapshot_id}"
    href = created.json()["snapshot"]["href"]
    check(spec, one, "get", httpx.get(href, headers=bearer(token)))
    wait_done(href, token)
    check(spec, one, "get", httpx.get(href, headers=bearer(token)))
    check(spec, one, "get", httpx.get(href, params={"wait": "99"}, headers=bearer(token)))
    check(spec, snapshots, "get", httpx.get(f"{base}{snapshots}?limit=1", headers=bearer(token)))
    check(spec, snapshots, "get", httpx.get(f"{base}{snapshots}?limit=x", headers=bearer(token)))

    link = httpx.get(href, headers=bearer(token)).json()["items"][0]["href"]
    check(spec, "/objects/{snapshot_id}/{name}", "get", httpx.get(link))
    check(spec, "/objects/{snapshot_id}/{name}", "get", httpx.get(link + "x"))

    check(spec, one, "delete", httpx.delete(href, headers=bearer(token)))
    check(spec, one, "delete", httpx.delete(href, headers=bearer(token)))
    check(spec, one, "get", httpx.get(href, headers=bearer(token)))
    check(spec, "/openapi.json", "get", httpx.get(f"{base}/openapi.json"))
    check(spec, "/docs", "get", httpx.get(f"{base}/docs"))


@pytest.mark.parametrize(
    "options",
    [
        {"format": "parquet", "compression": "snappy"},
        {"format": "ndjson", "compression": "gzip", "columns": ["id", "created_at"]},
    ],
    ids=["parquet", "ndjson-gzip"],
)
def test_typed_formats_with_details_match_the_spec(
    spec: dict[str, Any],
    pond_server: RunningServer,
    client_credentials: Creds,
    options: dict[str, Any],
) -> None:
    base = pond_server.base_url
    start, end = parse_instant("f", FROM), parse_instant("t", TO)
    seeding.seed(pond_server.conninfo, org="acme", start=start, end=end, count=50)
    token_answer = httpx.post(
        pond_server.token_url,
        auth=client_credentials("acme"),
        data={"grant_type": "client_credentials"},
    )
    token = token_answer.json()["access_token"]
    snapshots = "/insights/snapshots"
    created = httpx.post(
        f"{base}{snapshots}",
        headers=bearer(token),
        json={"created_at_from": FROM, "created_at_to": TO, **options},
    )
    check(spec, snapshots, "post", created)
    href = created.json()["snapshot"]["href"]
    wait_done(href, token)

    detailed = httpx.get(href, params={"details": "true"}, headers=bearer(token))
    check(spec, "/insights/snapshots/{snapshot_id}", "get", detailed)
    (item,) = detailed.json()["items"]
    assert (item["format"], item["run"]) == (options["format"], 1)
    assert item["columns"]
    assert item["query"]["compression"] == options["compression"]
    check(spec, snapshots, "get", httpx.get(f"{base}{snapshots}", headers=bearer(token)))
    check(spec, "/objects/{snapshot_id}/{name}", "get", httpx.get(item["href"]))


def test_docs_page_is_self_contained_and_lists_every_route(
    spec: dict[str, Any], pond_server: RunningServer
) -> None:
    page = httpx.get(f"{pond_server.base_url}/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    assert "<script" not in html
    assert "src=" not in html
    assert "https://" not in html
    for path in spec["paths"]:
        assert f"<code>{path}</code>" in html


def test_a_throttled_token_request_is_answered_as_documented(
    spec: dict[str, Any], pond_server: RunningServer
) -> None:
    form = {"grant_type": "client_credentials"}
    for _ in range(pond_server.settings.token_failure_limit):
        refused = httpx.post(pond_server.token_url, auth=("nobody", "wrong"), data=form)
        check(spec, "/oauth2/token", "post", refused)
    throttled = httpx.post(pond_server.token_url, auth=("nobody", "wrong"), data=form)
    assert throttled.status_code == 429
    check(spec, "/oauth2/token", "post", throttled)
    assert int(throttled.headers["retry-after"]) >= 1
