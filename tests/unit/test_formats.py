"""Typed formats without a database: options, object names, and the PostgreSQL -> Arrow types."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pond.entities import EVENT
from pond.errors import InputError
from pond.exports.formats import columns_of, parquet, types
from pond.exports.options import ExportOptions, parse


@pytest.mark.parametrize(
    ("params", "name", "echo"),
    [
        ({"format": "parquet"}, "event_000.parquet", {"format": "parquet"}),
        (
            {"format": "parquet", "compression": "snappy"},
            "event_000.parquet",
            {"format": "parquet", "compression": "snappy"},
        ),
        ({"format": "NDJSON"}, "event_000.ndjson", {"format": "ndjson"}),
        (
            {"format": "ndjson", "compression": "gzip"},
            "event_000.ndjson.gz",
            {"format": "ndjson", "compression": "gzip"},
        ),
        ({"format": "csv"}, "event_000", {}),
        ({"format": "csv", "compression": "gzip"}, "event_000.csv.gz", {"compression": "gzip"}),
    ],
)
def test_formats_name_their_objects_and_echo_what_was_asked(
    params: dict[str, str], name: str, echo: dict[str, str]
) -> None:
    options = parse(params, EVENT)
    assert options.object_name("event", 0) == name
    assert options.echo() == echo


def test_parquet_is_zstd_unless_asked_otherwise() -> None:
    assert parse({"format": "parquet"}, EVENT).parquet_codec == "zstd"
    assert parse({"format": "parquet", "compression": "none"}, EVENT).parquet_codec == "none"


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"format": "parquet", "compression": "gzip"}, "zstd, snappy, none"),
        ({"format": "csv", "compression": "zstd"}, "for csv, compression must be one of: gzip"),
        ({"format": "ndjson", "compression": "snappy"}, "for ndjson"),
        ({"format": "xlsx"}, "format must be one of: csv, parquet, ndjson"),
    ],
)
def test_a_compression_that_does_not_fit_the_format_says_which_do(
    params: dict[str, str], says: str
) -> None:
    with pytest.raises(InputError) as caught:
        parse(params, EVENT)
    assert says in f"{caught.value.message}; {caught.value.hint}"


@pytest.mark.parametrize(
    ("db_type", "arrow"),
    [
        ("bigint", "int64"),
        ("integer", "int32"),
        ("smallint", "int16"),
        ("real", "float"),
        ("double precision", "double"),
        ("boolean", "bool"),
        ("numeric(14,4)", "decimal128(14, 4)"),
        ("numeric(38,0)", "decimal128(38, 0)"),
        ("numeric(39,2)", "string"),
        ("numeric", "string"),
        ("text", "string"),
        ("character varying(20)", "string"),
        ("character(2)", "string"),
        ("uuid", "string"),
        ("jsonb", "string"),
        ("timestamp with time zone", "timestamp[us, tz=UTC]"),
        ("timestamp(3) with time zone", "timestamp[us, tz=UTC]"),
        ("timestamp without time zone", "timestamp[us]"),
        ("date", "date32[day]"),
        ("time without time zone", "time64[us]"),
    ],
)
def test_postgresql_types_map_to_arrow_types_pyarrow_names_alike(db_type: str, arrow: str) -> None:
    assert types.arrow_type(db_type) == arrow
    assert str(parquet.arrow_type(arrow)) == arrow


@pytest.mark.parametrize("db_type", ["point", "integer[]", "bytea", "interval", "tsvector"])
def test_other_types_are_refused(db_type: str) -> None:
    with pytest.raises(types.UnsupportedType, match=db_type.replace("[", r"\[")):
        types.arrow_type(db_type)


def test_event_columns_have_types_in_the_chosen_order() -> None:
    columns = columns_of(EVENT, ExportOptions(format="parquet", columns=("value", "id")))
    assert [(c.name, c.db_type, c.type) for c in columns] == [
        ("value", "numeric(14,4)", "decimal128(14, 4)"),
        ("id", "bigint", "int64"),
    ]
    assert parquet.schema(columns) == pa.schema(
        [("value", pa.decimal128(14, 4)), ("id", pa.int64())]
    )
