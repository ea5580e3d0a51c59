"""The client's side of typed formats without a server: names, row checks, types."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pytest

from pond.client.integrity import scan, scanner_for
from pond.client.models import Item
from pond.client.parts import Part
from pond.client.tables import arrow_type, part_format

ITEM = Item(
    href="http://h/o/x/event_000.ndjson", size=None, count=None, state="complete", query=None
)


@pytest.mark.parametrize(
    ("name", "final"),
    [
        ("event_000", "event_000.csv"),
        ("event_000.csv.gz", "event_000.csv.gz"),
        ("event_000.parquet", "event_000.parquet"),
        ("event_000.ndjson", "event_000.ndjson"),
        ("event_000.ndjson.gz", "event_000.ndjson.gz"),
    ],
)
def test_parts_keep_the_name_that_says_their_format(tmp_path: Path, name: str, final: str) -> None:
    part = Part(index=0, name=name, item=ITEM, directory=tmp_path)
    assert part.final.name == final


def test_json_lines_rows_are_lines_and_parquet_rows_are_not_guessed(tmp_path: Path) -> None:
    lines = b'{"a": "x\\ny \\"q\\""}\n{"a": null}\n{"a": "\\""}\n'
    plain, packed = tmp_path / "event_000.ndjson", tmp_path / "event_000.ndjson.gz"
    plain.write_bytes(lines)
    packed.write_bytes(gzip.compress(lines))
    assert scan(plain, lines=True).rows == 3
    assert scan(packed, gzipped=True, lines=True).rows == 3
    scanner = scanner_for(ITEM, "event_000.ndjson")
    scanner.feed(lines[:7])
    scanner.feed(lines[7:])
    assert scanner.result().rows == 3
    parquet = scanner_for(ITEM, "event_000.parquet")
    parquet.feed(b"PAR1....PAR1")
    assert parquet.result().rows is None


@pytest.mark.parametrize(
    "name",
    ["int64", "double", "bool", "decimal128(14, 4)", "timestamp[us, tz=UTC]", "date32[day]"],
)
def test_the_servers_type_names_become_the_same_arrow_types(name: str) -> None:
    assert str(arrow_type(name)) == name


def test_an_unknown_type_name_reads_as_text() -> None:
    assert arrow_type("interval[mdn]") == pa.string()


def test_formats_by_file_name() -> None:
    assert [part_format(Path(n)) for n in ("a.parquet", "a.ndjson.gz", "a.csv.gz", "a")] == [
        "parquet",
        "ndjson",
        "csv",
        "csv",
    ]
