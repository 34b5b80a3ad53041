"""The indexes of each database, and building, finding and dropping them.

:func:`build_index` reads a table's vector column into an index and puts it in
the catalog of the table's database, where the ``vsa_index_*`` macros of every
connection to that database reach it by name. The index records a fingerprint
of the table; every query recomputes it in its own snapshot and the index
refuses to answer when it differs, so a stale index raises instead of
returning rows that are no longer there or no longer hold the indexed vector.

Memory: an exact index holds ``rows x dim x 4`` bytes until :func:`drop_index`
(an HNSW index about ``rows x (dim x 4 + 8 x m + 20)``, an IVF index
``rows x (dim x 4 + 16) + nlist x dim x 4``); each search call adds at most
``block_bytes`` of scores plus a few candidate entries per query. Nothing else
is cached.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from duckdb_vsa.arrays import vectors_from_arrow
from duckdb_vsa.db.columns import recorded_configuration
from duckdb_vsa.db.encoders import registered_config
from duckdb_vsa.db.names import find_column, resolve_table, table_columns
from duckdb_vsa.errors import (
    CatalogError,
    ConfigMismatchError,
    InvalidArgumentError,
    NotRegisteredError,
    VectorShapeError,
    mismatch_message,
)
from duckdb_vsa.index.ann import HnswIndex, IvfIndex, check_options, import_faiss
from duckdb_vsa.index.base import VectorIndex
from duckdb_vsa.index.exact import DEFAULT_BLOCK_BYTES, ExactIndex
from duckdb_vsa.index.source import CHECKS, IndexSource
from duckdb_vsa.index.udf import catalog_token, create_index_functions
from duckdb_vsa.sqltext import quote_ident

__all__ = [
    "IndexCatalog",
    "build_index",
    "drop_index",
    "ensure_index_functions",
    "get_index",
    "list_indexes",
]

_ARRAY_TYPE = re.compile(r"^(?P<base>[A-Z][A-Z0-9_]*(?:\([0-9, ]+\))?)\[(?P<size>[0-9]*)\]$")


@dataclasses.dataclass
class IndexCatalog:
    """The indexes of one DuckDB database instance, by name."""

    token: str
    indexes: dict[str, VectorIndex]
    lock: threading.Lock

    def get(self, name: str) -> VectorIndex:
        """The index called ``name``.

        Raises
        ------
        CatalogError
            If there is none; the message lists the indexes there are.
        """
        with self.lock:
            index = self.indexes.get(name)
            names = sorted(self.indexes)
        if index is None:
            known = ", ".join(repr(n) for n in names) if names else "none"
            raise CatalogError(
                f"There is no duckdb_vsa index named {name!r} on this database (indexes: "
                f"{known}). Build it with duckdb_vsa.build_index(con, table, column, "
                f"name={name!r})."
            )
        return index


# One catalog per database instance, by the token its __vsa_index_catalog() returns.
_CATALOGS: dict[str, IndexCatalog] = {}
_LOCK = threading.RLock()


def _catalog(con: duckdb.DuckDBPyConnection) -> IndexCatalog:
    with _LOCK:
        token = catalog_token(con)
        if token is None:
            catalog = IndexCatalog(uuid.uuid4().hex, {}, threading.Lock())
            create_index_functions(con, catalog.token, catalog.get)
            _CATALOGS[catalog.token] = catalog
            return catalog
        found = _CATALOGS.get(token)
        if found is None:
            raise CatalogError(
                "This DuckDB database has duckdb_vsa index functions registered by another copy "
                "of the package in this process; use a fresh connection."
            )
        return found


def ensure_index_functions(con: duckdb.DuckDBPyConnection) -> None:
    """Create the index functions on ``con``'s database if it does not have them yet.

    :func:`~duckdb_vsa.register` calls this, so the ``vsa_index_*`` macros
    always find their functions.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection or cursor of the database.
    """
    _catalog(con)


def build_index(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    *,
    name: str | None = None,
    replace: bool = False,
    check: str = "full",
    method: str = "exact",
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    **options: Any,
) -> VectorIndex:
    """Build an in-memory index of a table's vector column for the ``vsa_index_*`` macros.

    The column is read once into a float32 matrix (rows with a NULL vector are
    left out). The index belongs to the database, not the connection: every
    connection to it can use the index by name once ``register`` has been
    called on it. It lives until :func:`drop_index` or the end of the process,
    and holds ``rows x dim x 4`` bytes.

    The index records a fingerprint of the table, and every query through the
    macros recomputes it in its own snapshot: after an INSERT, DELETE or UPDATE
    of the table the macros raise an error until the index is rebuilt with
    ``replace=True``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection on which :func:`duckdb_vsa.register` has been called.
    table : str
        A base table (``items``, ``main.items``, ``db.main.items``, ``"My
        Table"``), resolved as ``query_table`` resolves it on ``con``; views
        are refused.
    column : str
        Its vector column: ``FLOAT[D]`` or a list of numbers of length D, where
        D is the dimension of the registered encoder.
    name : str, optional
        The name SQL uses for the index; defaults to ``table`` as given.
    replace : bool, default False
        Replace an existing index of the same name instead of raising.
    check : {"full", "sample"}, default "full"
        What the fingerprint hashes. ``"full"``: the row count and every
        ``(rowid, vector)``; any change is caught, at the cost of hashing the
        whole column on every query. ``"sample"``: the row count, every rowid
        and three elements of each vector, several times cheaper. It catches
        every INSERT, DELETE and UPDATE (DuckDB stores an updated vector under
        a new rowid) and rows renumbered by a checkpoint, but not a vector
        edited only outside the sampled elements and moved back onto its old
        rowid by a checkpoint.
    method : {"exact", "hnsw", "ivf"}, default "exact"
        The kind of index. ``"exact"``: brute force, the true top k
        (:class:`~duckdb_vsa.index.ExactIndex`). ``"hnsw"``: an approximate
        HNSW graph from faiss (:class:`~duckdb_vsa.index.HnswIndex`);
        ``"ivf"``: an approximate k-means inverted file from faiss
        (:class:`~duckdb_vsa.index.IvfIndex`), much quicker to build. Both are
        for tables too large to scan per query and need
        ``pip install "duckdb-vsa[ann]"``.
    block_bytes : int, default DEFAULT_BLOCK_BYTES
        Scratch budget of each search call (score block); ``"exact"`` only.
    **options
        Parameters of the ``"hnsw"`` index: ``m``, ``ef_construction``,
        ``ef_search``, ``threads`` (see :class:`~duckdb_vsa.index.HnswIndex`);
        of the ``"ivf"`` index: ``nlist``, ``nprobe``, ``threads`` (see
        :class:`~duckdb_vsa.index.IvfIndex`).

    Returns
    -------
    VectorIndex
        The index (an ``ExactIndex``, ``HnswIndex`` or ``IvfIndex`` whose ids
        are the table's rowids).

    Raises
    ------
    NotRegisteredError
        If duckdb_vsa is not registered on ``con``.
    CatalogError
        If the table is a view or does not exist, or the column is missing or
        not a vector column.
    ConfigMismatchError
        If the column was recorded with another configuration than the
        connection's.
    VectorShapeError
        If the vectors are of another dimension than the encoder's, or hold
        NULL or non-finite elements.
    InvalidArgumentError
        If an index of that name exists and ``replace`` is False, or
        ``method``, ``check`` or an option is not one of those above.
    ImportError
        If ``method="hnsw"`` or ``"ivf"`` and faiss-cpu is not installed.

    Examples
    --------
    >>> import duckdb, duckdb_vsa
    >>> con = duckdb.connect()
    >>> _ = duckdb_vsa.register(con, dim=256)
    >>> con.execute(
    ...     "CREATE TABLE docs AS SELECT i AS id, vsa_encode(json_object('n', i)) AS vec "
    ...     "FROM range(100) t(i)"
    ... ).fetchall()
    [(100,)]
    >>> duckdb_vsa.build_index(con, "docs", "vec")
    ExactIndex(n=100, dim=256, source="memory"."main"."docs".vec)
    >>> con.execute(
    ...     "SELECT id, round(score, 3) FROM vsa_index_search('docs', "
    ...     "vsa_encode(json_object('n', 42)), k := 1)"
    ... ).fetchall()
    [(42, 1.0)]
    """
    if check not in CHECKS:
        raise InvalidArgumentError(f"check must be 'full' or 'sample', got {check!r}.")
    make = _index_maker(method, block_bytes, options)
    config = registered_config(con)
    if config is None:
        raise NotRegisteredError(
            "duckdb_vsa is not registered on this connection; call duckdb_vsa.register(con) "
            "before building an index."
        )
    index_name = table if name is None else name
    if not isinstance(index_name, str) or not index_name:
        raise InvalidArgumentError(f"name must be a non-empty string, got {index_name!r}.")
    catalog = _catalog(con)
    with catalog.lock:
        existing = catalog.indexes.get(index_name)
    if existing is not None and not replace:
        where = f" (on {existing.source.table}.{existing.source.column})" if existing.source else ""
        raise InvalidArgumentError(
            f"An index named {index_name!r} already exists{where}; pass replace=True to "
            f"rebuild it, or drop it with duckdb_vsa.drop_index(con, {index_name!r})."
        )
    relation = resolve_table(con, table, purpose="an index")
    if not isinstance(column, str) or not column:
        raise InvalidArgumentError(
            f"column must be a column name, given as a string, got {column!r}."
        )
    columns = table_columns(con, relation)
    found = find_column(columns, column)
    if found is None:
        listing = ", ".join(c.name for c in columns)
        raise CatalogError(
            f"Table {relation.display} has no column {column!r} (its columns: {listing})."
        )
    column_name, dim = found.name, config.dim
    where = f"Column {column_name!r} of {relation.display}"
    match = _ARRAY_TYPE.match(found.data_type.upper())
    if match is None:
        raise CatalogError(
            f"{where} has type {found.data_type}, not a vector; index a FLOAT[{dim}] column "
            "such as vsa_encode makes."
        )
    if match["size"] and int(match["size"]) != dim:
        raise VectorShapeError(
            f"{where} holds {found.data_type} vectors, but this connection's encoder makes "
            f"FLOAT[{dim}]. Index a column encoded with this configuration, or register with "
            f"dim={match['size']}.",
            int(match["size"]),
        )
    recorded = recorded_configuration(con, relation, column_name)
    if recorded is not None and recorded[0] != config.fingerprint:
        raise ConfigMismatchError(
            mismatch_message(
                where,
                recorded[1],
                f"this connection's encoder is {config.describe()}",
                "build the index on a connection registered with the column's configuration, "
                "or re-encode the column with duckdb_vsa.encode_column().",
            )
        )
    pending = IndexSource(index_name, relation.sql, column_name, "", check, dim)
    cast = f"FLOAT[{dim}]" if match["size"] else "FLOAT[]"
    # One statement, so the vectors and the fingerprint come from one snapshot;
    # the outer join keeps the fingerprint when no row has a vector.
    result = _arrow(
        con,
        f"SELECT __vsa_f.__vsa_fingerprint, __vsa_r.__vsa_rowid, __vsa_r.__vsa_v::{cast} "
        f"FROM ({pending.sql('fingerprint')}) __vsa_f LEFT JOIN ({pending.sql('vectors')} "
        f"WHERE {quote_ident(column_name)} IS NOT NULL) __vsa_r ON true",
    )
    fingerprint = str(result.column(0)[0])
    if result.column(1).null_count:
        rowids = np.zeros(0, dtype=np.int64)
        matrix = np.zeros((0, dim), dtype=np.float32)
    else:
        rowids = result.column(1).to_numpy()
        matrix = _table_matrix(result.column(2), dim, where)
    del result
    try:
        index = make(matrix, rowids)
    except (VectorShapeError, InvalidArgumentError) as err:
        raise type(err)(f"{where}: {err}") from None
    index.source = dataclasses.replace(pending, fingerprint=fingerprint)
    with catalog.lock:
        if index_name in catalog.indexes and not replace:
            raise InvalidArgumentError(
                f"An index named {index_name!r} was created while this one was being built; "
                "pass replace=True to replace it."
            )
        catalog.indexes[index_name] = index
    return index


def _index_maker(
    method: str, block_bytes: int, options: dict[str, Any]
) -> Callable[[np.ndarray, np.ndarray], VectorIndex]:
    """A function (vectors, ids) -> VectorIndex for ``method``; checks everything first."""
    if method == "exact":
        if options:
            raise InvalidArgumentError(
                f"Option(s) {', '.join(sorted(options))} apply to method='hnsw' or 'ivf' only; "
                "the exact index takes block_bytes alone."
            )
        if block_bytes < 1:
            raise InvalidArgumentError(
                f"block_bytes must be a positive number of bytes, got {block_bytes}."
            )
        return lambda vectors, ids: ExactIndex(vectors, ids, block_bytes=block_bytes, copy=False)
    if method in ("hnsw", "ivf"):
        if block_bytes != DEFAULT_BLOCK_BYTES:
            takes = (
                "m, ef_construction, ef_search and threads"
                if method == "hnsw"
                else "nlist, nprobe and threads"
            )
            raise InvalidArgumentError(
                f"block_bytes applies to method='exact' only; an {method.upper()} index takes "
                f"{takes}."
            )
        checked = check_options(options, method)
        import_faiss()
        kind = HnswIndex if method == "hnsw" else IvfIndex
        return lambda vectors, ids: kind(vectors, ids, copy=False, **checked)
    raise InvalidArgumentError(
        f"method must be 'exact' (brute force), 'hnsw' or 'ivf' (approximate, need faiss-cpu), "
        f"got {method!r}."
    )


def _arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    relation = con.sql(sql)
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    table = fetch()
    # Some duckdb releases return a reader from .arrow().
    return table.read_all() if isinstance(table, pa.RecordBatchReader) else table


def _table_matrix(lists: pa.ChunkedArray, dim: int, where: str) -> np.ndarray:
    """The vectors of a column, chunk by chunk into one matrix (no second full copy)."""
    matrix = np.empty((len(lists), dim), dtype=np.float32)
    row = 0
    for chunk in lists.chunks:
        try:
            values, _ = vectors_from_arrow(chunk, dim)
        except VectorShapeError as err:
            if err.length is None:
                raise VectorShapeError(
                    f"{where} has a vector with a NULL element; an index needs complete "
                    "vectors (a whole vector may be NULL: that row is left out)."
                ) from None
            raise VectorShapeError(
                f"{where} has a vector of length {err.length}, but this connection's encoder "
                f"makes vectors of length {dim}; every vector of an indexed column must have "
                "that length.",
                err.length,
            ) from None
        matrix[row : row + len(values)] = values
        row += len(values)
    return matrix


def drop_index(con: duckdb.DuckDBPyConnection, name: str, *, missing_ok: bool = False) -> None:
    """Remove an index from ``con``'s database and free its memory.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection or cursor of the database.
    name : str
        The index name.
    missing_ok : bool, default False
        Do nothing if there is no such index instead of raising.

    Raises
    ------
    CatalogError
        If there is no index of that name and ``missing_ok`` is False.

    Examples
    --------
    >>> import duckdb, duckdb_vsa
    >>> con = duckdb.connect()
    >>> _ = duckdb_vsa.register(con, dim=256)
    >>> duckdb_vsa.drop_index(con, "nothing", missing_ok=True)
    """
    catalog = _catalog(con)
    with catalog.lock:
        removed = catalog.indexes.pop(name, None)
    if removed is None and not missing_ok:
        catalog.get(name)


def get_index(con: duckdb.DuckDBPyConnection, name: str) -> VectorIndex:
    """The index called ``name`` on ``con``'s database.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection or cursor of the database.
    name : str
        The index name.

    Returns
    -------
    VectorIndex

    Raises
    ------
    CatalogError
        If there is no index of that name.

    Examples
    --------
    >>> import duckdb, duckdb_vsa
    >>> con = duckdb.connect()
    >>> _ = duckdb_vsa.register(con, dim=256)
    >>> _ = con.execute("CREATE TABLE t AS SELECT vsa_encode('{}') AS v").fetchall()
    >>> duckdb_vsa.get_index(con, duckdb_vsa.build_index(con, "t", "v").source.name)
    ExactIndex(n=1, dim=256, source="memory"."main"."t".v)
    """
    return _catalog(con).get(name)


def list_indexes(con: duckdb.DuckDBPyConnection) -> dict[str, VectorIndex]:
    """Every index on ``con``'s database, by name.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection or cursor of the database.

    Returns
    -------
    dict of str to VectorIndex

    Examples
    --------
    >>> import duckdb, duckdb_vsa
    >>> con = duckdb.connect()
    >>> _ = duckdb_vsa.register(con, dim=256)
    >>> duckdb_vsa.list_indexes(con)
    {}
    """
    catalog = _catalog(con)
    with catalog.lock:
        return dict(catalog.indexes)
