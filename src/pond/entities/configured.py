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

import re

import psycopg
from pydantic import BaseModel, Field

from pond.entities.registry import _BUILT_IN, Entity, configure
from pond.errors import ConfigError

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


def check(conninfo: str, entities: list[Entity]) -> None:
    """Pass if every entity's table and columns exist, else `ConfigError` naming what is wrong."""
    if not entities:
        return
    with psycopg.connect(conninfo) as conn:
        for entity in entities:
            row = conn.execute("SELECT to_regclass(%s)::oid", (entity.table,)).fetchone()
            if row is None or row[0] is None:
                raise ConfigError(
                    f"POND_ENTITIES: entity {entity.name!r}: no table or view {entity.table!r}",
                    hint="create it, or fix `table` in pond.toml / POND_ENTITIES",
                )
            present = {
                r[0]
                for r in conn.execute(
                    "SELECT attname FROM pg_attribute"
                    " WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
                    (row[0],),
                )
            }
            needed = [entity.org_column, entity.time_column, entity.key_column, *entity.columns]
            missing = [c for c in needed if c not in present]
            if missing:
                raise ConfigError(
                    f"POND_ENTITIES: entity {entity.name!r}: {entity.table} has no column"
                    f" {missing[0]!r}",
                    hint="columns there: " + ", ".join(sorted(present)),
                )


def load(conninfo: str, configs: dict[str, EntityConfig]) -> list[Entity]:
    """Build, check and install the configured entities; return them."""
    entities = [_entity(name, config) for name, config in sorted(configs.items())]
    check(conninfo, entities)
    configure(entities)
    return entities
