"""encode_column encodes only the rows whose vector is not the encoding of their document."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from conftest import cli

import duckdb_vsa

DIM = 64
N = 300


def _table(con: duckdb.DuckDBPyConnection, name: str = "docs", n: int = N) -> None:
    con.execute(
        f"CREATE TABLE {name} AS SELECT i AS id, json_object('n', i, 's', 'x' || i) AS doc "
        f"FROM range({n}) t(i)"
    ).fetchall()


def _encode(con: duckdb.DuckDBPyConnection, table: str = "docs", **kwargs) -> dict:
    kwargs.setdefault("progress", False)
    return duckdb_vsa.encode_column(con, table, "doc", "vec", **kwargs)


def _all_current(con: duckdb.DuckDBPyConnection, table: str = "docs") -> None:
    """Every vector is the encoding of its row's document (NULL for a NULL document)."""
    docs, vectors = zip(
        *con.execute(f"SELECT doc, vec FROM {table} ORDER BY id").fetchall(), strict=True
    )
    enc = duckdb_vsa.registered_encoder(con)
    for doc, vec in zip(docs, vectors, strict=True):
        if doc is None:
            assert vec is None
        else:
            assert np.array_equal(np.asarray(vec, np.float32), enc.encode(doc))


@pytest.fixture
def con():
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=DIM)
    _table(con)
    yield con
    con.close()


def test_a_second_call_encodes_nothing(con) -> None:
    first = _encode(con)
    assert (first["rows"], first["encoded"], first["skipped"]) == (N, N, 0)
    second = _encode(con)
    assert (second["rows"], second["encoded"], second["skipped"]) == (N, 0, N)
    assert con.execute("SELECT count(vec) FROM docs").fetchall() == [(N,)]


def test_new_updated_and_nulled_rows_are_encoded_and_nothing_else(con) -> None:
    _encode(con)
    con.execute(
        """INSERT INTO docs (id, doc) VALUES (1000, '{"new": 1}'), (1001, NULL)"""
    ).fetchall()
    con.execute("""UPDATE docs SET doc = '{"changed": true}' WHERE id IN (3, 4)""").fetchall()
    con.execute("UPDATE docs SET vec = NULL WHERE id = 5").fetchall()
    con.execute("UPDATE docs SET doc = NULL WHERE id = 6").fetchall()
    # A row given another row's document, with its own old vector, is not current either.
    con.execute("UPDATE docs SET doc = (SELECT doc FROM docs WHERE id = 8) WHERE id = 7").fetchall()
    con.execute("DELETE FROM docs WHERE id BETWEEN 100 AND 149").fetchall()
    con.execute("CHECKPOINT").fetchall()
    done = _encode(con)
    # 1000; 3, 4; 5; 6 (its vector cleared); 7.  1001 has neither document nor vector.
    assert (done["encoded"], done["skipped"], done["rows"]) == (6, N - 50 + 2 - 6, N - 50 + 2)
    _all_current(con)
    assert _encode(con)["encoded"] == 0


def test_vectors_written_another_way_are_encoded_again(con) -> None:
    _encode(con)
    con.execute("UPDATE docs SET vec = (SELECT vec FROM docs WHERE id = 0) WHERE id = 9").fetchall()
    assert _encode(con)["encoded"] == 1
    _all_current(con)
    # A copy of the table has no recorded pairs: every row is encoded once.
    con.execute("CREATE TABLE copy AS SELECT * FROM docs").fetchall()
    assert _encode(con, "copy")["encoded"] == N
    assert _encode(con, "copy")["encoded"] == 0


def test_another_configuration_encodes_every_row(con) -> None:
    _encode(con)
    cursor = con.cursor()
    duckdb_vsa.register(cursor, dim=DIM, seed=1)
    assert _encode(cursor)["encoded"] == N
    _all_current(cursor)
    # Back to the first configuration: nothing of it is current any more.
    assert _encode(con)["encoded"] == N
    assert _encode(con)["encoded"] == 0


def test_incremental_false_encodes_every_row(con) -> None:
    _encode(con)
    done = _encode(con, incremental=False)
    assert (done["encoded"], done["skipped"]) == (N, 0)
    assert _encode(con)["encoded"] == 0


def test_rows_the_encoder_returned_null_for_are_tried_again() -> None:
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=DIM, on_error="null")
    con.execute("""CREATE TABLE docs AS SELECT * FROM (VALUES (1, '{"a": 1}'), (2, 'oops'))
                   t(id, doc)""").fetchall()
    assert _encode(con)["encoded"] == 2
    assert _encode(con)["encoded"] == 1
    con.execute("""UPDATE docs SET doc = '{"b": 2}' WHERE id = 2""").fetchall()
    assert _encode(con)["encoded"] == 1
    assert _encode(con)["encoded"] == 0


def test_progress_counts_the_rows_to_encode(con) -> None:
    _encode(con)
    con.execute("UPDATE docs SET doc = json_object('m', id) WHERE id < 25").fetchall()
    seen = []
    done = _encode(con, batch_rows=10, progress=lambda d, t, r: seen.append((d, t)))
    assert done["encoded"] == 25
    assert seen == [(10, 25), (20, 25), (25, 25)]


def test_the_pairs_travel_with_a_database_file(tmp_path) -> None:
    path = str(tmp_path / "docs.duckdb")
    con = duckdb.connect(path)
    duckdb_vsa.register(con, dim=DIM)
    _table(con)
    _encode(con)
    con.close()
    con = duckdb.connect(path)
    duckdb_vsa.register(con, dim=DIM)
    con.execute("UPDATE docs SET doc = json_object('m', id) WHERE id % 10 = 0").fetchall()
    assert _encode(con)["encoded"] == N // 10
    _all_current(con)
    # One pair per distinct row: the table of pairs does not grow with each call.
    pairs = con.execute("SELECT count(*) FROM duckdb_vsa_encoded").fetchall()[0][0]
    assert pairs == N
    con.close()


def test_a_temporary_table_keeps_its_pairs_in_a_temporary_table(con) -> None:
    con.execute("CREATE TEMP TABLE scratch AS SELECT * FROM docs").fetchall()
    assert _encode(con, "scratch")["encoded"] == N
    assert _encode(con, "scratch")["encoded"] == 0
    assert con.execute(
        "SELECT database_name FROM duckdb_tables() WHERE table_name = 'duckdb_vsa_encoded'"
    ).fetchall() == [("temp",)]


# -- the command line: encode --only-missing ---------------------------------------------


def _lines(path, docs: list[str]) -> None:
    path.write_text("".join(d + "\n" for d in docs), encoding="utf-8")


def _vectors(db, table: str = "docs") -> dict[str, np.ndarray]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(f"SELECT doc, vec FROM {table}").fetchall()
    finally:
        con.close()
    return {doc: np.asarray(vec, np.float32) for doc, vec in rows}


def test_only_missing_encodes_only_new_and_changed_documents(tmp_path) -> None:
    docs = [f'{{"n": {i}, "s": "x{i}"}}' for i in range(40)]
    src, db = tmp_path / "docs.jsonl", tmp_path / "docs.duckdb"
    _lines(src, docs)
    args = ("encode", src, "-o", db, "--table", "docs", "--dim", str(DIM))
    cli(*args)
    changed = [*docs[:35], '{"n": "changed"}', *docs[36:], '{"n": "new"}']
    _lines(src, changed)
    result = cli(*args, "--only-missing")
    assert "encoded 41 records" in result.stderr
    assert "39 vectors kept from the table" in result.stderr
    # The table is the input's, with the vectors a full run writes.
    enc = duckdb_vsa.Encoder(dim=DIM)
    got = _vectors(db)
    assert sorted(got) == sorted(changed)
    for doc, vec in got.items():
        assert np.array_equal(vec, enc.encode(doc)), doc
    # encode_column on the written table has nothing to do.
    con = duckdb.connect(str(db))
    duckdb_vsa.register(con, dim=DIM)
    assert duckdb_vsa.encode_column(con, "docs", "doc", "vec", progress=False)["encoded"] == 0
    con.close()
    assert "41 vectors kept" in cli(*args, "--only-missing").stderr


def test_only_missing_with_another_configuration_encodes_everything(tmp_path) -> None:
    src, db = tmp_path / "docs.jsonl", tmp_path / "docs.duckdb"
    _lines(src, ['{"a": 1}', '{"a": 2}'])
    cli("encode", src, "-o", db, "--table", "docs", "--dim", str(DIM))
    result = cli("encode", src, "-o", db, "--table", "docs", "--dim", str(DIM), "--seed", "1",
                 "--only-missing")  # fmt: skip
    assert "every document is encoded: the table's vectors were made with" in result.stderr
    assert "0 vectors kept from the table" in result.stderr
    enc = duckdb_vsa.Encoder(dim=DIM, seed=1)
    assert all(np.array_equal(v, enc.encode(d)) for d, v in _vectors(db).items())


def test_only_missing_needs_a_duckdb_output(tmp_path) -> None:
    src = tmp_path / "docs.jsonl"
    _lines(src, ['{"a": 1}'])
    result = cli("encode", src, "-o", tmp_path / "out.parquet", "--only-missing", check=False)
    assert result.returncode == 1
    assert "--only-missing applies to a DuckDB database output" in result.stderr
