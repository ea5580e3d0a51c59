"""Getting events in: `seeding.seed` (synthetic rows) and `importing.import_csv` (CSV files).

Both write with COPY on a real PostgreSQL; these tests check what lands in the
`events` table, and that a rejected file leaves it as it was.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg.types.numeric import NumericBinaryLoader

from pond.entities import EVENT
from pond.errors import ImportRejected, InputError
from pond.events import importing, seeding

FROM = datetime(2019, 3, 13, 18, 0, tzinfo=UTC)
TO = datetime(2019, 3, 28, 18, 0, tzinfo=UTC)
EXPORT_HEADER = ",".join(EVENT.columns)


def org_id(conninfo: str, org: str) -> int | None:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT id FROM organisations WHERE slug = %s", (org,)).fetchone()
    return None if row is None else int(row[0])


def count_events(conninfo: str, org: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM events e JOIN organisations o ON o.id = e.org_id"
            " WHERE o.slug = %s",
            (org,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def export_csv(conninfo: str, org: str) -> bytes:
    """The org's rows in [FROM, TO), as the export job writes them (same query, same COPY)."""
    oid = org_id(conninfo, org)
    query = psycopg.sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(EVENT.export_query())
    out = bytearray()
    with (
        psycopg.connect(conninfo) as conn,
        conn.cursor() as cur,
        cur.copy(query, (oid, FROM, TO)) as copy,
    ):
        for block in copy:
            out += block
    return bytes(out)


def write(tmp_path: Path, text: str, name: str = "events.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- seed ---------------------------------------------------------------------------------------


def test_seed_writes_exactly_n_rows_spread_over_the_range(conninfo: str) -> None:
    written = seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=5000)

    assert written == 5000
    assert count_events(conninfo, "acme") == 5000
    with psycopg.connect(conninfo) as conn:
        low, high = conn.execute(
            "SELECT min(created_at), max(created_at) FROM events WHERE org_id = %s",
            (org_id(conninfo, "acme"),),
        ).fetchone() or (None, None)
        # Ten equal slices of the range: the rows are spread, not bunched at one end.
        deciles = dict(
            conn.execute(
                "SELECT width_bucket(extract(epoch FROM created_at), %s, %s, 10), count(*)"
                " FROM events GROUP BY 1",
                (FROM.timestamp(), TO.timestamp()),
            ).fetchall()
        )
    assert low is not None
    assert high is not None
    assert FROM <= low < TO
    assert FROM <= high < TO
    assert sorted(deciles) == list(range(1, 11))
    for decile, rows in deciles.items():
        assert 250 <= rows <= 750, f"decile {decile} holds {rows} of 5000 rows"


def test_seed_leaves_other_organisations_untouched(conninfo: str) -> None:
    seeding.seed(conninfo, org="globex", start=FROM, end=TO, count=300, seed=7)
    before = export_csv(conninfo, "globex")

    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=1000)

    assert count_events(conninfo, "globex") == 300
    assert export_csv(conninfo, "globex") == before
    assert count_events(conninfo, "acme") == 1000


def test_seed_many_writes_each_organisations_rows_in_one_go(conninfo: str) -> None:
    seeding.seed(conninfo, org="globex", start=FROM, end=TO, count=50)
    counts = {"acme": 2500, "globex": 700, "initech": 1, "umbrella": 0}

    written = seeding.seed_many(conninfo, counts, start=FROM, end=TO, seed=4)

    assert written == 3201
    assert count_events(conninfo, "acme") == 2500
    assert count_events(conninfo, "globex") == 750, "added to the organisation's own rows"
    assert count_events(conninfo, "initech") == 1
    assert org_id(conninfo, "umbrella") is not None, "an organisation without rows exists"
    with psycopg.connect(conninfo) as conn:
        outside = conn.execute(
            "SELECT count(*) FROM events WHERE NOT (created_at >= %s AND created_at < %s)",
            (FROM, TO),
        ).fetchone()
    assert outside == (0,)


def test_seed_many_writes_nothing_when_an_organisation_name_is_bad(conninfo: str) -> None:
    with pytest.raises(InputError):
        seeding.seed_many(conninfo, {"acme": 10, "not a slug!": 10}, start=FROM, end=TO)

    assert org_id(conninfo, "acme") is None


def test_seed_rows_carry_the_columns_an_export_shows(conninfo: str) -> None:
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=200)

    with psycopg.connect(conninfo) as conn:
        nulls = conn.execute(
            "SELECT count(*) FILTER (WHERE event_type IS NULL OR event_type = ''),"
            " count(*) FILTER (WHERE actor_id IS NULL), count(*) FILTER (WHERE properties = '{}')"
            " FROM events"
        ).fetchone()
    assert nulls == (0, 0, 0)


def test_seed_rows_read_back_as_the_values_they_were_made_from(conninfo: str) -> None:
    """The binary rows hold what the generator means: typed values, in range, where expected."""
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=3000)

    with psycopg.connect(conninfo) as conn:
        checks = conn.execute(
            "SELECT count(*) FILTER (WHERE CASE WHEN event_type IN ('purchase', 'checkout')"
            "   THEN value >= 0 AND value < 200 ELSE value IS NULL END),"
            " count(*) FILTER (WHERE duration_ms BETWEEN 5 AND 120000),"
            " count(*) FILTER (WHERE actor_id LIKE 'user-%' AND device_id LIKE 'dev-%'"
            "   AND length(country) = 2 AND session_id IS NOT NULL),"
            " count(*) FILTER (WHERE properties ? 'page' AND properties ? 'browser'),"
            " count(DISTINCT value), count(*)"
            " FROM events"
        ).fetchone()
    assert checks is not None
    *per_row, distinct_values, rows = checks
    assert per_row == [rows] * 4
    assert distinct_values > 100  # priced events carry varied amounts, not one constant


@pytest.mark.parametrize("amount", [0, 1, 9_999, 10_000, 10_001, 123_456, 1_999_999])
def test_seed_numeric_fields_are_what_postgresql_reads_back(amount: int) -> None:
    """`_numeric(n)` is PostgreSQL's binary numeric for n / 10,000 (psycopg's own reader agrees)."""
    field = seeding._numeric(amount)
    length = int.from_bytes(field[:4], "big")
    loader = NumericBinaryLoader(psycopg.adapters.types["numeric"].oid)
    assert length == len(field) - 4
    assert loader.load(field[4:]) == Decimal(amount).scaleb(-4)


def test_seed_stays_before_the_end_even_in_a_dense_range(conninfo: str) -> None:
    end = FROM + timedelta(milliseconds=10)
    for seed in range(10):
        seeding.seed(conninfo, org="acme", start=FROM, end=end, count=10_000, seed=seed)

    with psycopg.connect(conninfo) as conn:
        outside = conn.execute(
            "SELECT count(*) FROM events WHERE NOT (created_at >= %s AND created_at < %s)",
            (FROM, end),
        ).fetchone()
    assert outside == (0,)


# --- import -------------------------------------------------------------------------------------


def test_import_loads_an_exported_csv_unchanged(conninfo: str, tmp_path: Path) -> None:
    seeding.seed(conninfo, org="source", start=FROM, end=TO, count=300, seed=3)
    exported = export_csv(conninfo, "source")
    path = tmp_path / "event_000.csv"
    path.write_bytes(exported)
    # The ids in the file are taken: free them, as a move to another database would.
    with psycopg.connect(conninfo) as conn:
        conn.execute("DELETE FROM events")

    loaded = importing.import_csv(conninfo, org="acme", path=path)

    assert loaded == 300
    assert count_events(conninfo, "acme") == 300
    assert export_csv(conninfo, "acme") == exported


def test_import_reads_each_value_as_written(conninfo: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        EXPORT_HEADER + "\n"
        "101,2019-03-14 09:30:00.25+02,purchase,user-1,dev-1,"
        '6f1c5b0e-3d7a-4c0e-9a57-0e3f9b7c2a11,FR,19.9900,1500,"{""page"": ""/cart, now""}"\n'
        "102,2019-03-14T07:31:00Z,page_view,,,,,,,{}\n",
    )

    assert importing.import_csv(conninfo, org="acme", path=path) == 2

    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT id, created_at, event_type, actor_id, device_id, session_id::text, country,"
            " value, duration_ms, properties FROM events ORDER BY id"
        ).fetchall()
    assert rows == [
        (
            101,
            datetime(2019, 3, 14, 7, 30, 0, 250000, tzinfo=UTC),
            "purchase",
            "user-1",
            "dev-1",
            "6f1c5b0e-3d7a-4c0e-9a57-0e3f9b7c2a11",
            "FR",
            Decimal("19.9900"),
            1500,
            {"page": "/cart, now"},
        ),
        (
            102,
            datetime(2019, 3, 14, 7, 31, tzinfo=UTC),
            "page_view",
            None,
            None,
            None,
            None,
            None,
            None,
            {},
        ),
    ]
    assert org_id(conninfo, "acme") is not None


def test_seed_after_an_import_of_ids_does_not_collide(conninfo: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "id,created_at,event_type\n"
        + "".join(f"{n},2019-03-14T00:00:0{n}Z,click\n" for n in range(1, 4)),
    )
    importing.import_csv(conninfo, org="acme", path=path)

    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=5)

    assert count_events(conninfo, "acme") == 8


def test_import_without_an_id_column_numbers_the_rows(conninfo: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "created_at,event_type\n2019-03-14T00:00:00Z,click\n2019-03-14T00:00:01Z,login\n",
    )

    assert importing.import_csv(conninfo, org="acme", path=path) == 2

    with psycopg.connect(conninfo) as conn:
        ids = conn.execute("SELECT id FROM events ORDER BY id").fetchall()
    assert len({row[0] for row in ids}) == 2


GOOD = "2019-03-14T00:00:00Z,click"


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        # Line 4 (after the header and two good rows) is the first bad one.
        (f"1001,{GOOD}\n1002,{GOOD}\n1003,2019-02-30T00:00:00Z,click\n1004,{GOOD}\n", "02-30"),
        (f"1001,{GOOD}\n1002,{GOOD}\n1003,2019-03-14T00:00:00Z,\n", "event_type"),
        (f"1001,{GOOD}\n1002,{GOOD}\n1003,{GOOD},surplus\n", "extra data"),
        (f"1001,{GOOD}\n1002,{GOOD}\nthree,{GOOD}\n", "three"),
    ],
    ids=["bad-date", "missing-event-type", "extra-column", "bad-id"],
)
def test_a_bad_row_names_its_line_and_loads_nothing(
    conninfo: str, tmp_path: Path, body: str, fault: str
) -> None:
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=50)
    before = export_csv(conninfo, "acme")
    path = write(tmp_path, "id,created_at,event_type\n" + body)

    with pytest.raises(ImportRejected) as rejected:
        importing.import_csv(conninfo, org="acme", path=path)

    assert "line 4" in rejected.value.message
    assert fault in rejected.value.message
    assert count_events(conninfo, "acme") == 50
    assert export_csv(conninfo, "acme") == before


def test_a_bad_json_value_names_its_csv_line(conninfo: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "id,created_at,event_type,properties\n"
        f"1,{GOOD},{{}}\n"
        f"2,{GOOD},{{}}\n"
        f'3,{GOOD},"{{""page"": }}"\n',
    )

    with pytest.raises(ImportRejected) as rejected:
        importing.import_csv(conninfo, org="acme", path=path)

    assert "line 4" in rejected.value.message
    assert count_events(conninfo, "acme") == 0


def test_the_line_named_is_the_one_an_editor_shows(conninfo: str, tmp_path: Path) -> None:
    # Line 2's quoted value spans two lines, so the bad row starts on line 5.
    path = write(
        tmp_path,
        "id,created_at,event_type\n"
        '1,2019-03-14T00:00:00Z,"two\nlines"\n'
        f"2,{GOOD}\n"
        "3,not a date,click\n",
    )

    with pytest.raises(ImportRejected) as rejected:
        importing.import_csv(conninfo, org="acme", path=path)

    assert "line 5" in rejected.value.message
    assert count_events(conninfo, "acme") == 0


def test_an_unknown_column_is_named(conninfo: str, tmp_path: Path) -> None:
    path = write(tmp_path, f"id,created_at,event_type,colour\n1,{GOOD},red\n")

    with pytest.raises(ImportRejected) as rejected:
        importing.import_csv(conninfo, org="acme", path=path)

    assert "colour" in rejected.value.message
    # The hint lists what is accepted, so the user can fix the header.
    assert rejected.value.hint is not None
    assert "created_at" in rejected.value.hint
    assert count_events(conninfo, "acme") == 0


def test_an_empty_file_gets_a_clear_error(conninfo: str, tmp_path: Path) -> None:
    path = write(tmp_path, "")

    with pytest.raises(ImportRejected) as rejected:
        importing.import_csv(conninfo, org="acme", path=path)

    assert "empty" in rejected.value.message
    assert "header" in rejected.value.message
    assert count_events(conninfo, "acme") == 0


def test_json_properties_survive_the_round_trip(conninfo: str, tmp_path: Path) -> None:
    properties = {"page": "/docs", "tags": ["a", "b"], "nested": {"n": 1, "quote": '"'}}
    cell = json.dumps(properties).replace('"', '""')
    path = write(tmp_path, f'id,created_at,event_type,properties\n1,{GOOD},"{cell}"\n')

    importing.import_csv(conninfo, org="acme", path=path)

    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT properties FROM events").fetchone() == (properties,)
