"""The source stays laid out as docs/architecture.md says: short modules, and SQL only in
the repositories.

A module under `src/pond` holds at most `MAX_LINES` lines. A SQL statement is
written only in a feature's `repository.py`, or in one of the modules of
`SQL_ELSEWHERE`, each with its reason. A statement is recognised as a string
literal (or the literal start of an f-string) that begins with a statement's
keywords in capitals, as pond writes them: `SELECT ...`, `INSERT INTO ...`,
`UPDATE t SET ...`, `DELETE FROM ...`, `WITH x AS ...`, `SET LOCAL ...`,
`LISTEN ...`, `COPY (...`, `CREATE TABLE ...` and the like. Docstrings are
prose and are not read; neither is SQL written in lower case, nor a fragment
that does not start a statement (`" WHERE ..."`), which only ever follows a
statement's start in the same module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "pond"
MAX_LINES = 400

# Modules besides the repositories where SQL is written, and why.
SQL_ELSEWHERE = {
    "db/migrate.py": "applies pond's migrations",
    "db/queue_schema.py": "installs and upgrades procrastinate's schema",
    "db/embedded.py": "creates the embedded server's database",
    "entities/registry.py": "builds each entity's export, sample and boundary SELECTs",
    "exports/formats/csv.py": "the COPY that writes a CSV part",
    "exports/formats/ndjson.py": "the COPY that writes a JSON Lines part",
    "exports/formats/parquet.py": "the COPY whose CSV becomes a Parquet part",
}

_STATEMENT = re.compile(
    r"\s*(SELECT\s|INSERT\s+INTO\s|UPDATE\s+\S+\s+SET\s|DELETE\s+FROM\s|WITH\s+\w+\s+AS\s"
    r"|SET\s+(LOCAL|SESSION|TRANSACTION)\s|(UN)?LISTEN\s|NOTIFY\s|EXPLAIN\s|TRUNCATE\s"
    r"|COPY\s+(\(|[\w.]+\s*(\(|FROM\s|TO\s))"
    r"|(CREATE|ALTER|DROP)\s+(TEMP\s+|TEMPORARY\s+|UNIQUE\s+)?"
    r"(TABLE|INDEX|VIEW|TYPE|FUNCTION|TRIGGER|SCHEMA|DATABASE|EXTENSION)\s)"
)


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of the docstring nodes of the module, its classes and its functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def statements(source: str) -> list[tuple[int, str]]:
    """The line and text of each string in `source` that starts a SQL statement."""
    tree = ast.parse(source)
    prose = _docstrings(tree)
    found = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in prose
        and _STATEMENT.match(node.value)
    ]
    return [(node.lineno, str(node.value)) for node in sorted(found, key=_place)]


def _place(node: ast.Constant) -> tuple[int, int]:
    return node.lineno, node.col_offset


def test_the_detector_knows_a_statement_from_anything_else() -> None:
    source = '''
"""COPY the first rows of a part: a docstring is prose."""
ROUTES = {"GET": 1, "DELETE": 2}
LINE = re.compile(r"COPY \\w+, line (\\d+)")
QUERY = (
    "SELECT id FROM snapshots"
    " WHERE state = %s"
)
STAGE = ("SET LOCAL TIME ZONE 'UTC'", "CREATE TEMP TABLE t (LIKE events)")
def listen(conn, channel):
    """SELECT nothing: prose again."""
    conn.execute(f"LISTEN {channel}")
    conn.execute(sql.SQL("COPY ({}) TO STDOUT").format(query))
    conn.execute("UPDATE snapshots SET state = 'failed'")
    conn.execute("WITH counted AS (SELECT 1) SELECT * FROM counted")
'''
    found = [text for _, text in statements(source)]
    assert found == [
        "SELECT id FROM snapshots WHERE state = %s",
        "SET LOCAL TIME ZONE 'UTC'",
        "CREATE TEMP TABLE t (LIKE events)",
        "LISTEN ",
        "COPY ({}) TO STDOUT",
        "UPDATE snapshots SET state = 'failed'",
        "WITH counted AS (SELECT 1) SELECT * FROM counted",
    ]


def test_no_module_is_over_the_limit() -> None:
    long = {
        _name(path): lines
        for path in _modules()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these modules by idea (at most {MAX_LINES} lines each)"


def test_sql_is_written_only_in_the_repositories() -> None:
    misplaced = {
        _name(path): found
        for path in _modules()
        if path.name != "repository.py"
        and _name(path) not in SQL_ELSEWHERE
        and (found := statements(path.read_text()))
    }
    assert misplaced == {}, "move these statements into the repository.py of their feature"


@pytest.mark.parametrize("name", sorted(SQL_ELSEWHERE))
def test_each_module_excused_still_writes_sql(name: str) -> None:
    assert statements((SRC / name).read_text()), (
        f"{name} holds no SQL: remove it from SQL_ELSEWHERE"
    )
