"""A method a path does not serve: 405, the JSON error shape, and `Allow` listing every method.

RFC 9110 section 15.5.6: a 405 must carry `Allow`. Every route is tried, the console
and the signed downloads included, with a method it does not answer.
"""

from __future__ import annotations

import re

import httpx
from starlette.routing import Mount, Route

from tests.conftest import RunningServer

_PARAMETER = re.compile(r"\{[^}]+\}")
_SAMPLE_ID = "0b6d2c1e-3f5a-4c8e-9d7b-2a1f0e9c8b7a"
_TRIED = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def served(pond_server: RunningServer) -> dict[str, set[str]]:
    """Every concrete path the app serves, with the methods it answers there."""
    paths: dict[str, set[str]] = {}
    for route in pond_server.app.routes:
        if isinstance(route, Route):
            path = _PARAMETER.sub(_SAMPLE_ID, route.path)
            paths.setdefault(path, set()).update(route.methods or ())
        elif isinstance(route, Mount):
            paths[f"{route.path}/style.css"] = {"GET", "HEAD"}
    return paths


def allowed(answer: httpx.Response) -> list[str]:
    return [method.strip() for method in answer.headers["allow"].split(",")]


def test_every_route_answers_another_method_with_405_and_allow(
    pond_server: RunningServer,
) -> None:
    paths = served(pond_server)
    assert "/console/snapshots/" + _SAMPLE_ID + "/status" in paths
    assert "/objects/" + _SAMPLE_ID + "/" + _SAMPLE_ID in paths
    for path, methods in paths.items():
        method = next(m for m in _TRIED if m not in methods)
        answer = httpx.request(method, f"{pond_server.base_url}{path}")
        assert answer.status_code == 405, (method, path, answer.text)
        assert set(allowed(answer)) == methods, (method, path)
        body = answer.json()
        assert body["error"] == "method_not_allowed"
        assert f"{method} is not allowed" in body["error_description"], body


def test_allow_lists_every_method_of_a_path_in_a_stable_order(pond_server: RunningServer) -> None:
    base = pond_server.base_url
    listing = httpx.request("PUT", f"{base}/insights/snapshots")
    assert allowed(listing) == ["GET", "HEAD", "POST"]
    one = httpx.request("OPTIONS", f"{base}/insights/snapshots/{_SAMPLE_ID}/")
    assert allowed(one) == ["GET", "HEAD", "DELETE"]
    hooks = httpx.request("PATCH", f"{base}/insights/webhooks")
    assert allowed(hooks) == ["GET", "HEAD", "POST"]
    download = httpx.post(f"{base}/objects/{_SAMPLE_ID}/event_000")
    assert allowed(download) == ["GET", "HEAD"]
    assert "use GET, HEAD" in download.json()["error_description"]
