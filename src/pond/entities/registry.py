"""The entities a snapshot can export. `event` is built in."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from pond.errors import UnknownEntity


@dataclass(frozen=True)
class Entity:
    """An exportable table: rows of one organisation, in a `created_at` range."""

    name: str
    table: str
    org_column: str
    time_column: str
    columns: tuple[str, ...]

    def export_query(self) -> sql.Composed:
        """`SELECT <columns>` of one organisation's rows in `[from, to)`, in time order.

        Bind parameters: org id, from, to.
        """
        return sql.SQL(
            "SELECT {columns} FROM {table} WHERE {org} = %s AND {time} >= %s AND {time} < %s"
            " ORDER BY {time}, id"
        ).format(
            columns=sql.SQL(", ").join(sql.Identifier(c) for c in self.columns),
            table=sql.Identifier(self.table),
            org=sql.Identifier(self.org_column),
            time=sql.Identifier(self.time_column),
        )


EVENT = Entity(
    name="event",
    table="events",
    org_column="org_id",
    time_column="created_at",
    columns=(
        "id",
        "created_at",
        "event_type",
        "actor_id",
        "device_id",
        "session_id",
        "country",
        "value",
        "duration_ms",
        "properties",
    ),
)

_ENTITIES = {EVENT.name: EVENT}


def get_entity(name: str) -> Entity:
    """The entity called `name`, or `UnknownEntity` listing the ones there are."""
    try:
        return _ENTITIES[name]
    except KeyError:
        known = ", ".join(sorted(_ENTITIES))
        raise UnknownEntity(
            f"unknown entity {name!r}", hint=f"entity must be one of: {known}"
        ) from None
