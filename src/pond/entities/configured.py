"""Operators' own entities: read from the settings, checked against the database at start.

In `pond.toml`::

    [entities.orders]
    table = "shop.orders"          # a table or view, optionally schema-qualified
    org_column = "org_id"          # bigint: the organisation (tenant) of each row
    time_column = "created_at"     # what created_at_from / created_at_to select on
    key_column = "id"              # unique: orders rows and cuts parts exactly
    columns = ["id", "created_at", "total", "status"]

or the same as JSON in `POND_ENTITIES`. A name that clashes with a built-in
entity, an unknown table or a missing column stops start-up with a message.
"""

from __future__ import annotations

import dataclasses
import re

import psycopg
from pydantic import BaseModel, Field

from pond.entities import repository
from pond.entities.registry import _BUILT_IN, Entity, configure
from pond.errors import ConfigError
from pond.exports.formats import types

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class EntityConfig(BaseModel):
    """One operator entity, as written in the settings."""

    table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
    org_column: str = "org_id"
    time_column: str = "created_at"
    key_column: str = "id"
    columns: list[str] = Field(min_length=1)


def _entity(name: str, config: EntityConfig) -> Entity:
    if not _NAME.match(name):
        raise ConfigError(
            f"POND_ENTITIES: invalid entity name {name!r}",
            hint="use 1-41 lower-case letters, digits or '_', starting with a letter",
        )
    if name in _BUILT_IN:
        raise ConfigError(f"POND_ENTITIES: {name!r} is a built-in entity; choose another name")
    if len(set(config.columns)) != len(config.columns):
        raise ConfigError(f"POND_ENTITIES: entity {name!r} names a column twice")
    return Entity(
        name=name,
        table=config.table,
        org_column=config.org_column,
        time_column=config.time_column,
        columns=tuple(config.columns),
        key_column=config.key_column,
    )


def check(conninfo: str, entities: list[Entity]) -> list[Entity]:
    """`entities` with their columns' types, if every table and column exists and every
    exported column has a type pond can export; else `ConfigError` naming what is wrong."""
    if not entities:
        return []
    typed = []
    with psycopg.connect(conninfo) as conn:
        for entity in entities:
            present = repository.column_types(conn, entity.table)
            if present is None:
                raise ConfigError(
                    f"POND_ENTITIES: entity {entity.name!r}: no table or view {entity.table!r}",
                    hint="create it, or fix `table` in pond.toml / POND_ENTITIES",
                )
            needed = [entity.org_column, entity.time_column, entity.key_column, *entity.columns]
            missing = [c for c in needed if c not in present]
            if missing:
                raise ConfigError(
                    f"POND_ENTITIES: entity {entity.name!r}: {entity.table} has no column"
                    f" {missing[0]!r}",
                    hint="columns there: " + ", ".join(sorted(present)),
                )
            for column in entity.columns:
                try:
                    types.arrow_type(present[column])
                except types.UnsupportedType:
                    raise ConfigError(
                        f"POND_ENTITIES: entity {entity.name!r}: column {column!r} has type"
                        f" {present[column]}, which pond cannot export",
                        hint="leave it out of `columns`, or export a view that casts it (to"
                        f" text, say); pond exports: {types.supported()}",
                    ) from None
            db_types = tuple(present[column] for column in entity.columns)
            typed.append(dataclasses.replace(entity, db_types=db_types))
    return typed


def load(conninfo: str, configs: dict[str, EntityConfig]) -> list[Entity]:
    """Build, check and install the configured entities; return them."""
    entities = check(conninfo, [_entity(name, config) for name, config in sorted(configs.items())])
    configure(entities)
    return entities
