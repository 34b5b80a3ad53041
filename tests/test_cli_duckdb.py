"""``duckdb-vsa encode`` into a DuckDB database file, and stores read back from one.

Every test runs ``python -m duckdb_vsa`` as a subprocess on real files.
"""

from __future__ import annotations

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
