"""Array helpers and the conversions of vectors to and from Arrow (duckdb_vsa.arrays)."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from conftest import arrow_table

from duckdb_vsa.arrays import (
    combine,
    compact,
    expand_ranges,
    rank_in_row,
    text_values,
    vectors_from_arrow,
    vectors_to_arrow,
)
from duckdb_vsa.errors import InvalidArgumentError, VectorShapeError

# -- integer helpers -----------------------------------------------------------------------


def test_expand_ranges() -> None:
    starts, counts = np.array([10, 0, 5, 7]), np.array([2, 3, 0, 1])
    assert expand_ranges(starts, counts).tolist() == [10, 11, 0, 1, 2, 7]
    assert expand_ranges(np.array([3]), np.array([-2])).tolist() == []
    assert expand_ranges(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == []


def test_compact_renumbers_densely_in_value_order() -> None:
    values = np.array([7, 3, 7, 0, 9, 3])
    ids, used = compact(values, 10)
    assert used.tolist() == [0, 3, 7, 9]
    assert ids.tolist() == [2, 1, 2, 0, 3, 1]
    np.testing.assert_array_equal(used[ids], values)


def test_rank_in_row() -> None:
    rows = np.array([0, 0, 2, 2, 2, 3])
    assert rank_in_row(rows, 5).tolist() == [0, 1, 0, 1, 2, 0]
    assert rank_in_row(np.array([], dtype=np.int64), 2).tolist() == []


def test_combine_and_text_values() -> None:
    chunked = pa.chunked_array([["a", None], [], ['{"b": 1}']])
    combined = combine(chunked)
    assert isinstance(combined, pa.Array) and combined.to_pylist() == ["a", None, '{"b": 1}']
    single = pa.array(["x"])
    assert combine(pa.chunked_array([single])).equals(single)
    assert text_values(chunked) == ["a", None, '{"b": 1}']
    assert text_values(pa.array(["é", "\u6771"], type=pa.large_string())) == ["é", "\u6771"]


def test_combine_reads_an_extension_type_as_its_storage() -> None:
    class Json(pa.ExtensionType):
        def __init__(self) -> None:
            super().__init__(pa.string(), "test.json")

        def __arrow_ext_serialize__(self) -> bytes:
            return b""

        @classmethod
        def __arrow_ext_deserialize__(cls, storage_type, serialized):
            return cls()

    storage = pa.array(['{"a": 1}', None])
    array = pa.ExtensionArray.from_storage(Json(), storage)
    assert combine(array).type == pa.string()
    assert text_values(array) == ['{"a": 1}', None]


# -- vectors from Arrow --------------------------------------------------------------------

ROWS = np.arange(12, dtype=np.float32).reshape(4, 3) / 7


def fixed(rows, mask=None) -> pa.FixedSizeListArray:
    values = pa.array(np.asarray(rows, dtype=np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(values, len(rows[0]), mask=mask)


@pytest.mark.parametrize(
    "column",
    [
        fixed(ROWS),
        pa.array(ROWS.tolist(), type=pa.list_(pa.float32())),
        pa.array(ROWS.tolist(), type=pa.large_list(pa.float64())),
        pa.array(ROWS.tolist(), type=pa.list_(pa.float64(), 3)),
        pa.chunked_array([fixed(ROWS[:1]), fixed(ROWS[1:])]),
    ],
    ids=["FLOAT[3]", "FLOAT[]", "large DOUBLE[]", "DOUBLE[3]", "chunked"],
)
def test_vectors_from_arrow(column) -> None:
    matrix, valid = vectors_from_arrow(column, 3)
    assert matrix.dtype == np.float32 and matrix.shape == (4, 3)
    np.testing.assert_array_equal(matrix, ROWS)
    assert valid.dtype == bool and valid.tolist() == [True] * 4


@pytest.mark.parametrize(
    "column",
    [
        fixed(ROWS, mask=pa.array([False, True, False, True])),
        pa.array([ROWS[0].tolist(), None, ROWS[2].tolist(), None], type=pa.list_(pa.float32())),
        pa.array([ROWS[0].tolist(), None, ROWS[2].tolist(), None], type=pa.list_(pa.float32(), 3)),
    ],
    ids=["FLOAT[3]", "FLOAT[]", "FLOAT[3] null values"],
)
def test_null_rows_are_zero_and_not_valid(column) -> None:
    matrix, valid = vectors_from_arrow(column, 3)
    assert valid.tolist() == [True, False, True, False]
    np.testing.assert_array_equal(matrix[[0, 2]], ROWS[[0, 2]])
    assert not matrix[[1, 3]].any()


@pytest.mark.parametrize(
    "column",
    [
        fixed(ROWS, mask=pa.array([False, True, False, True])),
        pa.array([None, *ROWS.tolist(), None], type=pa.list_(pa.float32())),
        pa.FixedSizeListArray.from_arrays(
            pa.array(np.arange(30, dtype=np.float32)).slice(3, 15), 3
        ),
    ],
    ids=["FLOAT[3] with nulls", "FLOAT[]", "FLOAT[3] over sliced values"],
)
def test_sliced_arrays_read_their_own_rows(column) -> None:
    full, full_valid = vectors_from_arrow(column, 3)
    for start, length in ((1, 2), (2, 2), (0, 1), (3, 0)):
        part = column.slice(start, length)
        matrix, valid = vectors_from_arrow(part, 3)
        assert matrix.shape == (length, 3)
        np.testing.assert_array_equal(matrix, full[start : start + length])
        np.testing.assert_array_equal(valid, full_valid[start : start + length])


def test_a_null_element_is_refused_in_a_valid_row_only() -> None:
    with_null = pa.array([[1.0, None, 3.0], [4.0, 5.0, 6.0]], type=pa.list_(pa.float32(), 3))
    variable = pa.array([[1.0, 2.0, 3.0], [4.0, None, 6.0]], type=pa.list_(pa.float32()))
    for column in (with_null, variable, variable.slice(1)):
        with pytest.raises(VectorShapeError, match="NULL element") as excinfo:
            vectors_from_arrow(column, 3)
        assert excinfo.value.length is None
    # A NULL row whose storage holds nulls is just a NULL row.
    matrix, valid = vectors_from_arrow(with_null.slice(1), 3)
    assert valid.tolist() == [True] and matrix.tolist() == [[4.0, 5.0, 6.0]]
    masked = pa.FixedSizeListArray.from_arrays(
        pa.array([1.0, None, 3.0, 4.0, 5.0, 6.0], type=pa.float32()),
        3,
        mask=pa.array([True, False]),
    )
    matrix, valid = vectors_from_arrow(masked, 3)
    assert valid.tolist() == [False, True]
    assert matrix.tolist() == [[0.0, 0.0, 0.0], [4.0, 5.0, 6.0]]


def test_a_vector_of_the_wrong_length_is_refused_with_its_length() -> None:
    cases = [
        (pa.array([[1.0, 2.0]], type=pa.list_(pa.float32(), 2)), 2),
        (pa.array([[1.0, 2.0, 3.0], [1.0, 2.0]], type=pa.list_(pa.float32())), 2),
        (pa.array([None, [1.0] * 5, [1.0, 2.0]], type=pa.list_(pa.float32())), 5),
        (pa.array([[]], type=pa.list_(pa.float32())), 0),
    ]
    for column, length in cases:
        with pytest.raises(VectorShapeError) as excinfo:
            vectors_from_arrow(column, 3)
        assert excinfo.value.length == length
        assert str(excinfo.value) == (
            f"Got a vector of length {length} where vectors of length 3 are expected."
        )
        assert isinstance(excinfo.value, InvalidArgumentError)
        assert isinstance(excinfo.value, ValueError)
    # A NULL row of any type is no vector at all: nothing to refuse.
    assert vectors_from_arrow(pa.array([None], type=pa.list_(pa.float32())), 3)[1].tolist() == [
        False
    ]
    empty = pa.array([], type=pa.list_(pa.float32(), 5))
    assert vectors_from_arrow(empty, 3)[0].shape == (0, 3)


# -- vectors to Arrow ----------------------------------------------------------------------


def test_vectors_to_arrow() -> None:
    out = vectors_to_arrow(ROWS.astype(np.float64))
    assert out.type == pa.list_(pa.float32(), 3)
    assert out.null_count == 0
    np.testing.assert_array_equal(np.asarray(out.to_pylist(), dtype=np.float32), ROWS)
    # A view with strides is copied in row order.
    np.testing.assert_array_equal(
        np.asarray(vectors_to_arrow(ROWS[:, ::-1]).to_pylist(), dtype=np.float32), ROWS[:, ::-1]
    )
    assert vectors_to_arrow(ROWS, np.ones(4, dtype=bool)).null_count == 0


def test_rows_not_valid_are_null() -> None:
    valid = np.array([True, False, False, True])
    out = vectors_to_arrow(ROWS, valid)
    assert out.is_null().to_pylist() == [False, True, True, False]
    matrix, back = vectors_from_arrow(out, 3)
    np.testing.assert_array_equal(back, valid)
    np.testing.assert_array_equal(matrix[valid], ROWS[valid])
    assert not matrix[~valid].any()
    assert vectors_to_arrow(np.zeros((0, 4), dtype=np.float32)).type == pa.list_(pa.float32(), 4)


def test_duckdb_reads_and_writes_the_same_vectors() -> None:
    con = duckdb.connect()
    try:
        valid = np.array([True, False, True, True])
        vectors = pa.table({"id": [0, 1, 2, 3], "vec": vectors_to_arrow(ROWS, valid)})
        con.register("vectors", vectors)
        con.execute("CREATE TABLE t AS SELECT id, vec FROM vectors").fetchall()
        assert con.execute("SELECT typeof(vec) FROM t LIMIT 1").fetchall() == [("FLOAT[3]",)]
        assert con.execute("SELECT id FROM t WHERE vec IS NULL").fetchall() == [(1,)]
        for sql in (
            "SELECT vec FROM t ORDER BY id",
            "SELECT vec::FLOAT[] AS vec FROM t ORDER BY id",
        ):
            column = arrow_table(con.sql(sql)).column("vec")
            matrix, back = vectors_from_arrow(column, 3)
            np.testing.assert_array_equal(back, valid)
            np.testing.assert_array_equal(matrix[valid], ROWS[valid])
        wrong = arrow_table(con.sql("SELECT [1.0, 2.0]::FLOAT[] AS vec")).column("vec")
        with pytest.raises(VectorShapeError, match="length 2"):
            vectors_from_arrow(wrong, 3)
    finally:
        con.close()
