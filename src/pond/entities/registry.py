"""The entities a snapshot can export: `event` is built in; operators add their own.

`configure()` installs the operator's entities (from `POND_ENTITIES` or the
`[entities.NAME]` tables of `pond.toml`) once at start-up, after `check()` has
verified them against the database; `get_entity()` looks names up.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from pond.errors import InputError, UnknownEntity


@dataclass(frozen=True)
class Entity:
    """An exportable table: rows of one organisation, in a `created_at` range."""

    name: str
    table: str
    org_column: str
    time_column: str
    columns: tuple[str, ...]
    # Unique within the table: with the time it orders rows and cuts parts exactly.
    key_column: str = "id"
    # The PostgreSQL type of each of `columns`, as `format_type()` prints it.
    db_types: tuple[str, ...] = ()

    def db_type(self, column: str) -> str:
        """The PostgreSQL type of `column`; KeyError for a column not exported or not typed."""
        if column not in self.columns or len(self.db_types) != len(self.columns):
            raise KeyError(column)
        return self.db_types[self.columns.index(column)]

    def _where(self, after: bool, before: bool) -> sql.Composed:
        """One organisation's rows in `[from, to)`, optionally from key `after` to key `before`.

        A bound replaces the time limit on its side: bounds are keys of rows in
        `[from, to)`, so the limit adds nothing, and beside it PostgreSQL would
        start (or end) the index scan at the time limit rather than at the key,
        reading every earlier part's index entries only to skip them.
        Bind parameters: `where_params`.
        """
        org, time = sql.Identifier(self.org_column), sql.Identifier(self.time_column)
        key = sql.Identifier(self.key_column)
        row = sql.SQL("({}, {})").format(time, key)
        clauses = [
            sql.SQL("{} = %s").format(org),
            sql.SQL("{} >= (%s, %s)").format(row) if after else sql.SQL("{} >= %s").format(time),
            sql.SQL("{} < (%s, %s)").format(row) if before else sql.SQL("{} < %s").format(time),
        ]
        return sql.SQL(" AND ").join(clauses)

    @staticmethod
    def where_params(
        org_id: int,
        start: object,
        end: object,
        after: tuple[object, object] | None = None,
        before: tuple[object, object] | None = None,
    ) -> list[object]:
        """The bind parameters of `_where`: org id, then `after` (time, key) or `start`,
        then `before` (time, key) or `end`."""
        return [org_id, *(after or (start,)), *(before or (end,))]

    def select(self, names: list[str]) -> tuple[str, ...]:
        """`names` as an export's columns, order kept; `InputError` for unknown or repeated ones."""
        valid = ", ".join(self.columns)
        if not names:
            raise InputError("columns must name at least one column", hint=f"valid: {valid}")
        for name in names:
            if name not in self.columns:
                raise InputError(
                    f"unknown column {name!r} for entity {self.name!r}",
                    hint=f"columns must be among: {valid}",
                )
            if names.count(name) > 1:
                raise InputError(f"column {name!r} is named twice", hint="name each column once")
        return tuple(names)

    def export_query(
        self,
        *,
        after: bool = False,
        before: bool = False,
        columns: tuple[str, ...] | None = None,
        limit: bool = False,
    ) -> sql.Composed:
        """`SELECT <columns>` (all of the entity's unless given) of the rows `_where` picks,
        in (time, id) order, with `limit` the first `%s` of them. Bind parameters:
        `where_params`, then the limit."""
        text = "SELECT {columns} FROM {table} WHERE {where} ORDER BY {time}, {key}"
        return self._compose(
            text + (" LIMIT %s" if limit else ""),
            after=after,
            before=before,
            columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns or self.columns),
        )

    def sample_query(self) -> sql.Composed:
        """The (time, id) keys of the rows `_where` picks in a sample of the table's pages,
        in order: `TABLESAMPLE SYSTEM` reads only the pages it draws, so this costs the
        same whatever the table's size. Bind parameters: the percentage of pages, a seed
        (the same seed draws the same pages), then `where_params` with no bound.
        """
        return self._compose(
            "SELECT {time}, {key} FROM {table} TABLESAMPLE SYSTEM (%s) REPEATABLE (%s)"
            " WHERE {where} ORDER BY {time}, {key}"
        )

    def pages_query(self) -> sql.Composed:
        """How many pages the table has now (no statistics needed; a partitioned table's
        are its partitions'), and whether it can be sampled at all (a view cannot).
        No bind parameter."""
        return sql.SQL(
            "SELECT coalesce((SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree(c.oid)),"
            " pg_relation_size(c.oid)) / current_setting('block_size')::int,"
            " c.relkind IN ('r', 'm', 'p') FROM pg_class c WHERE c.oid = {table}::regclass"
        ).format(table=sql.Literal(self.table))

    def boundary_query(self, *, after: bool, before: bool = False) -> sql.Composed:
        """The (time, id) key of the row `%s` rows further on: where the next part starts.

        Bind parameters: `where_params`, then the offset.
        """
        return self._compose(
            "SELECT {time}, {key} FROM {table} WHERE {where}"
            " ORDER BY {time}, {key} OFFSET %s LIMIT 1",
            after=after,
            before=before,
        )

    def _compose(
        self, text: str, *, after: bool = False, before: bool = False, **more: sql.Composable
    ) -> sql.Composed:
        """`text` with the table, its time and key columns, the `_where` of `after` and
        `before`, and `more`, filled in."""
        return sql.SQL(text).format(
            table=sql.Identifier(*self.table.split(".", 1)),
            time=sql.Identifier(self.time_column),
            key=sql.Identifier(self.key_column),
            where=self._where(after, before),
            **more,
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
    # As in schema.sql; a test checks them against the database's catalog.
    db_types=(
        "bigint",
        "timestamp with time zone",
        "text",
        "text",
        "text",
        "uuid",
        "character(2)",
        "numeric(14,4)",
        "integer",
        "jsonb",
    ),
)

_BUILT_IN = {EVENT.name: EVENT}
_ENTITIES = dict(_BUILT_IN)


def configure(entities: list[Entity]) -> None:
    """Make `entities` exportable beside the built-in ones (replacing any earlier set)."""
    global _ENTITIES
    _ENTITIES = {**_BUILT_IN, **{entity.name: entity for entity in entities}}


def exported() -> list[Entity]:
    """Every entity a snapshot can export: `event` first, then the operator's, by name."""
    return sorted(_ENTITIES.values(), key=lambda entity: (entity.name != EVENT.name, entity.name))


def get_entity(name: str) -> Entity:
    """The entity called `name`, or `UnknownEntity` listing the ones there are."""
    try:
        return _ENTITIES[name]
    except KeyError:
        known = ", ".join(sorted(_ENTITIES))
        raise UnknownEntity(
            f"unknown entity {name!r}", hint=f"entity must be one of: {known}"
        ) from None
