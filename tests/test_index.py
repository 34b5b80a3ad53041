"""The exact in-memory index: Python API, the vsa_index_* macros, freshness.

The macros must return exactly what the builtin macros return on the same
table (same rows, same ranks, ties to the earlier row, scores within 1e-5),
and what a numpy brute force returns. Every result is drained before the next
statement: DuckDB 2.0 streams results.
"""

from __future__ import annotations

import json
import random

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import duckdb_vsa
from duckdb_vsa.index import ExactIndex

D = 256


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    cursor = con.execute(sql) if params is None else con.execute(sql, params)
    return cursor.fetchall()


def unit(n: int, dim: int = D, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def load(con: duckdb.DuckDBPyConnection, name: str, vectors: np.ndarray, ids=None) -> None:
    """``name(id INTEGER, tag VARCHAR, vec FLOAT[dim])``, rows in the given order."""
    dim = vectors.shape[1]
    ids = np.arange(len(vectors)) if ids is None else np.asarray(ids)
    arrow = pa.table(
        {
            "id": pa.array(ids.astype(np.int32)),
            "tag": pa.array([f"t{i}" for i in ids]),
            "vec": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim),
        }
    )
    con.register("__test_arrow", arrow)
    rows(
        con,
        f"CREATE OR REPLACE TABLE {name} AS "
        f"SELECT id, tag, vec::FLOAT[{dim}] AS vec FROM __test_arrow",
    )
    con.unregister("__test_arrow")


def with_duplicates(n: int, seed: int = 0) -> np.ndarray:
    """Unit vectors where a third of the rows repeat an earlier row exactly (ties)."""
    x = unit(n, seed=seed)
    rng = np.random.default_rng(seed + 1)
    copies = rng.choice(n, size=n // 3, replace=False)
    x[copies] = x[rng.integers(0, n, size=len(copies))]
    return x


def brute_force(queries: np.ndarray, targets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top k in float64, ties to the smaller index."""
    scores = queries.astype(np.float64) @ targets.astype(np.float64).T
    order = np.lexsort((np.broadcast_to(np.arange(len(targets)), scores.shape), -scores), axis=1)
    top = order[:, :k]
    return top, np.take_along_axis(scores, top, axis=1)


def assert_same_result(con: duckdb.DuckDBPyConnection, got_sql: str, want_sql: str) -> int:
    """Same columns and rows, except ``score``, which must agree to 1e-5; returns the rows."""
    cursor = con.execute(got_sql)
    columns, got = [d[0] for d in cursor.description], cursor.fetchall()
    cursor = con.execute(want_sql)
    assert columns == [d[0] for d in cursor.description]
    want = cursor.fetchall()
    assert_same_hits(got, want, columns.index("score"))
    return len(got)


def assert_same_pairs(con: duckdb.DuckDBPyConnection, got_sql: str, want_sql: str) -> int:
    """Near-duplicate results: the same pairs with scores within 1e-5, best first.

    Pairs of different rows whose exact scores are equal (copies of a vector)
    are computed with different rounding by BLAS and by each DuckDB version's
    builtin, so their relative order may differ by the last bit of the score.
    """
    cursor = con.execute(got_sql)
    columns, got = [d[0] for d in cursor.description], cursor.fetchall()
    cursor = con.execute(want_sql)
    assert columns == [d[0] for d in cursor.description] == ["l", "r", "score"]
    want = cursor.fetchall()
    assert len(got) == len(want)

    def by_pair(result: list[tuple]) -> list[tuple]:
        return sorted(result, key=lambda row: (row[0]["id"], row[1]["id"]))

    for g, w in zip(by_pair(got), by_pair(want)):
        assert g[:2] == w[:2]
        assert g[2] == pytest.approx(w[2], abs=1e-5)
    order = [(-score, left["id"], right["id"]) for left, right, score in got]
    assert order == sorted(order)
    assert all(left["id"] < right["id"] for left, right, _ in got)
    return len(got)


def assert_same_hits(got: list[tuple], want: list[tuple], score_at: int) -> None:
    """Equal rows except the score column, which must agree to 1e-5."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g[:score_at] + g[score_at + 1 :] == w[:score_at] + w[score_at + 1 :]
        assert g[score_at] == pytest.approx(w[score_at], abs=1e-5)


@pytest.fixture
def items(con: duckdb.DuckDBPyConnection) -> np.ndarray:
    """A table ``items`` of 600 unit vectors with exact duplicates, indexed."""
    x = with_duplicates(600)
    load(con, "items", x)
    duckdb_vsa.build_index(con, "items", "vec")
    return x


# -- ExactIndex from Python --------------------------------------------------------------


@pytest.mark.parametrize("block_bytes", [512, 64 * 1024, duckdb_vsa.index.DEFAULT_BLOCK_BYTES])
@pytest.mark.parametrize("k", [1, 10, 150])
def test_exact_index_matches_brute_force(block_bytes: int, k: int) -> None:
    targets, queries = unit(3000, seed=1), unit(70, seed=2)
    index = ExactIndex(targets, block_bytes=block_bytes)
    ids, scores = index.search(queries, k)
    want_ids, want_scores = brute_force(queries, targets, k)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)


def test_ties_rank_the_smaller_id_first() -> None:
    x = with_duplicates(2000, seed=3)
    ids = np.random.default_rng(4).permutation(2000) * 7 + 5
    index = ExactIndex(x, ids=ids, block_bytes=4096)
    got, _ = index.search(x[:50], 12)
    order = np.argsort(ids)
    want, _ = brute_force(x[:50], x[order], 12)
    np.testing.assert_array_equal(got, ids[order][want])


def test_identical_vectors_return_the_smallest_ids() -> None:
    index = ExactIndex(np.ones((5000, 8), dtype=np.float32), ids=np.arange(5000)[::-1])
    got, scores = index.search(np.ones(8, dtype=np.float32), 5)
    assert got.tolist() == [[0, 1, 2, 3, 4]]
    assert scores.tolist() == [[8.0] * 5]


def test_search_ragged_excludes_an_id_per_query() -> None:
    x = with_duplicates(500, seed=5)
    index = ExactIndex(x)
    hits = index.search_ragged(x[:20], 4, exclude=np.arange(20))
    assert hits.counts.tolist() == [4] * 20
    got = hits.ids.reshape(20, 4)
    assert not (got == np.arange(20)[:, None]).any()
    top, _ = brute_force(x[:20], x, 5)
    want = np.array([[j for j in row if j != i][:4] for i, row in enumerate(top)])
    np.testing.assert_array_equal(got, want)


def test_k_larger_than_the_index_returns_every_vector() -> None:
    x = unit(7, dim=4)
    ids, scores = ExactIndex(x).search(x[:2], 50)
    assert ids.shape == (2, 7)
    assert sorted(ids[0].tolist()) == list(range(7))
    assert (np.diff(scores, axis=1) <= 0).all()


def test_empty_index_returns_no_hits() -> None:
    ids, scores = ExactIndex(np.zeros((0, 4), dtype=np.float32)).search(np.ones((3, 4)), 5)
    assert ids.shape == scores.shape == (3, 0)


def test_python_errors_say_what_to_do() -> None:
    index = ExactIndex(unit(10, dim=4))
    with pytest.raises(ValueError, match=r"length 4.*queries are vectors of length 3"):
        index.search(np.ones((2, 3)), 1)
    with pytest.raises(ValueError, match="NaN"):
        index.search(np.full(4, np.nan), 1)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        index.search(np.ones(4), 0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        ExactIndex(np.array([[1.0, np.inf]]))
    with pytest.raises(ValueError, match="distinct"):
        ExactIndex(np.eye(2), ids=[3, 3])


def test_exact_index_implements_the_interface() -> None:
    index = ExactIndex(unit(10, dim=4))
    assert isinstance(index, duckdb_vsa.VectorIndex)
    assert index.exact and index.dim == 4 and len(index) == 10
    assert index.nbytes == 10 * 4 * 4 + 10 * 8
    assert not index.vectors.flags.writeable


# -- the macros against the builtin macros and numpy -------------------------------------


def test_index_search_equals_vsa_search(con, items) -> None:
    for qid in (0, 17, 333, 599):
        query = f"(SELECT vec FROM items WHERE id = {qid})"
        assert (
            assert_same_result(
                con,
                f"SELECT * FROM vsa_index_search('items', {query}, k := 15)",
                f"SELECT * FROM vsa_search('items', 'vec', {query}, k := 15)",
            )
            == 15
        )
    top, scores = brute_force(items[[17]], items, 15)
    got = rows(con, "SELECT id, score FROM vsa_index_search('items', "
                    "(SELECT vec FROM items WHERE id = 17), k := 15)")  # fmt: skip
    assert [r[0] for r in got] == top[0].tolist()
    np.testing.assert_allclose([r[1] for r in got], scores[0], atol=1e-5)


def test_index_topk_join_equals_vsa_topk_join(con, items) -> None:
    load(con, "queries", np.concatenate([items[:40], unit(40, seed=9)]), ids=range(1000, 1080))
    assert (
        assert_same_result(
            con,
            "SELECT * FROM vsa_index_topk_join('queries', 'vec', 'items', k := 7)",
            "SELECT * FROM vsa_topk_join('queries', 'vec', 'items', 'vec', k := 7)",
        )
        == 80 * 7
    )


def test_index_topk_join_equals_numpy(con, items) -> None:
    queries = unit(30, seed=11)
    load(con, "queries", queries)
    got = rows(con, "SELECT l.id, r.id, score, rank "
                    "FROM vsa_index_topk_join('queries', 'vec', 'items', k := 5)")  # fmt: skip
    top, scores = brute_force(queries, items, 5)
    assert [(q, t, r) for q, t, _, r in got] == [
        (q, int(top[q, r]), r + 1) for q in range(30) for r in range(5)
    ]
    np.testing.assert_allclose([s for _, _, s, _ in got], scores.ravel(), atol=1e-5)


@pytest.mark.parametrize(("threshold", "k"), [(0.9, 10), (0.15, 3), (-1.0, 2)])
def test_index_near_duplicates_equals_vsa_near_duplicates(con, threshold, k) -> None:
    x = with_duplicates(250, seed=12)
    x[200:] = x[:50] * 0.96 + unit(50, seed=13) * 0.28
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    load(con, "small", x)
    duckdb_vsa.build_index(con, "small", "vec")
    assert assert_same_pairs(
        con,
        f"SELECT * FROM vsa_index_near_duplicates('small', threshold := {threshold}, k := {k})",
        f"SELECT * FROM vsa_near_duplicates('small', 'vec', threshold := {threshold}, k := {k})",
    )


def test_rows_with_null_vectors_are_skipped_like_the_builtins(con) -> None:
    x = unit(50, seed=14)
    load(con, "holes", x)
    rows(con, "UPDATE holes SET vec = NULL WHERE id % 5 = 0")
    duckdb_vsa.build_index(con, "holes", "vec")
    assert len(duckdb_vsa.get_index(con, "holes")) == 40
    assert (
        assert_same_result(
            con,
            "SELECT * FROM vsa_index_topk_join('holes', 'vec', 'holes', k := 3)",
            "SELECT * FROM vsa_topk_join('holes', 'vec', 'holes', 'vec', k := 3)",
        )
        == 40 * 3
    )
    assert assert_same_pairs(
        con,
        "SELECT * FROM vsa_index_near_duplicates('holes', threshold := 0.1)",
        "SELECT * FROM vsa_near_duplicates('holes', 'vec', threshold := 0.1)",
    )


def test_encoded_documents(con) -> None:
    rng = random.Random(0)
    colours = ["red", "blue", "green", "black"]
    docs = [
        json.dumps({"name": f"{rng.choice(colours)} shoe {i % 40}", "size": rng.randint(36, 46)})
        for i in range(300)
    ]
    rows(con, "CREATE TABLE docs(id INTEGER, doc VARCHAR)")
    con.executemany("INSERT INTO docs VALUES (?, ?)", list(enumerate(docs)))
    rows(con, "CREATE TABLE enc AS SELECT id, doc, vsa_encode(doc) AS vec FROM docs")
    duckdb_vsa.build_index(con, "enc", "vec", name="shoes")
    assert assert_same_pairs(
        con,
        "SELECT * FROM vsa_index_near_duplicates('shoes', threshold := 0.8)",
        "SELECT * FROM vsa_near_duplicates('enc', 'vec', threshold := 0.8)",
    )
    query = 'vsa_encode(\'{"name": "red shoe 7", "size": 40}\')'
    assert (
        assert_same_result(
            con,
            f"SELECT * FROM vsa_index_search('shoes', {query}, k := 5)",
            f"SELECT * FROM vsa_search('enc', 'vec', {query}, k := 5)",
        )
        == 5
    )


def test_list_columns_and_empty_tables(con) -> None:
    x = unit(40, seed=30)
    load(con, "fixed", x)
    rows(con, "CREATE TABLE listed AS SELECT id, tag, vec::DOUBLE[] AS vec FROM fixed")
    duckdb_vsa.build_index(con, "listed", "vec")
    assert_same_result(
        con,
        "SELECT * FROM vsa_index_topk_join('listed', 'vec', 'listed', k := 3)",
        "SELECT * FROM vsa_topk_join('listed', 'vec', 'listed', 'vec', k := 3)",
    )
    rows(con, f"CREATE TABLE nothing_yet(id INTEGER, vec FLOAT[{D}])")
    assert len(duckdb_vsa.build_index(con, "nothing_yet", "vec")) == 0
    assert rows(con, "SELECT * FROM vsa_index_topk_join('fixed', 'vec', 'nothing_yet')") == []
    assert rows(con, "SELECT * FROM vsa_index_near_duplicates('nothing_yet')") == []
    rows(con, "INSERT INTO nothing_yet SELECT id, vec FROM fixed")
    rows(con, "CREATE VIEW nothing_yet_v AS SELECT * FROM nothing_yet")
    assert (
        assert_same_result(
            con,
            "SELECT * FROM vsa_index_topk_join('fixed', 'vec', 'nothing_yet')",
            "SELECT * FROM vsa_topk_join('fixed', 'vec', 'nothing_yet_v', 'vec')",
        )
        == 40 * 5
    )


def test_scalar_vsa_index_topk(con, items) -> None:
    got = rows(con, "SELECT vsa_index_topk('items', vec, k := 3) FROM items WHERE id = 5")[0][0]
    top, scores = brute_force(items[[5]], items, 3)
    assert [h["rowid"] for h in got] == top[0].tolist()  # rowids are 0..n-1 here
    np.testing.assert_allclose([h["score"] for h in got], scores[0], atol=1e-5)
    assert rows(con, "SELECT vsa_index_topk('items', NULL::FLOAT[256])") == [(None,)]


def test_large_table_spanning_several_chunks_and_blocks(con) -> None:
    x = with_duplicates(6000, seed=15)
    load(con, "big", x)
    duckdb_vsa.build_index(con, "big", "vec", block_bytes=1 << 20)
    queries = unit(2500, seed=16)
    queries[:100] = x[::60]
    load(con, "many", queries)
    got = rows(con, "SELECT l.id, r.id, score, rank "
                    "FROM vsa_index_topk_join('many', 'vec', 'big', k := 4)")  # fmt: skip
    top, scores = brute_force(queries, x, 4)
    assert [(q, t, r) for q, t, _, r in got] == [
        (q, int(top[q, r]), r + 1) for q in range(2500) for r in range(4)
    ]
    np.testing.assert_allclose([s for _, _, s, _ in got], scores.ravel(), atol=1e-5)
    load(con, "few", queries[:60])
    assert (
        assert_same_result(
            con,
            "SELECT * FROM vsa_index_topk_join('few', 'vec', 'big', k := 4)",
            "SELECT * FROM vsa_topk_join('few', 'vec', 'big', 'vec', k := 4)",
        )
        == 60 * 4
    )


def test_four_threads_give_the_results_of_one(con) -> None:
    x = with_duplicates(3000, seed=17)
    load(con, "pool", x)
    duckdb_vsa.build_index(con, "pool", "vec")
    load(con, "asks", np.concatenate([x[::2], unit(3000, seed=18)]))
    results = {}
    for threads in (1, 4):
        rows(con, f"SET threads = {threads}")
        results[threads] = (
            rows(con, "SELECT l.id, r.id, score, rank "
                      "FROM vsa_index_topk_join('asks', 'vec', 'pool', k := 5)"),
            rows(con, "SELECT l.id, r.id, score "
                      "FROM vsa_index_near_duplicates('pool', threshold := 0.3, k := 3)"),
        )  # fmt: skip
    for one, four in zip(results[1], results[4]):
        assert len(one) == len(four) > 0
        assert_same_hits(four, one, score_at=2)


# -- writes ------------------------------------------------------------------------------

MACRO_CALLS = [
    "SELECT * FROM vsa_index_search('items', (SELECT vec FROM items WHERE id = 3), k := 3)",
    "SELECT * FROM vsa_index_topk_join('items', 'vec', 'items', k := 3)",
    "SELECT * FROM vsa_index_near_duplicates('items', threshold := 0.5)",
    "SELECT vsa_index_topk('items', vec) FROM items",
]

CHANGES = [
    "INSERT INTO items SELECT 9999, 'new', vec FROM items WHERE id = 1",
    "DELETE FROM items WHERE id = 7",
    "UPDATE items SET vec = (SELECT vec FROM items WHERE id = 1) WHERE id = 2",
    "DELETE FROM items WHERE id = 599; INSERT INTO items SELECT 599, 'x', vec FROM items "
    "WHERE id = 0",
]


def assert_index_equals_builtin(con: duckdb.DuckDBPyConnection) -> None:
    """Each vsa_index_* macro on ``items`` returns what the builtin scan of it returns.

    The builtin scan is the plain macro on a view of the table (a view has no
    rowids, so no index can answer for it).
    """
    rows(con, "CREATE OR REPLACE VIEW items_scan AS SELECT * FROM items")
    query = "(SELECT vec FROM items ORDER BY id LIMIT 1 OFFSET 3)"
    assert_same_result(
        con,
        f"SELECT * FROM vsa_index_search('items', {query}, k := 5)",
        f"SELECT * FROM vsa_search('items_scan', 'vec', {query}, k := 5)",
    )
    assert_same_result(
        con,
        "SELECT * FROM vsa_index_topk_join('items', 'vec', 'items', k := 3)",
        "SELECT * FROM vsa_topk_join('items_scan', 'vec', 'items_scan', 'vec', k := 3)",
    )
    assert_same_pairs(
        con,
        "SELECT * FROM vsa_index_near_duplicates('items', threshold := 0.5)",
        "SELECT * FROM vsa_near_duplicates('items_scan', 'vec', threshold := 0.5)",
    )


def answers_from_the_index(con: duckdb.DuckDBPyConnection, name: str = "items") -> bool:
    """Whether the index can answer for this connection's snapshot (else the builtin scan does)."""
    return rows(con, f"SELECT __vsa_ticket_of('search', NULL, NULL, '{name}') IS NOT NULL")[0][0]


@pytest.mark.parametrize("check", ["full", "sample"])
@pytest.mark.parametrize("change", CHANGES)
def test_after_a_write_the_index_answers_like_the_builtin_scan(con, items, change, check) -> None:
    duckdb_vsa.build_index(con, "items", "vec", check=check, replace=True)
    rows(con, change)
    assert answers_from_the_index(con)
    assert_index_equals_builtin(con)
    assert rows(con, MACRO_CALLS[3])


def test_a_change_inside_a_transaction_is_seen_by_that_transaction(con, items) -> None:
    rows(con, "BEGIN")
    rows(con, "DELETE FROM items WHERE id = 0")
    rows(con, "INSERT INTO items SELECT 7000 + id, 'new', vec FROM items WHERE id < 5")
    assert not answers_from_the_index(con)
    assert_index_equals_builtin(con)
    got = rows(con, "SELECT id FROM vsa_index_search('items', "
                    "(SELECT vec FROM items WHERE id = 7001), k := 600)")  # fmt: skip
    assert 7001 in {r[0] for r in got} and 0 not in {r[0] for r in got}
    with pytest.raises(duckdb.Error, match="cannot answer for this transaction"):
        rows(con, MACRO_CALLS[3])
    rows(con, "ROLLBACK")
    assert answers_from_the_index(con)
    assert len(rows(con, MACRO_CALLS[0])) == 3


def test_updating_another_column_keeps_the_index_and_shows_the_new_value(con, items) -> None:
    rows(con, "UPDATE items SET tag = 'renamed' WHERE id = 3")
    got = rows(con, MACRO_CALLS[0].replace("SELECT *", "SELECT id, tag"))
    assert got[0] == (3, "renamed")
    assert duckdb_vsa.get_index(con, "items").appended == 0


def test_updating_a_vector_gives_it_a_new_rowid(con) -> None:
    # Appended rows are read by rowid; if DuckDB ever updates vectors in place,
    # this fails before an update can go unnoticed.
    load(con, "moved", unit(5))
    before = dict(rows(con, "SELECT id, rowid FROM moved"))
    rows(con, "UPDATE moved SET vec = (SELECT vec FROM moved WHERE id = 0) WHERE id = 2")
    after = dict(rows(con, "SELECT id, rowid FROM moved"))
    assert after[2] != before[2]


def test_recreating_the_table_with_other_vectors_is_seen(con, items) -> None:
    load(con, "items", unit(600, seed=99))
    assert answers_from_the_index(con)
    assert_index_equals_builtin(con)


# -- errors, names and lifetime ----------------------------------------------------------


def test_a_view_is_refused(con, items) -> None:
    rows(con, "CREATE VIEW items_view AS SELECT * FROM items")
    with pytest.raises(ValueError, match="'items_view' is a view; an index needs a base table"):
        duckdb_vsa.build_index(con, "items_view", "vec")


def test_a_wrong_dimension_is_refused(con) -> None:
    load(con, "narrow", unit(10, dim=128))
    with pytest.raises(ValueError, match=r"FLOAT\[128\].*makes FLOAT\[256\]"):
        duckdb_vsa.build_index(con, "narrow", "vec")
    rows(con, "CREATE TABLE ragged AS SELECT 1 AS id, [1.0, 2.0]::FLOAT[] AS vec")
    with pytest.raises(ValueError, match=r"vector of length 2.*length 256"):
        duckdb_vsa.build_index(con, "ragged", "vec")


def test_a_column_of_another_configuration_is_refused(con) -> None:
    rows(con, "CREATE TABLE docs AS SELECT i AS id, json_object('n', i) AS doc FROM range(30) r(i)")
    duckdb_vsa.encode_column(con, "docs", "doc", "vec", progress=False)
    duckdb_vsa.build_index(con, "docs", "vec")
    other = con.cursor()
    duckdb_vsa.register(other, dim=D, seed=7)
    calls = [
        "SELECT * FROM vsa_index_search('docs', (SELECT vec FROM docs LIMIT 1), k := 2)",
        "SELECT * FROM vsa_index_topk_join('docs', 'vec', 'docs', k := 2)",
        "SELECT * FROM vsa_index_near_duplicates('docs')",
        "SELECT vsa_index_topk('docs', vec) FROM docs",
    ]
    for sql in calls:
        with pytest.raises(duckdb.Error, match=r"vsa_index_.*seed=0.*seed=7.*not comparable"):
            rows(other, sql)
        assert rows(con, sql)
    with pytest.raises(ValueError, match=r"seed=0.*seed=7.*not comparable.*encode_column"):
        duckdb_vsa.build_index(other, "docs", "vec", replace=True)
    other.close()


def test_a_query_of_the_wrong_dimension_is_refused(con, items) -> None:
    with pytest.raises(duckdb.Error, match=r"query vector has length 3 but .* makes FLOAT\[256\]"):
        rows(con, "SELECT * FROM vsa_index_search('items', [1, 2, 3]::FLOAT[3])")
    with pytest.raises(duckdb.Error, match="holds vectors of length 256, but a query vector has "
                                          "length 3"):  # fmt: skip
        rows(con, "SELECT vsa_index_topk('items', [1, 2, 3]::FLOAT[3])")


def test_other_build_errors(con, items) -> None:
    with pytest.raises(ValueError, match="no table named 'nothing'"):
        duckdb_vsa.build_index(con, "nothing", "vec", name="other")
    with pytest.raises(ValueError, match=r"has no column 'vector'.*id, tag, vec"):
        duckdb_vsa.build_index(con, "items", "vector", name="other")
    with pytest.raises(ValueError, match="has type VARCHAR, not a vector"):
        duckdb_vsa.build_index(con, "items", "tag", name="tags")
    with pytest.raises(ValueError, match=r"already exists.*replace=True"):
        duckdb_vsa.build_index(con, "items", "vec")
    with pytest.raises(ValueError, match="check must be"):
        duckdb_vsa.build_index(con, "items", "vec", check="none", replace=True)
    elements = ", ".join(["NULL"] + ["0.1"] * (D - 1))
    rows(con, f"CREATE TABLE holed AS SELECT [{elements}]::FLOAT[{D}] AS vec")
    with pytest.raises(ValueError, match="NULL element"):
        duckdb_vsa.build_index(con, "holed", "vec")
    with pytest.raises(duckdb.Error, match="k must be a positive integer"):
        rows(con, "SELECT * FROM vsa_index_topk_join('items', 'vec', 'items', k := 0)")


def test_build_needs_register() -> None:
    plain = duckdb.connect()
    rows(plain, "CREATE TABLE t AS SELECT [1.0]::FLOAT[1] AS v")
    with pytest.raises(ValueError, match=r"call duckdb_vsa.register\(con\)"):
        duckdb_vsa.build_index(plain, "t", "v")
    plain.close()


def test_drop_and_rebuild(con, items) -> None:
    assert set(duckdb_vsa.list_indexes(con)) == {"items"}
    duckdb_vsa.drop_index(con, "items")
    assert duckdb_vsa.list_indexes(con) == {}
    with pytest.raises(duckdb.Error, match=r"no duckdb_vsa index named 'items'.*build_index"):
        rows(con, MACRO_CALLS[0])
    with pytest.raises(ValueError, match="no duckdb_vsa index named 'items'"):
        duckdb_vsa.drop_index(con, "items")
    duckdb_vsa.drop_index(con, "items", missing_ok=True)
    rebuilt = duckdb_vsa.build_index(con, "items", "vec")
    assert duckdb_vsa.get_index(con, "items") is rebuilt
    assert len(rows(con, MACRO_CALLS[0])) == 3


def test_qualified_and_temp_tables(con) -> None:
    rows(con, "CREATE SCHEMA s")
    load(con, "s.inner_t", unit(20, seed=20))
    load(con, "shadow", unit(20, seed=21))
    rows(con, "CREATE TEMP TABLE shadow AS SELECT id + 100 AS id, tag, vec FROM main.shadow")
    index = duckdb_vsa.build_index(con, "s.inner_t", "VEC", name="inner")
    assert index.source.table == '"memory"."s"."inner_t"' and index.source.column == "vec"
    index = duckdb_vsa.build_index(con, "shadow", "vec")
    assert index.source.table == '"temp"."main"."shadow"'
    got = rows(con, "SELECT id FROM vsa_index_search('shadow', "
                    "(SELECT vec FROM memory.main.shadow WHERE id = 4), k := 1)")  # fmt: skip
    assert got == [(104,)]
    got = rows(con, "SELECT id FROM vsa_index_search('inner', "
                    "(SELECT vec FROM s.inner_t WHERE id = 4), k := 1)")  # fmt: skip
    assert got == [(4,)]


def test_an_index_is_shared_by_every_connection_to_the_database(con, items) -> None:
    other = con.cursor()
    duckdb_vsa.register(other, dim=D)
    assert len(rows(other, MACRO_CALLS[0])) == 3
    assert duckdb_vsa.get_index(other, "items") is duckdb_vsa.get_index(con, "items")
    names = [r[0] for r in rows(con, "SELECT function_name FROM duckdb_functions() "
                                     "WHERE function_name = '__vsa_topk'")]  # fmt: skip
    assert names == ["__vsa_topk"]
    other.close()


def test_the_vsa_index_macros_are_registered(con) -> None:
    names = {r[0] for r in rows(con, "SELECT function_name FROM duckdb_functions()")}
    macros = {"vsa_index_topk", "vsa_index_search", "vsa_index_topk_join"}
    macros.add("vsa_index_near_duplicates")
    assert macros <= set(duckdb_vsa.SQL_OBJECTS) <= names
