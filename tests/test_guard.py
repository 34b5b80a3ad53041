"""encode_column records the configuration; the macros refuse to mix configurations."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

import duckdb_vsa


@pytest.fixture
def db() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=64)
    con.execute(
        "CREATE TABLE items AS SELECT i AS id, json_object('name', 'item ' || i, 'n', i) AS doc "
        "FROM range(50) r(i)"
    ).fetchall()
    yield con
    con.close()


def test_encode_column_fills_records_and_leaves_the_json_alone(db) -> None:
    before = db.execute("SELECT id, doc FROM items ORDER BY id").fetchall()
    seen = []
    info = duckdb_vsa.encode_column(
        db, "items", "doc", "vec", batch_rows=7, progress=lambda d, t, r: seen.append((d, t))
    )
    assert info["rows"] == 50 and seen[-1] == (50, 50) and len(seen) == 8
    assert db.execute("SELECT id, doc FROM items ORDER BY id").fetchall() == before
    enc = duckdb_vsa.registered_encoder(db)
    for doc, vec in db.execute("SELECT doc, vec FROM items").fetchall():
        assert np.array_equal(np.array(vec, dtype=np.float32), enc.encode(doc))
    comment = db.execute(
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'items' AND column_name = 'vec'"
    ).fetchall()[0][0]
    assert comment.startswith(f"duckdb_vsa:{enc.fingerprint} dim=64")
    recorded = duckdb_vsa.column_info(db, "items", "vec")
    assert recorded["fingerprint"] == enc.fingerprint and recorded["comparable"] is True
    assert recorded["config"]["dim"] == 64 and recorded["source_column"] == "doc"
    sql_info = db.execute("SELECT vsa_column_info('items', 'vec')").fetchall()[0][0]
    assert sql_info["fingerprint"] == enc.fingerprint and sql_info["comparable"] is True
    assert db.execute("SELECT vsa_column_info('items', 'doc')").fetchall() == [(None,)]


def test_progress_printing(db, capsys) -> None:
    duckdb_vsa.encode_column(db, "items", "doc", "vec", batch_rows=25, progress=True)
    err = capsys.readouterr().err
    assert "50 / 50 records" in err and "records/s" in err


def test_searching_with_another_configuration_raises_naming_both(db) -> None:
    duckdb_vsa.encode_column(db, "items", "doc", "vec", progress=False)
    other = db.cursor()
    duckdb_vsa.register(other, dim=64, seed=7)
    queries = [
        "SELECT * FROM vsa_search('items', 'vec', (SELECT vec FROM items LIMIT 1), k := 2)",
        "SELECT * FROM vsa_near_duplicates('items', 'vec')",
        "SELECT * FROM vsa_topk_join('items', 'vec', 'items', 'vec', k := 1)",
        "SELECT * FROM vsa_decode('items', 'vec', '$.n', 'items', 'doc', k := 1)",
    ]
    for sql in queries:
        with pytest.raises(duckdb.Error, match=r"seed=0.*seed=7") as err:
            other.execute(sql).fetchall()
        assert "not comparable" in str(err.value)
    # The column's own configuration still works.
    assert len(db.execute(queries[0]).fetchall()) == 2
    assert other.execute("SELECT vsa_column_info('items', 'vec').comparable").fetchall() == [
        (False,)
    ]


def test_joining_two_differently_configured_columns_raises(db) -> None:
    duckdb_vsa.encode_column(db, "items", "doc", "vec", progress=False)
    other = db.cursor()
    duckdb_vsa.register(other, dim=64, alpha=0.5)
    other.execute("CREATE TABLE items2 AS SELECT id, doc FROM items").fetchall()
    duckdb_vsa.encode_column(other, "items2", "doc", "vec", progress=False)
    with pytest.raises(
        duckdb.Error,
        match=r"column vec of items was encoded with .* but column vec of items2 with .*alpha=0.5",
    ):
        db.execute("SELECT * FROM vsa_topk_join('items', 'vec', 'items2', 'vec')").fetchall()


def test_unrecorded_columns_are_not_checked(db) -> None:
    db.execute("ALTER TABLE items ADD COLUMN v2 FLOAT[64]").fetchall()
    db.execute("UPDATE items SET v2 = vsa_encode(doc)").fetchall()
    assert (
        len(
            db.execute(
                "SELECT * FROM vsa_search('items', 'v2', (SELECT v2 FROM items LIMIT 1), k := 3)"
            ).fetchall()
        )
        == 3
    )


def test_encode_column_errors(db) -> None:
    with pytest.raises(ValueError, match="no column 'body'"):
        duckdb_vsa.encode_column(db, "items", "body", "vec")
    db.execute("ALTER TABLE items ADD COLUMN small FLOAT[8]").fetchall()
    with pytest.raises(ValueError, match=r"FLOAT\[8\].*FLOAT\[64\]"):
        duckdb_vsa.encode_column(db, "items", "doc", "small")
    with pytest.raises(ValueError, match="register"):
        duckdb_vsa.encode_column(duckdb.connect(), "items", "doc", "vec")
