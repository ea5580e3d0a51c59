"""The columns of an export with their types: what a typed part holds, and what clients see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pond.entities import Entity
from pond.exports.formats import types
from pond.exports.options import ExportOptions


@dataclass(frozen=True)
class Column:
    """An exported column: its name, its PostgreSQL type, and its Arrow type's name."""

    name: str
    db_type: str
    type: str

    @property
    def is_json(self) -> bool:
        return types.is_json(self.db_type)

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "db_type": self.db_type}


def columns_of(entity: Entity, options: ExportOptions) -> list[Column]:
    """The columns the options export, in order, typed from the entity's PostgreSQL types.

    Raises `KeyError` when the entity's types are unknown (it was never checked
    against the database) and `types.UnsupportedType` for a type pond cannot map;
    start-up refuses such entities, so an export never meets either.
    """
    found = []
    for name in options.columns or entity.columns:
        db_type = entity.db_type(name)
        found.append(Column(name, db_type, types.arrow_type(db_type)))
    return found
