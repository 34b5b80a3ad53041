"""The one table-name rule, checked against DuckDB's own binder.

Every table holds a marker (its own three-part name) in a column and in the
comment of its vector column. For each name and each session setting, the
table ``query_table(name)`` reads must be the one :func:`resolve_relation`
names, and the comment the macros' configuration check reads
(``__vsa_recorded``) must be that same table's.
"""

from __future__ import annotations

import duckdb
import pytest

import duckdb_vsa
from duckdb_vsa.db.names import (
    CatalogSnapshot,
    Relation,
    resolve_relation,
    resolve_table,
    search_path_entries,
)
from duckdb_vsa.errors import CatalogError, InvalidArgumentError, VsaError
from duckdb_vsa.sqltext import display_name, qualified, quote_literal

TABLES = [
    ("memory", "main", "t"),
    ("memory", "main", "u"),
    ("memory", "main", "onlymain"),
    ("memory", "main", "a.b"),
    ("memory", "main", "My Table"),
    ("memory", "main", 'we"ird'),
    ("memory", "main", "Items"),
    ("memory", "main", "É"),
    ("memory", "main", "é"),
    ("memory", "s", "t"),
    ("memory", "s", "u"),
    ("memory", "s", "onlys"),
    ("memory", "s", "a.b"),
    ("memory", "S2", "t"),
    ("other", "main", "t"),
    ("other", "main", "u"),
    ("other", "main", "onlyother"),
    ("other", "s", "t"),
    ("temp", "main", "t"),
]

NAMES = [
    "t",
    "T",
    '"t"',
    "u",
    "main.t",
    "main.u",
    "s.t",
    "S.T",
    "s.u",
    "s2.t",
    '"S2"."t"',
    "memory.t",
    "memory.u",
    "memory.main.t",
    "memory.s.t",
    "Memory.S.u",
    "temp.t",
    "temp.main.t",
    '"main"."t"',
    "other.t",
    "OTHER.u",
    "other.main.t",
    "other.s.t",
    "onlymain",
    "onlys",
    "onlyother",
    "s.onlymain",
    "main.onlys",
    '"a.b"',
    'main."a.b"',
    's."a.b"',
    '"My Table"',
    '"my table"',
    "My Table",
    'main."My Table"',
    '"we""ird"',
    'main."we""ird"',
    "items",
    '"ITEMS"',
    "Items",
    '"É"',
    '"é"',
    "É",
    "missing",
    "nope.t",
    "memory.nope.t",
    "a.b.c.d",
    '"unbalanced',
]

SETTINGS = [
    [],
    ["SET schema = 's'"],
    ["SET search_path = 's,main'"],
    ["SET search_path = 'memory.s'"],
    ["SET search_path = 'other.main,memory.s'"],
    ["SET search_path = 'S2'"],
    ["USE other"],
    ["USE memory.s"],
]


def _marker(parts: tuple[str, str, str]) -> str:
    return display_name(parts)


def _catalog() -> duckdb.DuckDBPyConnection:
    """A connection with every table of TABLES, each holding its marker, and a view."""
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=16)
    con.execute("ATTACH ':memory:' AS other").fetchall()
    for schema in (("memory", "s"), ("memory", "S2"), ("other", "s")):
        con.execute(f"CREATE SCHEMA {qualified(schema)}").fetchall()
    for parts in TABLES:
        temp = "TEMP " if parts[0] == "temp" else ""
        name = qualified(parts[1:]) if temp else qualified(parts)
        marker = _marker(parts)
        con.execute(
            f"CREATE {temp}TABLE {name} AS SELECT {quote_literal(marker)} AS marker, "
            "[1, 2, 3, 4]::FLOAT[4] AS vec"
        ).fetchall()
        comment = quote_literal(f"duckdb_vsa:0 {marker}")
        con.execute(f"COMMENT ON COLUMN {qualified(parts)}.vec IS {comment}").fetchall()
    con.execute("CREATE VIEW v_view AS SELECT 'memory.main.v_view' AS marker").fetchall()
    return con


@pytest.fixture
def catalog() -> duckdb.DuckDBPyConnection:
    con = _catalog()
    yield con
    con.close()


def _binder(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """The marker of the table DuckDB reads for ``query_table(name)``, or None if it fails."""
    try:
        got = con.execute(f"SELECT marker FROM query_table({quote_literal(name)})").fetchall()
    except duckdb.Error:
        return None
    return got[0][0]


def _ours(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    try:
        relation = resolve_relation(con, name)
    except VsaError:
        return None
    return None if relation is None else relation.display


def _recorded(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    try:
        got = con.execute(f"SELECT __vsa_recorded({quote_literal(name)}, 'VEC')").fetchall()
    except duckdb.Error:
        return None
    return got[0][0]


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: "; ".join(s) or "default")
def test_the_rule_picks_the_table_duckdb_reads(catalog, setting) -> None:
    con = catalog
    for statement in setting:
        con.execute(statement).fetchall()
    resolved = 0
    for name in NAMES:
        expected = _binder(con, name)
        assert _ours(con, name) == expected, (setting, name)
        if expected is None:
            assert _recorded(con, name) is None, (setting, name)
            continue
        resolved += 1
        assert _recorded(con, name) == f"duckdb_vsa:0 {expected}", (setting, name)
    assert resolved >= 15
    # The temporary table shadows every other t, even main.t, wherever the search path points.
    assert _ours(con, "t") == _ours(con, "main.t") == "temp.main.t"


def test_views_resolve_but_are_not_tables(catalog) -> None:
    assert resolve_relation(catalog, "v_view").kind == "view"
    assert _recorded(catalog, "v_view") is None
    with pytest.raises(CatalogError, match="'v_view' is a view; an index needs a base table"):
        resolve_table(catalog, "v_view", purpose="an index")
    assert resolve_table(catalog, "v_view", views=True).name == "v_view"
    with pytest.raises(CatalogError, match="no table named 'missing'"):
        resolve_table(catalog, "missing")


def test_a_name_that_is_both_a_database_and_a_schema_is_refused_as_duckdb_refuses_it() -> None:
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=16)
    con.execute("CREATE SCHEMA twice").fetchall()
    con.execute("CREATE TABLE twice.t AS SELECT 1 AS marker").fetchall()
    con.execute("ATTACH ':memory:' AS twice").fetchall()
    with pytest.raises(duckdb.BinderException, match="Ambiguous"):
        con.execute("SELECT * FROM query_table('twice.t')").fetchall()
    with pytest.raises(CatalogError, match="ambiguous"):
        resolve_relation(con, "twice.t")
    assert resolve_relation(con, "memory.twice.t").parts == ("memory", "twice", "t")
    con.close()


def test_unreadable_names_are_refused_with_a_reason() -> None:
    con = duckdb.connect()
    for name, fragment in [
        ("", "non-empty"),
        ('"open', "unbalanced"),
        ('we"ird', "double quote inside an unquoted part"),
        ("a..b", "empty part"),
        ("a.b.c.d", "4 parts"),
    ]:
        with pytest.raises(InvalidArgumentError, match=fragment):
            resolve_relation(con, name)
    con.close()


def test_search_path_text_is_read_as_duckdb_writes_it() -> None:
    con = duckdb.connect()
    con.execute("""ATTACH ':memory:' AS "Other DB" """).fetchall()
    con.execute("""CREATE SCHEMA "Other DB"."we""ird, s" """).fetchall()
    con.execute("""SET search_path = '"Other DB"."we""ird, s",main'""").fetchall()
    text = con.execute("SELECT current_setting('search_path')").fetchall()[0][0]
    assert search_path_entries(text) == [("Other DB", 'we"ird, s'), ("memory", "main")]
    assert search_path_entries("s") == [("", "s")]
    con.close()


def test_the_rule_is_a_pure_function_of_the_snapshot() -> None:
    snap = CatalogSnapshot(
        "memory",
        "s",
        (("memory", "main"), ("memory", "s"), ("temp", "main")),
        (Relation("memory", "main", "t"), Relation("memory", "s", "t")),
    )
    assert snap.resolve("t").parts == ("memory", "s", "t")
    # As query_table reads it: main.t is t.
    assert snap.resolve("main.t").parts == ("memory", "s", "t")
    assert snap.resolve("memory.main.t").parts == ("memory", "main", "t")
    assert snap.resolve("x.t") is None
