"""Array helpers shared by the engine and the index, and vectors to and from Arrow.

DuckDB hands a ``FLOAT[D]`` column to Python as an Arrow fixed-size list (a
``FLOAT[]`` list as a variable-size one) and takes one back the same way;
:func:`vectors_from_arrow` and :func:`vectors_to_arrow` are the only
conversions between those and (rows x D) float32 matrices.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from duckdb_vsa.errors import VectorShapeError


def expand_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + c)`` for every start ``s`` and count ``c``.

    Examples
    --------
    >>> expand_ranges(np.array([10, 0]), np.array([2, 3])).tolist()
    [10, 11, 0, 1, 2]
    """
    counts = np.maximum(counts, 0)
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return offsets + np.arange(int(counts.sum()), dtype=np.int64)


def compact(values: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """Renumber integers in ``[0, bound)`` densely: ``(new ids, sorted distinct values)``.

    Examples
    --------
    >>> ids, used = compact(np.array([7, 3, 7]), 8)
    >>> ids.tolist(), used.tolist()
    ([1, 0, 1], [3, 7])
    """
    present = np.zeros(bound, dtype=bool)
    present[values] = True
    used = np.flatnonzero(present)
    rank = np.cumsum(present, dtype=np.int64) - 1
    return rank[values], used


def rank_in_row(rows: np.ndarray, m: int) -> np.ndarray:
    """Position of each entry within its row, for entries sorted by row (rows in ``[0, m)``).

    Examples
    --------
    >>> rank_in_row(np.array([0, 0, 2, 2, 2]), 3).tolist()
    [0, 1, 0, 1, 2]
    """
    counts = np.bincount(rows, minlength=m)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return np.arange(len(rows)) - np.repeat(starts, counts)


def combine(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One Arrow array for a column that may come in chunks; extension types as their storage."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if isinstance(column.type, pa.ExtensionType):
        column = column.cast(column.type.storage_type)
    return column


def text_values(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """A text column (VARCHAR or JSON) as Python strings, None for NULL."""
    return combine(column).to_pylist()


def vectors_from_arrow(
    column: pa.Array | pa.ChunkedArray, dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """A column of vectors as a float32 matrix and the mask of rows that hold one.

    Parameters
    ----------
    column : pyarrow array of fixed-size or variable-size lists of numbers
        ``FLOAT[dim]`` or ``FLOAT[]`` values; NULL rows allowed.
    dim : int
        The length every vector must have.

    Returns
    -------
    matrix : ndarray of float32, shape (n, dim)
        The vectors; NULL rows are zero.
    valid : ndarray of bool, shape (n,)
        False where the row is NULL.

    Raises
    ------
    VectorShapeError
        If a vector does not have length ``dim`` (``.length`` is its length) or
        holds a NULL element (``.length`` is None).

    Examples
    --------
    >>> m, valid = vectors_from_arrow(pa.array([[1.0, 2.0], None]), 2)
    >>> m.tolist(), valid.tolist()
    ([[1.0, 2.0], [0.0, 0.0]], [True, False])
    """
    array = combine(column)
    n = len(array)
    valid = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_fixed_size_list(array.type):
        if array.type.list_size != dim and n:
            raise _wrong_length(array.type.list_size, dim)
        values = array.values.slice(array.offset * dim, n * dim)
        if values.null_count and (
            np.asarray(values.is_null().to_numpy(zero_copy_only=False)).reshape(n, dim)[valid].any()
        ):
            raise _null_element()
        matrix = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(n, dim)
        if not valid.all():
            matrix = matrix.copy()
            matrix[~valid] = 0
        return matrix, valid
    matrix = np.zeros((n, dim), dtype=np.float32)
    if valid.any():
        lengths = np.asarray(pc.list_value_length(array).to_numpy(zero_copy_only=False))
        wrong = valid & (lengths != dim)
        if wrong.any():
            raise _wrong_length(int(lengths[wrong][0]), dim)
        flat = array.flatten()
        if flat.null_count:
            raise _null_element()
        matrix[valid] = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(
            -1, dim
        )
    return matrix, valid


def vectors_to_arrow(rows: np.ndarray, valid: np.ndarray | None = None) -> pa.FixedSizeListArray:
    """An (n, D) matrix as a ``FLOAT[D]`` Arrow column; rows where ``valid`` is False are NULL.

    Examples
    --------
    >>> vectors_to_arrow(np.ones((2, 3)), np.array([True, False])).to_pylist()
    [[1.0, 1.0, 1.0], None]
    """
    matrix = np.ascontiguousarray(rows, dtype=np.float32)
    dim = matrix.shape[1]
    mask = None if valid is None or valid.all() else pa.array(~np.asarray(valid, dtype=bool))
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), dim, mask=mask)


def _wrong_length(length: int, dim: int) -> VectorShapeError:
    return VectorShapeError(
        f"Got a vector of length {length} where vectors of length {dim} are expected.", length
    )


def _null_element() -> VectorShapeError:
    return VectorShapeError(
        "Got a vector with a NULL element; only complete vectors can be compared.", None
    )
