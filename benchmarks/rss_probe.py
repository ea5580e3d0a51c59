"""Run one export job in this process and print its peak resident memory in MB.

Used by the memory case: `python -m benchmarks.rss_probe <conninfo> <objects dir> <snapshot id>`.
"""

from __future__ import annotations

import logging
import resource
import sys
import uuid
from pathlib import Path

import structlog

from pond.downloads.signing import LinkSigner
from pond.exports import exporter
from pond.storage.local import LocalStore


def main(argv: list[str]) -> None:
    conninfo, root, snapshot_id, max_rows = argv
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    store = LocalStore(Path(root), LinkSigner("bench", b"b" * 32))
    exporter.run(conninfo, store, uuid.UUID(snapshot_id), max_rows=int(max_rows))
    # ru_maxrss is in kilobytes on Linux.
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


if __name__ == "__main__":
    main(sys.argv[1:])
