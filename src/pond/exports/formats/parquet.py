"""Parquet parts: PostgreSQL's CSV parsed by Arrow into typed columns, a row group at a time.

Measured on 500,000 events (docs/architecture.md): reading the COPY's CSV in
blocks of a few MB and parsing each with Arrow's CSV reader, given the schema,
costs less than fetching the rows with the ADBC PostgreSQL driver (binary COPY)
and converting its types, and it keeps pond's own COPY reader and snapshot
connection. Each block holds whole rows (a COPY message is one row), so blocks
parse independently. Arrow parses fastest when no value spans lines; a block
whose newline count equals its row count has none, and only the others are
parsed the slower, quote-aware way.

PostgreSQL's CSV tells NULL from the empty string (an empty field against `""`),
and Arrow keeps the difference (`quoted_strings_can_be_null=False`). Booleans
come as `t`/`f`, timestamps as `2019-03-13 18:00:00.123+00` (the export runs in
UTC), numerics as their exact decimal text: Arrow parses each into its type.

Rows gather into row groups of `ROW_GROUP_ROWS` (the last one smaller), written
as each fills, so memory holds one row group per part at most, whatever the
part's size. After each row group the encoder hands the pages Arrow's
allocator keeps for later back to the system (`release_unused`); keeping them
added about 20 MB to a 5M-row export's peak.

Parsing and encoding run in a shared encoder thread (`_Encoders`) while the
export stream's thread goes on reading the COPY (Arrow releases the interpreter
lock), at most `_QUEUED` blocks behind: PostgreSQL keeps producing rows while
the previous ones are being encoded, so a part takes about as long as the
slower of the two rather than their sum. The encoded bytes go back to the
stream's thread in blocks of `_SINK_BUFFER`, which writes them to storage.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg

from pond.client.tables import known_arrow_type
from pond.exports.copy_out import copy_out
from pond.exports.formats.columns import Column
from pond.storage.base import StagedWriter

if TYPE_CHECKING:
    import pyarrow as pa

BLOCK = 2 << 20  # CSV bytes parsed at once
# Rows per row group: large enough for good compression and quick scans (DuckDB's
# own groups are 122,880 rows), small enough that the group each export stream
# gathers stays under 10 MB.
ROW_GROUP_ROWS = 32 * 1024
_SINK_BUFFER = 1 << 20
_QUEUED = 2  # blocks read ahead of the parser


def arrow_type(name: str) -> pa.DataType:
    """The pyarrow type `name` stands for (a name from `types.arrow_type`), as the client
    reads it back."""
    found = known_arrow_type(name)
    if found is None:
        raise ValueError(f"no Arrow type named {name!r}")
    return found


def schema(columns: list[Column]) -> pa.Schema:
    """The Arrow schema of a part holding `columns`."""
    import pyarrow as pa

    return pa.schema([pa.field(column.name, arrow_type(column.type)) for column in columns])


class _Sink:
    """A binary file for pyarrow that gathers what the encoder writes into blocks of
    `_SINK_BUFFER`; the export stream's own thread hands them to the part's
    `StagedWriter` (`drain`), so an upload to S3 never holds up the shared encoder."""

    def __init__(self, writer: StagedWriter) -> None:
        self._writer = writer
        self._buffer = bytearray()
        self._full: deque[bytearray] = deque()
        self._position = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._buffer += view
        self._position += view.nbytes
        if len(self._buffer) >= _SINK_BUFFER:
            self._full.append(self._buffer)
            self._buffer = bytearray()
        return view.nbytes

    def drain(self, *, last: bool = False) -> None:
        """Write the full blocks to the part's writer; with `last`, the rest too (the
        encoder must be done)."""
        while self._full:
            self._writer.write(self._full.popleft())
        if last and self._buffer:
            self._writer.write(self._buffer)
            self._buffer = bytearray()

    def flush(self) -> None:
        """Nothing to do: the stream's thread writes the blocks out (`drain`)."""

    def tell(self) -> int:
        return self._position

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


class _RowGroups:
    """Parses CSV blocks of whole rows into tables and writes them as full row groups."""

    def __init__(self, columns: list[Column], codec: str, sink: _Sink) -> None:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        self._csv = pacsv
        self.schema = schema(columns)
        self._read = pacsv.ReadOptions(
            column_names=self.schema.names, use_threads=False, block_size=BLOCK
        )
        # Each export stream is a thread of its own: Arrow's threads would only compete.
        self._convert = pacsv.ConvertOptions(
            column_types=self.schema,
            true_values=["t"],
            false_values=["f"],
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )
        self._one_line = pacsv.ParseOptions(newlines_in_values=False)
        self._multi_line = pacsv.ParseOptions(newlines_in_values=True)
        self._writer = pq.ParquetWriter(sink, self.schema, compression=codec)
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def parse(self, block: bytearray, rows: int) -> None:
        """Parse a block of `rows` whole rows; write the row groups it fills."""
        if not block or rows == 0:
            return
        one_line = block.count(b"\n") == rows and b"\r" not in block
        table = self._csv.read_csv(
            self._csv_input(block),
            read_options=self._read,
            parse_options=self._one_line if one_line else self._multi_line,
            convert_options=self._convert,
        )
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= ROW_GROUP_ROWS:
            self._write(ROW_GROUP_ROWS)

    @staticmethod
    def _csv_input(block: bytearray) -> Any:
        import pyarrow as pa

        return pa.BufferReader(pa.py_buffer(block))

    def _write(self, rows: int) -> None:
        import pyarrow as pa

        table = pa.concat_tables(self._pending)
        self._writer.write_table(table.slice(0, rows), row_group_size=rows)
        rest = table.slice(rows)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows
        pa.default_memory_pool().release_unused()

    def close(self) -> None:
        """Write the last, smaller row group and the footer."""
        if self._pending_rows:
            self._write(self._pending_rows)
        self._writer.close()


class _Encoders:
    """The threads that parse and encode the Parquet parts of every export stream of this process.

    There are half as many as the cores the process may run on (at least one),
    shared by all parts: a part is given to the thread with the fewest parts at
    the time. With a thread per part, each thread held its own parse and encode
    buffers and its own heap in Arrow's allocator, and the second export stream
    raised the peak by about 55 MB; shared, by about 20 MB. Encoding is a share of the work, beside
    PostgreSQL making the CSV and the streams reading it, so more threads than
    that only compete with them for the cores.
    """

    def __init__(self, threads: int) -> None:
        self._threads = threads
        self._queues: list[queue.SimpleQueue[tuple[_Parser, bytearray | None, int]]] = []
        self._load: list[int] = []
        self._lock = threading.Lock()

    def assign(self) -> int:
        """The thread a new part goes to; it must `release` it when done."""
        with self._lock:
            if len(self._queues) < self._threads and 0 not in self._load:
                self._queues.append(queue.SimpleQueue())
                self._load.append(0)
                index = len(self._queues) - 1
                name = f"parquet-encoder-{index}"
                threading.Thread(target=self._run, args=(index,), name=name, daemon=True).start()
            index = self._load.index(min(self._load))
            self._load[index] += 1
            return index

    def release(self, index: int) -> None:
        with self._lock:
            self._load[index] -= 1

    def put(self, index: int, item: tuple[_Parser, bytearray | None, int]) -> None:
        self._queues[index].put(item)

    def _run(self, index: int) -> None:
        work = self._queues[index]
        while True:
            parser, block, rows = work.get()
            parser.run(block, rows)


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


_ENCODERS = _Encoders(max(1, _cores() // 2))


class _Parser:
    """Feeds one part's `_RowGroups` through a shared encoder thread; the COPY's reader
    hands it blocks, at most `_QUEUED` ahead of the encoder."""

    def __init__(self, groups: _RowGroups) -> None:
        self._groups = groups
        self._room = threading.Semaphore(_QUEUED)
        self._finished = threading.Event()
        self._block: bytearray | None = None
        self.error: BaseException | None = None
        self._encoder = _ENCODERS.assign()

    def take(self, block: bytearray) -> None:
        """Keep the block `copy_out` wrote until it says how many rows it holds."""
        self._block = block

    def hand_over(self, rows: int) -> None:
        """Queue the kept block of `rows` rows; raise what the encoder met, if it failed."""
        if self.error is not None:
            raise self.error
        block, self._block = self._block, None
        if block is not None:
            self._room.acquire()
            _ENCODERS.put(self._encoder, (self, block, rows))

    def run(self, block: bytearray | None, rows: int) -> None:
        """In the encoder thread: parse a block of `rows` rows; or, `block` being None, end
        the part: write its last row group and footer if `rows` (1), else drop it (0)."""
        try:
            if self.error is None:  # after a failure, only drain: the reader must not block
                if block is None:
                    if rows:
                        self._groups.close()
                else:
                    self._groups.parse(block, rows)
        except BaseException as exc:
            self.error = exc
        finally:
            if block is None:
                self._finished.set()
            else:
                self._room.release()

    def finish(self, *, close: bool) -> None:
        """Wait until every queued block is parsed; if `close`, until the part is written to
        its end, and raise what the encoder met. Else the part is dropped: the caller
        has an error of its own to raise."""
        _ENCODERS.put(self._encoder, (self, None, int(close)))
        self._finished.wait()
        _ENCODERS.release(self._encoder)
        if close and self.error is not None:
            raise self.error


def write_part(
    conn: psycopg.Connection[Any],
    select: psycopg.sql.Composed,
    params: list[Any],
    columns: list[Column],
    codec: str,
    writer: StagedWriter,
    count: Callable[[int], None],
) -> int:
    """Stream the rows of `select` (of `columns`) as one Parquet file into `writer`.

    `codec` compresses the pages: `zstd`, `snappy` or `none`. Returns the rows.
    Raises pyarrow's `ArrowInvalid` for a value that does not fit its column's
    type (a numeric `NaN` in a decimal column, a date before year 1).
    """
    sink = _Sink(writer)
    groups = _RowGroups(columns, codec, sink)
    parser = _Parser(groups)

    def read(rows: int) -> None:
        parser.hand_over(rows)
        sink.drain()
        count(rows)

    query = psycopg.sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(select)
    try:
        rows = copy_out(conn, query, params, parser.take, block_size=BLOCK, on_block=read)
    except BaseException:
        parser.finish(close=False)
        raise
    parser.finish(close=True)
    sink.drain(last=True)
    return rows
