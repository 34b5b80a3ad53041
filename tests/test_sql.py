"""The SQL surface (DESIGN §1) through real DuckDB connections.

Every result is drained with fetchall() (or read whole into Arrow) before the
next statement: DuckDB 2.0 streams results and refuses some statements while
one is open.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from conftest import SMALL_DIM, fetch_vectors, varied_documents

import duckdb_vsa

D = SMALL_DIM


def rows(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> list[tuple]:
    cursor = con.execute(sql) if params is None else con.execute(sql, params)
    return cursor.fetchall()


def one(con: duckdb.DuckDBPyConnection, sql: str, params=None):
    result = rows(con, sql, params)
    assert len(result) == 1
    return result[0][0] if len(result[0]) == 1 else result[0]


def load_docs(con: duckdb.DuckDBPyConnection, name: str, docs: list[str | None]) -> None:
    """A table ``name(id, doc)`` with ids 0..n-1 in insertion order."""
    source = pa.table(
        {"id": pa.array(range(len(docs)), pa.int32()), "doc": pa.array(docs, pa.string())}
    )
    con.register("__docs_source", source)
    rows(con, f"CREATE TABLE {name} AS SELECT id, doc FROM __docs_source ORDER BY id")
    con.unregister("__docs_source")


# -- registration of every object ---------------------------------------------------


def test_every_sql_object_is_registered(con) -> None:
    expected = {
        "vsa_encode",
        "vsa_cosine",
        "vsa_similarity",
        "vsa_info",
        "vsa_search",
        "vsa_topk_join",
        "vsa_near_duplicates",
    }
    names = {r[0] for r in rows(con, "SELECT function_name FROM duckdb_functions()")}
    assert expected <= names, expected - names
    assert expected <= set(duckdb_vsa.SQL_OBJECTS)
    # The macros are TEMP: they never persist into a database file.
    macros = rows(
        con,
        "SELECT DISTINCT function_name, database_name FROM duckdb_functions() "
        "WHERE function_name LIKE 'vsa\\_%' ESCAPE '\\' AND function_type LIKE '%macro%'",
    )
    assert expected - {"vsa_encode"} <= {name for name, _ in macros}
    assert {database for _, database in macros} == {"temp"}


def test_vsa_info_matches_the_encoder(con) -> None:
    enc = duckdb_vsa.registered_encoder(con)
    assert enc is not None
    info = one(con, "SELECT vsa_info()")
    assert info == enc.info()
    assert info == {
        "version": duckdb_vsa.ENCODER_VERSION,
        "dim": D,
        "seed": 0,
        "binding": "perm",
        "fingerprint": duckdb_vsa.Encoder(dim=D).fingerprint,
    }
    assert one(con, "SELECT vsa_info().dim") == D


def test_vsa_info_reports_a_non_default_configuration() -> None:
    con = duckdb.connect()
    enc = duckdb_vsa.register(con, dim=64, seed=7, binding="haar", alpha=0.5)
    info = one(con, "SELECT vsa_info()")
    assert info == enc.info()
    assert (info["dim"], info["seed"], info["binding"]) == (64, 7, "haar")
    assert info["fingerprint"] != duckdb_vsa.Encoder(dim=64, seed=7, binding="haar").fingerprint
    con.close()


# -- vsa_encode ---------------------------------------------------------------------

DOCS = [
    '{"name": "red shoe", "price": 40, "tags": ["a", "b"]}',
    "[1, 2, [3, {}]]",
    '"just text"',
    "42",
    "null",
    '{"東京": "寿司 😀"}',
]


def test_vsa_encode_equals_the_python_encoder_bit_for_bit(con) -> None:
    enc = duckdb_vsa.registered_encoder(con)
    load_docs(con, "docs", DOCS)
    got = fetch_vectors(con, "SELECT id, vsa_encode(doc) FROM docs ORDER BY id", D)
    assert got.dtype == np.float32
    assert got.tobytes() == enc.encode_batch(DOCS).tobytes()
    vector = one(con, "SELECT vsa_encode(?)", [DOCS[0]])
    assert np.asarray(vector, dtype=np.float32).tobytes() == enc.encode(DOCS[0]).tobytes()


def test_vsa_encode_returns_float_array_of_the_dimension(con) -> None:
    assert one(con, "SELECT typeof(vsa_encode('1'))") == f"FLOAT[{D}]"
    assert one(con, "SELECT len(vsa_encode('{\"a\": [1]}'))") == D


def test_vsa_encode_null_is_null(con) -> None:
    assert one(con, "SELECT vsa_encode(NULL) IS NULL")
    assert one(con, "SELECT vsa_encode(NULL::VARCHAR) IS NULL")
    assert one(con, "SELECT vsa_encode(NULL::JSON) IS NULL")
    load_docs(con, "docs", [DOCS[0], None, DOCS[1], None])
    got = rows(con, "SELECT id, vsa_encode(doc) IS NULL FROM docs ORDER BY id")
    assert got == [(0, False), (1, True), (2, False), (3, True)]
    vectors = fetch_vectors(con, "SELECT id, vsa_encode(doc) FROM docs ORDER BY id", D)
    enc = duckdb_vsa.registered_encoder(con)
    assert vectors[[0, 2]].tobytes() == enc.encode_batch([DOCS[0], DOCS[1]]).tobytes()


def test_vsa_encode_of_struct_and_json_columns_equals_the_text(con) -> None:
    enc = duckdb_vsa.registered_encoder(con)
    rows(
        con,
        """
        CREATE TABLE s AS SELECT * FROM (VALUES
            (0, {'name': 'red shoe', 'price': 39.5, 'tags': ['a', 'b'],
                 'dims': {'w': 1, 'h': 2}, 'ok': true, 'note': NULL::VARCHAR}),
            (1, {'name': 'café 東京', 'price': -2.0, 'tags': [],
                 'dims': {'w': 3, 'h': 0}, 'ok': false, 'note': 'x'})
        ) t(id, rec)
        """,
    )
    as_text = rows(con, "SELECT rec::JSON::VARCHAR FROM s ORDER BY id")
    texts = [r[0] for r in as_text]
    from_struct = fetch_vectors(con, "SELECT id, vsa_encode(rec) FROM s ORDER BY id", D)
    from_json = fetch_vectors(con, "SELECT id, vsa_encode(rec::JSON) FROM s ORDER BY id", D)
    from_text = fetch_vectors(
        con, "SELECT id, vsa_encode(rec::JSON::VARCHAR) FROM s ORDER BY id", D
    )
    assert from_struct.tobytes() == from_text.tobytes()
    assert from_json.tobytes() == from_text.tobytes()
    assert from_text.tobytes() == enc.encode_batch(texts).tobytes()
    python = enc.encode(
        {
            "name": "red shoe",
            "price": 39.5,
            "tags": ["a", "b"],
            "dims": {"w": 1, "h": 2},
            "ok": True,
            "note": None,
        }
    )
    assert from_struct[0].tobytes() == python.tobytes()


def test_vsa_encode_of_a_json_column_equals_the_varchar(con) -> None:
    texts = ['{"b": [1, 2], "a": {"c": null}}', '["x", {"y": 1.5}]', '"plain"']
    load_docs(con, "docs", texts)
    rows(con, "CREATE TABLE j AS SELECT id, doc::JSON AS doc FROM docs")
    assert one(con, "SELECT typeof(doc) FROM j LIMIT 1") == "JSON"
    from_json = fetch_vectors(con, "SELECT id, vsa_encode(doc) FROM j ORDER BY id", D)
    from_text = fetch_vectors(con, "SELECT id, vsa_encode(doc) FROM docs ORDER BY id", D)
    assert from_json.tobytes() == from_text.tobytes()


# -- many rows, many threads ----------------------------------------------------------


@pytest.fixture(scope="module", params=[("perm", D), ("haar", 64)], ids=["perm", "haar"])
def big_table(request):
    """6,000 varied documents (three DuckDB chunks of 2,048) and their batch encoding."""
    binding, dim = request.param
    con = duckdb.connect()
    enc = duckdb_vsa.register(con, dim=dim, binding=binding)
    docs = varied_documents(6000, seed=11)
    load_docs(con, "big", docs)
    yield con, enc, docs
    con.close()


def test_large_table_encoded_in_sql_equals_encode_batch(big_table) -> None:
    con, enc, docs = big_table
    assert len(docs) >= 5000
    expected = enc.encode_batch(docs)
    # The registered encoder is shared by the process and its caches are warm: a cold one agrees.
    expected_fresh = duckdb_vsa.Encoder(dim=enc.dim, binding=enc.binding).encode_batch(docs)
    assert expected_fresh.tobytes() == expected.tobytes()
    got = fetch_vectors(con, "SELECT id, vsa_encode(doc) FROM big ORDER BY id", enc.dim)
    mismatched = np.flatnonzero((got != expected).any(axis=1))
    assert not len(mismatched), f"rows differing from encode_batch: {mismatched[:20].tolist()}"


def test_thread_count_does_not_change_a_bit(big_table) -> None:
    con, enc, _ = big_table
    results = {}
    for threads in (1, 4):
        rows(con, f"SET threads = {threads}")
        assert one(con, "SELECT current_setting('threads')") == threads
        results[threads] = fetch_vectors(
            con, "SELECT id, vsa_encode(doc) FROM big ORDER BY id", enc.dim
        )
    assert results[1].tobytes() == results[4].tobytes()


def test_stored_vectors_survive_a_round_trip_through_a_table(big_table) -> None:
    con, enc, docs = big_table
    rows(con, "SET threads = 4")
    rows(con, "CREATE OR REPLACE TABLE big_vec AS SELECT id, vsa_encode(doc) AS vec FROM big")
    assert one(con, "SELECT count(*) FROM big_vec WHERE vec IS NOT NULL") == len(docs)
    got = fetch_vectors(con, "SELECT id, vec FROM big_vec ORDER BY id", enc.dim)
    assert got.tobytes() == enc.encode_batch(docs).tobytes()


# -- vsa_cosine and vsa_similarity --------------------------------------------------


def test_vsa_cosine_equals_numpy(con) -> None:
    enc = duckdb_vsa.registered_encoder(con)
    load_docs(con, "docs", DOCS)
    got = rows(
        con,
        """
        SELECT a.id, b.id, vsa_cosine(vsa_encode(a.doc), vsa_encode(b.doc))
        FROM docs a, docs b ORDER BY a.id, b.id
        """,
    )
    vectors = enc.encode_batch(DOCS).astype(np.float64)
    for i, j, score in got:
        assert abs(score - float(vectors[i] @ vectors[j])) < 1e-5, (i, j)
    assert len(got) == len(DOCS) ** 2


def test_vsa_cosine_with_null_is_null(con) -> None:
    assert one(con, "SELECT vsa_cosine(NULL, vsa_encode('1'))") is None
    assert one(con, "SELECT vsa_cosine(vsa_encode('1'), NULL)") is None
    assert one(con, "SELECT vsa_cosine(NULL, NULL)") is None
    assert one(con, "SELECT vsa_cosine(vsa_encode(NULL::VARCHAR), vsa_encode('1'))") is None


def test_vsa_cosine_of_unnormalised_vectors_is_the_cosine(con) -> None:
    a = np.arange(1, D + 1, dtype=np.float32)
    b = np.cos(np.arange(D, dtype=np.float32))
    expected = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    got = one(con, f"SELECT vsa_cosine(?::FLOAT[{D}], ?::FLOAT[{D}])", [a.tolist(), b.tolist()])
    assert abs(got - expected) < 1e-5


def test_vsa_similarity_is_cosine_of_encodings(con) -> None:
    enc = duckdb_vsa.registered_encoder(con)
    a, b = '{"name": "red shoe", "size": 42}', '{"size": 42, "name": "red shoes"}'
    got = one(con, "SELECT vsa_similarity(?, ?)", [a, b])
    expected = float(enc.encode(a).astype(np.float64) @ enc.encode(b).astype(np.float64))
    assert abs(got - expected) < 1e-5
    assert 0.3 < got < 0.9999
    assert abs(one(con, "SELECT vsa_similarity(?, ?)", [a, a]) - 1.0) < 1e-5
    assert one(con, "SELECT vsa_similarity(?, NULL)", [a]) is None
    assert one(con, "SELECT vsa_similarity(NULL, ?)", [a]) is None


# -- vsa_search and vsa_topk_join against numpy --------------------------------------


def build_vector_table(
    con: duckdb.DuckDBPyConnection, name: str, n: int, seed: int, null_every: int = 0
) -> np.ndarray:
    """``name(id, doc, vec)``; every ``null_every``-th doc is NULL; a few exact duplicates.

    Returns the float32 vectors with NaN rows for NULL.
    """
    docs: list[str | None] = list(varied_documents(n, seed=seed))
    # Exact duplicates (ties): rows 3 and 9 copy row 0, row 10 copies row 5.
    for copy, source in ((3, 0), (9, 0), (10, 5)):
        if copy < n:
            docs[copy] = docs[source]
    if null_every:
        for i in range(1, n, null_every):
            docs[i] = None
    load_docs(con, f"{name}_src", docs)
    rows(con, f"CREATE TABLE {name} AS SELECT id, doc, vsa_encode(doc) AS vec FROM {name}_src")
    return fetch_vectors(con, f"SELECT id, vec FROM {name} ORDER BY id", D)


def reference_topk(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    """Ids of the k best non-NULL rows, best first, ties to the earlier row."""
    valid = np.flatnonzero(~np.isnan(vectors[:, 0]))
    scores = vectors[valid].astype(np.float64) @ query.astype(np.float64)
    order = sorted(range(len(valid)), key=lambda i: (-scores[i], valid[i]))
    return [int(valid[i]) for i in order[:k]]


def assert_same_topk(
    got_ids: list[int],
    got_scores: list[float],
    vectors: np.ndarray,
    query: np.ndarray,
    k: int,
) -> None:
    expected = reference_topk(vectors, query, k)
    assert len(got_ids) == len(expected)
    exact = vectors.astype(np.float64) @ query.astype(np.float64)
    for position, (g, e) in enumerate(zip(got_ids, expected)):
        if g != e:
            # Allowed only for distinct vectors whose scores differ by float rounding;
            # identical vectors tie exactly and must go to the earlier row.
            assert not np.array_equal(vectors[g], vectors[e]), (position, got_ids, expected)
            assert abs(exact[g] - exact[e]) < 1e-6, (position, got_ids, expected)
    np.testing.assert_allclose(got_scores, exact[got_ids], rtol=0, atol=1e-5)


def test_vsa_search_equals_numpy_brute_force(con) -> None:
    vectors = build_vector_table(con, "items", 300, seed=5, null_every=17)
    assert np.isnan(vectors[:, 0]).sum() > 10
    enc = duckdb_vsa.registered_encoder(con)
    queries = [
        ("row 0", vectors[0]),
        ("row 5", vectors[5]),
        ("fresh doc", enc.encode({"name": "red running shoe", "price": 40})),
        ("scalar", enc.encode("7")),
    ]
    for label, query in queries:
        for k in (1, 3, 10, 500):
            got = rows(
                con,
                f"SELECT id, score FROM vsa_search('items', 'vec', ?::FLOAT[{D}], k := {k})",
                [query.tolist()],
            )
            ids = [r[0] for r in got]
            assert not any(np.isnan(vectors[i, 0]) for i in ids), (label, k)
            assert_same_topk(ids, [r[1] for r in got], vectors, query, k)
    # k defaults to 10.
    default = rows(con, "SELECT id FROM vsa_search('items', 'vec', vsa_encode('7'))")
    assert len(default) == 10


def test_vsa_search_returns_the_whole_row_and_score(con) -> None:
    build_vector_table(con, "items", 50, seed=1)
    cursor = con.execute("SELECT * FROM vsa_search('items', 'vec', vsa_encode('1'), k := 2)")
    names = [d[0] for d in cursor.description]
    cursor.fetchall()
    # score first, so that it names the similarity even if the table has a score column.
    assert names == ["score", "id", "doc", "vec"]


def test_vsa_search_breaks_ties_by_earlier_row(con) -> None:
    # Rows 0, 3 and 9 hold the same vector: the query is exactly that vector.
    vectors = build_vector_table(con, "items", 40, seed=2)
    assert np.array_equal(vectors[0], vectors[3]) and np.array_equal(vectors[0], vectors[9])
    got = rows(
        con,
        "SELECT id FROM vsa_search('items', 'vec', (SELECT vec FROM items WHERE id = 9), k := 2)",
    )
    assert [r[0] for r in got] == [0, 3]
    got = rows(
        con,
        "SELECT id FROM vsa_search('items', 'vec', (SELECT vec FROM items WHERE id = 0), k := 3)",
    )
    assert [r[0] for r in got] == [0, 3, 9]


def test_vsa_topk_join_equals_numpy_brute_force(con) -> None:
    right = build_vector_table(con, "products", 300, seed=8, null_every=23)
    left = build_vector_table(con, "orders", 40, seed=9, null_every=7)
    k = 5
    got = rows(
        con,
        "SELECT l.id, r.id, score, rank "
        f"FROM vsa_topk_join('orders', 'vec', 'products', 'vec', k := {k})",
    )
    by_left: dict[int, list[tuple[int, float, int]]] = {}
    for lid, rid, score, rank in got:
        by_left.setdefault(lid, []).append((rid, score, rank))
    valid_left = [i for i in range(len(left)) if not np.isnan(left[i, 0])]
    assert sorted(by_left) == valid_left  # NULL left rows give nothing
    for lid, hits in by_left.items():
        hits.sort(key=lambda h: h[2])
        assert [h[2] for h in hits] == list(range(1, k + 1))
        rids = [h[0] for h in hits]
        assert not any(np.isnan(right[r, 0]) for r in rids)
        assert_same_topk(rids, [h[1] for h in hits], right, left[lid], k)


def test_vsa_topk_join_columns_and_row_structs(con) -> None:
    build_vector_table(con, "a", 6, seed=3)
    build_vector_table(con, "b", 12, seed=4)
    cursor = con.execute("SELECT * FROM vsa_topk_join('a', 'vec', 'b', 'vec', k := 2)")
    names = [d[0] for d in cursor.description]
    result = cursor.fetchall()
    assert names == ["l", "r", "score", "rank"]
    assert len(result) == 6 * 2
    docs_a = dict(rows(con, "SELECT id, doc FROM a"))
    docs_b = dict(rows(con, "SELECT id, doc FROM b"))
    for left_row, right_row, _, _ in result:
        assert set(left_row) == {"id", "doc", "vec"}
        assert set(right_row) == {"id", "doc", "vec"}
        assert left_row["doc"] == docs_a[left_row["id"]]
        assert right_row["doc"] == docs_b[right_row["id"]]
    # Default k is 5.
    assert one(con, "SELECT count(*) FROM vsa_topk_join('a', 'vec', 'b', 'vec')") == 6 * 5


def test_vsa_topk_join_breaks_ties_by_earlier_right_row(con) -> None:
    build_vector_table(con, "right_side", 40, seed=2)
    rows(con, "CREATE TABLE left_side AS SELECT id, vec FROM right_side WHERE id IN (0, 5)")
    got = rows(
        con,
        "SELECT l.id, r.id, rank "
        "FROM vsa_topk_join('left_side', 'vec', 'right_side', 'vec', k := 2) ORDER BY l.id, rank",
    )
    assert got == [(0, 0, 1), (0, 3, 2), (5, 5, 1), (5, 10, 2)]


# -- vsa_near_duplicates -------------------------------------------------------------


def test_vsa_near_duplicates_finds_planted_pairs_once(con) -> None:
    rng = np.random.default_rng(4)
    base = [json.loads(d) for d in varied_documents(200, seed=21)]
    base = [d for d in base if isinstance(d, dict) and "price" in d][:120]
    docs = [json.dumps(d) for d in base]
    planted = {}
    for source in rng.choice(len(base), size=10, replace=False).tolist():
        near = dict(base[source], price=round(base[source]["price"] * 1.01, 2))
        planted[len(docs)] = source
        docs.append(json.dumps(near))
    load_docs(con, "catalogue_src", docs)
    rows(con, "CREATE TABLE catalogue AS SELECT id, doc, vsa_encode(doc) AS vec FROM catalogue_src")
    threshold = 0.95
    got = rows(
        con,
        f"SELECT l.id, r.id, score FROM vsa_near_duplicates('catalogue', 'vec', "
        f"threshold := {threshold}, k := 50)",
    )
    pairs = [(a, b) for a, b, _ in got]
    assert len(pairs) == len(set(pairs)), "a pair is reported twice"
    assert not any(a == b for a, b in pairs), "a row is paired with itself"
    assert not any((b, a) in set(pairs) for a, b in pairs), "a pair is reported both ways"
    assert all(a < b for a, b in pairs), "l must be the earlier row"
    for copy, source in planted.items():
        assert (source, copy) in set(pairs), f"planted duplicate {copy} of {source} not found"
    assert [s for _, _, s in got] == sorted((s for _, _, s in got), reverse=True)

    vectors = fetch_vectors(con, "SELECT id, vec FROM catalogue ORDER BY id", D).astype(np.float64)
    scores = vectors @ vectors.T
    reference = {
        (i, j)
        for i in range(len(docs))
        for j in range(i + 1, len(docs))
        if scores[i, j] >= threshold + 1e-5
    }
    borderline = {
        (i, j)
        for i in range(len(docs))
        for j in range(i + 1, len(docs))
        if abs(scores[i, j] - threshold) < 1e-5
    }
    assert reference <= set(pairs)
    assert set(pairs) - reference <= borderline
    for a, b, score in got:
        assert abs(score - scores[a, b]) < 1e-5


def test_vsa_near_duplicates_reports_exact_copies_and_skips_nulls(con) -> None:
    docs = ['{"a": 1}', '{"b": "x"}', None, '{"a": 1}', None, '{"b": "x"}', '{"c": [1, 2]}']
    load_docs(con, "dups_src", docs)
    rows(con, "CREATE TABLE dups AS SELECT id, doc, vsa_encode(doc) AS vec FROM dups_src")
    cursor = con.execute("SELECT * FROM vsa_near_duplicates('dups', 'vec')")
    names = [d[0] for d in cursor.description]
    got = cursor.fetchall()
    assert names == ["l", "r", "score"]
    pairs = sorted((left["id"], right["id"]) for left, right, _ in got)
    assert pairs == [(0, 3), (1, 5)]
    assert all(abs(score - 1.0) < 1e-5 for _, _, score in got)


@pytest.mark.parametrize("threshold", ["1.5", "-1.01", "'nan'::DOUBLE", "2::INTEGER"])
def test_a_threshold_that_is_not_a_cosine_is_refused(con, threshold) -> None:
    load_docs(con, "thr_src", ['{"a": 1}', '{"a": 1}', '{"b": 2}'])
    rows(con, "CREATE TABLE thr AS SELECT id, doc, vsa_encode(doc) AS vec FROM thr_src")
    for sql in (
        f"SELECT * FROM vsa_near_duplicates('thr', 'vec', threshold := {threshold})",
        f"SELECT * FROM vsa_near_duplicates('thr', 'vec', {threshold})",
    ):
        with pytest.raises(duckdb.InvalidInputException) as err:
            rows(con, sql)
        assert "vsa_near_duplicates: threshold is a cosine between -1 and 1, got" in str(err.value)
    # The bounds themselves are cosines.
    assert len(rows(con, "SELECT * FROM vsa_near_duplicates('thr', 'vec', threshold := 1)")) <= 1
    assert len(rows(con, "SELECT * FROM vsa_near_duplicates('thr', 'vec', threshold := -1)")) == 3


def test_defaulted_parameters_may_be_passed_by_position(con) -> None:
    load_docs(con, "pos_src", ['{"a": 1}', '{"a": 1}', '{"a": 2}', '{"b": 3}'])
    rows(con, "CREATE TABLE pos AS SELECT id, doc, vsa_encode(doc) AS vec FROM pos_src")
    query = """vsa_encode('{"a": 1}')"""
    assert rows(con, f"SELECT id FROM vsa_search('pos', 'vec', {query}, 3)") == rows(
        con, f"SELECT id FROM vsa_search('pos', 'vec', {query}, k := 3)"
    )
    assert len(rows(con, f"SELECT id FROM vsa_search('pos', 'vec', {query}, 3)")) == 3
    by_position = "SELECT l.id, r.id FROM vsa_near_duplicates('pos', 'vec', 0.5, 1)"
    by_name = "SELECT l.id, r.id FROM vsa_near_duplicates('pos', 'vec', threshold := 0.5, k := 1)"
    assert rows(con, by_position) == rows(con, by_name)
    join = (
        "SELECT l.id, r.id, rank FROM vsa_topk_join('pos', 'vec', 'pos', 'vec', {}) ORDER BY 1, 3"
    )
    assert rows(con, join.format("2")) == rows(con, join.format("k := 2"))


def test_a_number_literal_encodes_as_the_json_number() -> None:
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=64)
    # A bare integer literal once matched both of the function's signatures, and
    # DuckDB's error named the internal function instead of vsa_encode.
    assert one(con, "SELECT vsa_encode(42) = vsa_encode('42')") is True
    assert one(con, "SELECT vsa_encode(42) = vsa_encode(42::BIGINT)") is True
    assert one(con, "SELECT vsa_encode(-7) = vsa_encode('-7')") is True
    null_con = duckdb.connect()
    duckdb_vsa.register(null_con, dim=64, on_error="null")
    assert one(null_con, "SELECT vsa_encode(42) = vsa_encode('42')") is True
    for sql in ("SELECT vsa_encode()", "SELECT vsa_encode(1, 2)"):
        with pytest.raises(duckdb.Error) as err:
            rows(con, sql)
        assert "vsa_encode" in str(err.value) and "__vsa_encode" not in str(err.value)


# -- register() -----------------------------------------------------------------------


def test_register_twice_with_the_same_configuration_returns_the_same_encoder() -> None:
    con = duckdb.connect()
    first = duckdb_vsa.register(con, dim=128, seed=3)
    second = duckdb_vsa.register(con, dim=128, seed=3)
    assert second is first
    assert duckdb_vsa.registered_encoder(con) is first
    assert one(con, "SELECT vsa_info().seed") == 3
    assert len(one(con, "SELECT vsa_encode('[1, 2]')")) == 128
    con.close()


@pytest.mark.parametrize(
    ("other", "fragments"),
    [
        ({"dim": 64}, ("dim=128", "dim=64")),
        ({"dim": 128, "seed": 9}, ("seed=0", "seed=9")),
        ({"dim": 128, "binding": "haar"}, ("'perm'", "'haar'")),
        ({"dim": 128, "alpha": 0.6}, ()),
    ],
)
def test_register_with_another_configuration_raises_naming_both(other, fragments) -> None:
    con = duckdb.connect()
    enc = duckdb_vsa.register(con, dim=128)
    with pytest.raises(ValueError) as excinfo:
        duckdb_vsa.register(con, **other)
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, message
    new_fingerprint = duckdb_vsa.Encoder(**other).fingerprint
    assert enc.fingerprint in message and new_fingerprint in message, message
    # The original registration is untouched.
    assert one(con, "SELECT vsa_info()") == enc.info()
    assert len(one(con, "SELECT vsa_encode('1')")) == 128
    con.close()


def test_register_with_replace_switches_the_configuration() -> None:
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=128)
    rows(con, "CREATE TABLE old AS SELECT vsa_encode('{\"a\": 1}') AS vec")
    new = duckdb_vsa.register(con, dim=64, seed=5, replace=True)
    assert (new.dim, new.seed) == (64, 5)
    assert one(con, "SELECT vsa_info()") == new.info()
    vector = one(con, "SELECT vsa_encode('{\"a\": 1}')")
    assert np.asarray(vector, dtype=np.float32).tobytes() == new.encode('{"a": 1}').tobytes()
    rows(con, "CREATE TABLE fresh AS SELECT vsa_encode('{\"a\": 1}') AS vec")
    got = rows(
        con, "SELECT score FROM vsa_search('fresh', 'vec', vsa_encode('{\"a\": 1}'), k := 1)"
    )
    assert abs(got[0][0] - 1.0) < 1e-5
    # Vectors of the replaced configuration are refused with a clear message.
    with pytest.raises(duckdb.Error, match="128"):
        rows(con, "SELECT * FROM vsa_search('old', 'vec', vsa_encode('1'))")
    assert duckdb_vsa.registered_encoder(con) is new
    con.close()


def test_register_on_a_cursor() -> None:
    con = duckdb.connect()
    enc = duckdb_vsa.register(con, dim=D)
    cursor = con.cursor()
    # Every SQL object is a TEMP macro: a cursor has none until it is registered.
    with pytest.raises(duckdb.CatalogException):
        rows(cursor, "SELECT vsa_encode('1')")
    with pytest.raises(duckdb.CatalogException):
        rows(cursor, "SELECT vsa_cosine([1, 2], [1, 2])")
    assert duckdb_vsa.register(cursor, dim=D) is enc
    build_vector_table(cursor, "items", 30, seed=6)
    got = rows(cursor, "SELECT id FROM vsa_search('items', 'vec', vsa_encode('5'), k := 3)")
    assert len(got) == 3
    assert one(cursor, "SELECT vsa_info()") == enc.info()
    # The table is shared; the original connection still has its macros.
    assert len(rows(con, "SELECT * FROM vsa_search('items', 'vec', vsa_encode('5'), k := 3)")) == 3
    cursor.close()
    assert one(con, "SELECT vsa_similarity('1', '1')") == pytest.approx(1.0, abs=1e-5)
    con.close()


def test_register_on_a_cursor_first() -> None:
    con = duckdb.connect()
    cursor = con.cursor()
    enc = duckdb_vsa.register(cursor, dim=D)
    assert one(cursor, "SELECT vsa_info()") == enc.info()
    assert duckdb_vsa.register(con, dim=D) is enc
    assert one(con, "SELECT vsa_info()") == enc.info()
    cursor.close()
    assert len(one(con, "SELECT vsa_encode('[1]')")) == D
    con.close()


def test_register_inside_an_open_transaction_then_commit() -> None:
    con = duckdb.connect()
    rows(con, "CREATE TABLE t(doc VARCHAR)")
    rows(con, "BEGIN TRANSACTION")
    rows(con, "INSERT INTO t VALUES ('{\"a\": 1}'), ('{\"a\": 2}')")
    enc = duckdb_vsa.register(con, dim=D)
    got = rows(con, "SELECT vsa_similarity(doc, '{\"a\": 1}') FROM t ORDER BY doc")
    assert got[0][0] == pytest.approx(1.0, abs=1e-5)
    rows(con, "COMMIT")
    assert one(con, "SELECT vsa_info()") == enc.info()
    rows(con, "CREATE TABLE v AS SELECT doc, vsa_encode(doc) AS vec FROM t")
    assert len(rows(con, "SELECT * FROM vsa_near_duplicates('v', 'vec', threshold := 0.0)")) == 1
    con.close()


def test_register_inside_a_transaction_that_is_rolled_back() -> None:
    con = duckdb.connect()
    rows(con, "BEGIN TRANSACTION")
    enc = duckdb_vsa.register(con, dim=D)
    assert len(one(con, "SELECT vsa_encode('1')")) == D
    rows(con, "ROLLBACK")
    # Registering again restores whatever the rollback took away.
    assert duckdb_vsa.register(con, dim=D) is enc
    assert one(con, "SELECT vsa_info()") == enc.info()
    assert one(con, "SELECT vsa_similarity('[1, 2]', '[1, 2]')") == pytest.approx(1.0, abs=1e-5)
    con.close()


def test_register_while_a_result_is_streaming() -> None:
    con = duckdb.connect()
    pending = con.execute("SELECT * FROM range(100000)")
    enc = duckdb_vsa.register(con, dim=D)
    pending.fetchall()
    assert one(con, "SELECT vsa_info()") == enc.info()
    con.close()


def test_connections_to_one_file_database_share_the_registration(tmp_path) -> None:
    path = str(tmp_path / "shared.duckdb")
    first = duckdb.connect(path)
    enc = duckdb_vsa.register(first, dim=64)
    second = duckdb.connect(path)
    # The encoder function lives in the database instance; the macros are per connection.
    with pytest.raises(duckdb.CatalogException):
        rows(second, "SELECT vsa_info()")
    assert duckdb_vsa.register(second, dim=64) is enc
    assert len(one(second, "SELECT vsa_encode('1')")) == 64
    with pytest.raises(ValueError, match="dim=64"):
        duckdb_vsa.register(second, dim=32)
    assert one(second, "SELECT vsa_info()") == enc.info()
    second.close()
    first.close()


def test_udf_outlives_the_connection_that_registered_it(tmp_path) -> None:
    """Run in a child process: calling a freed UDF would crash rather than fail."""
    package_root = Path(duckdb_vsa.__file__).resolve().parent.parent
    script = textwrap.dedent(
        """
        import gc, sys
        sys.path.insert(0, sys.argv[1])
        import duckdb, duckdb_vsa
        first = duckdb.connect(sys.argv[2])
        duckdb_vsa.register(first, dim=64)
        second = duckdb.connect(sys.argv[2])
        duckdb_vsa.register(second, dim=64)
        first.close()
        del first
        gc.collect()
        print(second.execute(
            "SELECT count(*), min(len(vsa_encode(i::VARCHAR))) FROM range(5000) t(i)"
        ).fetchall())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(package_root), str(tmp_path / "db.duckdb")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[(5000, 64)]"


def test_replace_after_the_registering_cursor_was_closed() -> None:
    con = duckdb.connect()
    cursor = con.cursor()
    duckdb_vsa.register(cursor, dim=64)
    cursor.close()
    new = duckdb_vsa.register(con, dim=32, replace=True)
    assert one(con, "SELECT vsa_info()") == new.info()
    assert len(one(con, "SELECT vsa_encode('1')")) == 32
    con.close()


def test_replace_after_the_registering_connection_was_closed(tmp_path) -> None:
    path = str(tmp_path / "replace.duckdb")
    first = duckdb.connect(path)
    duckdb_vsa.register(first, dim=64)
    second = duckdb.connect(path)
    first.close()
    new = duckdb_vsa.register(second, dim=32, replace=True)
    assert one(second, "SELECT vsa_info()") == new.info()
    assert len(one(second, "SELECT vsa_encode('1')")) == 32
    second.close()


# -- user columns that look like macro parameters ---------------------------------------


@pytest.fixture
def tricky(con):
    """A table whose columns are named like the macros' parameters and outputs."""
    rows(
        con,
        """
        CREATE TABLE tricky AS
        SELECT i AS id, 100 + i AS k, 'q' || i AS query, -1.0 * i AS threshold,
               i % 3 AS tbl, 'x' AS vec_col, i * 10 AS rank, i AS l, i AS r,
               vsa_encode(json_object('n', i % 10, 'name', 'item ' || (i % 10))) AS vec
        FROM range(30) t(i)
        """,
    )
    vectors = fetch_vectors(con, "SELECT id, vec FROM tricky ORDER BY id", D)
    return con, vectors


def test_columns_named_like_parameters_do_not_break_vsa_search(tricky) -> None:
    con, vectors = tricky
    got = rows(
        con, "SELECT id, k FROM vsa_search('tricky', 'vec', vsa_encode('{\"n\": 4}'), k := 3)"
    )
    assert len(got) == 3
    query = np.asarray(one(con, "SELECT vsa_encode('{\"n\": 4}')"), dtype=np.float32)
    assert [r[0] for r in got] == reference_topk(vectors, query, 3)
    assert [r[1] for r in got] == [100 + r[0] for r in got]


def test_vsa_search_score_column_is_the_similarity_even_if_the_table_has_one(con) -> None:
    rows(
        con,
        """
        CREATE TABLE reviews AS
        SELECT i AS id, 1000 + i AS score, vsa_encode(json_object('n', i)) AS vec
        FROM range(20) t(i)
        """,
    )
    got = rows(
        con, "SELECT id, score FROM vsa_search('reviews', 'vec', vsa_encode('{\"n\": 7}'), k := 3)"
    )
    assert got[0][0] == 7
    # DESIGN §1: vsa_search returns the rows "with score" -- the similarity.
    assert got[0][1] == pytest.approx(1.0, abs=1e-5), got


def test_columns_named_like_parameters_do_not_break_vsa_topk_join(tricky) -> None:
    con, vectors = tricky
    got = rows(
        con,
        "SELECT l.id, r.id, score, rank, l.k, r.rank "
        "FROM vsa_topk_join('tricky', 'vec', 'tricky', 'vec', k := 2)",
    )
    assert len(got) == 30 * 2
    for lid, rid, score, rank, lk, rrank in got:
        assert lk == 100 + lid
        assert rrank == rid * 10
        assert rank in (1, 2)
        assert score == pytest.approx(
            float(vectors[lid].astype(np.float64) @ vectors[rid]), abs=1e-5
        )
    firsts = {lid: rid for lid, rid, _, rank, _, _ in got if rank == 1}
    # Ids 0..9 are unique; 10..29 repeat them, so the first of each copy group wins.
    assert all(firsts[i] == i % 10 for i in range(30))


def test_columns_named_like_parameters_do_not_break_vsa_near_duplicates(tricky) -> None:
    con, _ = tricky
    got = rows(
        con,
        "SELECT l.id, r.id, score, l.threshold "
        "FROM vsa_near_duplicates('tricky', 'vec', threshold := 0.99, k := 5)",
    )
    pairs = {(a, b) for a, b, _, _ in got}
    # Rows i, i + 10 and i + 20 are identical documents.
    expected = {(i, i + 10) for i in range(10)} | {(i, i + 20) for i in range(10)}
    expected |= {(i + 10, i + 20) for i in range(10)}
    assert pairs == expected
    assert all(t == -1.0 * a for a, _, _, t in got)
