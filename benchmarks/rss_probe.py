"""Run one export job in this process and print its peak resident memory in MB.

Used by the memory cases: `python -m benchmarks.rss_probe <conninfo> <objects dir>
<snapshot id> <part max rows> [<streams>]`. The job runs with the default number of
export streams unless `streams` is given.

The peak is the kernel's high-water mark of this process (`VmHWM`), not
`ru_maxrss`: Linux carries the peak of the image a process replaced by exec over
into `ru_maxrss`, so a probe started from the (much larger) benchmark process
would report the benchmark's own peak, the same for every export.
"""

from __future__ import annotations

import logging
import sys
import uuid
from pathlib import Path

import structlog

from pond.downloads.signing import LinkSigner
from pond.exports import coordinator
from pond.settings import Settings
from pond.storage.local import LocalStore


def peak_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # the kernel counts in kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(argv: list[str]) -> None:
    conninfo, root, snapshot_id, max_rows, *rest = argv
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    store = LocalStore(Path(root), LinkSigner("bench", b"b" * 32))
    default: int = Settings.model_fields["export_streams"].default
    streams = int(rest[0]) if rest else default
    coordinator.run(
        conninfo, store, uuid.UUID(snapshot_id), max_rows=int(max_rows), streams=streams
    )
    print(peak_mb())


if __name__ == "__main__":
    main(sys.argv[1:])
