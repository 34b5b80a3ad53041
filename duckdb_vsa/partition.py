"""The encoder as a batch function for distributed engines.

:func:`encode_partition` takes one partition of a table (a pandas DataFrame, or
an Arrow Table or RecordBatch), encodes its JSON text column with
:meth:`Encoder.encode_arrow`, and returns the partition with a vector column
added: the shape that Dask's ``map_partitions``, Ray Data's ``map_batches`` and
Spark's ``mapInArrow`` expect. An :class:`~duckdb_vsa.Encoder` pickles as its
configuration only, so every worker process rebuilds the same encoder and
produces bit-identical vectors.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from duckdb_vsa.encoder import Encoder
from duckdb_vsa.errors import WrongTypeError

__all__ = ["encode_partition"]


def encode_partition(
    batch: Any,
    encoder: Encoder,
    column: str = "doc",
    out: str = "vec",
    *,
    on_error: str = "raise",
) -> Any:
    """Add a vector column to one partition of JSON documents.

    Parameters
    ----------
    batch : pandas.DataFrame, pyarrow.Table or pyarrow.RecordBatch
        A partition with a column of JSON text (nulls allowed).
    encoder : Encoder
        The encoder; pickles as its configuration (a few hundred bytes).
    column : str, default "doc"
        The JSON text column.
    out : str, default "vec"
        The vector column to add (replaced if present).
    on_error : {"raise", "null"}, default "raise"
        What an empty or invalid document gives (see :meth:`Encoder.encode_arrow`).

    Returns
    -------
    the type of ``batch``
        ``batch`` with ``out`` added as Arrow ``fixed_size_list<float>[dim]``
        (in pandas, ``pd.ArrowDtype`` of that type). Parquet stores it as a
        list; DuckDB reads it as ``FLOAT[]``: cast it with ``::FLOAT[dim]``.
        An empty batch gives an empty result of the same schema, so
        ``encode_partition(ddf._meta, encoder)`` is the ``meta`` of a Dask
        ``map_partitions``.

    Examples
    --------
    >>> import pandas as pd
    >>> part = pd.DataFrame({"id": [1, 2], "doc": ['{"a": 1}', '{"a": 2}']})
    >>> encode_partition(part, Encoder(dim=64)).dtypes["vec"]
    fixed_size_list<item: float>[64][pyarrow]
    """
    if isinstance(batch, (pa.Table, pa.RecordBatch)):
        vectors = encoder.encode_arrow(_text(batch.column(column), column), on_error=on_error)
        if out in batch.schema.names:
            batch = batch.drop_columns([out])
        return batch.append_column(out, vectors)

    import pandas as pd

    if not isinstance(batch, pd.DataFrame):
        raise WrongTypeError(
            "encode_partition expects a pandas DataFrame or a pyarrow Table or RecordBatch, "
            f"got {type(batch).__name__}."
        )
    texts = pa.Array.from_pandas(batch[column])
    vectors = encoder.encode_arrow(_text(texts, column), on_error=on_error)
    result = batch.copy(deep=False)
    result[out] = pd.Series(vectors, dtype=pd.ArrowDtype(vectors.type), index=batch.index)
    return result


def _text(array: pa.Array | pa.ChunkedArray, column: str) -> pa.Array | pa.ChunkedArray:
    """The column as Arrow strings, or a TypeError naming it."""
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return array
    if pa.types.is_null(array.type):
        return array.cast(pa.string())
    raise WrongTypeError(
        f"encode_partition: column {column!r} must hold JSON text (strings), got {array.type}; "
        "serialise the documents first (for example with json.dumps)."
    )
