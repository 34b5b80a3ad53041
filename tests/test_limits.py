"""The limits of one document: big documents in bounded memory, refused ones as row errors."""

from __future__ import annotations

import json
import textwrap

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from conftest import run_python

import duckdb_vsa
from duckdb_vsa.limits import MAX_LEAVES

# Documents beyond the term engine's limits (long arrays, many keys, nested arrays whose
# chain sets multiply, deep nesting under haar), for the sliced evaluation.
LARGE_DOCUMENTS = [
    {"values": list(range(3000))},
    [{"a": i, "b": [i, str(i)], "c": {}} for i in range(2500)],
    {f"k{i}": i for i in range(3000)},
    {"x": [[1, [2, [3, [4, [5, [6, [7, [8]]]]]]]]] * 40},
    {"deep": json.loads("[" * 60 + "1" + "]" * 60), "wide": list(range(1500))},
    {"e": {}, "f": [], "g": [{}, [], {"h": []}, 1.5, None, True, "s"] * 400},
    [list(range(1100)), {"y": list(range(1030))}],
]


@pytest.mark.parametrize(
    ("binding", "dim"), [("perm", 256), ("haar", 64)], ids=["perm", "haar"], scope="module"
)
@pytest.mark.parametrize("index", range(len(LARGE_DOCUMENTS)))
def test_large_documents_agree_with_the_tree_evaluator(binding, dim, index) -> None:
    enc = duckdb_vsa.Encoder(dim=dim, binding=binding)
    doc = LARGE_DOCUMENTS[index]
    vector = enc.encode(doc)
    np.testing.assert_allclose(vector, enc.encode_tree(doc), rtol=0, atol=2e-6)
    assert enc.encode_batch([{"a": 1}, doc, [1]])[1].tobytes() == vector.tobytes()


def test_large_documents_under_field_hints_agree_with_the_tree_evaluator() -> None:
    enc = duckdb_vsa.Encoder(
        dim=128,
        fields={
            "$.items[*].price": {"kind": "number", "scale": 5, "weight": 2},
            "$.items[*].sku": "category",
            "$.items[3]": "ignore",
            "$.notes": "ignore",
        },
    )
    doc = {
        "items": [{"sku": f"S{i}", "price": i / 3, "tags": ["a", i]} for i in range(1500)],
        "notes": "dropped",
        "meta": {f"m{i}": i for i in range(40)},
    }
    np.testing.assert_allclose(enc.encode(doc), enc.encode_tree(doc), rtol=0, atol=2e-6)


def test_a_million_element_array_in_bounded_memory() -> None:
    script = textwrap.dedent(
        """
        import os, resource, duckdb, duckdb_vsa
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        duckdb_vsa.register(con, dim=256)
        doc = con.execute(
            "SELECT '[' || string_agg(i::VARCHAR, ',') || ']' FROM range(1000000) t(i)"
        ).fetchall()[0][0]
        con.execute("CREATE TABLE d AS SELECT ? AS doc", [doc])
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        (vector,) = con.execute("SELECT vsa_encode(doc) FROM d").fetchall()[0]
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(len(vector), round(sum(x * x for x in vector), 4), int(grown))
        """
    )
    result = run_python("-c", script)
    assert result.returncode == 0, result.stderr
    dim, norm, grown_mib = result.stdout.splitlines()[-1].split()
    assert (int(dim), float(norm)) == (256, 1.0)
    # Holding every leaf vector at once would take 1,000,000 x 256 x 4 bytes (977 MiB).
    assert int(grown_mib) < 256


def test_too_many_leaves_is_a_row_error_and_null_on_request() -> None:
    enc = duckdb_vsa.Encoder(dim=32)
    big = "[" + ",".join(["1"] * (MAX_LEAVES + 1)) + "]"
    texts = pa.array(['{"a": 1}', big, "[1, 2]"])
    with pytest.raises(duckdb_vsa.DocumentError, match="more than 2,097,152 leaves") as caught:
        enc.encode_arrow(texts)
    assert caught.value.row == 1
    vectors = enc.encode_arrow(texts, on_error="null").to_pylist()
    assert vectors[1] is None
    np.testing.assert_array_equal(vectors[0], enc.encode('{"a": 1}'))
    np.testing.assert_array_equal(vectors[2], enc.encode("[1, 2]"))


def test_haar_allows_fewer_leaves_at_large_dimensions() -> None:
    haar = duckdb_vsa.Encoder(dim=1024, binding="haar")
    assert haar.roles.max_leaves == 16_384
    assert duckdb_vsa.Encoder(dim=64, binding="haar").roles.max_leaves == MAX_LEAVES
    with pytest.raises(duckdb_vsa.DocumentError, match="more than 16,384 leaves"):
        haar.encode({"v": list(range(20_000))})


def test_too_many_leaves_through_sql_with_on_error_null() -> None:
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=32, on_error="null")
    big = "[" + ",".join(["0"] * (MAX_LEAVES + 5)) + "]"
    con.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES (1, '[1]'), (2, ?), (3, '{}')) v(i, d)", [big]
    )
    rows = con.execute("SELECT i, vsa_encode(d) IS NULL FROM t ORDER BY i").fetchall()
    assert rows == [(1, False), (2, True), (3, False)]


def test_invalid_utf8_is_one_bad_row_not_a_failed_batch() -> None:
    raw = pa.array([b'{"a": 1}', b'{"a": "\xff"}', None, b"[2]"], pa.binary())
    texts = raw.cast(pa.string(), safe=False)
    enc = duckdb_vsa.Encoder(dim=32)
    assert enc.encode_arrow(texts, on_error="null").is_null().to_pylist() == [
        False,
        True,
        True,
        False,
    ]
    with pytest.raises(duckdb_vsa.DocumentError, match="not valid UTF-8") as caught:
        enc.encode_arrow(texts)
    assert caught.value.row == 1
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=32, on_error="null")
    table = pa.table({"i": [1, 2, 3, 4], "doc": texts})
    con.register("docs", table)
    assert con.execute("SELECT i, vsa_encode(doc) IS NULL FROM docs ORDER BY i").fetchall() == [
        (1, False),
        (2, True),
        (3, True),
        (4, False),
    ]


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("$.x[" + "9" * 1000 + "]", "beyond the longest array"),
        ("$.x[" + "9" * 5000 + "]", "beyond the longest array"),
        ("$.x[2097152]", "beyond the longest array"),
        ("$.x[\u0663]", "Cannot read the JSON path"),
    ],
    ids=["1000 digits", "5000 digits", "limit", "arabic-indic digit"],
)
def test_probe_paths_with_huge_or_non_ascii_positions_are_clear_errors(path, problem) -> None:
    enc = duckdb_vsa.Encoder(dim=64)
    vector = enc.encode({"x": [1, 2, 3, 4]})
    with pytest.raises(duckdb_vsa.errors.InvalidArgumentError, match=problem):
        enc.probe(vector, path)
    enc.probe(vector, "$.x[3]")
