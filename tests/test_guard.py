"""encode_column records the configuration; the macros refuse to mix configurations."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

import duckdb_vsa
from duckdb_vsa.errors import mismatch_message


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


# -- every name of a table finds its recorded configuration ------------------------------

SEARCH = "SELECT * FROM vsa_search({name}, 'vec', (SELECT vec FROM docs LIMIT 1), k := 2)"


def _other(con: duckdb.DuckDBPyConnection, seed: int = 1) -> duckdb.DuckDBPyConnection:
    cursor = con.cursor()
    duckdb_vsa.register(cursor, dim=64, seed=seed)
    return cursor


@pytest.mark.parametrize("name", ["docs", '"docs"', 'main."docs"', '"main"."docs"', "DOCS"])
def test_quoted_names_are_checked_like_plain_ones(db, name) -> None:
    db.execute("CREATE TABLE docs AS SELECT id, doc FROM items").fetchall()
    duckdb_vsa.encode_column(db, "docs", "doc", "vec", progress=False)
    other = _other(db)
    literal = "'" + name.replace("'", "''") + "'"
    statements = [
        SEARCH.format(name=literal),
        f"SELECT * FROM vsa_near_duplicates({literal}, 'vec')",
        f"SELECT * FROM vsa_topk_join({literal}, 'vec', 'docs', 'vec', k := 1)",
        f"SELECT * FROM vsa_topk_join('docs', 'vec', {literal}, 'vec', k := 1)",
    ]
    for sql in statements:
        with pytest.raises(duckdb.Error, match=r"seed=0.*seed=1.*not comparable"):
            other.execute(sql).fetchall()
        assert db.execute(sql).fetchall()
    info = other.execute(f"SELECT vsa_column_info({literal}, 'vec')").fetchall()[0][0]
    assert info is not None and info["comparable"] is False
    assert duckdb_vsa.column_info(db, name, "vec")["comparable"] is True
    other.close()


def test_same_named_tables_in_two_schemas_are_checked_each_against_its_own_record(db) -> None:
    db.execute("CREATE SCHEMA s").fetchall()
    db.execute("CREATE TABLE main.docs AS SELECT id, doc FROM items").fetchall()
    db.execute("CREATE TABLE s.docs AS SELECT id, doc FROM items").fetchall()
    duckdb_vsa.encode_column(db, "main.docs", "doc", "vec", progress=False)
    seeded = _other(db)
    duckdb_vsa.encode_column(seeded, "s.docs", "doc", "vec", progress=False)
    assert (
        duckdb_vsa.column_info(db, "main.docs", "vec")["fingerprint"]
        != (duckdb_vsa.column_info(db, "s.docs", "vec")["fingerprint"])
    )
    for con, ok, refused in ((db, "main.docs", "s.docs"), (seeded, "s.docs", "main.docs")):
        # A query vector of the connection's own configuration (the marker rule refuses others).
        query = f"(SELECT vec FROM memory.{ok} LIMIT 1)"
        for setting in ("RESET search_path", "SET schema = 's'", "SET search_path = 's,main'"):
            con.execute(setting).fetchall()
            reads = con.execute(f"SELECT count(*) FROM {ok}").fetchall()
            assert con.execute(
                f"SELECT count(*) FROM vsa_search('memory.{ok}', 'vec', {query}, k := 3)"
            ).fetchall() == [(3,)], reads
            with pytest.raises(duckdb.Error, match="not comparable"):
                con.execute(
                    f"SELECT * FROM vsa_search('memory.{refused}', 'vec', {query}, k := 3)"
                ).fetchall()
        # Unqualified, 'docs' is the table of the current schema.
        con.execute("SET schema = 's'").fetchall()
        search = f"SELECT * FROM vsa_search('docs', 'vec', {query}, k := 3)"
        if con is seeded:
            assert len(con.execute(search).fetchall()) == 3
        else:
            with pytest.raises(duckdb.Error, match="not comparable"):
                con.execute(search).fetchall()
        con.execute("RESET search_path").fetchall()
    seeded.close()


def test_a_temporary_table_shadows_the_table_of_the_same_name(db) -> None:
    db.execute("CREATE TABLE docs AS SELECT id, doc FROM items").fetchall()
    duckdb_vsa.encode_column(db, "docs", "doc", "vec", progress=False)
    other = _other(db)
    other.execute("CREATE TEMP TABLE docs AS SELECT id, doc FROM main.items").fetchall()
    duckdb_vsa.encode_column(other, "docs", "doc", "vec", progress=False)
    query = "(SELECT vec FROM temp.docs LIMIT 1)"
    for name in ("docs", "main.docs", "temp.docs"):
        assert len(other.execute(SEARCH.format(name=f"'{name}'").replace(
            "(SELECT vec FROM docs LIMIT 1)", query)).fetchall()) == 2  # fmt: skip
        assert duckdb_vsa.column_info(other, name, "vec")["comparable"] is True
    with pytest.raises(duckdb.Error, match="not comparable"):
        other.execute(
            f"SELECT * FROM vsa_search('memory.main.docs', 'vec', {query}, k := 2)"
        ).fetchall()
    assert duckdb_vsa.column_info(other, "memory.main.docs", "vec")["comparable"] is False
    other.close()


@pytest.mark.parametrize("table", ["My Table", "a.b", 'we"ird', "UPPER"])
def test_any_table_name_can_be_encoded_checked_and_indexed(db, table) -> None:
    quoted = '"' + table.replace('"', '""') + '"'
    db.execute(f"CREATE TABLE {quoted} AS SELECT id, doc FROM items").fetchall()
    info = duckdb_vsa.encode_column(db, quoted, "doc", "vec", progress=False)
    assert info["rows"] == 50
    enc = duckdb_vsa.registered_encoder(db)
    for doc, vec in db.execute(f"SELECT doc, vec FROM {quoted}").fetchall():
        assert np.array_equal(np.array(vec, dtype=np.float32), enc.encode(doc))
    recorded = duckdb_vsa.column_info(db, quoted, "vec")
    assert recorded["comparable"] is True and recorded["rows"] == 50
    literal = "'" + quoted.replace("'", "''") + "'"
    other = _other(db)
    query = f"(SELECT vec FROM {quoted} WHERE id = 3)"
    search = f"SELECT id FROM vsa_search({literal}, 'vec', {query}, k := 1)"
    assert db.execute(search).fetchall() == [(3,)]
    with pytest.raises(duckdb.Error, match="not comparable"):
        other.execute(search).fetchall()
    index = duckdb_vsa.build_index(db, quoted, "vec", name="idx")
    assert index.source.table == f'"memory"."main".{quoted}'
    got = db.execute(f"SELECT id FROM vsa_index_search('idx', {query}, k := 1)").fetchall()
    assert got == [(3,)]
    with pytest.raises(duckdb.Error, match="not comparable"):
        other.execute(f"SELECT * FROM vsa_index_search('idx', {query}, k := 1)").fetchall()
    with pytest.raises(ValueError, match="not comparable"):
        duckdb_vsa.build_index(other, quoted, "vec", name="idx2")
    other.close()


def test_the_sql_check_words_a_mismatch_as_python_does(db) -> None:
    duckdb_vsa.encode_column(db, "items", "doc", "vec", progress=False)
    other = _other(db, seed=9)
    expected = mismatch_message(
        "vsa_search: column vec of items",
        duckdb_vsa.registered_encoder(db).config.describe(),
        f"this connection's encoder is {duckdb_vsa.registered_encoder(other).config.describe()}",
        "register this connection with the column's configuration, or re-encode the column "
        "with duckdb_vsa.encode_column().",
    )
    with pytest.raises(duckdb.Error) as excinfo:
        other.execute(
            "SELECT * FROM vsa_search('items', 'vec', (SELECT vec FROM items LIMIT 1))"
        ).fetchall()
    assert expected in str(excinfo.value)
    other.close()
