"""Operators export their own tables: entities from the settings, checked at start."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest

from pond.entities.configured import EntityConfig
from pond.errors import ConfigError
from tests.conftest import RunningServer
from tests.integration.helpers import FROM, bearer, schedule, wait_done

ORDERS = {
    "table": "public.orders",
    "org_column": "tenant",
    "time_column": "placed_at",
    "key_column": "order_no",
    "columns": ["order_no", "placed_at", "total"],
}


def make_orders(conninfo: str, client_id: str) -> None:
    with psycopg.connect(conninfo) as conn:
        org = conn.execute(
            "SELECT org_id FROM oauth_clients WHERE client_id = %s", (client_id,)
        ).fetchone()
        assert org is not None
        conn.execute(
            "CREATE TABLE orders (order_no text PRIMARY KEY, tenant bigint NOT NULL,"
            " placed_at timestamptz NOT NULL, total numeric, secret_note text)"
        )
        conn.execute(
            "INSERT INTO orders SELECT 'o' || lpad(g::text, 4, '0'), %s,"
            " %s::timestamptz + make_interval(hours => g), g * 1.5, 'not exported'"
            " FROM generate_series(1, 250) g",
            (org[0], FROM),
        )
        conn.execute(
            "INSERT INTO orders VALUES ('x1', %s, %s, 1, 'another tenant')", (org[0] + 1000, FROM)
        )


@pytest.mark.parametrize(
    "relation",
    [
        pytest.param("CREATE VIEW recent_orders AS SELECT * FROM orders", id="a-view"),
        pytest.param(
            "CREATE TABLE recent_orders (LIKE orders) PARTITION BY RANGE (placed_at);"
            " CREATE TABLE recent_orders_a PARTITION OF recent_orders"
            " FOR VALUES FROM (MINVALUE) TO ('2019-03-20');"
            " CREATE TABLE recent_orders_b PARTITION OF recent_orders"
            " FOR VALUES FROM ('2019-03-20') TO (MAXVALUE);"
            " INSERT INTO recent_orders SELECT * FROM orders",
            id="a-partitioned-table",
        ),
    ],
)
def test_a_view_or_a_partitioned_table_exports_exactly(
    start_server: Callable[..., RunningServer],
    client_credentials: Callable[[str], tuple[str, str]],
    conninfo: str,
    relation: str,
) -> None:
    # A view cannot be sampled, a partitioned table is sampled through its partitions:
    # either way the parts are exact.
    client_id, secret = client_credentials("acme")
    make_orders(conninfo, client_id)
    with psycopg.connect(conninfo) as conn:
        conn.execute(relation)
    server = start_server(
        entities={"orders": {**ORDERS, "table": "public.recent_orders"}}, part_max_rows=100
    )
    token = httpx.post(
        server.token_url, auth=(client_id, secret), data={"grant_type": "client_credentials"}
    ).json()["access_token"]
    created = schedule(server.base_url, token, entity="orders")
    assert created.status_code == 202, created.text
    items = wait_done(created.json()["snapshot"]["href"], token)["items"]
    assert [i["count"] for i in items] == [100, 100, 50]
    rows = []
    for item in items:
        rows += list(csv.DictReader(io.StringIO(httpx.get(item["href"]).text)))
    assert [r["order_no"] for r in rows] == [f"o{n:04d}" for n in range(1, 251)]


def test_an_operator_table_exports_like_event(
    start_server: Callable[..., RunningServer],
    client_credentials: Callable[[str], tuple[str, str]],
    conninfo: str,
) -> None:
    client_id, secret = client_credentials("acme")
    make_orders(conninfo, client_id)
    server = start_server(entities={"orders": ORDERS}, part_max_rows=100)
    token = httpx.post(
        server.token_url, auth=(client_id, secret), data={"grant_type": "client_credentials"}
    ).json()["access_token"]
    created = schedule(server.base_url, token, entity="orders")
    assert created.status_code == 202, created.text
    assert created.json()["snapshot"]["items"][0]["query"]["entity"] == "orders"
    items = wait_done(created.json()["snapshot"]["href"], token)["items"]
    assert [i["count"] for i in items] == [100, 100, 50]
    assert httpx.URL(items[0]["href"]).path.endswith("/orders_000")
    rows = []
    for item in items:
        rows += list(csv.DictReader(io.StringIO(httpx.get(item["href"]).text)))
    assert list(rows[0]) == ["order_no", "placed_at", "total"]
    assert [r["order_no"] for r in rows] == [f"o{n:04d}" for n in range(1, 251)]
    unknown = schedule(server.base_url, token, entity="refunds")
    assert unknown.status_code == 400
    assert "orders" in unknown.json()["error_description"]
    other = httpx.get(created.json()["snapshot"]["href"], headers=bearer(token))
    assert other.status_code == 200


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({**ORDERS, "table": "public.nope"}, "no table or view"),
        ({**ORDERS, "columns": ["order_no", "colour"]}, "no column 'colour'"),
        ({**ORDERS, "key_column": "missing"}, "no column 'missing'"),
    ],
)
def test_misconfigured_entities_stop_start_up(
    conninfo: str,
    client_credentials: Callable[[str], tuple[str, str]],
    config: dict[str, object],
    words: str,
) -> None:
    from pond.entities import configured

    client_id, _ = client_credentials("acme")
    make_orders(conninfo, client_id)
    with pytest.raises(ConfigError, match=words):
        configured.load(conninfo, {"orders": EntityConfig.model_validate(config)})
    with pytest.raises(ConfigError, match="built-in"):
        configured.load(conninfo, {"event": EntityConfig.model_validate(ORDERS)})


def test_the_cli_names_the_bad_entity(conninfo: str, tmp_path: Path) -> None:
    (tmp_path / "pond.toml").write_text(
        '[entities.orders]\ntable = "public.nope"\ncolumns = ["id"]\n'
    )
    env = {**os.environ, "POND_DATABASE_URL": conninfo, "POND_DATA_DIR": str(tmp_path / "d")}
    answer = subprocess.run(
        [sys.executable, "-m", "pond", "clients", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert answer.returncode == 8
    assert "orders" in answer.stderr
    assert "no table or view" in answer.stderr
