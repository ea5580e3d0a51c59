"""The local store's rename and readiness check, seen through a real server's signed links."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from pond.errors import StorageUnavailable
from pond.storage.local import LocalStore
from tests.conftest import RunningServer
from tests.integration.test_openapi import check


def store_of(server: RunningServer) -> LocalStore:
    store = server.app.state.pond.store
    assert isinstance(store, LocalStore)
    return store


def put(store: LocalStore, key: str, data: bytes) -> None:
    writer = store.stage(key)
    writer.write(data)
    writer.commit()


def download(server: RunningServer, key: str) -> httpx.Response:
    expires_at = datetime.now(UTC) + timedelta(minutes=5)
    link = store_of(server).signed_url(key, expires_at=expires_at, base_url=server.base_url)
    return httpx.get(link)


def test_rename_replaces_the_target_and_serves_it_under_its_new_name(
    pond_server: RunningServer,
) -> None:
    store = store_of(pond_server)
    sid = uuid.uuid4()
    source, target = f"{sid}/event_000", f"{sid}/event_000.csv.gz"
    put(store, source, b"new bytes")
    put(store, target, b"what was there before")
    store.rename(source, target)
    assert download(pond_server, source).status_code == 404
    answer = download(pond_server, target)
    assert answer.status_code == 200
    assert answer.content == b"new bytes"
    assert answer.headers["content-type"] == "application/gzip"
    assert answer.headers["content-disposition"] == 'attachment; filename="event_000.csv.gz"'
    assert sorted(p.name for p in (store.root / str(sid)).iterdir()) == ["event_000.csv.gz"]


def test_rename_of_a_missing_object_fails_and_onto_itself_keeps_it(
    pond_server: RunningServer,
) -> None:
    store = store_of(pond_server)
    sid = uuid.uuid4()
    with pytest.raises(FileNotFoundError):
        store.rename(f"{sid}/event_000", f"{sid}/event_001")
    put(store, f"{sid}/event_000", b"stays")
    store.rename(f"{sid}/event_000", f"{sid}/event_000")
    assert download(pond_server, f"{sid}/event_000").content == b"stays"
    with pytest.raises(ValueError, match="invalid object key"):
        store.rename(f"{sid}/event_000", "../outside")


def test_readyz_says_when_the_object_directory_is_gone(pond_server: RunningServer) -> None:
    store = store_of(pond_server)
    assert httpx.get(f"{pond_server.base_url}/readyz").status_code == 200
    moved = store.root.with_name("objects-moved")
    store.root.rename(moved)
    try:
        answer = httpx.get(f"{pond_server.base_url}/readyz")
        assert answer.status_code == 503
        assert answer.json()["error"] == "storage_unavailable"
        assert str(store.root) in answer.json()["error_description"]
        spec = httpx.get(f"{pond_server.base_url}/openapi.json").json()
        check(spec, "/readyz", "get", answer)  # 503 with its Retry-After, as documented
        with pytest.raises(StorageUnavailable, match="missing or not writable"):
            store.check()
    finally:
        moved.rename(store.root)
    assert httpx.get(f"{pond_server.base_url}/readyz").status_code == 200
