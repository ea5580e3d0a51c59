"""Counting CSV records with quoted newlines, verifying parts, merging them."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import random
from pathlib import Path

import pytest

from pond.client.errors import IntegrityError
from pond.client.integrity import (
    RecordCounter,
    Scanner,
    check,
    expected_checksum,
    header_end,
    scan,
    verify,
    verify_scanned,
)
from pond.client.models import Item
from pond.client.results import iter_rows, merge


def csv_bytes(rows: list[list[str]], terminator: str = "\n") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=terminator).writerows(rows)
    return buffer.getvalue().encode()


def tricky_rows(count: int, seed: int = 1) -> list[list[str]]:
    rng = random.Random(seed)
    pieces = ["plain", "with,comma", 'with "quotes"', "multi\nline", "\n", '"', "", "é ü"]
    return [["id", "note", "more"]] + [
        [str(n), rng.choice(pieces) + rng.choice(pieces), rng.choice(pieces)] for n in range(count)
    ]


def count(data: bytes, chunk: int) -> int:
    counter = RecordCounter()
    for start in range(0, len(data), chunk):
        counter.feed(data[start : start + chunk])
    return counter.total()


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("terminator", ["\n", "\r\n"])
def test_records_match_the_csv_module_in_any_chunking(chunk: int, terminator: str) -> None:
    data = csv_bytes(tricky_rows(300), terminator)
    expected = sum(1 for _ in csv.reader(io.StringIO(data.decode(), newline="")))
    assert count(data, chunk) == expected == 301


def test_a_last_record_without_newline_counts() -> None:
    assert count(b"a,b\n1,2", 3) == 2
    assert count(b"a,b\n1,2\n", 3) == 2
    assert count(b"", 3) == 0
    assert count(b'a\n"open\n', 2) == 2  # an unterminated quote still ends the file


def part(tmp_path: Path, rows: list[list[str]], name: str = "event_000.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(csv_bytes(rows))
    return path


def item(path: Path, **extra: object) -> Item:
    data = path.read_bytes()
    rows = sum(1 for _ in csv.reader(io.StringIO(data.decode(), newline=""))) - 1
    return Item(href=None, size=len(data), count=rows, state="complete", query=None, extra=extra)


def test_a_good_part_verifies(tmp_path: Path) -> None:
    path = part(tmp_path, tricky_rows(50))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    result = verify(path, item(path, checksum=f"sha256:{digest}"), "event_000")
    # A matching digest proves every byte: the rows need no counting then.
    assert result.rows is None
    assert result.hexdigest == digest
    # Without a digest the rows are counted, quoted newlines and all.
    assert verify(path, item(path), "event_000").rows == 50


def test_size_rows_and_checksum_mismatches_are_named(tmp_path: Path) -> None:
    path = part(tmp_path, tricky_rows(50))
    good = item(path, md5="0" * 32)
    bad = Item(
        href=None,
        size=good.size + 1,
        count=good.count + 1,
        state="complete",
        query=None,
        extra=good.extra,
    )
    with pytest.raises(IntegrityError) as caught:
        verify(path, bad, "event_000")
    message = caught.value.message
    assert "bytes where the server said" in message
    assert "md5" in message
    assert caught.value.exit_code == 6
    # Without a digest to compare, a wrong row count is what gives it away.
    uncounted = Item(href=None, size=good.size, count=good.count + 1, state="complete",
                     query=None, extra={})  # fmt: skip
    with pytest.raises(IntegrityError, match="data rows where the server said"):
        verify(path, uncounted, "event_000")


def test_checksums_are_read_from_known_fields() -> None:
    def with_extra(**extra: object) -> Item:
        return Item(href=None, size=1, count=0, state="complete", query=None, extra=extra)

    assert expected_checksum(with_extra()) is None
    assert expected_checksum(with_extra(checksum="crc32:1234")) is None
    found = expected_checksum(with_extra(checksum="SHA256:ABCD"))
    assert found is not None
    assert (found.algorithm, found.hexdigest) == ("sha256", "abcd")


def test_header_end_knows_quotes() -> None:
    data = b'"a\nb",c\n1,2\n'
    assert header_end(io.BytesIO(data)) == 8
    assert header_end(io.BytesIO(b"only header")) == 11


def test_merge_keeps_one_header_and_every_row_in_order(tmp_path: Path) -> None:
    rows = tricky_rows(90)
    header, body = rows[0], rows[1:]
    files = [part(tmp_path, [header, *body[i : i + 30]], f"event_{i:03d}.csv") for i in (0, 30, 60)]
    merged = merge(files, tmp_path / "all.csv")
    with merged.open(newline="") as stream:
        assert list(csv.reader(stream)) == rows
    assert scan(merged).rows == 90
    assert [row["id"] for row in iter_rows(files)] == [str(n) for n in range(90)]


def test_merge_adds_a_missing_final_newline(tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_bytes(b"x,y\n1,2")
    second = tmp_path / "b.csv"
    second.write_bytes(b"x,y\n3,4\n")
    assert merge([first, second], tmp_path / "m.csv").read_bytes() == b"x,y\n1,2\n3,4\n"


def test_merge_refuses_parts_with_different_headers(tmp_path: Path) -> None:
    first = part(tmp_path, [["a", "b"], ["1", "2"]], "a.csv")
    second = part(tmp_path, [["a", "c"], ["1", "2"]], "b.csv")
    with pytest.raises(IntegrityError, match="different header"):
        merge([first, second], tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()
    assert not (tmp_path / ".m.csv.tmp").exists()


def export_like_rows(count: int, seed: int = 2) -> list[list[str]]:
    """Rows like the server's: a quoted JSON field of doubled quotes, now and then a newline."""
    rng = random.Random(seed)
    rows = [["id", "created_at", "properties"]]
    for n in range(count):
        note = "multi\nline" if rng.random() < 0.02 else "x" * rng.randint(0, 9)
        rows.append([str(n), "2019-03-13 18:00:01+00", json.dumps({"page": "/p", "note": note})])
    return rows


@pytest.mark.parametrize("chunk", [5, 97, 4096, 65536])
def test_records_of_quoted_json_fields_match_the_csv_module(chunk: int) -> None:
    data = csv_bytes(export_like_rows(2000))
    expected = sum(1 for _ in csv.reader(io.StringIO(data.decode(), newline="")))
    assert count(data, chunk) == expected == 2001


def test_bytes_scanned_as_they_arrive_match_a_scan_of_the_file(tmp_path: Path) -> None:
    path = part(tmp_path, export_like_rows(500))
    data = path.read_bytes()
    scanner = Scanner("sha256")
    scanner.feed_file(path, 1000)  # the bytes already on disk, then the rest as it arrives
    for start in range(1000, len(data), 333):
        scanner.feed(data[start : start + 333])
    assert scanner.result() == scan(path, "sha256")
    good = item(path, sha256=hashlib.sha256(data).hexdigest())
    assert verify_scanned(scanner, good, path.name).hexdigest == good.extra["sha256"]
    assert scanner.result().rows == 500
    bad = item(path, sha256=hashlib.sha256(b"other").hexdigest())
    with pytest.raises(IntegrityError, match="sha256"):
        check(scan(path, "sha256"), bad, path.name)


@pytest.mark.parametrize("gzipped", [False, True])
def test_views_of_one_reused_buffer_scan_as_the_same_bytes_would(
    tmp_path: Path, gzipped: bool
) -> None:
    # How parts arrive: each receive overwrites the buffer the last one was read from.
    path = part(tmp_path, export_like_rows(500))
    data = gzip.compress(path.read_bytes()) if gzipped else path.read_bytes()
    buffer = memoryview(bytearray(4096))
    scanner = Scanner("sha256", gzipped=gzipped)
    for start in range(0, len(data), len(buffer)):
        block = data[start : start + len(buffer)]
        buffer[: len(block)] = block
        scanner.feed(buffer[: len(block)])
    expected = Scanner("sha256", gzipped=gzipped)
    expected.feed(data)
    assert scanner.result() == expected.result()
    assert scanner.result().rows == 500
