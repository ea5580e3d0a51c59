"""Parquet and JSON Lines parts hold exactly the database's values, typed from its columns.

Each test runs the real export job against a real PostgreSQL and reads the parts
back with pyarrow, DuckDB or Polars (and `json` for JSON Lines), comparing every
value with what psycopg reads from the same rows.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pond.entities import EVENT, configured, registry
from pond.entities.configured import EntityConfig
from pond.errors import ConfigError
from pond.events import seeding
from pond.exports import coordinator
from pond.exports.formats import parquet
from tests.integration.test_export_job import FROM, TO, store_at

Creds = Callable[[str], tuple[str, str]]


@pytest.fixture(autouse=True)
def _only_built_in_entities() -> Iterator[None]:
    """Entities a test configures are gone after it."""
    yield
    registry.configure([])


# Rows a synthetic seed never makes: NULLs, empty strings, unicode and line breaks.
_ODD_EVENTS = [
    ("line\nbreak", None, "", "DE", Decimal("0.0001"), None, {"note": "a\nb", "n": [1, 2.5]}),
    ("ünïcødé ✓ 日本", 'actor,with"quote', "dev\r\nx", None, None, -5, {}),
    ("", "", None, "FR", Decimal("9999999999.9999"), 0, {"nested": {"deep": None}}),
]


def add_odd_events(conninfo: str, org: str = "acme") -> None:
    with psycopg.connect(conninfo) as conn:
        org_id = conn.execute("SELECT id FROM organisations WHERE slug = %s", (org,)).fetchone()
        assert org_id is not None
        for n, (kind, actor, device, country, value, duration, props) in enumerate(_ODD_EVENTS):
            conn.execute(
                "INSERT INTO events (org_id, created_at, event_type, actor_id, device_id,"
                " session_id, country, value, duration_ms, properties)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    org_id[0],
                    datetime(2019, 3, 20, 12, 0, n, 123456, tzinfo=UTC),
                    kind,
                    actor,
                    device,
                    uuid.UUID(int=n) if n else None,
                    country,
                    value,
                    duration,
                    psycopg.types.json.Jsonb(props),
                ),
            )


def new_snapshot(
    conninfo: str, creds: Creds, fmt: str, compression: str | None = None, entity: str = "event"
) -> uuid.UUID:
    client_id, _ = creds("acme")
    sid = uuid.uuid4()
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "INSERT INTO snapshots (id, org_id, client_id, entity, created_at_from, created_at_to,"
            " expires_at, format, compression) SELECT %s, org_id, client_id, %s, %s, %s,"
            " now() + interval '1 day', %s, %s FROM oauth_clients WHERE client_id = %s",
            (sid, entity, FROM, TO, fmt, compression, client_id),
        )
    return sid


def export(conninfo: str, root: Path, sid: uuid.UUID, max_rows: int) -> list[dict[str, Any]]:
    """Run the export job; the published parts, with the path of each."""
    outcome = coordinator.run(conninfo, store_at(root), sid, max_rows=max_rows, streams=2)
    assert outcome.published
    assert not outcome.failed
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT name, size, row_count, sha256 FROM snapshot_parts"
            " WHERE snapshot_id = %s ORDER BY seq",
            (sid,),
        ).fetchall()
    return [
        {"path": root / str(sid) / r[0], "size": r[1], "count": r[2], "sha256": r[3]} for r in rows
    ]


def database_rows(
    conninfo: str, table: str, columns: list[str], order: str
) -> list[dict[str, Any]]:
    with psycopg.connect(conninfo) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        cur = conn.execute(
            psycopg.sql.SQL("SELECT {} FROM {} WHERE {} >= %s AND {} < %s ORDER BY {}").format(
                psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, columns)),
                psycopg.sql.Identifier(table),
                psycopg.sql.Identifier(order),
                psycopg.sql.Identifier(order),
                psycopg.sql.SQL(order + ", " + columns[0]),
            ),
            (FROM, TO),
        )
        return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def as_arrow_value(value: Any) -> Any:
    """A value as psycopg reads it, the way the Parquet part holds it."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (dict, list)):
        return value  # compared after json.loads of the part's JSON text
    return value


def check_parts(parts: list[dict[str, Any]]) -> None:
    """Size and SHA-256 as published, as for CSV."""
    for part in parts:
        data = part["path"].read_bytes()
        assert part["size"] == len(data)
        assert part["sha256"] == hashlib.sha256(data).hexdigest()


def test_event_parquet_round_trip_by_pyarrow_and_duckdb(
    conninfo: str, client_credentials: Creds, tmp_path: Path
) -> None:
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=2500)
    add_odd_events(conninfo)
    sid = new_snapshot(conninfo, client_credentials, "parquet")
    parts = export(conninfo, tmp_path, sid, max_rows=1000)
    assert [p["path"].name for p in parts] == [f"event_00{n}.parquet" for n in range(3)]
    assert [p["count"] for p in parts] == [1000, 1000, 503]
    check_parts(parts)
    expected = database_rows(conninfo, "events", list(EVENT.columns), "created_at")
    tables = [pq.read_table(p["path"]) for p in parts]
    assert [t.num_rows for t in tables] == [p["count"] for p in parts]
    table = pa.concat_tables(tables)
    assert [str(f.type) for f in table.schema] == [
        "int64",
        "timestamp[us, tz=UTC]",
        "string",
        "string",
        "string",
        "string",
        "string",
        "decimal128(14, 4)",
        "int32",
        "string",
    ]
    got = table.to_pylist()
    assert len(got) == len(expected) == 2503
    for read, want in zip(got, expected, strict=True):
        read["properties"] = json.loads(read["properties"])
        assert read == {k: as_arrow_value(v) for k, v in want.items()}
    odd = [r for r in got if r["event_type"] in {"line\nbreak", "ünïcødé ✓ 日本", ""}]
    assert [r["device_id"] for r in odd] == ["", "dev\r\nx", None]

    files = [str(p["path"]) for p in parts]
    duck = duckdb.sql(f"SELECT * FROM read_parquet({files!r}) ORDER BY created_at, id").fetchall()
    assert len(duck) == 2503
    for row, want in zip(duck, expected, strict=True):
        values = dict(zip(EVENT.columns, row, strict=True))
        assert values["created_at"] == want["created_at"]
        assert values["value"] == want["value"]
        assert values["session_id"] == (
            None if want["session_id"] is None else str(want["session_id"])
        )
        assert json.loads(values["properties"]) == want["properties"]
        assert values["event_type"] == want["event_type"]
        assert values["actor_id"] == want["actor_id"]


def test_event_ndjson_round_trip_plain_and_gzip(
    conninfo: str, client_credentials: Creds, tmp_path: Path
) -> None:
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=1500)
    add_odd_events(conninfo)
    expected = database_rows(conninfo, "events", list(EVENT.columns), "created_at")
    for compression in (None, "gzip"):
        sid = new_snapshot(conninfo, client_credentials, "ndjson", compression)
        parts = export(conninfo, tmp_path, sid, max_rows=1000)
        suffix = ".ndjson.gz" if compression else ".ndjson"
        assert [p["path"].name for p in parts] == [f"event_00{n}{suffix}" for n in range(2)]
        check_parts(parts)
        lines: list[str] = []
        for part in parts:
            data = part["path"].read_bytes()
            text = (gzip.decompress(data) if compression else data).decode()
            assert text.endswith("\n")
            assert text.count("\n") == part["count"]
            lines += text.splitlines()
        assert len(lines) == len(expected) == 1503
        for line, row in zip(lines, expected, strict=True):
            read, want = json.loads(line, parse_float=Decimal), dict(row)
            assert list(read) == list(EVENT.columns)
            assert datetime.fromisoformat(read.pop("created_at")) == want.pop("created_at")
            value = read.pop("value")
            assert (None if value is None else Decimal(value)) == want.pop("value")
            assert read == {k: as_arrow_value(v) for k, v in want.items()}


ODD_TABLE = """
CREATE TABLE readings (
    id bigint PRIMARY KEY,
    org_id bigint NOT NULL,
    taken_at timestamptz NOT NULL,
    amount numeric(12, 3),
    ratio numeric,
    big numeric(50, 10),
    ok boolean,
    small smallint,
    score real,
    precise double precision,
    label text,
    code varchar(8),
    day date,
    clock time,
    local_at timestamp,
    doc jsonb,
    raw json,
    tag uuid
)
"""
READING_COLUMNS = [
    "id", "taken_at", "amount", "ratio", "big", "ok", "small", "score", "precise",
    "label", "code", "day", "clock", "local_at", "doc", "raw", "tag",
]  # fmt: skip
READINGS = {
    "table": "readings",
    "time_column": "taken_at",
    "key_column": "id",
    "columns": READING_COLUMNS,
}


def make_readings(conninfo: str, rows: int = 1200) -> None:
    with psycopg.connect(conninfo) as conn:
        org = conn.execute("SELECT org_id FROM oauth_clients LIMIT 1").fetchone()
        assert org is not None
        conn.execute(ODD_TABLE)
        conn.execute(
            "INSERT INTO readings SELECT g, %s, %s::timestamptz + make_interval(mins => g),"
            " CASE WHEN g %% 7 = 0 THEN NULL ELSE g * 1.125 - 300 END,"
            " CASE WHEN g %% 5 = 0 THEN NULL ELSE g / 7.0 END,"
            " g * 123456789.0123456789,"
            " CASE g %% 3 WHEN 0 THEN true WHEN 1 THEN false END,"
            " (g %% 30000)::smallint, g / 3.0, CASE WHEN g = 2 THEN 'NaN' ELSE g * 1e10 END,"
            " CASE g %% 4 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'två\nrader, \"citat\"'"
            "  ELSE 'plain ' || g END,"
            " 'c' || (g %% 100), DATE '2019-03-01' + g, TIME '00:00' + make_interval(secs => g),"
            " TIMESTAMP '2019-03-13 00:00' + make_interval(secs => g * 1.5),"
            " CASE WHEN g %% 6 = 0 THEN NULL ELSE jsonb_build_object('g', g, 's', 'ü\n') END,"
            " CASE WHEN g %% 9 = 0 THEN NULL ELSE ('{\n  \"line\": ' || g || '\n}')::json END,"
            " CASE WHEN g %% 8 = 0 THEN NULL ELSE md5(g::text)::uuid END"
            " FROM generate_series(1, %s) g",
            (org[0], FROM, rows),
        )


def read_expected(conninfo: str) -> list[dict[str, Any]]:
    rows = database_rows(conninfo, "readings", READING_COLUMNS, "taken_at")
    assert len(rows) > 1000
    return rows


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    """A database row as the typed part holds it: uuid and json as text (json compared parsed)."""
    out = dict(row)
    out["tag"] = None if row["tag"] is None else str(row["tag"])
    for key in ("ratio", "big"):
        out[key] = None if row[key] is None else str(row[key])
    return out


def same_float(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-6)


def test_configured_entity_parquet_round_trip_by_pyarrow_and_polars(
    conninfo: str, client_credentials: Creds, tmp_path: Path
) -> None:
    client_credentials("acme")
    make_readings(conninfo)
    configured.load(conninfo, {"readings": EntityConfig.model_validate(READINGS)})
    sid = new_snapshot(conninfo, client_credentials, "parquet", "snappy", entity="readings")
    parts = export(conninfo, tmp_path, sid, max_rows=500)
    assert [p["path"].name for p in parts] == [f"readings_00{n}.parquet" for n in range(3)]
    check_parts(parts)
    table = pa.concat_tables([pq.read_table(p["path"]) for p in parts])
    types = {f.name: str(f.type) for f in table.schema}
    assert types["amount"] == "decimal128(12, 3)"
    assert types["big"] == "string"  # past decimal128's 38 digits: its exact text
    assert types["ratio"] == "string"  # numeric without a precision: its exact text
    assert types["ok"] == "bool"
    assert types["day"] == "date32[day]"
    assert types["local_at"] == "timestamp[us]"
    assert pq.ParquetFile(parts[0]["path"]).metadata.row_group(0).column(0).compression == (
        "SNAPPY"
    )
    expected = read_expected(conninfo)
    got = table.to_pylist()
    assert len(got) == len(expected)
    for read, want in zip(got, expected, strict=True):
        want = comparable(want)
        for key in ("doc", "raw"):
            assert (None if read[key] is None else json.loads(read[key])) == want.pop(key)
            read.pop(key)
        for key in ("score", "precise"):
            assert same_float(read.pop(key), want.pop(key))
        assert read == want

    frame = polars.read_parquet([p["path"] for p in parts])
    assert frame.height == len(expected)
    assert frame["label"].to_list() == [r["label"] for r in expected]
    assert frame["amount"].to_list() == [r["amount"] for r in expected]
    assert frame["ok"].to_list() == [r["ok"] for r in expected]
    assert frame["taken_at"].to_list() == [r["taken_at"] for r in expected]
    assert frame["day"].to_list() == [r["day"] for r in expected]
    assert frame["clock"].to_list() == [r["clock"] for r in expected]


def test_configured_entity_ndjson_round_trip(
    conninfo: str, client_credentials: Creds, tmp_path: Path
) -> None:
    client_credentials("acme")
    make_readings(conninfo, rows=300)
    configured.load(conninfo, {"readings": EntityConfig.model_validate(READINGS)})
    sid = new_snapshot(conninfo, client_credentials, "ndjson", entity="readings")
    (part,) = export(conninfo, tmp_path, sid, max_rows=1000)
    lines = part["path"].read_text().splitlines()
    expected = database_rows(conninfo, "readings", READING_COLUMNS, "taken_at")
    assert len(lines) == part["count"] == len(expected) == 300
    for line, want in zip(lines, expected, strict=True):
        read = json.loads(line, parse_float=Decimal)
        assert datetime.fromisoformat(read["taken_at"]) == want["taken_at"]
        assert datetime.fromisoformat(read["local_at"]) == want["local_at"]
        assert date.fromisoformat(read["day"]) == want["day"]
        assert time.fromisoformat(read["clock"]) == want["clock"]
        assert read["doc"] == want["doc"]
        assert read["raw"] == want["raw"]  # a json value nested, its newlines gone
        assert read["label"] == want["label"]
        assert read["ok"] == want["ok"]
        assert read["tag"] == (None if want["tag"] is None else str(want["tag"]))
        for key in ("amount", "ratio", "big"):
            assert (None if read[key] is None else Decimal(read[key])) == want[key]


def test_row_groups_are_full_but_the_last(
    conninfo: str,
    client_credentials: Creds,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 300)
    monkeypatch.setattr(parquet, "BLOCK", 16 * 1024)  # several COPY blocks per row group
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=2000)
    sid = new_snapshot(conninfo, client_credentials, "parquet")
    (part,) = export(conninfo, tmp_path, sid, max_rows=5000)
    meta = pq.ParquetFile(part["path"]).metadata
    assert [meta.row_group(n).num_rows for n in range(meta.num_row_groups)] == [300] * 6 + [200]
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert part["count"] == meta.num_rows == 2000


def test_an_empty_range_is_one_parquet_part_with_the_schema(
    conninfo: str, client_credentials: Creds, tmp_path: Path
) -> None:
    sid = new_snapshot(conninfo, client_credentials, "parquet", "none")
    (part,) = export(conninfo, tmp_path, sid, max_rows=1000)
    table = pq.read_table(part["path"])
    assert table.num_rows == part["count"] == 0
    assert table.schema.names == list(EVENT.columns)


def test_event_types_are_the_catalogs(conninfo: str) -> None:
    with psycopg.connect(conninfo) as conn:
        found = dict(
            conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = 'events'::regclass AND attnum > 0 AND NOT attisdropped"
            ).fetchall()
        )
    assert EVENT.db_types == tuple(found[c] for c in EVENT.columns)


def test_a_column_pond_cannot_type_stops_start_up(conninfo: str, client_credentials: Creds) -> None:
    client_credentials("acme")
    make_readings(conninfo, rows=1)
    with psycopg.connect(conninfo) as conn:
        conn.execute("ALTER TABLE readings ADD COLUMN spot point")
    config = {**READINGS, "columns": ["id", "spot"]}
    with pytest.raises(ConfigError) as caught:
        configured.load(conninfo, {"readings": EntityConfig.model_validate(config)})
    assert "'spot' has type point" in caught.value.message
    assert "view that casts it" in (caught.value.hint or "")


def test_a_value_parquet_cannot_hold_fails_its_part_with_the_reason(
    conninfo: str, client_credentials: Creds, tmp_path: Path
) -> None:
    client_credentials("acme")
    make_readings(conninfo, rows=50)
    with psycopg.connect(conninfo) as conn:
        conn.execute("UPDATE readings SET amount = 'NaN' WHERE id = 40")
    configured.load(conninfo, {"readings": EntityConfig.model_validate(READINGS)})
    sid = new_snapshot(conninfo, client_credentials, "parquet", entity="readings")
    outcome = coordinator.run(conninfo, store_at(tmp_path), sid, max_rows=1000)
    (failed,) = outcome.failed
    assert failed.reason is not None
    assert "'NaN' is not a valid decimal128" in failed.reason
    assert not list((tmp_path / str(sid)).glob("*.parquet"))


def test_parts_sharing_the_encoder_fail_alone(
    conninfo: str, client_credentials: Creds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every Parquet part of the process goes through one encoder here: a part whose
    value Parquet cannot hold fails, and the parts of another export encoded at the
    same time are whole."""
    monkeypatch.setattr(parquet, "_ENCODERS", parquet._Encoders(1))
    monkeypatch.setattr(parquet, "BLOCK", 4 * 1024)  # many blocks, interleaved in the encoder
    client_credentials("acme")
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=3000)
    make_readings(conninfo, rows=3000)
    with psycopg.connect(conninfo) as conn:
        conn.execute("UPDATE readings SET amount = 'NaN' WHERE id = 2900")
    configured.load(conninfo, {"readings": EntityConfig.model_validate(READINGS)})
    bad = new_snapshot(conninfo, client_credentials, "parquet", entity="readings")
    good = new_snapshot(conninfo, client_credentials, "parquet")
    with ThreadPoolExecutor(2) as pool:
        failing = pool.submit(coordinator.run, conninfo, store_at(tmp_path), bad, max_rows=1000)
        parts = pool.submit(export, conninfo, tmp_path, good, 1000).result()
        (failed,) = failing.result().failed
    assert failed.reason is not None
    assert "'NaN' is not a valid decimal128" in failed.reason
    check_parts(parts)
    table = pa.concat_tables([pq.read_table(p["path"]) for p in parts])
    expected = database_rows(conninfo, "events", ["id"], "created_at")
    assert table.column("id").to_pylist() == [row["id"] for row in expected]


def test_the_encoders_are_shared_by_load_and_never_more_than_asked() -> None:
    encoders = parquet._Encoders(2)
    given = [encoders.assign() for _ in range(5)]
    assert sorted(given) == [0, 0, 0, 1, 1]  # two threads, taking parts in turn
    encoders.release(0)
    encoders.release(0)
    assert encoders.assign() == 0  # the one with fewer parts
