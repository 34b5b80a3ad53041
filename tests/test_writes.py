"""Writes to an indexed table, explicit transactions, ALTER TABLE, schemas, restarts.

The oracle is DuckDB's builtin scan: the same macro on a view of the table (a
view has no rowids, so no index answers for it). Every comparison also checks
that the index did answer (``__vsa_ticket_of`` is not NULL), so a test cannot
pass by falling back to the scan on both sides. The DuckDB facts the freshness
check rests on (which statements fire statement triggers, that ALTER does not,
that a checkpoint renumbers rows after deletes) are tested first, so that a
DuckDB release that changes them fails here.
"""

from __future__ import annotations

import json
import textwrap

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import duckdb_vsa
from duckdb_vsa.db.changes import watch_column
from duckdb_vsa.db.columns import record_column
from duckdb_vsa.db.names import Relation

D = 16
#: A constant vector as a SQL list.
CONSTANT = "[" + ", ".join(["0.25"] * D) + f"]::FLOAT[{D}]"


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    cursor = con.execute(sql) if params is None else con.execute(sql, params)
    return cursor.fetchall()


def unit(n: int, seed: int = 0, dim: int = D) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def tied(n: int, seed: int = 0) -> np.ndarray:
    """Unit vectors of which about a third repeat an earlier one exactly."""
    x = unit(n, seed)
    rng = np.random.default_rng(seed + 1)
    copies = rng.choice(n, size=n // 3, replace=False)
    x[copies] = x[rng.integers(0, n, size=len(copies))]
    return x


def arrow_rows(vectors: np.ndarray, first_id: int = 0) -> pa.Table:
    n = len(vectors)
    return pa.table(
        {
            "id": pa.array(np.arange(first_id, first_id + n, dtype=np.int32)),
            "tag": pa.array([f"t{i}" for i in range(first_id, first_id + n)]),
            "vec": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), D),
        }
    )


def load(con: duckdb.DuckDBPyConnection, name: str, vectors: np.ndarray) -> None:
    con.register("__test_arrow", arrow_rows(vectors))
    rows(con, f"CREATE OR REPLACE TABLE {name} AS "
              f"SELECT id, tag, vec::FLOAT[{D}] AS vec FROM __test_arrow")  # fmt: skip
    con.unregister("__test_arrow")


@pytest.fixture
def db() -> duckdb.DuckDBPyConnection:
    """An in-memory database registered at D = 16, with ``items`` (300 vectors, ties)."""
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=D)
    load(con, "items", tied(300))
    yield con
    con.close()


def answered_by_index(con: duckdb.DuckDBPyConnection, table: str = "items") -> bool:
    got = rows(con, f"SELECT __vsa_ticket_of('join', '{table}', 'vec', NULL) IS NOT NULL")
    return bool(got[0][0])


def assert_same(con: duckdb.DuckDBPyConnection, got_sql: str, want_sql: str) -> int:
    """Same columns, same rows in the same order; ``score`` within 1e-5."""
    cursor = con.execute(got_sql)
    columns, got = [d[0] for d in cursor.description], cursor.fetchall()
    cursor = con.execute(want_sql)
    assert columns == [d[0] for d in cursor.description]
    want = cursor.fetchall()
    at = columns.index("score")
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g[:at] + g[at + 1 :] == w[:at] + w[at + 1 :]
        assert g[at] == pytest.approx(w[at], abs=1e-5)
    return len(got)


def assert_macros_equal_the_scan(con: duckdb.DuckDBPyConnection, table: str = "items") -> None:
    """The three search macros on ``table`` return what they return on a view of it."""
    assert answered_by_index(con, table)
    view = f"{table.replace('.', '_')}_scan"
    rows(con, f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {table}")
    query = f"(SELECT vec FROM {table} ORDER BY id LIMIT 1 OFFSET 4)"
    assert_same(
        con,
        f"SELECT * FROM vsa_search('{table}', 'vec', {query}, k := 12)",
        f"SELECT * FROM vsa_search('{view}', 'vec', {query}, k := 12)",
    )
    assert_same(
        con,
        f"SELECT l.id AS q, r.id AS t, score, rank "
        f"FROM vsa_topk_join('{table}', 'vec', '{table}', 'vec', k := 4)",
        f"SELECT l.id AS q, r.id AS t, score, rank "
        f"FROM vsa_topk_join('{view}', 'vec', '{view}', 'vec', k := 4)",
    )
    got = rows(con, f"SELECT l.id, r.id, score FROM vsa_near_duplicates('{table}', 'vec', "
                    "threshold := 0.6, k := 3)")  # fmt: skip
    want = rows(con, f"SELECT l.id, r.id, score FROM vsa_near_duplicates('{view}', 'vec', "
                     "threshold := 0.6, k := 3)")  # fmt: skip
    assert sorted(g[:2] for g in got) == sorted(w[:2] for w in want)
    assert len(got) > 0


# -- the DuckDB facts the change counters rest on -----------------------------------------


def test_statement_triggers_fire_for_every_write_but_alter(tmp_path) -> None:
    con = duckdb.connect()
    rows(con, f"CREATE TABLE t (id INTEGER, tag VARCHAR, vec FLOAT[{D}])")
    watch, reason = watch_column(con, Relation("memory", "main", "t"), "vec")
    assert watch is not None, reason

    def counts() -> tuple[int, int]:
        return tuple(int(c) for c in rows(con, f"SELECT {watch.counts_sql()}")[0][0].split(":"))

    csv = tmp_path / "more.csv"
    csv.write_text(f'id,tag,vec\n7,c,"{[0.5] * D}"\n')
    writes = [
        ("INSERT INTO t VALUES (1, 'a', NULL)", (1, 0)),
        ("INSERT INTO t SELECT id, tag, vec FROM __test_arrow", (2, 0)),
        (f"COPY t FROM '{csv}' (HEADER)", (3, 0)),
        ("UPDATE t SET tag = 'other' WHERE id = 1", (3, 0)),
        (f"UPDATE t SET vec = {CONSTANT} WHERE id = 1", (3, 1)),
        ("DELETE FROM t WHERE id = 7", (3, 2)),
        ("ALTER TABLE t ADD COLUMN extra INTEGER", (3, 2)),
        ("TRUNCATE t", (3, 3)),
    ]
    con.register("__test_arrow", arrow_rows(unit(3)))
    for statement, want in writes:
        rows(con, statement)
        assert counts() == want, statement
    frame = arrow_rows(unit(2)).append_column("extra", pa.array([1, 2], pa.int32())).to_pandas()
    con.append("t", frame)
    assert counts() == (4, 3)
    assert rows(con, "SELECT count(*) FROM t") == [(2,)]


def test_two_writers_to_a_watched_table_do_not_conflict(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    duckdb_vsa.register(con, dim=D)
    load(con, "items", unit(20))
    duckdb_vsa.build_index(con, "items", "vec")
    first, second = con.cursor(), con.cursor()
    rows(first, "BEGIN")
    rows(second, "BEGIN")
    rows(first, "INSERT INTO items SELECT 100, 'a', vec FROM items WHERE id = 1")
    rows(second, "INSERT INTO items SELECT 101, 'b', vec FROM items WHERE id = 2")
    rows(first, "COMMIT")
    rows(second, "COMMIT")
    assert rows(con, "SELECT count(*) FROM items") == [(22,)]
    assert_macros_equal_the_scan(con)
    con.close()


def test_a_checkpoint_after_deletes_renumbers_rows_and_the_index_follows() -> None:
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=D)
    n = 250_000  # more than two row groups
    load(con, "items", unit(n, seed=3))
    rows(con, "CHECKPOINT")
    duckdb_vsa.build_index(con, "items", "vec")
    before = dict(rows(con, "SELECT id, rowid FROM items WHERE id IN (200000, 249999)"))
    rows(con, "DELETE FROM items WHERE id BETWEEN 1000 AND 239999")
    rows(con, "CHECKPOINT")
    after = dict(rows(con, "SELECT id, rowid FROM items WHERE id IN (200000, 249999)"))
    moved = rows(con, "SELECT count(*) FROM items WHERE rowid <> id")[0][0]
    assert moved > 0 or after != before  # DuckDB renumbered rows without firing a trigger
    query = "(SELECT vec FROM items WHERE id = 245000)"
    rows(con, "CREATE VIEW items_scan AS SELECT * FROM items")
    assert answered_by_index(con)
    assert_same(
        con,
        f"SELECT * FROM vsa_search('items', 'vec', {query}, k := 5)",
        f"SELECT * FROM vsa_search('items_scan', 'vec', {query}, k := 5)",
    )
    assert rows(con, f"SELECT id FROM vsa_index_search('items', {query}, k := 1)") == [(245000,)]
    con.close()


# -- writes of every kind -------------------------------------------------------------------

WRITES = {
    "insert": ["INSERT INTO items SELECT id + 1000, 'new', vec FROM items WHERE id < 9"],
    "insert many": ["INSERT INTO items SELECT id + 1000, 'new', vec FROM items"],
    "delete": ["DELETE FROM items WHERE id % 7 = 3"],
    "update": ["UPDATE items SET vec = (SELECT vec FROM items WHERE id = 1) WHERE id % 5 = 2"],
    "update another column": ["UPDATE items SET tag = 'renamed' WHERE id < 50"],
    "truncate and refill": [
        "TRUNCATE items",
        "INSERT INTO items SELECT id, tag, vec FROM __test_arrow",
    ],
    "delete, checkpoint, insert": [
        "DELETE FROM items WHERE id >= 290",
        "CHECKPOINT",
        "INSERT INTO items SELECT id + 2000, 'again', vec FROM items WHERE id < 12",
    ],
}


@pytest.mark.parametrize("with_index", [True, False], ids=["named index", "cached matrix"])
@pytest.mark.parametrize("write", list(WRITES))
def test_after_a_write_the_macros_equal_the_builtin_scan(db, write, with_index) -> None:
    if with_index:
        duckdb_vsa.build_index(db, "items", "vec")
    else:
        # encode_column's record watches the column; an exact matrix is cached for it.
        record_column(
            db, "items", "tag", "vec", duckdb_vsa.register(db, dim=D).config, 300, watch=True
        )
    assert_macros_equal_the_scan(db)
    db.register("__test_arrow", arrow_rows(tied(300, seed=5)))
    for statement in WRITES[write]:
        rows(db, statement)
    assert_macros_equal_the_scan(db)


def test_copy_and_the_appender(db, tmp_path) -> None:
    duckdb_vsa.build_index(db, "items", "vec")
    path = tmp_path / "more.parquet"
    rows(db, f"COPY (SELECT id + 500 AS id, tag, vec FROM items WHERE id < 30) TO '{path}'")
    rows(db, f"COPY items FROM '{path}'")
    assert_macros_equal_the_scan(db)
    db.append("items", arrow_rows(unit(5, seed=9), first_id=900).to_pandas())
    assert_macros_equal_the_scan(db)
    assert rows(db, "SELECT id FROM vsa_index_search('items', "
                    "(SELECT vec FROM items WHERE id = 903), k := 1)") == [(903,)]  # fmt: skip


def test_rows_appended_are_searched_beside_the_index_then_merged(db) -> None:
    index = duckdb_vsa.build_index(db, "items", "vec")
    rows(db, "INSERT INTO items SELECT id + 1000, 'new', vec FROM items WHERE id < 5")
    assert_macros_equal_the_scan(db)
    live = duckdb_vsa.get_index(db, "items")
    assert live.appended == 5 and len(live) == 305 and len(index) == 300
    rows(db, "INSERT INTO items SELECT id + 2000, 'new', vec FROM items WHERE id < 100")
    assert_macros_equal_the_scan(db)
    assert duckdb_vsa.get_index(db, "items").appended == 0  # merged: past 5 % of the index


# -- transactions ---------------------------------------------------------------------------


def test_uncommitted_inserts_and_deletes_are_seen_by_their_transaction(db) -> None:
    duckdb_vsa.build_index(db, "items", "vec")
    other = db.cursor()
    duckdb_vsa.register(other, dim=D)
    rows(db, "BEGIN")
    rows(db, "INSERT INTO items SELECT id + 1000, 'new', vec FROM items WHERE id < 20")
    rows(db, "DELETE FROM items WHERE id BETWEEN 40 AND 60")
    assert not answered_by_index(db)  # the builtin scan answers inside this transaction
    rows(db, "CREATE OR REPLACE TEMP VIEW items_scan AS SELECT * FROM items")
    query = "(SELECT vec FROM items WHERE id = 1003)"
    assert_same(
        db,
        f"SELECT * FROM vsa_search('items', 'vec', {query}, k := 6)",
        f"SELECT * FROM vsa_search('items_scan', 'vec', {query}, k := 6)",
    )
    found = {r[0] for r in rows(db, f"SELECT id FROM vsa_index_search('items', {query}, k := 400)")}
    assert 1003 in found and not found & set(range(40, 61))
    # Another connection sees the committed table, through the index.
    assert answered_by_index(other)
    sql = "SELECT id FROM vsa_index_search('items', (SELECT vec FROM items WHERE id = 3), k := 400)"
    assert 1003 not in {r[0] for r in rows(other, sql)}
    rows(db, "COMMIT")
    assert_macros_equal_the_scan(db)
    assert_macros_equal_the_scan(other)
    other.close()


def test_a_transaction_that_started_before_a_commit_sees_its_own_snapshot(db) -> None:
    duckdb_vsa.build_index(db, "items", "vec")
    reader = db.cursor()
    duckdb_vsa.register(reader, dim=D)
    rows(reader, "BEGIN")
    rows(reader, "SELECT count(*) FROM items")
    rows(db, "DELETE FROM items WHERE id < 100")
    assert_macros_equal_the_scan(db)  # the index moves on to the committed table
    assert rows(reader, "SELECT count(*) FROM items") == [(300,)]
    sql = "SELECT id FROM vsa_index_search('items', (SELECT vec FROM items WHERE id = 5), k := 400)"
    assert {r[0] for r in rows(reader, sql)} == set(range(300))
    rows(reader, "COMMIT")
    reader.close()


# -- ALTER TABLE, schemas, names --------------------------------------------------------------


def test_alter_table_of_the_vector_column(db) -> None:
    duckdb_vsa.build_index(db, "items", "vec")
    rows(db, f"ALTER TABLE items ALTER vec TYPE FLOAT[{D}] "
             f"USING list_transform(vec, lambda e: -e)::FLOAT[{D}]")  # fmt: skip
    assert_macros_equal_the_scan(db)
    rows(db, "ALTER TABLE items ADD COLUMN extra INTEGER")
    assert_macros_equal_the_scan(db)
    rows(db, "ALTER TABLE items DROP COLUMN vec")
    rows(db, f"ALTER TABLE items ADD COLUMN vec FLOAT[{D}]")
    rows(db, f"UPDATE items SET vec = {CONSTANT} WHERE id < 10")
    rows(db, "CREATE OR REPLACE TEMP VIEW items_scan AS SELECT * FROM items")
    query = "(SELECT vec FROM items WHERE id = 1)"
    assert_same(
        db,
        f"SELECT * FROM vsa_index_search('items', {query}, k := 20)",
        f"SELECT * FROM vsa_search('items_scan', 'vec', {query}, k := 20)",
    )
    rows(db, "ALTER TABLE items ALTER vec TYPE FLOAT[8] USING vec[1:8]::FLOAT[8]")
    with pytest.raises(duckdb.Error, match=r"FLOAT\[8\]|length 8"):
        rows(db, f"SELECT * FROM vsa_index_search('items', {query}, k := 3)")


def test_two_schemas_with_a_table_of_the_same_name(db) -> None:
    rows(db, "CREATE SCHEMA a")
    rows(db, "CREATE SCHEMA b")
    load(db, "a.items", tied(120, seed=11))
    load(db, "b.items", tied(150, seed=12))
    duckdb_vsa.build_index(db, "a.items", "vec", name="in_a")
    rows(db, "SELECT vsa_create_index('b.items', 'vec', name := 'in_b')")
    assert_macros_equal_the_scan(db, "a.items")
    assert_macros_equal_the_scan(db, "b.items")
    rows(db, "SET search_path = 'b,a'")
    assert_macros_equal_the_scan(db, "items")
    rows(db, "INSERT INTO a.items SELECT id + 500, tag, vec FROM a.items WHERE id < 3")
    rows(db, "SET search_path = 'a,b'")
    assert_macros_equal_the_scan(db, "items")
    # A temporary table of the same name shadows them; the scan answers for it.
    rows(db, "CREATE TEMP TABLE items AS SELECT * FROM b.items WHERE id < 40")
    assert not answered_by_index(db, "items")
    got = rows(db, "SELECT count(*) FROM vsa_topk_join('items', 'vec', 'items', 'vec', k := 2)")
    assert got == [(80,)]


# -- the SQL surface and what drop leaves -------------------------------------------------------


def test_create_list_and_drop_from_sql_leave_no_trace(db) -> None:
    before_tables = rows(db, "SELECT table_name FROM duckdb_tables() ORDER BY 1")
    got = rows(db, "SELECT vsa_create_index('items', 'vec', name := 'ex')")[0][0]
    assert got.startswith("ExactIndex(n=300")
    rows(db, "SELECT vsa_create_index('items', 'vec', name := 'iv', method := 'ivf', "
             "nprobe := 3)")  # fmt: skip
    listed = rows(db, "SELECT name, \"table\", \"column\", method, \"rows\", options, loaded "
                      "FROM vsa_indexes() ORDER BY name")  # fmt: skip
    assert [r[:5] for r in listed] == [
        ("ex", "memory.main.items", "vec", "exact", 300),
        ("iv", "memory.main.items", "vec", "ivf", 300),
    ]
    assert json.loads(listed[1][5])["nprobe"] == 3
    assert rows(db, "SELECT count(*) FROM duckdb_triggers()") == [(3,)]
    with pytest.raises(duckdb.Error, match=r"already exists.*replace"):
        rows(db, "SELECT vsa_create_index('items', 'vec', name := 'ex')")
    with pytest.raises(duckdb.Error, match="method must be"):
        rows(db, "SELECT vsa_create_index('items', 'vec', name := 'x', method := 'lsh')")
    rows(db, "CREATE VIEW items_view AS SELECT * FROM items")
    with pytest.raises(duckdb.Error, match="is a view"):
        rows(db, "SELECT vsa_create_index('items_view', 'vec')")
    rows(db, "SELECT vsa_drop_index('ex')")
    assert rows(db, "SELECT count(*) FROM duckdb_triggers()") == [(3,)]  # 'iv' still needs them
    rows(db, "SELECT vsa_drop_index('iv')")
    rows(db, "DROP VIEW items_view")
    assert rows(db, "SELECT count(*) FROM duckdb_triggers()") == [(0,)]
    assert rows(db, "SELECT table_name FROM duckdb_tables() ORDER BY 1") == before_tables
    assert rows(db, "FROM vsa_indexes()") == []
    assert rows(db, "SELECT vsa_drop_index('ex', missing_ok := true)")
    with pytest.raises(duckdb.Error, match="no duckdb_vsa index named 'ex'"):
        rows(db, "SELECT vsa_drop_index('ex')")


def test_drop_after_the_table_was_dropped_leaves_no_trace(db) -> None:
    duckdb_vsa.build_index(db, "items", "vec")
    assert rows(db, "SELECT count(*) FROM duckdb_triggers()") == [(3,)]
    tables = "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'duckdb_vsa%'"
    assert rows(db, tables)[0][0]
    rows(db, "DROP TABLE items")
    duckdb_vsa.drop_index(db, "items")
    assert rows(db, "SELECT table_name FROM duckdb_tables()") == []
    assert rows(db, "SELECT count(*) FROM duckdb_triggers()") == [(0,)]


def test_a_table_without_triggers_keeps_the_full_check(db) -> None:
    # Without triggers, vsa_search scans (one scan is cheaper than hashing the column),
    # while the join and the pairs hash the column and use a cached matrix.
    assert not rows(db, "SELECT __vsa_ticket_of('search', 'items', 'vec', NULL) "
                        "IS NOT NULL")[0][0]  # fmt: skip
    assert answered_by_index(db)
    rows(db, "CREATE TEMP VIEW items_scan AS SELECT * FROM items")
    for _ in range(2):
        assert_same(
            db,
            "SELECT l.id AS q, r.id AS t, score, rank FROM vsa_topk_join('items', 'vec', "
            "'items', 'vec', k := 3)",
            "SELECT l.id AS q, r.id AS t, score, rank FROM vsa_topk_join('items_scan', 'vec', "
            "'items_scan', 'vec', k := 3)",
        )
        rows(db, "DELETE FROM items WHERE id % 9 = 0")
    assert rows(db, "SELECT count(*) FROM duckdb_triggers()") == [(0,)]


# -- ties, on random data ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_the_plain_macros_equal_the_builtin_scan_ties_included(seed) -> None:
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=D)
    rng = np.random.default_rng(seed)
    x = tied(int(rng.integers(200, 700)), seed=seed)
    # Whole groups of equal vectors: ties that decide which rows make the top k.
    x[rng.choice(len(x), 40, replace=False)] = x[0]
    load(con, "items", x)
    config = duckdb_vsa.register(con, dim=D).config
    record_column(con, "items", "tag", "vec", config, len(x), watch=True)
    assert_macros_equal_the_scan(con)
    rows(con, "INSERT INTO items SELECT id + 5000, 'copy', vec FROM items WHERE id % 11 = 0")
    assert_macros_equal_the_scan(con)
    con.close()


# -- restarts ---------------------------------------------------------------------------------

RESTART = textwrap.dedent(
    """
    import json, sys
    import duckdb, duckdb_vsa
    path, step = sys.argv[1], sys.argv[2]
    con = duckdb.connect(path)
    duckdb_vsa.register(con, dim=16)
    out = {}
    if step == "build":
        con.execute("CREATE TABLE items AS SELECT i AS id, vsa_encode(json_object('n', i % 97, "
                    "'c', ['red', 'blue'][i % 2 + 1])) AS vec FROM range(2000) t(i)")
        con.execute("SELECT vsa_create_index('items', 'vec', name := 'ex')").fetchall()
        con.execute("SELECT vsa_create_index('items', 'vec', name := 'iv', method := 'ivf')")
        con.execute("SELECT vsa_create_index('items', 'vec', name := 'hn', method := 'hnsw')")
    elif step == "write":
        con.execute("DELETE FROM items WHERE id % 10 = 3")
        con.execute("INSERT INTO items SELECT id + 5000, vec FROM items WHERE id < 30")
    elif step == "query":
        out["listed"] = con.execute("SELECT name, loaded FROM vsa_indexes() ORDER BY 1").fetchall()
        q = "(SELECT vec FROM items WHERE id = 5004)"
        con.execute("CREATE TEMP VIEW items_scan AS SELECT * FROM items")
        for name in ("ex", "iv", "hn"):
            out[name] = con.execute(
                f"SELECT id, score FROM vsa_index_search('{name}', {q}, k := 8)").fetchall()
        out["scan"] = con.execute(
            f"SELECT id, score FROM vsa_search('items_scan', 'vec', {q}, k := 8)").fetchall()
        out["ids"] = [r[0] for r in con.execute("SELECT id FROM items").fetchall()]
        out["ticket"] = con.execute(
            "SELECT __vsa_ticket_of('search', NULL, NULL, 'iv') IS NOT NULL").fetchall()[0][0]
    elif step == "drop":
        for name in ("ex", "iv", "hn"):
            con.execute(f"SELECT vsa_drop_index('{name}')").fetchall()
        out["tables"] = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        out["triggers"] = con.execute("SELECT count(*) FROM duckdb_triggers()").fetchall()
    con.close()
    print(json.dumps(out))
    """
)


def test_indexes_survive_a_restart(tmp_path, run_python) -> None:
    script = tmp_path / "restart.py"
    script.write_text(RESTART)
    path = str(tmp_path / "kept.duckdb")

    def step(name: str) -> dict:
        result = run_python(script, path, name)
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    step("build")
    step("write")  # in another process: the triggers count the writes, nothing is loaded
    for _ in range(2):
        got = step("query")
        assert got["listed"] == [["ex", False], ["hn", False], ["iv", False]]
        assert got["ticket"]
        assert [r[0] for r in got["ex"]] == [r[0] for r in got["scan"]]
        np.testing.assert_allclose(
            [r[1] for r in got["ex"]], [r[1] for r in got["scan"]], atol=1e-5
        )
        ids = set(got["ids"])
        for name in ("iv", "hn"):
            assert {r[0] for r in got[name]} <= ids
            assert got[name][0][0] in (4, 5004)  # the row itself or its copy
    done = step("drop")
    assert done["tables"] == [["items"]] and done["triggers"] == [[0]]
