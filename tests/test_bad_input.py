"""Bad and extreme input, end to end through the Encoder and SQL: a defined unit vector
or a clear error, never a crash, a hang, a RecursionError or a wrong dimension.

The parser's own errors and limits are in tests/test_parse.py.
"""

from __future__ import annotations

import datetime
import decimal
import json
import textwrap

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from conftest import SMALL_DIM, assert_unit, fetch_vectors, nested, nested_value

import duckdb_vsa
from duckdb_vsa.errors import VsaError, WrongTypeError

D = SMALL_DIM


@pytest.fixture(scope="module")
def enc() -> duckdb_vsa.Encoder:
    return duckdb_vsa.Encoder(dim=D)


@pytest.fixture(params=[("perm", D), ("haar", 64)], ids=["perm", "haar"], scope="module")
def any_enc(request) -> duckdb_vsa.Encoder:
    binding, dim = request.param
    return duckdb_vsa.Encoder(dim=dim, binding=binding)


def sql_vector(con: duckdb.DuckDBPyConnection, text: str) -> np.ndarray:
    result = con.execute("SELECT vsa_encode(?)", [text]).fetchall()
    assert len(result) == 1 and result[0][0] is not None
    return np.asarray(result[0][0], dtype=np.float32)


# -- invalid and empty JSON ------------------------------------------------------------


def test_invalid_and_empty_json_in_sql_are_clear_errors(con) -> None:
    with pytest.raises(duckdb.Error) as excinfo:
        con.execute("""SELECT vsa_encode('{"name": "shoe", "price": }')""").fetchall()
    message = str(excinfo.value)
    assert "Invalid JSON" in message
    assert '{"name": "shoe", "price": }' in message
    with pytest.raises(duckdb.Error, match=r"(?i)empty"):
        con.execute("SELECT vsa_encode('')").fetchall()
    # The statement failed cleanly: the connection is still usable.
    assert con.execute("SELECT len(vsa_encode('1'))").fetchall() == [(D,)]


def test_one_invalid_row_among_valid_ones_fails_the_statement_with_its_text(con) -> None:
    con.execute("CREATE TABLE t AS SELECT i, i::VARCHAR AS doc FROM range(5000) r(i)").fetchall()
    con.execute("UPDATE t SET doc = '{broken row 4321' WHERE i = 4321").fetchall()
    with pytest.raises(duckdb.Error, match="broken row 4321"):
        con.execute("SELECT vsa_encode(doc) FROM t").fetchall()


def test_on_error_null_gives_null_for_bad_rows_and_vectors_for_good_ones() -> None:
    con = duckdb.connect()
    enc = duckdb_vsa.register(con, dim=D, on_error="null")
    docs = ['{"a": 1}', "{bad", "", '[1, "x"]', None, "   ", "nul", '"ok"']
    good = {0, 3, 7}
    con.execute("CREATE TABLE t(id INTEGER, doc VARCHAR)").fetchall()
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(docs)))
    nulls = con.execute("SELECT id, vsa_encode(doc) IS NULL FROM t ORDER BY id").fetchall()
    assert nulls == [(i, i not in good) for i in range(len(docs))]
    vectors = fetch_vectors(con, "SELECT id, vsa_encode(doc) FROM t ORDER BY id", D)
    expected = enc.encode_batch([docs[i] for i in sorted(good)])
    assert vectors[sorted(good)].tobytes() == expected.tobytes()
    # Macros over the NULLs skip them.
    con.execute("CREATE TABLE v AS SELECT id, vsa_encode(doc) AS vec FROM t").fetchall()
    hits = con.execute("SELECT id FROM vsa_search('v', 'vec', vsa_encode('{\"a\": 1}'))").fetchall()
    assert sorted(h[0] for h in hits) == sorted(good)
    con.close()


def test_on_error_null_applies_across_chunks() -> None:
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=D, on_error="null")
    con.execute(
        "CREATE TABLE t AS SELECT i, CASE WHEN i % 1000 = 7 THEN '{x' ELSE i::VARCHAR END AS doc "
        "FROM range(5000) r(i)"
    ).fetchall()
    counts = con.execute(
        "SELECT count(*) FILTER (vsa_encode(doc) IS NULL), count(*) FROM t"
    ).fetchall()
    assert counts == [(5, 5000)]
    con.close()


def test_encode_arrow_on_error_null(enc) -> None:
    array = pa.array(['{"a": 1}', "{bad", None, "", "[2]"])
    out = enc.encode_arrow(array, on_error="null")
    assert isinstance(out, pa.FixedSizeListArray)
    assert out.type.list_size == D
    assert out.is_null().to_pylist() == [False, True, True, True, False]
    assert (
        np.asarray(out[0].as_py(), dtype=np.float32).tobytes() == enc.encode('{"a": 1}').tobytes()
    )
    with pytest.raises(duckdb_vsa.DocumentError, match="bad"):
        enc.encode_arrow(array)
    with pytest.raises(ValueError, match="on_error"):
        enc.encode_arrow(array, on_error="skip")


def test_register_refuses_an_unknown_on_error() -> None:
    con = duckdb.connect()
    with pytest.raises(ValueError, match="on_error"):
        duckdb_vsa.register(con, dim=D, on_error="ignore")
    con.close()


# -- non-finite and huge numbers ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["NaN", "Infinity", "-Infinity", "[NaN, Infinity, -Infinity]", '{"x": NaN, "y": -Infinity}'],
)
def test_non_finite_numbers_give_unit_vectors(any_enc, text) -> None:
    assert_unit(any_enc.encode(text), any_enc.dim)


def test_non_finite_numbers_are_distinct_and_deterministic(enc) -> None:
    nan, inf, ninf = (enc.encode(t) for t in ("NaN", "Infinity", "-Infinity"))
    assert nan.tobytes() == enc.encode(float("nan")).tobytes()
    assert inf.tobytes() == enc.encode(float("inf")).tobytes()
    assert ninf.tobytes() == enc.encode(float("-inf")).tobytes()
    assert not np.array_equal(inf, ninf)
    assert not np.array_equal(nan, inf)
    assert enc.encode({"x": float("nan")}).tobytes() == enc.encode('{"x": NaN}').tobytes()


def test_non_finite_numbers_in_sql(con, enc) -> None:
    for text in ("NaN", "Infinity", "-Infinity", '{"x": [NaN, -Infinity]}'):
        vector = sql_vector(con, text)
        assert_unit(vector, D)
        assert vector.tobytes() == enc.encode(text).tobytes()


# Python refuses str() <-> int() beyond 4,300 digits, so the texts are built directly.
SEVENS_5000 = 7 * (10**5000 - 1) // 9


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (10**400, "1" + "0" * 400),
        (-(10**400), "-1" + "0" * 400),
        (SEVENS_5000, "7" * 5000),
        (-SEVENS_5000, "-" + "7" * 5000),
    ],
    ids=["1e400", "-1e400", "5000 digits", "-5000 digits"],
)
def test_integers_beyond_float_range(any_enc, value, text) -> None:
    vector = any_enc.encode(value)
    assert_unit(vector, any_enc.dim)
    # The same number as JSON text, alone and inside an object.
    assert any_enc.encode(text).tobytes() == vector.tobytes()
    in_object = any_enc.encode('{"n": ' + text + "}")
    assert_unit(in_object, any_enc.dim)
    assert in_object.tobytes() == any_enc.encode({"n": value}).tobytes()


def test_huge_integers_keep_their_sign(enc) -> None:
    assert not np.array_equal(enc.encode(10**400), enc.encode(-(10**400)))
    huge = enc.encode(10**400).astype(np.float64)
    assert huge @ enc.encode(1e300).astype(np.float64) > huge @ enc.encode(-1e300)


def test_huge_numbers_in_sql(con, enc) -> None:
    for text in (
        "1" + "0" * 400,
        "9" * 5000,
        "-" + "9" * 5000,
        "1e400",
        '{"n": ' + "1" * 5000 + "}",
    ):
        vector = sql_vector(con, text)
        assert_unit(vector, D)
        assert vector.tobytes() == enc.encode(text).tobytes()


# -- deep nesting ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["object", "array", "mixed"])
def test_nesting_1000_levels_as_text(any_enc, kind) -> None:
    vector = any_enc.encode(nested(1000, kind))
    assert_unit(vector, any_enc.dim)


@pytest.mark.parametrize("kind", ["object", "array", "mixed"])
def test_nesting_1000_levels_as_python_objects(any_enc, kind) -> None:
    doc = nested_value(1000, kind)
    vector = any_enc.encode(doc)
    assert_unit(vector, any_enc.dim)
    assert vector.tobytes() == any_enc.encode(nested(1000, kind)).tobytes()
    np.testing.assert_allclose(vector, any_enc.encode_tree(doc), rtol=0, atol=1e-5)


def test_nesting_depth_changes_the_vector(enc) -> None:
    assert not np.allclose(enc.encode(nested(999, "object")), enc.encode(nested(1000, "object")))


@pytest.mark.parametrize("kind", ["object", "array", "mixed"])
def test_nesting_1000_levels_in_sql(con, enc, kind) -> None:
    text = nested(1000, kind)
    vector = sql_vector(con, text)
    assert_unit(vector, D)
    assert vector.tobytes() == enc.encode(text).tobytes()


# -- big documents ------------------------------------------------------------------------


def test_array_of_100000_elements(enc) -> None:
    values = [i % 1000 for i in range(100_000)]
    vector = enc.encode(values)
    assert_unit(vector, D)
    assert enc.encode(json.dumps(values)).tobytes() == vector.tobytes()


def test_array_of_100000_elements_in_sql(con, enc) -> None:
    text = json.dumps(["w" + str(i % 97) for i in range(100_000)])
    vector = sql_vector(con, text)
    assert_unit(vector, D)
    assert vector.tobytes() == enc.encode(text).tobytes()


def test_haar_array_of_100000_elements() -> None:
    haar = duckdb_vsa.Encoder(dim=64, binding="haar")
    assert_unit(haar.encode(list(range(100_000))), 64)


def test_string_of_one_megabyte(enc) -> None:
    big = ("lorem ipsum dolor sit amet " * 40_000)[: 2**20]
    assert len(big) == 2**20
    text = json.dumps({"body": big, "n": 1})
    vector = enc.encode(text)
    assert_unit(vector, D)
    # Still a string leaf: similar to the same text cut short.
    other = enc.encode({"body": big[:10_000], "n": 1}).astype(np.float64)
    assert vector.astype(np.float64) @ other > 0.5


def test_string_of_one_megabyte_in_sql(con, enc) -> None:
    text = json.dumps("ab\u00e9\U0001f600 " * (2**20 // 5))
    vector = sql_vector(con, text)
    assert_unit(vector, D)
    assert vector.tobytes() == enc.encode(text).tobytes()


# -- duplicate keys --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "last"),
    [
        ('{"a": 1, "a": 2}', {"a": 2}),
        ('{"a": 1, "b": 3, "a": "two"}', {"a": "two", "b": 3}),
        ('{"o": {"x": 1, "x": [1]}, "o": {"y": null}}', {"o": {"y": None}}),
        ('[{"k": 1, "k": 1, "k": 5}]', [{"k": 5}]),
    ],
)
def test_duplicate_keys_last_wins(con, enc, text, last) -> None:
    expected = enc.encode(last)
    assert enc.encode(text).tobytes() == expected.tobytes()
    assert sql_vector(con, text).tobytes() == expected.tobytes()
    from_json = con.execute("SELECT vsa_encode(?::JSON)", [text]).fetchall()[0][0]
    assert np.asarray(from_json, dtype=np.float32).tobytes() == expected.tobytes()


# -- unicode ----------------------------------------------------------------------------

UNICODE_TEXTS = [
    '"\\ud800"',
    '"\\udfff lone low"',
    '{"\\ud800": "\\udbff"}',
    '"\U0001f600 \U0001d11e \U00010348"',
    '"\\ud83d\\ude00"',
    '{"\u6771\u4eac": ["\u00e9", "e\u0301", "\u200b", "\ufeff"]}',
    '"\\u0000 nul inside"',
]


@pytest.mark.parametrize("text", UNICODE_TEXTS)
def test_unicode_and_lone_surrogates(any_enc, text) -> None:
    assert_unit(any_enc.encode(text), any_enc.dim)


def test_unicode_is_encoded_faithfully(enc) -> None:
    # An escaped surrogate pair is the character itself.
    assert enc.encode('"\\ud83d\\ude00"').tobytes() == enc.encode('"\U0001f600"').tobytes()
    # Different lone surrogates are different strings.
    assert not np.array_equal(enc.encode('"\\ud800"'), enc.encode('"\\ud801"'))
    # A Python str with a lone surrogate is the same value as its JSON escape.
    assert enc.encode(["\ud800"]).tobytes() == enc.encode('["\\ud800"]').tobytes()
    assert enc.encode({"\udfff": 1}).tobytes() == enc.encode('{"\\udfff": 1}').tobytes()


@pytest.mark.parametrize("text", UNICODE_TEXTS)
def test_unicode_and_lone_surrogates_in_sql(con, enc, text) -> None:
    vector = sql_vector(con, text)
    assert_unit(vector, D)
    assert vector.tobytes() == enc.encode(text).tobytes()


# -- vectors of the wrong length ----------------------------------------------------------


def test_vsa_cosine_with_a_wrong_length_vector(con) -> None:
    for sql in (
        "SELECT vsa_cosine([1, 2, 3]::FLOAT[], vsa_encode('1'))",
        "SELECT vsa_cosine(vsa_encode('1'), [1, 2, 3]::FLOAT[3])",
    ):
        with pytest.raises(duckdb.Error) as excinfo:
            con.execute(sql).fetchall()
        message = str(excinfo.value)
        assert "vsa_cosine" in message
        assert "3" in message and str(D) in message, message
    with pytest.raises(duckdb.Error, match=r"\b5\b.*\b7\b|\b7\b.*\b5\b"):
        con.execute("SELECT vsa_cosine([1,2,3,4,5]::FLOAT[], [1,2,3,4,5,6,7]::FLOAT[])").fetchall()


def test_vsa_search_with_a_wrong_length_query(con) -> None:
    con.execute(
        "CREATE TABLE t AS SELECT i, vsa_encode(i::VARCHAR) AS vec FROM range(10) r(i)"
    ).fetchall()
    for query in ("[1, 2, 3]::FLOAT[]", "[1, 2, 3]::FLOAT[3]", f"vsa_encode('1')[1:{D - 1}]"):
        with pytest.raises(duckdb.Error) as excinfo:
            con.execute(f"SELECT * FROM vsa_search('t', 'vec', {query})").fetchall()
        message = str(excinfo.value)
        assert "vsa_search" in message
        assert str(D) in message, message
        expected_length = "3" if "3]" in query else str(D - 1)
        assert expected_length in message, message


def test_macros_with_a_wrong_length_vector_column(con) -> None:
    con.execute(
        "CREATE TABLE short AS SELECT i, [i, 1.0, 2.0]::FLOAT[] AS vec FROM range(5) r(i)"
    ).fetchall()
    con.execute(
        "CREATE TABLE good AS SELECT i, vsa_encode(i::VARCHAR) AS vec FROM range(5) r(i)"
    ).fetchall()
    statements = {
        "vsa_search": "SELECT * FROM vsa_search('short', 'vec', vsa_encode('1'))",
        "vsa_topk_join": "SELECT * FROM vsa_topk_join('good', 'vec', 'short', 'vec')",
        "vsa_near_duplicates": "SELECT * FROM vsa_near_duplicates('short', 'vec')",
    }
    for name, sql in statements.items():
        with pytest.raises(duckdb.Error) as excinfo:
            con.execute(sql).fetchall()
        message = str(excinfo.value)
        assert name in message, message
        assert "length 3" in message and str(D) in message, message


def test_macros_refuse_a_non_positive_k(con) -> None:
    con.execute(
        "CREATE TABLE t AS SELECT i, vsa_encode(i::VARCHAR) AS vec FROM range(5) r(i)"
    ).fetchall()
    for sql in (
        "SELECT * FROM vsa_search('t', 'vec', vsa_encode('1'), k := 0)",
        "SELECT * FROM vsa_topk_join('t', 'vec', 't', 'vec', k := 0)",
        "SELECT * FROM vsa_near_duplicates('t', 'vec', k := 0)",
    ):
        with pytest.raises(duckdb.Error, match="k must be a positive integer"):
            con.execute(sql).fetchall()


# -- Python values that are not JSON ---------------------------------------------------------


@pytest.mark.parametrize(
    "doc",
    [
        {1: "a"},
        {"ok": {None: 1}},
        [{"a": 1}, {(1, 2): "tuple key"}],
        {b"bytes": 1},
        # Arrays longer than the batch engine's limit go to the tree evaluator.
        [{"a": 1}] * 1999 + [{2: "x"}],
        [{None: "x", "a": 1}] * 2000,
    ],
    ids=["int key", "None key", "tuple key", "bytes key", "long array", "long array None"],
)
def test_non_string_key_is_a_type_error(any_enc, doc) -> None:
    with pytest.raises(TypeError, match=r"(?i)keys? must be str"):
        any_enc.encode(doc)


@pytest.mark.parametrize(
    "value",
    [{1, 2}, object(), b"bytes", datetime.date(2024, 1, 1), decimal.Decimal("1.5"), 1 + 2j],
    ids=["set", "object", "bytes", "date", "Decimal", "complex"],
)
@pytest.mark.parametrize("where", ["in an object", "in a long array"])
def test_unsupported_type_is_a_type_error(any_enc, value, where) -> None:
    doc = {"field": [1, value]} if where == "in an object" else [1] * 2000 + [value]
    with pytest.raises(TypeError) as excinfo:
        any_enc.encode(doc)
    message = str(excinfo.value)
    assert type(value).__name__ in message, message
    assert "cannot encode" in message.lower(), message


def test_non_string_key_through_the_tree_evaluator(any_enc) -> None:
    with pytest.raises(TypeError, match=r"(?i)keys? must be str"):
        any_enc.encode_tree({"a": {1: "x"}})


def test_self_referencing_containers_are_a_clear_error(run_python) -> None:
    """Run in a child process, so that a hang or a crash fails the test instead."""
    script = textwrap.dedent(
        """
        import json
        import duckdb_vsa
        cyclic_list = [1, "x"]
        cyclic_list.append(cyclic_list)
        lone = []
        lone.append(lone)
        cyclic_dict = {"name": "loop"}
        cyclic_dict["self"] = cyclic_dict
        deep = {"a": [cyclic_list]}
        outcomes = []
        for binding, dim in (("perm", 256), ("haar", 64)):
            enc = duckdb_vsa.Encoder(dim=dim, binding=binding)
            for doc in (cyclic_list, lone, cyclic_dict, deep):
                for method in (enc.encode, enc.encode_tree):
                    try:
                        method(doc)
                        outcomes.append(["no error", ""])
                    except BaseException as err:
                        outcomes.append([type(err).__name__, str(err)])
        print(json.dumps(outcomes))
        """
    )
    result = run_python("-c", script, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    outcomes = json.loads(result.stdout)
    assert len(outcomes) == 16
    for kind, message in outcomes:
        assert kind in ("DocumentError", "ValueError", "TypeError"), (kind, message)
        assert any(
            word in message.lower() for word in ("itself", "cycl", "circular", "recurs", "nested")
        ), message


def test_non_string_key_beyond_the_limits_under_hints(any_enc) -> None:
    hinted = duckdb_vsa.Encoder(
        dim=any_enc.dim, binding=any_enc.binding, fields={"$.a": {"weight": 2}}
    )
    with pytest.raises(TypeError, match=r"(?i)keys? must be str"):
        # The long array is walked first: the whole document goes to the tree evaluator.
        hinted.encode({"z": {1: "x"}, "long": list(range(2000))})


@pytest.mark.parametrize("doc", [{"a": {1, 2}}, {1: "x"}, b"{}"], ids=["set", "int key", "bytes"])
def test_values_that_are_not_json_raise_the_packages_error(enc, doc) -> None:
    with pytest.raises(WrongTypeError):
        enc.encode(doc)


def test_errors_of_a_document_are_the_packages_own(enc) -> None:
    for text in ("{bad", "", "[" * 20_000):
        with pytest.raises(VsaError):
            enc.encode(text)
    with pytest.raises(VsaError):
        enc.encode_arrow(pa.array(["{}"]), on_error="skip")
    with pytest.raises(WrongTypeError):
        enc.encode_arrow(pa.array([1, 2, 3]))


# -- encoder options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "fragment"),
    [
        ({"dim": 7}, ValueError, "dim"),
        ({"dim": 255}, ValueError, "even"),
        ({"dim": "256"}, ValueError, "dim"),
        ({"seed": -1}, ValueError, "seed"),
        ({"binding": "dense"}, ValueError, "binding"),
        ({"alpha": -0.1}, ValueError, "alpha"),
        ({"number_scale": 0}, ValueError, "number_scale"),
        ({"w_bag": float("nan")}, ValueError, "w_bag"),
        ({"alpah": 0.3}, TypeError, "alpah"),
    ],
)
def test_invalid_encoder_options_are_named(options, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        duckdb_vsa.Encoder(**options)
    con = duckdb.connect()
    with pytest.raises(error, match=fragment):
        duckdb_vsa.register(con, **options)
    # Nothing was registered by the failed call.
    assert duckdb_vsa.registered_encoder(con) is None
    con.close()


def test_encode_arrow_refuses_a_non_string_array(enc) -> None:
    with pytest.raises(TypeError, match="string"):
        enc.encode_arrow(pa.array([1, 2, 3]))
