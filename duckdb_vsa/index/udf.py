"""The database functions behind the ``vsa_index_*`` macros.

Four functions per database, created once (:func:`create_index_functions`):

- ``__vsa_index_catalog()`` returns the token of the database's index catalog,
  so that any connection to the database finds the catalog's Python object;
- ``__vsa_index_sql(name, part)`` returns SQL over the indexed table, or its
  names (see :meth:`~duckdb_vsa.index.source.IndexSource.sql`);
- ``__vsa_index_topk(name, fingerprint, query, k)`` and
  ``__vsa_index_topk_excluding(name, fingerprint, query, k, rowid)`` answer a
  chunk of queries with one list of ``STRUCT(rowid, score)`` per query, after
  checking that the table's fingerprint, computed by the calling query in its
  own snapshot, is the one the index was built from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from duckdb_vsa.arrays import combine, vectors_from_arrow
from duckdb_vsa.db.udf import ensure_function, function_exists
from duckdb_vsa.errors import InvalidArgumentError, StaleIndexError, VectorShapeError
from duckdb_vsa.index.base import VectorIndex
from duckdb_vsa.index.source import SQL_PARTS

__all__ = [
    "CATALOG_FUNCTION",
    "HIT_TYPE",
    "answer",
    "catalog_token",
    "check_fresh",
    "create_index_functions",
]

CATALOG_FUNCTION = "__vsa_index_catalog"
SQL_FUNCTION = "__vsa_index_sql"
TOPK_FUNCTION = "__vsa_index_topk"
TOPK_EXCLUDING_FUNCTION = "__vsa_index_topk_excluding"

#: SQL type of one query's hits.
HIT_TYPE = "STRUCT(rowid BIGINT, score FLOAT)[]"
_HIT_ARROW = pa.struct([("rowid", pa.int64()), ("score", pa.float32())])

#: Finds an index by name, or raises.
Lookup = Callable[[str], VectorIndex]


def catalog_token(con: duckdb.DuckDBPyConnection) -> str | None:
    """The token of the index catalog of ``con``'s database, or None if it has none.

    Read through a cursor of its own, as :func:`~duckdb_vsa.db.udf.function_exists` is.
    """
    if not function_exists(con, CATALOG_FUNCTION):
        return None
    cursor = con.cursor()
    try:
        return str(cursor.execute(f"SELECT {CATALOG_FUNCTION}()").fetchall()[0][0])
    finally:
        cursor.close()


def create_index_functions(con: duckdb.DuckDBPyConnection, token: str, lookup: Lookup) -> None:
    """Create the index functions of ``con``'s database for the catalog ``token``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    token : str
        What ``__vsa_index_catalog()`` returns.
    lookup : callable
        ``lookup(name)`` returns the index called ``name`` or raises.
    """

    def index_sql(name: str, part: str) -> str:
        index = lookup(name)
        if index.source is None or part not in SQL_PARTS:
            raise InvalidArgumentError(f"Internal error: no SQL {part!r} for index {name!r}.")
        return index.source.sql(part)

    def topk(names: Any, fingerprints: Any, queries: Any, ks: Any) -> pa.Array:
        return answer(lookup, names, fingerprints, queries, ks, None)

    def topk_excluding(
        names: Any, fingerprints: Any, queries: Any, ks: Any, exclude: Any
    ) -> pa.Array:
        return answer(lookup, names, fingerprints, queries, ks, exclude)

    def catalog() -> str:
        return token

    ensure_function(
        con, SQL_FUNCTION, index_sql, [["VARCHAR", "VARCHAR"]], "VARCHAR", kind="native"
    )
    ensure_function(
        con, TOPK_FUNCTION, topk, [["VARCHAR", "VARCHAR", "FLOAT[]", "BIGINT"]], HIT_TYPE
    )
    ensure_function(
        con,
        TOPK_EXCLUDING_FUNCTION,
        topk_excluding,
        [["VARCHAR", "VARCHAR", "FLOAT[]", "BIGINT", "BIGINT"]],
        HIT_TYPE,
    )
    # Last: finding the token means every other function exists.
    ensure_function(con, CATALOG_FUNCTION, catalog, [[]], "VARCHAR", kind="native")


def answer(
    lookup: Lookup, names: Any, fingerprints: Any, queries: Any, ks: Any, exclude: Any
) -> pa.Array:
    """The body of the top-k functions: one Arrow chunk of queries in, a list of hits each out.

    Parameters
    ----------
    lookup : callable
        Finds an index by name.
    names, fingerprints, queries, ks, exclude : pyarrow arrays
        The function's arguments (``exclude`` None for ``__vsa_index_topk``).

    Returns
    -------
    pyarrow.ListArray
        One list of ``STRUCT(rowid, score)`` per query, best first.

    Raises
    ------
    StaleIndexError
        If the table changed after the index was built.
    VectorShapeError
        If a query vector has the wrong length or a NULL element.
    """
    lists = combine(queries)
    n = len(lists)
    name_values = combine(names).to_numpy(zero_copy_only=False)
    k_values = combine(ks).to_numpy(zero_copy_only=False).astype(np.int64)
    fp_values = combine(fingerprints).to_numpy(zero_copy_only=False)
    skip = None if exclude is None else combine(exclude).to_numpy(zero_copy_only=False)
    if n == 0:
        return pa.ListArray.from_arrays(pa.array([0], pa.int32()), pa.array([], _HIT_ARROW))
    single = (name_values[0] == name_values).all() and (k_values[0] == k_values).all()
    groups = (
        [(name_values[0], int(k_values[0]), np.arange(n))]
        if single
        else _groups(name_values, k_values)
    )
    vectors = None
    counts = np.zeros(n, dtype=np.int64)
    owners, ids, scores = [], [], []
    for name, k, rows in groups:
        index = lookup(str(name))
        check_fresh(str(name), index, fp_values[rows])
        if k < 1:
            raise InvalidArgumentError(f"vsa_index: k must be a positive integer, got {k}.")
        if vectors is None or vectors.shape[1] != index.dim:
            vectors = _query_vectors(lists, index.dim, str(name))
        hits = index.search_ragged(
            vectors[rows] if not single else vectors,
            k,
            exclude=None if skip is None else skip[rows].astype(np.int64),
        )
        counts[rows] = hits.counts
        owners.append(np.repeat(rows, hits.counts))
        ids.append(hits.ids)
        scores.append(hits.scores)
    ids, scores = np.concatenate(ids), np.concatenate(scores)
    if not single:
        # Each group is in row order already; a stable sort by row interleaves them.
        order = np.argsort(np.concatenate(owners), kind="stable")
        ids, scores = ids[order], scores[order]
    offsets = np.concatenate(([0], np.cumsum(counts)))
    values = pa.StructArray.from_arrays(
        [pa.array(ids, pa.int64()), pa.array(scores, pa.float32())], fields=list(_HIT_ARROW)
    )
    if offsets[-1] < 2**31:
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)
    return pa.LargeListArray.from_arrays(pa.array(offsets), values)


def _groups(names: np.ndarray, ks: np.ndarray) -> list[tuple[Any, int, np.ndarray]]:
    keyed: dict[tuple[Any, int], list[int]] = {}
    for row, key in enumerate(zip(names.tolist(), ks.tolist())):
        keyed.setdefault(key, []).append(row)
    return [(name, k, np.array(rows)) for (name, k), rows in keyed.items()]


def _query_vectors(lists: pa.Array, dim: int, name: str) -> np.ndarray:
    """A column of query vectors as a (rows, dim) matrix."""
    try:
        matrix, _ = vectors_from_arrow(lists, dim)
    except VectorShapeError as err:
        if err.length is None:
            raise VectorShapeError(
                "vsa_index: a query vector contains a NULL element; only complete vectors can "
                "be ranked."
            ) from None
        raise VectorShapeError(
            f"vsa_index: index {name!r} holds vectors of length {dim}, but a query vector has "
            f"length {err.length}. Encode the queries with the same configuration as the indexed "
            "column.",
            err.length,
        ) from None
    return matrix


def check_fresh(name: str, index: VectorIndex, fingerprints: np.ndarray) -> None:
    """Raise unless every fingerprint is the one ``index`` was built from.

    Raises
    ------
    StaleIndexError
        Naming the change and the call that rebuilds the index.
    """
    source = index.source
    if source is None:
        return
    stale = fingerprints[fingerprints != source.fingerprint]
    if not len(stale):
        return
    now = int(str(stale[0]).split(":", 1)[0])
    change = (
        f"it had {source.rows} rows then and has {now} now"
        if now != source.rows
        else "rows were inserted, deleted or updated since"
    )
    extra = "".join(f", {key}={value!r}" for key, value in index.build_arguments.items())
    raise StaleIndexError(
        f"The duckdb_vsa index {name!r} is out of date: table {source.table} changed after the "
        f"index was built ({change}). Rebuild it with duckdb_vsa.build_index(con, "
        f"{source.display_table!r}, {source.column!r}, name={name!r}{extra}, replace=True)."
    )
