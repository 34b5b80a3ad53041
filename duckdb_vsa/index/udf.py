"""The database functions behind the search macros and the index SQL.

Created once per database instance (:func:`create_index_functions`); their
bodies are the catalog's (:class:`Handlers`):

- ``__vsa_index_catalog()``: the token of the instance's catalog, so that any
  connection finds the catalog's Python object;
- ``__vsa_plan(part, kind, table, column, index, database, search_path, dim)``:
  evaluated while a query is bound; SQL text, or the handle of the entry that
  answers (see :mod:`~duckdb_vsa.index.plan`);
- ``__vsa_index_sql(name, part)``: the ``table`` or ``column`` of a named index;
- ``__vsa_ticket(handle, signature, fingerprint)``: a ticket for the query's
  snapshot, or NULL when the index cannot answer for it; an error if a vector
  of the index carries another configuration's marker than ``fingerprint``'s;
- ``__vsa_topk(ticket, query, k)`` and ``__vsa_topk_excluding(ticket, query,
  k, rowid)``: a chunk of queries in, one list of ``STRUCT(rowid, score)`` per
  query out;
- ``__vsa_create_index(...)``, ``__vsa_drop_index(name, missing_ok)`` and
  ``__vsa_indexes()``: the index SQL. They write and read through a helper
  connection, never through the calling one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from duckdb_vsa.arrays import combine, vectors_from_arrow
from duckdb_vsa.db.udf import ensure_function, function_exists
from duckdb_vsa.errors import InvalidArgumentError, VectorShapeError
from duckdb_vsa.index.base import VectorIndex

__all__ = [
    "CATALOG_FUNCTION",
    "HIT_TYPE",
    "LIST_TYPE",
    "Handlers",
    "answer",
    "catalog_token",
    "create_index_functions",
]

CATALOG_FUNCTION = "__vsa_index_catalog"

#: SQL type of one query's hits.
HIT_TYPE = "STRUCT(rowid BIGINT, score FLOAT)[]"
_HIT_ARROW = pa.struct([("rowid", pa.int64()), ("score", pa.float32())])

#: SQL type of ``__vsa_indexes()``: one entry per index.
LIST_TYPE = (
    'STRUCT(name VARCHAR, "table" VARCHAR, "column" VARCHAR, method VARCHAR, '
    '"rows" BIGINT, dim INTEGER, options VARCHAR, loaded BOOLEAN, appended BIGINT, '
    "bytes BIGINT)[]"
)


@dataclasses.dataclass(frozen=True)
class Handlers:
    """What the functions do; the catalog provides each."""

    plan: Callable[..., str | None]
    part: Callable[[str, str], str]
    ticket: Callable[[str | None, str | None, str | None], str | None]
    searched: Callable[[str], VectorIndex]
    create: Callable[..., str]
    drop: Callable[[str, bool], str]
    listing: Callable[[], list[dict[str, Any]]]


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


def create_index_functions(con: duckdb.DuckDBPyConnection, token: str, handlers: Handlers) -> None:
    """Create the index functions of ``con``'s database for the catalog ``token``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    token : str
        What ``__vsa_index_catalog()`` returns.
    handlers : Handlers
        The bodies.
    """

    def topk(tickets: Any, queries: Any, ks: Any) -> pa.Array:
        return answer(handlers.searched, tickets, queries, ks, None)

    def topk_excluding(tickets: Any, queries: Any, ks: Any, exclude: Any) -> pa.Array:
        return answer(handlers.searched, tickets, queries, ks, exclude)

    def catalog() -> str:
        return token

    varchar = "VARCHAR"
    ensure_function(
        con,
        "__vsa_plan",
        handlers.plan,
        [[varchar] * 7 + ["INTEGER"]],
        varchar,
        kind="native",
        null_handling="special",
    )
    ensure_function(
        con, "__vsa_index_sql", handlers.part, [[varchar, varchar]], varchar, kind="native"
    )
    ensure_function(
        con,
        "__vsa_ticket",
        handlers.ticket,
        [[varchar, varchar, varchar]],
        varchar,
        kind="native",
        null_handling="special",
        side_effects=True,
    )
    ensure_function(con, "__vsa_topk", topk, [[varchar, "FLOAT[]", "BIGINT"]], HIT_TYPE)
    ensure_function(
        con,
        "__vsa_topk_excluding",
        topk_excluding,
        [[varchar, "FLOAT[]", "BIGINT", "BIGINT"]],
        HIT_TYPE,
    )
    ensure_function(
        con,
        "__vsa_create_index",
        handlers.create,
        [
            [
                varchar,
                varchar,
                varchar,
                varchar,
                varchar,
                "BOOLEAN",
                varchar,
                varchar,
                "INTEGER",
                varchar,
            ]
        ],
        varchar,
        kind="native",
        null_handling="special",
        side_effects=True,
    )
    ensure_function(
        con,
        "__vsa_drop_index",
        handlers.drop,
        [[varchar, "BOOLEAN"]],
        varchar,
        kind="native",
        side_effects=True,
    )
    ensure_function(
        con,
        "__vsa_indexes",
        handlers.listing,
        [[]],
        LIST_TYPE,
        kind="native",
        side_effects=True,
    )
    # Last: finding the token means every other function exists.
    ensure_function(con, CATALOG_FUNCTION, catalog, [[]], varchar, kind="native")


def answer(
    searched: Callable[[str], VectorIndex], tickets: Any, queries: Any, ks: Any, exclude: Any
) -> pa.Array:
    """The body of the top-k functions: one Arrow chunk of queries in, a list of hits each out.

    Parameters
    ----------
    searched : callable
        The index a ticket was issued for.
    tickets, queries, ks, exclude : pyarrow arrays
        The function's arguments (``exclude`` None for ``__vsa_topk``).

    Returns
    -------
    pyarrow.ListArray
        One list of ``STRUCT(rowid, score)`` per query, best first.

    Raises
    ------
    VectorShapeError
        If a query vector has the wrong length or a NULL element.
    """
    lists = combine(queries)
    n = len(lists)
    ticket_values = combine(tickets).to_numpy(zero_copy_only=False)
    k_values = combine(ks).to_numpy(zero_copy_only=False).astype(np.int64)
    skip = None if exclude is None else combine(exclude).to_numpy(zero_copy_only=False)
    if n == 0:
        return pa.ListArray.from_arrays(pa.array([0], pa.int32()), pa.array([], _HIT_ARROW))
    single = (ticket_values[0] == ticket_values).all() and (k_values[0] == k_values).all()
    groups = (
        [(ticket_values[0], int(k_values[0]), np.arange(n))]
        if single
        else _groups(ticket_values, k_values)
    )
    vectors = None
    counts = np.zeros(n, dtype=np.int64)
    owners, ids, scores = [], [], []
    for ticket, k, rows in groups:
        index = searched(str(ticket))
        if k < 1:
            raise InvalidArgumentError(f"vsa_index: k must be a positive integer, got {k}.")
        if vectors is None or vectors.shape[1] != index.dim:
            vectors = _query_vectors(lists, index.dim)
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


def _groups(tickets: np.ndarray, ks: np.ndarray) -> list[tuple[Any, int, np.ndarray]]:
    keyed: dict[tuple[Any, int], list[int]] = {}
    for row, key in enumerate(zip(tickets.tolist(), ks.tolist())):
        keyed.setdefault(key, []).append(row)
    return [(ticket, k, np.array(rows)) for (ticket, k), rows in keyed.items()]


def _query_vectors(lists: pa.Array, dim: int) -> np.ndarray:
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
            f"vsa_index: the index holds vectors of length {dim}, but a query vector has "
            f"length {err.length}. Encode the queries with the same configuration as the indexed "
            "column.",
            err.length,
        ) from None
    return matrix
