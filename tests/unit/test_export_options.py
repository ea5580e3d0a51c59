"""Export options without a server: parsing, object names, gzip writing, the client's gzip scan."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from pond.client.errors import IntegrityError
from pond.client.integrity import scan, verify
from pond.client.models import Item
from pond.entities import EVENT
from pond.errors import InputError
from pond.exports.compression import GzipWriter
from pond.exports.options import ExportOptions, parse
from pond.snapshots.dates import parse_instant
from pond.snapshots.idempotency import request_hash
from pond.storage.base import StoredObject


class MemoryWriter:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def commit(self) -> StoredObject:
        return StoredObject("k", len(self.data), hashlib.sha256(self.data).hexdigest())

    def abort(self) -> None:
        self.data.clear()


def test_no_options_are_the_documented_export() -> None:
    options = parse({"created_at_from": "x"}, EVENT)
    assert options == ExportOptions()
    assert options.object_name("event", 7) == "event_007"
    assert options.echo() == {}
    assert parse({"format": "CSV", "columns": "", "compression": ""}, EVENT) == ExportOptions()


def test_columns_keep_their_order_and_gzip_names_the_object() -> None:
    options = parse({"columns": " value ,id", "compression": "gzip"}, EVENT)
    assert options.columns == ("value", "id")
    assert options.object_name("event", 0) == "event_000.csv.gz"
    assert options.echo() == {"columns": ["value", "id"], "compression": "gzip"}
    assert parse({"columns": ["id"]}, EVENT).columns == ("id",)


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"columns": "id,bogus"}, "unknown column 'bogus'"),
        ({"columns": "id,id"}, "named twice"),
        ({"columns": [1, 2]}, "list of column names"),
        ({"format": "json"}, "format must be one of: csv"),
        ({"compression": "bz2"}, "compression must be one of: gzip"),
    ],
)
def test_bad_options_say_what_is_accepted(params: dict[str, object], says: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(params, EVENT)
    assert says in f"{caught.value.message}; {caught.value.hint}"


def test_export_query_selects_the_chosen_columns() -> None:
    text = EVENT.export_query(columns=("value", "id")).as_string()
    assert text.startswith('SELECT "value", "id" FROM "events"')


def test_fingerprint_without_options_is_unchanged_and_options_change_it() -> None:
    start, end = (
        parse_instant("f", "2019-03-13T18:00:00Z"),
        parse_instant("t", "2019-03-14T18:00:00Z"),
    )
    plain = request_hash("event", start, end)
    assert request_hash("event", start, end, ExportOptions()) == plain
    assert request_hash("event", start, end, ExportOptions(compression="gzip")) != plain
    assert request_hash("event", start, end, ExportOptions(columns=("id",))) != plain


def test_gzip_writer_stores_a_gzip_file_whose_digest_is_of_the_stored_bytes() -> None:
    inner = MemoryWriter()
    writer = GzipWriter(inner)
    payload = b"id,value\n" + b"".join(b"%d,%d\n" % (i, i * 3) for i in range(50_000))
    for start in range(0, len(payload), 7000):
        writer.write(payload[start : start + 7000])
    stored = writer.commit()
    assert gzip.decompress(bytes(inner.data)) == payload
    assert stored.size == len(inner.data) < len(payload)
    assert stored.sha256 == hashlib.sha256(inner.data).hexdigest()


def test_client_counts_gzip_rows_decompressed_and_sizes_the_stored_bytes(tmp_path: Path) -> None:
    text = b'id,note\n1,"two\nlines"\n2,plain\n'
    path = tmp_path / "event_000.csv.gz"
    path.write_bytes(gzip.compress(text[:12]) + gzip.compress(text[12:]))  # two members
    result = scan(path, "sha256", gzipped=True)
    assert result.rows == 2
    assert result.size == path.stat().st_size
    item = Item(href=None, size=result.size, count=2, state="complete", query=None)
    assert verify(path, item, "event_000.csv.gz").rows == 2
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(IntegrityError, match="not a whole gzip file"):
        verify(path, Item(None, None, None, "complete", None), "event_000.csv.gz")
