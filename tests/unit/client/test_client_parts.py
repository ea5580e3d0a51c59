"""Downloading a part, without the network: names, ranges, what each answer means."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pond.client.errors import (
    ClientError,
    IntegrityError,
    LinkRefused,
    ServiceUnavailable,
    SnapshotExpired,
    SnapshotNotReady,
    UsageError,
)
from pond.client.models import Snapshot
from pond.client.parts import (
    MANIFEST,
    MAX_FAILURES,
    MAX_REFRESHES,
    Part,
    PartWriter,
    Step,
    Tally,
    decide,
    fresh_item,
    plan,
)
from tests.unit.client.test_client_models import complete, pending

BODY = b"id,note\n1,a\n2,b\n"


def snapshot(parts: int = 2, size: int = len(BODY), count: int = 2) -> Snapshot:
    wire = complete(parts)
    for item in wire["items"]:
        item.update(size=size, count=count)
    return Snapshot.from_wire(wire)


def one_part(tmp_path: Path) -> Part:
    return plan(snapshot(1), tmp_path)[0]


def test_parts_are_named_as_their_links_end(tmp_path: Path) -> None:
    parts = plan(snapshot(3), tmp_path)
    assert [p.final.name for p in parts] == ["event_000.csv", "event_001.csv", "event_002.csv"]
    assert parts[0].partial.name == "event_000.csv.part"
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest == {"snapshot": snapshot(3).href}


def test_parts_without_usable_names_are_numbered(tmp_path: Path) -> None:
    wire = complete(2)
    wire["items"][0]["href"] = "https://x.example/o/..?sig=1"
    wire["items"][1]["href"] = "https://x.example/o/..?sig=2"
    parts = plan(Snapshot.from_wire(wire), tmp_path)
    assert [p.name for p in parts] == ["event_000", "event_001"]


def test_only_a_complete_snapshot_has_parts(tmp_path: Path) -> None:
    with pytest.raises(SnapshotNotReady, match="pending"):
        plan(Snapshot.from_wire(pending()), tmp_path)


def test_a_directory_of_another_snapshot_is_refused_unless_replaced(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text(json.dumps({"snapshot": "https://a.example/s/other"}))
    with pytest.raises(UsageError, match="another snapshot"):
        plan(snapshot(1), tmp_path)
    plan(snapshot(1), tmp_path, replace=True)
    plan(snapshot(1), tmp_path)  # now it is ours


def test_files_of_unknown_origin_are_not_continued(tmp_path: Path) -> None:
    (tmp_path / "event_000.csv").write_bytes(BODY)
    (tmp_path / "event_000.csv.part").write_bytes(b"junk")
    part = one_part(tmp_path)
    assert not part.is_done()
    assert part.have() == 0


def test_our_own_files_are_continued(tmp_path: Path) -> None:
    one_part(tmp_path)
    (tmp_path / "event_000.csv.part").write_bytes(BODY[:5])
    part = one_part(tmp_path)
    assert part.have() == 5
    assert part.request_headers() == {"Range": "bytes=5-"}
    part.etag = '"abc"'
    assert part.request_headers() == {"Range": "bytes=5-", "If-Range": '"abc"'}


def test_answers_mean_steps(tmp_path: Path) -> None:
    part = one_part(tmp_path)
    assert decide(part, 200, {"etag": '"e"'}).step is Step.WRITE
    assert part.etag == '"e"'
    assert decide(part, 403, {}).step is Step.REFRESH
    retry = decide(part, 503, {"retry-after": "4"})
    assert (retry.step, retry.server_delay) == (Step.RETRY, 4.0)
    assert decide(part, 429, {}).step is Step.RETRY
    with pytest.raises(SnapshotExpired):
        decide(part, 404, {})
    with pytest.raises(ClientError, match="unexpected answer 418"):
        decide(part, 418, {})


def test_a_range_answer_must_continue_the_bytes_on_disk(tmp_path: Path) -> None:
    part = one_part(tmp_path)
    part.partial.write_bytes(BODY[:5])
    total = len(BODY)
    fits = decide(part, 206, {"content-range": f"bytes 5-{total - 1}/{total}"})
    assert (fits.step, fits.offset) == (Step.WRITE, 5)
    assert decide(part, 206, {"content-range": f"bytes 0-{total - 1}/{total}"}).step is Step.RESTART
    assert decide(part, 206, {}).step is Step.RESTART
    whole = decide(part, 200, {})
    assert (whole.step, whole.offset) == (Step.WRITE, 0)


def test_range_not_satisfiable_means_complete_only_with_every_byte(tmp_path: Path) -> None:
    part = one_part(tmp_path)
    part.partial.write_bytes(BODY)
    assert decide(part, 416, {}).step is Step.COMPLETE
    part.partial.write_bytes(BODY + b"extra")
    assert decide(part, 416, {}).step is Step.RESTART


def test_writer_continues_or_restarts_the_partial_file(tmp_path: Path) -> None:
    part = one_part(tmp_path)
    with PartWriter(part, 0) as out:
        out.write(BODY[:5] + b"garbage")
    with PartWriter(part, 5) as out:
        out.write(BODY[5:])
    assert part.partial.read_bytes() == BODY
    assert out.written == len(BODY)


@pytest.mark.parametrize("sync", [False, True])
def test_writer_syncs_to_disk_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sync: bool
) -> None:
    synced: list[int] = []
    monkeypatch.setattr("pond.client.parts.os.fsync", synced.append)
    part = one_part(tmp_path)
    with PartWriter(part, 0, sync=sync) as out:
        out.write(BODY)
    assert len(synced) == (1 if sync else 0)
    assert part.partial.read_bytes() == BODY  # flushed either way


def test_commit_verifies_then_renames(tmp_path: Path) -> None:
    part = one_part(tmp_path)
    part.partial.write_bytes(BODY)
    assert part.commit().rows == 2
    assert part.is_done()
    assert not part.partial.exists()


def test_a_failed_check_removes_the_partial_file(tmp_path: Path) -> None:
    part = one_part(tmp_path)
    part.partial.write_bytes(b"id,note\n1,a\n2,\n")  # one byte short, same rows
    with pytest.raises(IntegrityError):
        part.commit()
    assert not part.partial.exists()
    assert not part.final.exists()


def test_fresh_items_are_found_by_name(tmp_path: Path) -> None:
    parts = plan(snapshot(2), tmp_path)
    renewed = complete(2)
    renewed["items"].reverse()
    for item in renewed["items"]:
        item["href"] = item["href"].replace("Signature=Y", "Signature=Z")
    fresh = fresh_item(Snapshot.from_wire(renewed), parts[0])
    assert fresh.name == "event_000"
    assert fresh.href is not None
    assert fresh.href.endswith("Signature=Z")
    with pytest.raises(SnapshotExpired):
        fresh_item(Snapshot.from_wire(pending()), parts[0])


def test_tally_gives_up_only_after_repeated_setbacks() -> None:
    tally = Tally("event_000")
    for n in range(MAX_FAILURES):
        assert tally.failed("cut") == n
    with pytest.raises(ServiceUnavailable, match="attempts in a row"):
        tally.failed("cut")
    tally = Tally("event_000")
    for _ in range(MAX_REFRESHES):
        tally.refreshed()
    tally.progressed()
    tally.refreshed()
    for _ in range(MAX_REFRESHES - 1):
        tally.refreshed()
    with pytest.raises(LinkRefused):
        tally.refreshed()


def test_a_part_that_cannot_be_written_says_what_to_do(tmp_path: Path) -> None:
    part = one_part(tmp_path)
    part.partial.mkdir()  # a directory where the file should go
    with pytest.raises(ClientError, match="cannot write") as caught:
        PartWriter(part, 0)
    assert caught.value.hint is not None
    assert "disk space" in caught.value.hint


def test_bytes_checked_as_written_need_no_second_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    part = one_part(tmp_path)
    with PartWriter(part, 0, check=True) as out:
        out.write(BODY[:5])
    with PartWriter(part, 5, check=True) as out:  # resumed: the first 5 bytes are read back
        out.write(BODY[5:])

    def no_read(*args: object) -> None:
        raise AssertionError("the partial file was read again")

    monkeypatch.setattr("pond.client.parts.verify", no_read)
    assert part.commit().rows == 2
    assert part.final.read_bytes() == BODY


def test_bytes_checked_as_written_are_still_checked(tmp_path: Path) -> None:
    part = one_part(tmp_path)
    part.item.extra["sha256"] = hashlib.sha256(BODY).hexdigest()
    with PartWriter(part, 0, check=True) as out:
        out.write(b"id,note\n1,a\n2,c\n")  # the right size and rows, the wrong bytes
    with pytest.raises(IntegrityError, match=r"sha256 [0-9a-f]{64} where"):
        part.commit()
    assert not part.partial.exists()
    assert not part.final.exists()


def test_a_file_changed_after_its_check_is_read_again(tmp_path: Path) -> None:
    part = one_part(tmp_path)
    with PartWriter(part, 0, check=True) as out:
        out.write(BODY)
    part.partial.write_bytes(BODY + b"3,c\n")  # not what was checked: the file is read again
    with pytest.raises(IntegrityError, match="bytes where the server said"):
        part.commit()
