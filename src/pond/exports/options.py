"""What a snapshot's files look like: format, compression, columns; parsed from a creation.

Every option is optional and its absence means the documented export exactly: CSV,
uncompressed, all of the entity's columns, objects named `<entity>_NNN`.

Formats: `csv`, `parquet` and `ndjson` (JSON Lines). Compression: `gzip` for CSV
and JSON Lines (the whole file); for Parquet, the codec of its pages: `zstd` (the
default), `snappy` or `none`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pond.entities import Entity
from pond.errors import InputError

if TYPE_CHECKING:
    from pond.exports.job import Range

FORMATS = ("csv", "parquet", "ndjson")
COMPRESSIONS = ("gzip", "zstd", "snappy", "none")
# What each format accepts as `compression` (None: not asked for).
FORMAT_COMPRESSIONS = {
    "csv": (None, "gzip"),
    "ndjson": (None, "gzip"),
    "parquet": (None, "zstd", "snappy", "none"),
}


@dataclass(frozen=True)
class ExportOptions:
    """`columns` None means all of the entity's; `compression` None means plain files."""

    format: str = "csv"
    compression: str | None = None
    columns: tuple[str, ...] | None = None

    @property
    def suffix(self) -> str:
        """What follows a part's name: nothing (the documented CSV), `.csv.gz`,
        `.parquet`, `.ndjson` or `.ndjson.gz`."""
        if self.format == "parquet":
            return ".parquet"
        if self.format == "csv" and self.compression is None:
            return ""
        return f".{self.format}.gz" if self.compression == "gzip" else f".{self.format}"

    def object_name(self, entity: str, seq: int) -> str:
        """`event_000` (the documented name), `event_000.csv.gz` when gzipped,
        `event_000.parquet`, `event_000.ndjson` or `event_000.ndjson.gz`."""
        return f"{entity}_{seq:03d}{self.suffix}"

    def provisional_name(self, entity: str, run: int, part: Range) -> str:
        """The name a part is written under before its place is known:
        `event_p<run>_<range>_<sub>`, which no published name can be."""
        return f"{entity}_p{run}_{part.range_no}_{part.sub_no}{self.suffix}"

    @property
    def parquet_codec(self) -> str:
        """The codec of a Parquet part's pages: `zstd` unless another was asked for."""
        return self.compression or "zstd"

    def echo(self) -> dict[str, Any]:
        """The options a creation gave, as the item's `query` repeats them (none: nothing)."""
        echoed: dict[str, Any] = {}
        if self.columns is not None:
            echoed["columns"] = list(self.columns)
        if self.format != "csv":
            echoed["format"] = self.format
        if self.compression is not None:
            echoed["compression"] = self.compression
        return echoed


def _choice(params: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    if text not in allowed:
        raise InputError(
            f"unsupported {name} {str(value)!r}",
            hint=f"{name} must be one of: {', '.join(allowed)}",
        )
    return text


def _column_names(value: Any) -> list[str]:
    """A comma-separated string (form) or a list of strings (JSON)."""
    if isinstance(value, str):
        return [name.strip() for name in value.split(",")]
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return [name.strip() for name in value]
    raise InputError("columns must be a comma-separated string or a list of column names")


def parse(params: dict[str, Any], entity: Entity) -> ExportOptions:
    """The creation's options; `InputError` (400 `invalid_request`) saying what is accepted."""
    fmt = _choice(params, "format", FORMATS) or "csv"
    compression = _choice(params, "compression", COMPRESSIONS)
    accepted = FORMAT_COMPRESSIONS[fmt]
    if compression not in accepted:
        named = [c for c in accepted if c is not None]
        raise InputError(
            f"compression {compression} does not apply to format {fmt}",
            hint=f"for {fmt}, compression must be one of: {', '.join(named)}",
        )
    raw = params.get("columns")
    columns = None if raw is None or raw == "" else entity.select(_column_names(raw))
    return ExportOptions(format=fmt, compression=compression, columns=columns)
