"""Cases 15 to 18: typed formats.

15. A Parquet export job against the ADBC PostgreSQL driver fetching the same
    rows into Arrow and pyarrow writing the same Parquet (same schema, codec and
    row groups): time.
16. The Parquet parts against the CSV parts of the same rows: size.
17. A JSON Lines export job against the CSV export job: time. Beside it, a
    diagnostic: PostgreSQL alone writing the same rows as JSON Lines and as CSV
    (psql, to /dev/null), the floor of that ratio.
18. Peak memory of a Parquet export job, all rows against a fiftieth of them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid

import psycopg

from benchmarks.environment import END, START, Bench
from benchmarks.inprocess import PART_MAX_ROWS, export_sql, new_snapshot, store
from benchmarks.measure import Comparison, Series, alternate, timed
from pond.entities import EVENT
from pond.exports import coordinator
from pond.exports.formats import columns_of, ndjson, parquet
from pond.exports.options import ExportOptions
from pond.settings import Settings

STREAMS: int = Settings.model_fields["export_streams"].default
_RSS_LIMIT_MB = 250.0


def _snapshot(bench: Bench, fmt: str, start: object = START, end: object = END) -> uuid.UUID:
    sid = new_snapshot(bench, start, end)
    with psycopg.connect(bench.conninfo) as conn:
        conn.execute("UPDATE snapshots SET format = %s WHERE id = %s", (fmt, sid))
    return sid


def run_export(bench: Bench, fmt: str, sizes: dict[str, int]) -> float:
    """Seconds for one export job of the whole range in `fmt`; its files are removed."""
    sid = _snapshot(bench, fmt)
    objects = store(bench)
    seconds = timed(
        lambda: coordinator.run(
            bench.conninfo, objects, sid, max_rows=PART_MAX_ROWS, streams=STREAMS
        )
    )
    with psycopg.connect(bench.conninfo) as conn:
        row = conn.execute(
            "SELECT sum(row_count), sum(size) FROM snapshot_parts WHERE snapshot_id = %s", (sid,)
        ).fetchone()
    assert row is not None
    if int(row[0]) != bench.rows:
        raise RuntimeError(f"the {fmt} export wrote {row[0]} rows, expected {bench.rows}")
    sizes[fmt] = int(row[1])
    shutil.rmtree(objects.root / str(sid), ignore_errors=True)
    return seconds


def adbc_parquet(bench: Bench, sizes: dict[str, int]) -> float:
    """Seconds for ADBC to fetch the rows into Arrow and pyarrow to write the same Parquet."""
    import adbc_driver_postgresql.dbapi as adbc
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = bench.work_dir / "adbc.parquet"
    schema = parquet.schema(columns_of(EVENT, ExportOptions(format="parquet")))
    # ADBC reads uuid as 16 bytes: as text, like pond's parts (and like its CSV).
    select = export_sql(bench).replace('"session_id"', '"session_id"::text AS "session_id"', 1)

    def run() -> None:
        with adbc.connect(bench.conninfo) as conn, conn.cursor() as cur:
            cur.execute(select)
            with pq.ParquetWriter(target, schema, compression="zstd") as out:
                pending: list[pa.RecordBatch] = []
                rows = 0
                for batch in cur.fetch_record_batch():
                    # numeric arrives as text and jsonb as JSON text: cast to pond's types.
                    plain = [
                        c.storage if isinstance(c.type, pa.ExtensionType) else c
                        for c in batch.columns
                    ]
                    pending.append(
                        pa.RecordBatch.from_arrays(plain, names=schema.names).cast(schema)
                    )
                    rows += batch.num_rows
                    if rows >= parquet.ROW_GROUP_ROWS:
                        out.write_table(pa.Table.from_batches(pending), row_group_size=rows)
                        pending, rows = [], 0
                if pending:
                    out.write_table(pa.Table.from_batches(pending), row_group_size=rows)

    seconds = timed(run)
    sizes["adbc"] = target.stat().st_size
    target.unlink()
    return seconds


def postgres_alone(bench: Bench, fmt: str) -> float:
    """Seconds for PostgreSQL alone to write the export's rows in `fmt` (csv or ndjson), through
    psql to /dev/null: the exporter's own COPY, in one stream."""
    select = psycopg.sql.SQL(export_sql(bench))
    if fmt == "ndjson":
        copy = ndjson.copy_statement(select, columns_of(EVENT, ExportOptions(format="ndjson")))
    else:
        copy = psycopg.sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(select)
    with psycopg.connect(bench.conninfo) as conn:
        command = copy.as_string(conn)
    return timed(
        lambda: subprocess.run(  # noqa: S603 - our psql, our SQL
            bench.psql_command(command), check=True, stdout=subprocess.DEVNULL
        )
    )


def _peak_mb(bench: Bench, fraction: int, streams: int = STREAMS) -> float:
    """Peak RSS of a fresh process exporting 1/`fraction` of the range as Parquet."""
    sid = _snapshot(bench, "parquet", START, START + (END - START) / fraction)
    root = bench.work_dir / "rss-objects"
    argv = [sys.executable, "-m", "benchmarks.rss_probe", bench.conninfo, str(root), str(sid)]
    done = subprocess.run(  # noqa: S603 - our interpreter running our probe
        [*argv, str(PART_MAX_ROWS), str(streams)], check=True, capture_output=True, text=True
    )
    shutil.rmtree(root / str(sid), ignore_errors=True)
    return float(done.stdout.strip().splitlines()[-1])


def compare(bench: Bench) -> list[Comparison]:
    sizes: dict[str, int] = {}
    pond_parquet = Series("pond export job, format=parquet")
    adbc = Series("ADBC PostgreSQL driver into Arrow, pyarrow ParquetWriter")
    alternate(
        bench.repeat,
        (pond_parquet, lambda _: run_export(bench, "parquet", sizes)),
        (adbc, lambda _: adbc_parquet(bench, sizes)),
    )
    ndjson = Series("pond export job, format=ndjson")
    csv = Series("pond export job, CSV")
    alternate(
        bench.repeat,
        (ndjson, lambda _: run_export(bench, "ndjson", sizes)),
        (csv, lambda _: run_export(bench, "csv", sizes)),
    )
    pg_ndjson = Series("PostgreSQL alone, JSON Lines")
    pg_csv = Series("PostgreSQL alone, CSV")
    alternate(
        bench.repeat,
        (pg_ndjson, lambda _: postgres_alone(bench, "ndjson")),
        (pg_csv, lambda _: postgres_alone(bench, "csv")),
    )
    parquet_mb = Series("Parquet parts", unit="MB", values=[sizes["parquet"] / 1e6])
    csv_mb = Series("CSV parts", unit="MB", values=[sizes["csv"] / 1e6])
    full = Series("Parquet export job, all rows", unit="MB")
    small = Series("Parquet export job, 1/50 of the rows", unit="MB")
    for _ in range(bench.repeat):
        full.values.append(_peak_mb(bench, 1))
        small.values.append(_peak_mb(bench, 50))
    # Diagnostic: all rows read by one stream, as the fiftieth is (it is one part).
    one_stream = _peak_mb(bench, 1, streams=1)
    setting = f"{bench.rows:,} rows, parts of at most {PART_MAX_ROWS:,}, {STREAMS} export streams"
    return [
        Comparison(
            case="15",
            title="Parquet export: pond vs the ADBC PostgreSQL driver and pyarrow",
            pond=pond_parquet,
            reference=adbc,
            target=1.0,
            higher_is_better=False,
            ratio_meaning="pond time / ADBC time",
            notes=[
                f"{setting}; ADBC reads the same SELECT in one stream, its numeric, jsonb and"
                " uuid columns cast to pond's schema, and writes one file in row groups of"
                f" {parquet.ROW_GROUP_ROWS:,} rows with zstd, as pond does"
                f" ({sizes['adbc']:,} bytes against pond's {sizes['parquet']:,})"
            ],
        ),
        Comparison(
            case="16",
            title="Parquet parts against CSV parts of the same rows: size",
            pond=parquet_mb,
            reference=csv_mb,
            target=0.35,
            higher_is_better=False,
            ratio_meaning="Parquet bytes / CSV bytes",
            notes=[f"{setting}; Parquet with zstd (the default)"],
        ),
        Comparison(
            case="17",
            title="JSON Lines export against CSV export",
            pond=ndjson,
            reference=csv,
            target=1.3,
            higher_is_better=False,
            ratio_meaning="JSON Lines time / CSV time",
            notes=[
                f"{setting}; JSON Lines parts hold {sizes['ndjson']:,} bytes for"
                f" {sizes['csv']:,} bytes of CSV",
                f"diagnostic, PostgreSQL alone (the exporter's COPY through psql to /dev/null,"
                f" one stream, medians): JSON Lines {pg_ndjson.median:.3f} s, CSV"
                f" {pg_csv.median:.3f} s, {pg_ndjson.median / pg_csv.median:.2f}×; pond passes"
                " the COPY's bytes through in both formats",
            ],
        ),
        Comparison(
            case="18",
            title="Peak memory of a Parquet export job: all rows vs a fiftieth of them",
            pond=full,
            reference=small,
            target=1.2,
            higher_is_better=False,
            ratio_meaning="peak RSS (all rows) / peak RSS (1/50 of the rows)",
            notes=[
                f"{bench.rows:,} against about {bench.rows // 50:,} rows; each run a fresh"
                " process (its VmHWM, pyarrow's import included)",
                f"the fiftieth is one part, read by one export stream; all rows read by one"
                f" stream too peaked at {one_stream:.1f} MB"
                f" ({one_stream / small.median:.2f}× the fiftieth): the rest of the ratio is"
                f" the {STREAMS - 1} other stream(s), each with its own row group and blocks",
            ],
            limits=[(f"≤ {_RSS_LIMIT_MB:g} MB", full.median <= _RSS_LIMIT_MB)],
        ),
    ]
