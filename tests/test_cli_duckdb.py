"""``duckdb-vsa encode`` into a DuckDB database file, and stores read back from one.

Every test runs ``python -m duckdb_vsa`` as a subprocess on real files.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest
from conftest import CLI_DIM, cli, cli_documents, one_line_error

import duckdb_vsa


def test_encode_into_duckdb_records_the_configuration(cli_files, cli_expected, tmp_path) -> None:
    db = tmp_path / "store.duckdb"
    cli("encode", cli_files["csv"], "-o", db, "--dim", CLI_DIM, "--table", "items", "-q")
    con = duckdb.connect(str(db))
    duckdb_vsa.register(con, dim=CLI_DIM)
    assert con.sql(
        "SELECT data_type FROM duckdb_columns() WHERE column_name = 'vec'"
    ).fetchall() == [(f"FLOAT[{CLI_DIM}]",)]
    got = np.array(con.sql("SELECT vec FROM items ORDER BY id").fetchnumpy()["vec"].tolist())
    assert np.array_equal(got.astype(np.float32), cli_expected)
    info = duckdb_vsa.column_info(con, "items", "vec")
    assert info["comparable"] and info["rows"] == 60 and info["source_column"] == "doc"
    # The SQL macros accept the table, and a connection of another configuration is refused.
    hits = con.sql(
        "SELECT id FROM vsa_search('items', 'vec', vsa_encode(?), k := 1)",
        params=[cli_documents()[3]],
    ).fetchall()
    assert hits == [(3,)]
    other = con.cursor()
    duckdb_vsa.register(other, dim=CLI_DIM, seed=5)
    with pytest.raises(duckdb.Error, match="not comparable"):
        other.sql("SELECT * FROM vsa_search('items', 'vec', vsa_encode('1'), k := 1)").fetchall()
    con.close()
    # The table exists: refused without --overwrite, replaced with it.
    result = cli(
        "encode", cli_files["csv"], "-o", db, "--dim", CLI_DIM, "--table", "items", check=False
    )
    one_line_error(result, "--overwrite")
    cli(
        "encode",
        cli_files["csv"],
        "-o",
        db,
        "--dim",
        CLI_DIM,
        "--table",
        "items",
        "--overwrite",
        "-q",
    )


def tables_of(db) -> dict[tuple[str, str], int]:
    """(schema, table) -> rows, for every table of a database file."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
        return {
            (s, t): con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchall()[0][0]
            for s, t in names
        }
    finally:
        con.close()


def test_a_user_table_named_like_a_staging_table_is_kept(cli_files, tmp_path) -> None:
    db = tmp_path / "store.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE __vsa_staging_docs AS SELECT range AS x FROM range(7)")
    con.close()
    cli("encode", cli_files["jsonl"], "-o", db, "--table", "docs", "--dim", CLI_DIM, "-q")
    assert tables_of(db) == {
        ("main", "__vsa_staging_docs"): 7,
        ("main", "docs"): 60,
        ("main", "duckdb_vsa_columns"): 1,
    }


def test_the_table_name_is_checked_before_any_work(tmp_path) -> None:
    """A table in a missing schema fails before the first document is read."""
    src = tmp_path / "bad.jsonl"
    src.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")  # line 2 fails if encoded
    db = tmp_path / "store.duckdb"
    duckdb.connect(str(db)).close()
    line = one_line_error(
        cli("encode", src, "-o", db, "--table", "a.b", "--progress", check=False),
        "no schema a",
        "CREATE SCHEMA",
    )
    assert "line 2" not in line
    assert tables_of(db) == {}
    for name in ('"unbalanced', "a..b", "c.s.t.x"):
        one_line_error(cli("encode", src, "-o", db, "--table", name, check=False), "--table")
    assert tables_of(db) == {}


@pytest.mark.parametrize(
    ("given", "schema", "table"),
    [('"My Table"', "main", "My Table"), ("s.docs", "s", "docs"), ('s."Odd One"', "s", "Odd One")],
)
def test_quoted_and_qualified_table_names(given, schema, table, cli_files, tmp_path) -> None:
    db = tmp_path / "store.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA s")
    con.close()
    cli("encode", cli_files["jsonl"], "-o", db, "--table", given, "--dim", CLI_DIM, "-q")
    assert tables_of(db)[(schema, table)] == 60
    # Read back by the same name, and as the only table: the configuration is found.
    for args in (["--table", given], []):
        found = cli(
            "search", db, *args, "--query", cli_documents()[5], "-k", "1", "--format", "jsonl"
        )
        assert json.loads(found.stdout)["line"] == 6
        assert found.stderr == ""
    con = duckdb.connect(str(db))
    duckdb_vsa.register(con, dim=CLI_DIM)
    recorded = ".".join(([schema] if schema != "main" else []) + [table])
    assert duckdb_vsa.column_info(con, recorded, "vec")["comparable"]
    con.close()
