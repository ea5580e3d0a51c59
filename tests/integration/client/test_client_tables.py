"""The client reads snapshots into Arrow, pandas, Polars and DuckDB, typed in every format,
and `pond export`/`pond sync` write Parquet that the tools read as it is."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pond.entities import EVENT
from tests.integration.client.fixtures import START, Setup, acme, make_setup, run_pond

__all__ = ["acme", "make_setup"]

FROM, TO = "2019-03-13T18:00:00Z", "2019-03-28T18:00:00Z"


def database(setup: Setup) -> list[dict[str, Any]]:
    with psycopg.connect(setup.server.conninfo) as conn:
        cur = conn.execute(f"SELECT {', '.join(EVENT.columns)} FROM events ORDER BY created_at, id")
        return [dict(zip(EVENT.columns, row, strict=True)) for row in cur.fetchall()]


def typed(row: dict[str, Any]) -> dict[str, Any]:
    """A database row as a typed table holds it: uuid as text, jsonb as its JSON text parsed."""
    out = dict(row)
    out["session_id"] = None if row["session_id"] is None else str(row["session_id"])
    return out


@pytest.mark.parametrize("fmt", ["parquet", "ndjson", "csv"])
def test_every_format_reads_into_the_same_typed_table(
    acme: Setup, tmp_path: Path, fmt: str
) -> None:
    acme.seed(2200)
    with acme.client() as client:
        snapshot = client.wait(client.create(FROM, TO, format=fmt))
        download = client.download(snapshot, tmp_path / fmt)
    assert len(download.files) == 3
    table = download.to_arrow()
    assert [str(f.type) for f in table.schema] == [c["type"] for c in
        snapshot.items[0].extra["columns"]]  # fmt: skip
    assert table.schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("value").type == pa.decimal128(14, 4)
    expected = [typed(r) for r in database(acme)]
    got = table.to_pylist()
    assert len(got) == len(expected) == 2200
    for read, want in zip(got, expected, strict=True):
        read["properties"] = json.loads(read["properties"])
        assert read == want
    # One batch at a time, as typed as the table.
    batches = list(download.iter_batches())
    assert sum(b.num_rows for b in batches) == 2200
    assert batches[0].schema == table.schema


def test_pandas_polars_and_duckdb_read_a_parquet_snapshot(acme: Setup, tmp_path: Path) -> None:
    acme.seed(1500)
    with acme.client() as client:
        snapshot = client.wait(client.create(FROM, TO, format="parquet"))
        download = client.download(snapshot, tmp_path / "parts")
    expected = database(acme)
    frame = download.to_pandas()
    assert len(frame) == 1500
    assert str(frame["created_at"].dtype).startswith("datetime64[us, UTC]")
    assert frame["id"].tolist() == [r["id"] for r in expected]
    pl = download.to_polars()
    assert pl.height == 1500
    assert pl["value"].to_list() == [r["value"] for r in expected]
    relation = download.to_duckdb(duckdb.connect())
    assert relation.aggregate("count(*), sum(duration_ms)").fetchall() == [
        (1500, sum(r["duration_ms"] or 0 for r in expected))
    ]
    rows = list(download.iter_rows())
    assert rows[0]["created_at"] == expected[0]["created_at"]
    assert isinstance(rows[0]["id"], int)


def test_ndjson_rows_iterate_typed_by_json(acme: Setup, tmp_path: Path) -> None:
    acme.seed(1200)
    with acme.client() as client:
        snapshot = client.wait(client.create(FROM, TO, format="ndjson", compression="gzip"))
        download = client.download(snapshot, tmp_path / "parts")
    assert [f.name for f in download.files] == ["event_000.ndjson.gz", "event_001.ndjson.gz"]
    rows = list(download.iter_rows())
    expected = database(acme)
    assert len(rows) == 1200
    assert rows[5]["properties"] == expected[5]["properties"]
    assert datetime.fromisoformat(rows[5]["created_at"]) == expected[5]["created_at"]
    assert rows[5]["value"] is None or isinstance(rows[5]["value"], Decimal)


def test_pond_export_merges_parquet_into_one_file(acme: Setup, tmp_path: Path) -> None:
    acme.seed(2500)
    out, merged = tmp_path / "out", tmp_path / "all.parquet"
    done = run_pond(
        "export", "--from", FROM, "--to", TO, "--out", str(out), "--format", "parquet",
        "--merge", str(merged), "--json", env=acme.env(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [Path(f).name for f in result["files"]] == [
        "event_000.parquet",
        "event_001.parquet",
        "event_002.parquet",
    ]
    assert result["rows"] == 2500
    table = pq.read_table(merged)
    assert table.num_rows == 2500
    assert table["id"].to_pylist() == [r["id"] for r in database(acme)]
    assert table.schema == pq.read_schema(out / "event_000.parquet")


def test_pond_snapshot_create_asks_for_the_format(acme: Setup, tmp_path: Path) -> None:
    done = run_pond(
        "snapshot", "create", "--from", FROM, "--to", TO, "--format", "ndjson", "--json",
        env=acme.env(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["items"][0]["query"]["format"] == "ndjson"
    bad = run_pond(
        "snapshot", "create", "--from", FROM, "--to", TO, "--format", "parquet", "--gzip",
        env=acme.env(tmp_path),
    )  # fmt: skip
    assert bad.returncode == 2
    assert "zstd, snappy, none" in bad.stderr


def test_pond_sync_parquet_is_a_dataset_partitioned_by_day(acme: Setup, tmp_path: Path) -> None:
    day = START.replace(hour=0)
    acme.seed(900, start=day, end=day.replace(day=day.day + 3))
    out = tmp_path / "lake"
    args = ("sync", "--out", str(out), "--format", "parquet", "--json")
    done = run_pond(*args, "--since", "2019-03-13", "--until", "2019-03-16", env=acme.env(tmp_path))
    assert done.returncode == 0, done.stderr
    days = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert days == ["day=2019-03-13", "day=2019-03-14", "day=2019-03-15"]
    pattern = str(out / "*" / "*.parquet")
    counted = duckdb.sql(
        f"SELECT day, count(*) FROM read_parquet('{pattern}', hive_partitioning = true)"
        " GROUP BY day ORDER BY day"
    ).fetchall()
    assert sum(n for _, n in counted) == 900
    assert [str(d) for d, _ in counted] == ["2019-03-13", "2019-03-14", "2019-03-15"]
    frame = polars.scan_parquet(pattern, hive_partitioning=True).collect()
    assert frame.height == 900
    first = frame.filter(polars.col("day") == frame["day"].min())
    assert all(t.date() == datetime(2019, 3, 13, tzinfo=UTC).date() for t in first["created_at"])
    refused = run_pond(
        "sync", "--out", str(tmp_path / "other"), "--format", "parquet",
        "--since", "2019-03-13T06:00:00Z", env=acme.env(tmp_path),
    )  # fmt: skip
    assert refused.returncode == 2
    assert "midnight" in refused.stderr
