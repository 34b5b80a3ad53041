"""The approximate (HNSW and IVF) indexes: recall against the exact index, the same SQL surface,
writes to the indexed table, determinism and errors.

Real DuckDB connections throughout. The only stand-in is ``sys.modules["faiss"] = None``
to check the message a user without the optional engine gets. No timing is asserted.
"""

from __future__ import annotations

import sys

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import duckdb_vsa
from duckdb_vsa.index import ExactIndex

pytest.importorskip("faiss")

from duckdb_vsa.index.ann import HNSW_DEFAULTS, IVF_DEFAULTS, HnswIndex, IvfIndex, default_nlist

D = 256
K = 10


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def load(con: duckdb.DuckDBPyConnection, name: str, vectors: np.ndarray) -> None:
    """``name(id INTEGER, tag VARCHAR, vec FLOAT[dim])``, ids 0..n-1 in order."""
    n, dim = vectors.shape
    arrow = pa.table(
        {
            "id": pa.array(np.arange(n, dtype=np.int32)),
            "tag": pa.array([f"t{i}" for i in range(n)]),
            "vec": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim),
        }
    )
    con.register("__test_arrow", arrow)
    rows(con, f"CREATE TABLE {name} AS SELECT id, tag, vec::FLOAT[{dim}] AS vec FROM __test_arrow")
    con.unregister("__test_arrow")


def clustered(n: int, dim: int = D, seed: int = 0, spread: float = 0.7) -> np.ndarray:
    """Unit vectors around ``n // 50`` random centres: neighbours that matter."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 50, 2), dim)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)]
    x += spread * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def split(x: np.ndarray, n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """(indexed vectors, queries): queries drawn from the same clusters as the data."""
    return x[n_queries:], x[:n_queries]


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    hits = sum(len(set(f[f >= 0]) & set(e)) for f, e in zip(found, exact))
    return hits / exact.size


@pytest.fixture
def table(con: duckdb.DuckDBPyConnection) -> np.ndarray:
    """``items`` (3,000 clustered vectors) with an exact index ``exact`` and an HNSW ``items``."""
    vectors = clustered(3000)
    load(con, "items", vectors)
    duckdb_vsa.build_index(con, "items", "vec", name="exact")
    duckdb_vsa.build_index(con, "items", "vec", method="hnsw")
    return vectors


# -- the index on its own -----------------------------------------------------------------


def test_recall_at_10_against_the_exact_index() -> None:
    vectors, queries = split(clustered(4300, seed=1), 300)
    exact_ids, _ = ExactIndex(vectors).search(queries, K)
    index = HnswIndex(vectors)
    ids, scores = index.search(queries, K)
    assert ids.shape == (300, K)
    assert recall(ids, exact_ids) >= 0.95
    # Scores are the inner products of the ids found, best first.
    want = np.einsum("qd,qkd->qk", queries, vectors[ids])
    np.testing.assert_allclose(scores, want, atol=1e-5)
    assert (np.diff(scores, axis=1) <= 0).all()


def test_ids_are_the_given_ids_in_any_order() -> None:
    vectors = clustered(1000, seed=3)
    ids = np.random.default_rng(0).permutation(1000) * 7 + 5
    index = HnswIndex(vectors, ids=ids)
    assert index.ids.tolist() == sorted(ids.tolist())
    found, scores = index.search(vectors[:20], 1)
    assert found.ravel().tolist() == ids[:20].tolist()
    np.testing.assert_allclose(scores.ravel(), 1.0, atol=1e-5)


def test_exclude_drops_one_id_per_query_and_keeps_k_hits() -> None:
    vectors = clustered(1500, seed=4)
    index = HnswIndex(vectors)
    hits = index.search_ragged(vectors[:50], 5, exclude=np.arange(50))
    assert hits.counts.tolist() == [5] * 50
    owner = np.repeat(np.arange(50), 5)
    assert not (hits.ids == owner).any()
    # Excluding an id that is not a hit changes nothing.
    plain = index.search_ragged(vectors[:50], 5)
    other = index.search_ragged(vectors[:50], 5, exclude=np.full(50, -1))
    assert plain.ids.tolist() == other.ids.tolist()


def test_k_larger_than_the_index_and_an_empty_index() -> None:
    vectors = clustered(30, seed=5)
    index = HnswIndex(vectors)
    ids, _ = index.search(vectors[:2], 100)
    assert ids.shape == (2, 30)
    assert sorted(ids[0].tolist()) == list(range(30))
    hits = index.search_ragged(vectors[:2], 100, exclude=[0, 1])
    assert hits.counts.tolist() == [29, 29]
    empty = HnswIndex(np.zeros((0, 8), dtype=np.float32))
    assert len(empty) == 0
    ids, _ = empty.search(np.ones((3, 8)), 4)
    assert ids.shape == (3, 0)


def test_equal_scores_rank_the_smaller_id_first() -> None:
    vectors = clustered(500, seed=6)
    vectors[[40, 7, 300]] = vectors[123]
    index = HnswIndex(vectors)
    ids, _ = index.search(vectors[123], 4)
    assert ids[0].tolist() == [7, 40, 123, 300]


def test_a_single_threaded_build_is_deterministic() -> None:
    vectors, queries = split(clustered(2200, seed=7), 200)
    first = HnswIndex(vectors, ef_search=16).search(queries, K)
    second = HnswIndex(vectors, ef_search=16).search(queries, K)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_a_query_gets_the_same_hits_alone_or_in_a_batch() -> None:
    vectors, queries = split(clustered(2100, seed=9), 100)
    index = HnswIndex(vectors, ef_search=16)
    batch, _ = index.search(queries, K)
    for i in (0, 17, 99):
        alone, _ = index.search(queries[i], K)
        assert alone[0].tolist() == batch[i].tolist()


def test_ef_search_can_be_changed_after_the_build() -> None:
    vectors, queries = split(clustered(2100, seed=11), 100)
    index = HnswIndex(vectors, ef_search=10)
    exact_ids, _ = ExactIndex(vectors).search(queries, K)
    index.ef_search = 400
    assert index.ef_search == 400
    assert recall(index.search(queries, K)[0], exact_ids) >= 0.99
    with pytest.raises(ValueError, match="ef_search must be an integer"):
        index.ef_search = 0


def test_the_index_implements_the_interface() -> None:
    vectors = clustered(200, dim=32, seed=13)
    index = HnswIndex(vectors, m=8)
    assert isinstance(index, duckdb_vsa.VectorIndex)
    assert not index.exact
    assert index.dim == 32 and len(index) == 200
    assert index.nbytes > vectors.nbytes
    assert not index.ids.flags.writeable
    assert "HnswIndex(n=200, dim=32, m=8" in repr(index)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"m": 1}, "m must be an integer from 2"),
        ({"m": True}, "m must be an integer"),
        ({"ef_construction": 0}, "ef_construction must be an integer from 1"),
        ({"ef_search": "64"}, "ef_search must be an integer"),
        ({"threads": -1}, "threads must be an integer from 0"),
    ],
)
def test_bad_options_are_named(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HnswIndex(clustered(10), **options)


def test_bad_vectors_and_queries_are_refused() -> None:
    with pytest.raises(ValueError, match="2-D array"):
        HnswIndex(np.ones(8))
    bad = clustered(10)
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        HnswIndex(bad)
    with pytest.raises(ValueError, match="distinct"):
        HnswIndex(clustered(3), ids=[1, 1, 2])
    index = HnswIndex(clustered(10))
    with pytest.raises(ValueError, match="length 256"):
        index.search(np.ones((1, 3)), 1)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        index.search(clustered(1), 0)


# -- through build_index and the SQL macros -----------------------------------------------


def test_build_index_makes_an_hnsw_index_with_rowids(con, table) -> None:
    index = duckdb_vsa.get_index(con, "items")
    assert isinstance(index.base, HnswIndex)
    assert index.ids.tolist() == list(range(3000))
    assert (index.m, index.ef_search) == (HNSW_DEFAULTS["m"], HNSW_DEFAULTS["ef_search"])
    custom = duckdb_vsa.build_index(
        con, "items", "vec", name="custom", method="hnsw", m=8, ef_construction=40, ef_search=20
    )
    assert (custom.m, custom.ef_construction, custom.ef_search) == (8, 40, 20)
    assert set(duckdb_vsa.list_indexes(con)) == {"items", "exact", "custom"}


def assert_macros_match_exact(con) -> None:
    """Every vsa_index_* macro on index ``items`` gives the columns of index ``exact``,
    the same number of rows, and (near-duplicates) only true pairs, nearly all of them."""
    query = "(SELECT vec FROM items WHERE id = 11)"
    statements = [
        "SELECT * FROM vsa_index_search('{}', {}, k := 10)",
        "SELECT * FROM vsa_index_topk_join('items', 'vec', '{}', k := 3) "
        "WHERE l.id < 200 OR {} IS NULL",
        "SELECT * FROM vsa_index_near_duplicates('{}', threshold := 0.6, k := 5) "
        "WHERE {} IS NOT NULL",
        "SELECT vsa_index_topk('{}', {}, k := 4) AS hits",
    ]
    for sql in statements:
        got = con.execute(sql.format("items", query))
        got_columns = [(d[0], str(d[1])) for d in got.description]
        got_rows = got.fetchall()
        want = con.execute(sql.format("exact", query))
        assert got_columns == [(d[0], str(d[1])) for d in want.description], sql
        want_rows = want.fetchall()
        assert len(got_rows) > 0
        if "near_duplicates" in sql:
            # Pairs found must be true pairs; nearly all of them are found.
            pairs = {(r[0]["id"], r[1]["id"]) for r in got_rows}
            want_pairs = {(r[0]["id"], r[1]["id"]) for r in want_rows}
            assert pairs <= want_pairs
            assert len(pairs) >= 0.95 * len(want_pairs)
        else:
            assert len(got_rows) == len(want_rows), sql


def sql_topk(con, name: str, n_queries: int) -> np.ndarray:
    """Ids of the top K of every row of ``queries`` through ``vsa_index_topk_join`` on ``name``."""
    found = rows(
        con,
        f"SELECT l.id, r.id, rank FROM vsa_index_topk_join('queries', 'vec', '{name}', k := {K})",
    )
    out = np.full((n_queries, K), -1)
    for qid, tid, rank in found:
        out[qid, rank - 1] = tid
    return out


def test_macros_return_the_columns_of_the_exact_index(con, table) -> None:
    assert_macros_match_exact(con)


def test_sql_recall_at_10_against_the_exact_index(con, table) -> None:
    load(con, "queries", table[:300] + np.float32(0.01))

    assert recall(sql_topk(con, "items", 300), sql_topk(con, "exact", 300)) >= 0.95


def test_sql_search_finds_the_row_itself_first(con, table) -> None:
    got = rows(
        con,
        "SELECT id, score FROM vsa_index_search('items', "
        "(SELECT vec FROM items WHERE id = 1234), k := 3)",
    )
    assert got[0][0] == 1234 and got[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [r[1] for r in got] == sorted((r[1] for r in got), reverse=True)


def test_encoded_documents(con) -> None:
    rows(
        con,
        "CREATE TABLE docs AS SELECT i AS id, vsa_encode(json_object('n', i, 'tag', "
        "'t' || (i % 50), 'name', 'item ' || (i % 300))) AS vec FROM range(3000) t(i)",
    )
    duckdb_vsa.build_index(con, "docs", "vec", name="docs_exact")
    duckdb_vsa.build_index(con, "docs", "vec", method="hnsw")
    sql = (
        "SELECT l.id, list(r.id ORDER BY rank) "
        "FROM vsa_index_topk_join('probe', 'vec', '{}', k := 10) GROUP BY 1"
    )
    rows(con, "CREATE TABLE probe AS SELECT * FROM docs WHERE id % 10 = 0")
    got = dict(rows(con, sql.format("docs")))
    want = dict(rows(con, sql.format("docs_exact")))
    assert got.keys() == want.keys()
    hits = sum(len(set(got[q]) & set(want[q])) for q in want)
    assert hits / (10 * len(want)) >= 0.95


WRITES = [
    "INSERT INTO items SELECT id + 10000, tag, vec FROM items WHERE id < 3",
    "DELETE FROM items WHERE id IN (5, 6, 7)",
    "UPDATE items SET vec = (SELECT vec FROM items WHERE id = 1) WHERE id = 2",
    "UPDATE items SET vec = (SELECT vec FROM items WHERE id = 1) WHERE id = 2; CHECKPOINT",
]


def assert_hits_are_rows_as_they_are(con, name: str) -> None:
    """Hits of index ``name`` are rows of the table now, scored with their vectors now, and
    a row's own vector finds it first (rows appended after the build included)."""
    got = rows(
        con,
        "SELECT l.id, r.id, score, array_inner_product(l.vec, r.vec) AS now "
        f"FROM vsa_index_topk_join('items', 'vec', '{name}', k := 3)",
    )
    ids = {r[0] for r in rows(con, "SELECT id FROM items")}
    assert len(got) == 3 * len(ids)
    assert {r[1] for r in got} <= ids
    np.testing.assert_allclose([r[2] for r in got], [r[3] for r in got], atol=1e-5)
    first = {q: t for q, t, score, _ in got if score > 0.9999}
    assert all(q in first for q in ids)


@pytest.mark.parametrize("method", ["hnsw", "ivf"])
@pytest.mark.parametrize("change", WRITES)
def test_after_a_write_the_index_answers_for_the_rows_there_are(con, method, change) -> None:
    load(con, "items", clustered(1500))
    duckdb_vsa.build_index(con, "items", "vec", name="ann", method=method)
    for statement in change.split("; "):
        rows(con, statement)
    assert rows(con, "SELECT __vsa_ticket_of('search', NULL, NULL, 'ann') IS NOT NULL")[0][0]
    assert_hits_are_rows_as_they_are(con, "ann")


def test_several_duckdb_threads_give_the_results_of_one(con, table) -> None:
    load(con, "asks", table[:500] + np.float32(0.02))
    results = {}
    for threads in (1, 4):
        rows(con, f"SET threads = {threads}")
        results[threads] = rows(
            con, "SELECT l.id, r.id, score, rank FROM vsa_index_topk_join('asks', 'vec', 'items')"
        )
    assert len(results[1]) == 500 * 5
    assert sorted(results[1]) == sorted(results[4])


def test_replace_is_needed_to_rebuild(con, table) -> None:
    with pytest.raises(ValueError, match=r"already exists.*replace=True"):
        duckdb_vsa.build_index(con, "items", "vec", method="hnsw")
    exact = duckdb_vsa.build_index(con, "items", "vec", replace=True)
    assert isinstance(exact.base, ExactIndex)
    duckdb_vsa.drop_index(con, "items")
    assert "items" not in duckdb_vsa.list_indexes(con)


def test_an_empty_table(con) -> None:
    rows(con, f"CREATE TABLE nothing (id INTEGER, vec FLOAT[{D}])")
    index = duckdb_vsa.build_index(con, "nothing", "vec", method="hnsw")
    assert len(index) == 0
    assert rows(con, "SELECT * FROM vsa_index_search('nothing', vsa_encode('{}'), k := 3)") == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "annoy"}, "method must be 'exact' .*, 'hnsw' or 'ivf'"),
        ({"method": "hnsw", "M": 16}, "Unknown option.*M.*m, ef_construction, ef_search, threads"),
        ({"method": "hnsw", "ef_search": 0}, "ef_search must be an integer from 1"),
        ({"method": "hnsw", "block_bytes": 1024}, "block_bytes applies to method='exact' only"),
        ({"ef_search": 64}, "apply to method='hnsw' or 'ivf' only"),
        ({"method": "ivf", "ef_search": 64}, "Unknown option.*ivf.*ef_search.*nlist, nprobe"),
        ({"method": "hnsw", "nprobe": 8}, "Unknown option.*hnsw.*nprobe"),
        ({"method": "ivf", "nprobe": 0}, "nprobe must be an integer from 1"),
        ({"method": "ivf", "nlist": 2.5}, "nlist must be an integer from 1"),
        ({"method": "ivf", "block_bytes": 1024}, "an IVF index takes nlist, nprobe and threads"),
    ],
)
def test_bad_build_arguments_say_what_to_do(con, table, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        duckdb_vsa.build_index(con, "items", "vec", name="bad", **kwargs)
    assert "bad" not in duckdb_vsa.list_indexes(con)


def test_without_faiss_the_error_says_how_to_install_it(con, monkeypatch) -> None:
    load(con, "small", clustered(50))
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ImportError, match=r'pip install "duckdb-vsa\[ann\]"'):
        duckdb_vsa.build_index(con, "small", "vec", method="hnsw")
    with pytest.raises(ImportError, match="faiss-cpu"):
        HnswIndex(clustered(5))
    with pytest.raises(ImportError, match=r'pip install "duckdb-vsa\[ann\]"'):
        duckdb_vsa.build_index(con, "small", "vec", method="ivf")
    with pytest.raises(ImportError, match="faiss-cpu"):
        IvfIndex(clustered(5))
    # Everything else still works.
    duckdb_vsa.build_index(con, "small", "vec")
    assert len(rows(con, "SELECT * FROM vsa_index_search('small', vsa_encode('{}'), k := 2)")) == 2


# -- the IVF index ------------------------------------------------------------------------


def test_ivf_recall_at_10_against_the_exact_index() -> None:
    vectors, queries = split(clustered(4300, seed=1), 300)
    exact_ids, _ = ExactIndex(vectors).search(queries, K)
    index = IvfIndex(vectors)
    assert index.nlist == default_nlist(4000) == 253
    assert index.nprobe == IVF_DEFAULTS["nprobe"]
    ids, scores = index.search(queries, K)
    assert ids.shape == (300, K)
    assert recall(ids, exact_ids) >= 0.95
    want = np.einsum("qd,qkd->qk", queries, vectors[ids])
    np.testing.assert_allclose(scores, want, atol=1e-5)
    assert (np.diff(scores, axis=1) <= 0).all()
    # Every cell probed: the exact top 10.
    index.nprobe = index.nlist
    np.testing.assert_array_equal(index.search(queries, K)[0], exact_ids)


def test_ivf_nprobe_can_be_changed_after_the_build() -> None:
    vectors, queries = split(clustered(2100, seed=11), 100)
    exact_ids, _ = ExactIndex(vectors).search(queries, K)
    index = IvfIndex(vectors, nlist=100, nprobe=1)
    low = recall(index.search(queries, K)[0], exact_ids)
    index.nprobe = 50
    assert index.nprobe == 50
    assert recall(index.search(queries, K)[0], exact_ids) >= max(low, 0.99)
    with pytest.raises(ValueError, match="nprobe must be an integer"):
        index.nprobe = 0


def test_two_ivf_builds_give_the_same_hits() -> None:
    vectors, queries = split(clustered(3200, seed=7), 200)
    first = IvfIndex(vectors, nprobe=4).search(queries, K)
    second = IvfIndex(vectors, nprobe=4).search(queries, K)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    # A sampled training set (more rows than 64 per cell) is the same sample every time.
    a = IvfIndex(vectors, nlist=20, nprobe=2).search(queries, K)
    b = IvfIndex(vectors, nlist=20, nprobe=2).search(queries, K)
    np.testing.assert_array_equal(a[0], b[0])


def test_ivf_ids_exclude_ties_and_small_cells() -> None:
    vectors = clustered(1500, seed=4)
    vectors[[40, 7, 300]] = vectors[123]
    ids = np.arange(1500) * 3 + 1
    index = IvfIndex(vectors, ids=ids, nprobe=1)
    found, _ = index.search(vectors[123], 4)
    assert found[0].tolist() == [22, 121, 370, 901]  # ids of rows 7, 40, 123, 300
    hits = index.search_ragged(vectors[:50], 5, exclude=ids[:50])
    assert hits.counts.tolist() == [5] * 50
    assert not (hits.ids == np.repeat(ids[:50], 5)).any()
    # k beyond what one cell holds: cells are added until every query has k hits.
    tiny = IvfIndex(clustered(30, seed=5), nlist=10, nprobe=1)
    found, _ = tiny.search(clustered(30, seed=5)[:2], 100)
    assert found.shape == (2, 30)
    assert sorted(found[0].tolist()) == list(range(30))
    empty = IvfIndex(np.zeros((0, 8), dtype=np.float32))
    assert len(empty) == 0 and empty.search(np.ones((3, 8)), 4)[0].shape == (3, 0)


def test_the_ivf_index_implements_the_interface() -> None:
    vectors = clustered(200, dim=32, seed=13)
    index = IvfIndex(vectors, nlist=8)
    assert isinstance(index, duckdb_vsa.VectorIndex)
    assert not index.exact
    assert index.dim == 32 and len(index) == 200 and index.nlist == 8
    assert index.nbytes > vectors.nbytes
    assert not index.ids.flags.writeable
    assert repr(index) == "IvfIndex(n=200, dim=32, nlist=8, nprobe=8)"
    assert IvfIndex(clustered(5), nlist=50).nlist == 5  # never more cells than rows


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"nlist": 0}, "nlist must be an integer from 1"),
        ({"nlist": True}, "nlist must be an integer"),
        ({"nprobe": "8"}, "nprobe must be an integer"),
        ({"threads": -1}, "threads must be an integer from 0"),
    ],
)
def test_bad_ivf_options_are_named(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IvfIndex(clustered(10), **options)


@pytest.fixture
def ivf_table(con: duckdb.DuckDBPyConnection) -> np.ndarray:
    """``items`` (3,000 clustered vectors) with an exact index ``exact`` and an IVF ``items``."""
    vectors = clustered(3000)
    load(con, "items", vectors)
    duckdb_vsa.build_index(con, "items", "vec", name="exact")
    duckdb_vsa.build_index(con, "items", "vec", method="ivf")
    return vectors


def test_ivf_macros_return_the_columns_and_rows_of_the_exact_index(con, ivf_table) -> None:
    index = duckdb_vsa.get_index(con, "items")
    assert isinstance(index.base, IvfIndex)
    assert index.ids.tolist() == list(range(3000))
    assert_macros_match_exact(con)
    load(con, "queries", ivf_table[:300] + np.float32(0.01))

    assert recall(sql_topk(con, "items", 300), sql_topk(con, "exact", 300)) >= 0.95
