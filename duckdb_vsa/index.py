"""In-memory vector indexes that SQL top-k queries can use.

DuckDB's vector builtins score one pair at a time; a top-k join over a large
table is an order of magnitude slower than a float32 matrix product. An index
holds one table column as a contiguous float32 matrix, and a vectorised UDF
answers a whole Arrow chunk of queries (up to 2048 rows) with one matrix
product per block of index rows.

:class:`VectorIndex` is the interface; :class:`ExactIndex` is brute force,
exact, and ranks ties by the smaller id exactly as the builtin macros rank them
by the earlier row. ``duckdb_vsa.ann.HnswIndex`` (``method="hnsw"``) is an
approximate HNSW graph and ``duckdb_vsa.ann.IvfIndex`` (``method="ivf"``) an
approximate k-means inverted file behind the same interface, for tables too
large to scan per query.

:func:`build_index` makes an index from a table's vector column and puts it in
a per-database catalog that the SQL macros of ``sql/vsa_index.sql`` reach by
name. The index remembers a fingerprint of the table (row count and a hash of
every ``(rowid, vector)``, or of rowids and sampled elements); every query
recomputes it in SQL, in the query's own snapshot, and the UDF refuses to
answer when it differs, so a stale index raises instead of returning rows that
are no longer there or no longer hold the indexed vector.

SQL, after ``duckdb_vsa.register(con)`` and ``build_index(con, "items", "vec")``
(the index is named after the table unless ``name=`` says otherwise)::

    vsa_index_search('items', query, k := 10)       -- as vsa_search('items', 'vec', ...)
    vsa_index_topk_join('orders', 'vec', 'items', k := 5)
                                                    -- as vsa_topk_join(..., 'items', 'vec', ...)
    vsa_index_near_duplicates('items', threshold := 0.9, k := 10)
    vsa_index_topk('items', query, k := 10)         -- LIST of STRUCT(rowid, score)

Memory: an exact index holds ``rows x dim x 4`` bytes until :func:`drop_index`
(an HNSW index about ``rows x (dim x 4 + 8 x m + 20)``, an IVF index
``rows x (dim x 4 + 16) + nlist x dim x 4``);
each search call adds at most ``block_bytes`` of scores plus a few candidate
entries per query. Nothing else is cached.
"""

from __future__ import annotations

import abc
import dataclasses
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "CHECKS",
    "DEFAULT_BLOCK_BYTES",
    "ExactIndex",
    "Hits",
    "IndexSource",
    "VectorIndex",
    "build_index",
    "drop_index",
    "ensure_index_functions",
    "get_index",
    "list_indexes",
]

#: Scratch budget of one search call: the block of scores it holds at once.
#: DuckDB runs the UDF on several threads, each with its own block.
DEFAULT_BLOCK_BYTES = 64 * 2**20

#: Queries scored together; DuckDB's Arrow UDF chunks are at most this long.
QUERY_BLOCK = 2048

#: Column groups per block row when the top-k threshold is estimated.
_MAX_GROUP = 32

_HIT_TYPE = "STRUCT(rowid BIGINT, score FLOAT)[]"
_HIT_ARROW = pa.struct([("rowid", pa.int64()), ("score", pa.float32())])

_CATALOG_FUNCTION = "__vsa_index_catalog"
_SQL_FUNCTION = "__vsa_index_sql"
_TOPK_FUNCTION = "__vsa_index_topk"
_TOPK_EXCLUDING_FUNCTION = "__vsa_index_topk_excluding"

_SQL_PARTS = ("fingerprint", "rows", "vectors", "table", "column")
CHECKS = ("full", "sample")


# -- the interface and the exact implementation ----------------------------------------


@dataclasses.dataclass(frozen=True)
class IndexSource:
    """Where an index built by :func:`build_index` came from.

    Attributes
    ----------
    name : str
        The index name that SQL uses.
    table : str
        The table, fully qualified and quoted (``"memory"."main"."items"``).
    column : str
        The vector column.
    fingerprint : str
        ``"<row count>:<hash>"`` of the table when the index was built.
    check : {"full", "sample"}
        What the fingerprint hashes (see :func:`build_index`).
    dim : int
        Vector dimension of the column.
    """

    name: str
    table: str
    column: str
    fingerprint: str
    check: str = "full"
    dim: int = 0

    def sql(self, part: str) -> str:
        """SQL over the indexed table (its ``fingerprint``, ``vectors`` or ``rows``), or
        its ``table`` name as ``db.schema.table`` or its ``column`` name."""
        if part == "table":
            return ".".join(_split_identifier(self.table))
        if part == "column":
            return self.column
        return _source_sql(self.table, self.column, part, self.check, self.dim)

    @property
    def rows(self) -> int:
        """Rows the table had (vectors or NULL) when the index was built."""
        return int(self.fingerprint.split(":", 1)[0])


@dataclasses.dataclass(frozen=True)
class Hits:
    """Top-k answers of several queries, one ragged list per query.

    Attributes
    ----------
    counts : numpy.ndarray of int64, shape (q,)
        Hits per query.
    ids : numpy.ndarray of int64, shape (counts.sum(),)
        Ids of the hits, query after query, best first.
    scores : numpy.ndarray of float32, shape (counts.sum(),)
        Inner products of the hits.
    """

    counts: np.ndarray
    ids: np.ndarray
    scores: np.ndarray


class VectorIndex(abc.ABC):
    """Nearest neighbours by inner product over a fixed set of vectors.

    Scores are inner products, which are cosines for the unit vectors that
    ``vsa_encode`` makes. Subclasses implement :meth:`search_ragged`;
    :meth:`search` is built on it. Implementations must be safe to search from
    several threads at once (DuckDB calls the SQL UDF that way), which holds
    for anything that is read-only after construction.

    Attributes
    ----------
    exact : bool
        Whether :meth:`search` returns the true top k.
    source : IndexSource or None
        The table and column the index was built from, if any.
    """

    exact: ClassVar[bool] = False
    source: IndexSource | None = None

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Vector dimension."""

    @property
    @abc.abstractmethod
    def ids(self) -> np.ndarray:
        """Ids of the indexed vectors, ascending (read-only int64 array)."""

    @property
    @abc.abstractmethod
    def nbytes(self) -> int:
        """Memory the index holds, in bytes."""

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def build_arguments(self) -> dict[str, Any]:
        """The arguments of :func:`build_index` beyond the defaults that make this kind of
        index again (``{}`` for an exact index); error messages quote them."""
        return {}

    @abc.abstractmethod
    def search_ragged(self, queries: Any, k: int, *, exclude: Any = None) -> Hits:
        """The best ``k`` hits of each query, as ragged lists.

        Parameters
        ----------
        queries : array_like of float, shape (q, dim)
            Query vectors.
        k : int
            Hits wanted per query (>= 1).
        exclude : array_like of int64, shape (q,), optional
            For each query, an id that must not be among its hits (a row
            queried against its own table).

        Returns
        -------
        Hits
            Best first; ties by the smaller id.
        """

    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` indexed vectors with the largest inner product with each query.

        Parameters
        ----------
        queries : array_like of float, shape (q, dim) or (dim,)
            Query vectors (a single vector is a batch of one).
        k : int
            Hits wanted per query (>= 1).

        Returns
        -------
        ids : numpy.ndarray of int64, shape (q, min(k, len(self)))
            Ids of the hits, best first, ties by the smaller id; ``-1`` pads a
            row that has fewer hits (only an approximate index leaves gaps).
        scores : numpy.ndarray of float32, same shape
            Their inner products (``-inf`` where ``ids`` is ``-1``).

        Raises
        ------
        ValueError
            If the queries do not have this index's dimension, are not finite,
            or ``k`` is not a positive integer.

        Examples
        --------
        >>> import numpy as np
        >>> index = ExactIndex(np.eye(3, dtype=np.float32), ids=[10, 20, 30])
        >>> ids, scores = index.search([[0.0, 1.0, 0.5]], k=2)
        >>> ids.tolist(), scores.tolist()
        ([[20, 30]], [[1.0, 0.5]])
        """
        q = np.asarray(queries)
        single = q.ndim == 1
        hits = self.search_ragged(q.reshape(1, -1) if single else q, k)
        width = min(_positive_k(k), len(self))
        rows = len(hits.counts)
        ids = np.full((rows, width), -1, dtype=np.int64)
        scores = np.full((rows, width), -np.inf, dtype=np.float32)
        if width:
            starts = np.concatenate(([0], np.cumsum(hits.counts)[:-1]))
            row = np.repeat(np.arange(rows), hits.counts)
            col = np.arange(len(hits.ids)) - np.repeat(starts, hits.counts)
            ids[row, col] = hits.ids
            scores[row, col] = hits.scores
        return ids, scores


class ExactIndex(VectorIndex):
    """Brute-force exact top-k by inner product, in float32.

    Each block of up to 2048 queries is multiplied with the whole matrix, one
    block of index rows at a time, so a search holds at most ``block_bytes``
    of scores. The top k of each block are found without sorting it: the k-th
    largest of the maxima of column groups bounds the k-th largest score from
    below, and only the few groups above that bound are looked at.

    Parameters
    ----------
    vectors : array_like of float, shape (n, dim)
        The vectors; stored as a contiguous float32 copy.
    ids : array_like of int, shape (n,), optional
        Their ids (distinct); ``0..n-1`` by default. Ties rank the smaller id
        first.
    block_bytes : int, default DEFAULT_BLOCK_BYTES
        Scratch budget of one search call.
    copy : bool, default True
        Copy ``vectors`` even when they already are a C-contiguous float32
        array. With False the index takes them over: they must not change.

    Raises
    ------
    ValueError
        If the vectors are not a finite 2-D array, or the ids are not distinct
        or do not match the vectors.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> vectors = rng.standard_normal((1000, 64)).astype(np.float32)
    >>> index = ExactIndex(vectors)
    >>> ids, scores = index.search(vectors[:3], k=1)
    >>> ids.ravel().tolist()
    [0, 1, 2]
    """

    exact = True

    def __init__(
        self,
        vectors: Any,
        ids: Any = None,
        *,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
        copy: bool = True,
    ) -> None:
        matrix, keys = _vectors_and_ids(vectors, ids, copy=copy)
        if block_bytes < 1:
            raise ValueError(f"block_bytes must be a positive number of bytes, got {block_bytes}.")
        self._matrix = matrix
        self._ids = keys
        self.block_bytes = int(block_bytes)

    @property
    def dim(self) -> int:
        return int(self._matrix.shape[1])

    @property
    def ids(self) -> np.ndarray:
        return self._ids

    @property
    def vectors(self) -> np.ndarray:
        """The indexed vectors in id order (read-only float32, shape (n, dim))."""
        return self._matrix

    @property
    def nbytes(self) -> int:
        return int(self._matrix.nbytes + self._ids.nbytes)

    def __repr__(self) -> str:
        where = f", source={self.source.table}.{self.source.column}" if self.source else ""
        return f"ExactIndex(n={len(self)}, dim={self.dim}{where})"

    def search_ragged(self, queries: Any, k: int, *, exclude: Any = None) -> Hits:
        k = _positive_k(k)
        q = _query_matrix(queries, self.dim)
        skip = None
        if exclude is not None:
            skip = np.asarray(exclude, dtype=np.int64).reshape(-1)
            if len(skip) != len(q):
                raise ValueError(f"Got {len(skip)} ids to exclude for {len(q)} queries.")
        parts = []
        for lo in range(0, len(q), QUERY_BLOCK):
            hi = min(lo + QUERY_BLOCK, len(q))
            parts.append(self._search_block(q[lo:hi], k, None if skip is None else skip[lo:hi]))
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return Hits(empty, empty, np.zeros(0, dtype=np.float32))
        return Hits(
            np.concatenate([p.counts for p in parts]),
            np.concatenate([p.ids for p in parts]),
            np.concatenate([p.scores for p in parts]),
        )

    def _search_block(self, q: np.ndarray, k: int, skip: np.ndarray | None) -> Hits:
        m, n = len(q), len(self._matrix)
        # One more than asked when a query may find itself and drop it.
        want = min(k + (skip is not None), n)
        if want == 0:
            empty = np.zeros(0, dtype=np.int64)
            return Hits(np.zeros(m, dtype=np.int64), empty, np.zeros(0, dtype=np.float32))
        width = min(max(self.block_bytes // (4 * m), 1), n)
        scratch = np.empty(m * width, dtype=np.float32)
        queries_t = q.T
        best = _Best(m, want)
        for lo in range(0, n, width):
            hi = min(lo + width, n)
            # Index rows by queries: with few queries BLAS is up to 3x faster this
            # way round than queries by index rows, and never slower.
            scores = scratch[: (hi - lo) * m].reshape(hi - lo, m)
            np.matmul(self._matrix[lo:hi], queries_t, out=scores)
            rows, cols, vals = _block_candidates(scores, want, best.floor())
            best.merge(rows, cols + lo, vals)
        rows, pos, vals = best.rows, best.pos, best.vals
        ids = self._ids[pos]
        if skip is not None:
            keep = ids != skip[rows]
            rows, ids, vals = rows[keep], ids[keep], vals[keep]
            keep = _rank_in_row(rows, m) < k
            rows, ids, vals = rows[keep], ids[keep], vals[keep]
        return Hits(np.bincount(rows, minlength=m).astype(np.int64), ids, vals)


def _vectors_and_ids(vectors: Any, ids: Any, *, copy: bool) -> tuple[np.ndarray, np.ndarray]:
    """Vectors as a C-contiguous float32 matrix and their ids, both in ascending id order.

    Raises ValueError if the vectors are not a finite 2-D array or the ids are
    not distinct or do not match the vectors. The arrays come back read-only.
    """
    if copy:
        matrix = np.array(vectors, dtype=np.float32, order="C", copy=True)
    else:
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] < 1:
        raise ValueError(
            f"An index needs a 2-D array of vectors (rows x dimension), got shape {matrix.shape}."
        )
    if not np.isfinite(matrix).all():
        raise ValueError(
            "The vectors contain NaN or infinite values; an index can only rank finite "
            "vectors. Remove or re-encode those rows."
        )
    if ids is None:
        keys = np.arange(len(matrix), dtype=np.int64)
    else:
        keys = np.array(ids, dtype=np.int64).reshape(-1)
        if len(keys) != len(matrix):
            raise ValueError(
                f"Got {len(keys)} ids for {len(matrix)} vectors; give one id per vector."
            )
        order = np.argsort(keys, kind="stable")
        if len(keys) and not np.array_equal(order, np.arange(len(keys))):
            keys, matrix = keys[order], matrix[order]
        if len(keys) > 1 and not (np.diff(keys) > 0).all():
            raise ValueError("The ids of an index must be distinct; some id occurs twice.")
    matrix.flags.writeable = False
    keys.flags.writeable = False
    return matrix, keys


class _Best:
    """The running best ``want`` candidates of each of ``m`` queries (flat, sorted)."""

    def __init__(self, m: int, want: int) -> None:
        self.m, self.want = m, want
        self.rows = np.zeros(0, dtype=np.int64)
        self.pos = np.zeros(0, dtype=np.int64)
        self.vals = np.zeros(0, dtype=np.float32)
        self._floor = np.full(m, -np.inf, dtype=np.float32)

    def floor(self) -> np.ndarray:
        """Per query, the score a new candidate must reach (its current k-th best)."""
        return self._floor

    def merge(self, rows: np.ndarray, pos: np.ndarray, vals: np.ndarray) -> None:
        rows = np.concatenate((self.rows, rows))
        pos = np.concatenate((self.pos, pos))
        vals = np.concatenate((self.vals, vals))
        # Best first within a query; equal scores keep the smaller position,
        # which is the smaller id because the matrix is in id order.
        order = np.lexsort((pos, -vals, rows))
        rows, pos, vals = rows[order], pos[order], vals[order]
        rank = _rank_in_row(rows, self.m)
        keep = rank < self.want
        self.rows, self.pos, self.vals = rows[keep], pos[keep], vals[keep]
        last = rank[keep] == self.want - 1
        self._floor[self.rows[last]] = self.vals[last]


def _rank_in_row(rows: np.ndarray, m: int) -> np.ndarray:
    """Position of each entry within its row, for entries sorted by row."""
    counts = np.bincount(rows, minlength=m)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return np.arange(len(rows)) - np.repeat(starts, counts)


def _block_candidates(
    scores: np.ndarray, want: int, floor: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries of ``scores`` (index rows by queries) that may be in a query's top ``want``.

    Returns (query, index row, score) of every entry at least as large as its
    query's ``want``-th largest (ties included, so the selection stays exact)
    and of usually only a few more. The rows are split into ``groups`` groups;
    the ``want``-th largest group maximum bounds the ``want``-th largest entry
    from below, and only the groups whose maximum reaches it are read again.
    """
    width = scores.shape[0]
    group = max(1, min(_MAX_GROUP, width // (4 * want)))
    groups = width // group
    if group == 1:
        cols, rows = np.nonzero(scores >= floor[None, :])
        return rows, cols, scores[cols, rows]
    # Group j is rows j, j + groups, ...: whole slabs of rows, reduced without a copy.
    maxima = scores[:groups].copy()
    for t in range(1, group):
        np.maximum(maxima, scores[t * groups : (t + 1) * groups], out=maxima)
    bound = np.partition(maxima, groups - want, axis=0)[groups - want]
    np.maximum(bound, floor, out=bound)
    gcol, grow = np.nonzero(maxima >= bound[None, :])
    cols = gcol[:, None] + groups * np.arange(group)
    rows = np.broadcast_to(grow[:, None], cols.shape)
    vals = scores[cols, rows]
    keep = vals >= bound[grow][:, None]
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    tail = group * groups
    if tail < width:
        tcol, trow = np.nonzero(scores[tail:] >= bound[None, :])
        rows = np.concatenate((rows, trow))
        cols = np.concatenate((cols, tcol + tail))
        vals = np.concatenate((vals, scores[tcol + tail, trow]))
    return rows, cols, vals


def _positive_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    return int(k)


def _query_matrix(queries: Any, dim: int) -> np.ndarray:
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != dim:
        shape = q.shape if q.ndim != 2 else f"vectors of length {q.shape[1]}"
        raise ValueError(
            f"The index holds vectors of length {dim}, but the queries are {shape}; encode the "
            "queries with the same configuration as the indexed column."
        )
    if not np.isfinite(q).all():
        raise ValueError(
            "A query vector contains NaN, infinite or NULL values; only finite vectors can be "
            "ranked."
        )
    return q


# -- the per-database catalog and the SQL functions -------------------------------------


@dataclasses.dataclass
class _Catalog:
    """The indexes of one DuckDB database instance, and what keeps its UDFs alive."""

    token: str
    indexes: dict[str, VectorIndex]
    lock: threading.Lock
    # DuckDB frees a UDF's callable with the connection object that created it,
    # while other connections may still call it: keep both for the process's life.
    cursors: list[Any]
    callables: list[Any]

    def get(self, name: str) -> VectorIndex:
        with self.lock:
            index = self.indexes.get(name)
            names = sorted(self.indexes)
        if index is None:
            known = ", ".join(repr(n) for n in names) if names else "none"
            raise ValueError(
                f"There is no duckdb_vsa index named {name!r} on this database (indexes: "
                f"{known}). Build it with duckdb_vsa.build_index(con, table, column, "
                f"name={name!r})."
            )
        return index


_CATALOGS: dict[str, _Catalog] = {}
_LOCK = threading.RLock()


def _find_catalog(con: duckdb.DuckDBPyConnection) -> _Catalog | None:
    probe = con.cursor()
    try:
        found = probe.execute(
            "SELECT count(*) FROM duckdb_functions() WHERE function_name = ?", [_CATALOG_FUNCTION]
        ).fetchone()[0]
        if not found:
            return None
        token = probe.execute(f"SELECT {_CATALOG_FUNCTION}()").fetchone()[0]
    finally:
        probe.close()
    catalog = _CATALOGS.get(token)
    if catalog is None:
        raise RuntimeError(
            "This DuckDB database has duckdb_vsa index functions registered by another copy of "
            "the package in this process; use a fresh connection."
        )
    return catalog


def ensure_index_functions(con: duckdb.DuckDBPyConnection) -> None:
    """Create the index UDFs on ``con``'s database if it does not have them yet.

    :func:`~duckdb_vsa.register` calls this, so the ``vsa_index_*`` macros
    always find their functions.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection or cursor of the database.
    """
    with _LOCK:
        _catalog(con)


def _catalog(con: duckdb.DuckDBPyConnection) -> _Catalog:
    with _LOCK:
        catalog = _find_catalog(con)
        if catalog is None:
            catalog = _create_functions(con)
            _CATALOGS[catalog.token] = catalog
        return catalog


def _create_functions(con: duckdb.DuckDBPyConnection) -> _Catalog:
    catalog = _Catalog(uuid.uuid4().hex, {}, threading.Lock(), [], [])

    def catalog_token() -> str:
        return catalog.token

    def index_sql(name: str, part: str) -> str:
        index = catalog.get(name)
        if index.source is None or part not in _SQL_PARTS:
            raise ValueError(f"Internal error: no SQL {part!r} for index {name!r}.")
        return index.source.sql(part)

    def topk(names: Any, fingerprints: Any, queries: Any, ks: Any) -> pa.Array:
        return _answer(catalog, names, fingerprints, queries, ks, None)

    def topk_excluding(
        names: Any, fingerprints: Any, queries: Any, ks: Any, exclude: Any
    ) -> pa.Array:
        return _answer(catalog, names, fingerprints, queries, ks, exclude)

    cursor = con.cursor()
    cursor.create_function(_SQL_FUNCTION, index_sql, ["VARCHAR", "VARCHAR"], "VARCHAR")
    cursor.create_function(
        _TOPK_FUNCTION,
        topk,
        ["VARCHAR", "VARCHAR", "FLOAT[]", "BIGINT"],
        _HIT_TYPE,
        type="arrow",
    )
    cursor.create_function(
        _TOPK_EXCLUDING_FUNCTION,
        topk_excluding,
        ["VARCHAR", "VARCHAR", "FLOAT[]", "BIGINT", "BIGINT"],
        _HIT_TYPE,
        type="arrow",
    )
    # Last: finding the token means every other function exists.
    cursor.create_function(_CATALOG_FUNCTION, catalog_token, [], "VARCHAR")
    catalog.cursors.append(cursor)
    catalog.callables.extend([catalog_token, index_sql, topk, topk_excluding])
    return catalog


def _answer(
    catalog: _Catalog,
    names: Any,
    fingerprints: Any,
    queries: Any,
    ks: Any,
    exclude: Any,
) -> pa.Array:
    """The UDF body: one Arrow chunk of queries in, one list of hits per query out."""
    lists = _combine(queries)
    n = len(lists)
    name_values = _combine(names).to_numpy(zero_copy_only=False)
    k_values = _combine(ks).to_numpy(zero_copy_only=False).astype(np.int64)
    fp_values = _combine(fingerprints).to_numpy(zero_copy_only=False)
    skip = None if exclude is None else _combine(exclude).to_numpy(zero_copy_only=False)
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
        index = catalog.get(str(name))
        _check_fresh(str(name), index, fp_values[rows])
        if k < 1:
            raise ValueError(f"vsa_index: k must be a positive integer, got {k}.")
        if vectors is None or vectors.shape[1] != index.dim:
            vectors = _list_matrix(lists, index.dim, str(name))
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


def _combine(column: Any) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def _groups(names: np.ndarray, ks: np.ndarray) -> list[tuple[Any, int, np.ndarray]]:
    keyed: dict[tuple[Any, int], list[int]] = {}
    for row, key in enumerate(zip(names.tolist(), ks.tolist())):
        keyed.setdefault(key, []).append(row)
    return [(name, k, np.array(rows)) for (name, k), rows in keyed.items()]


def _flat_vectors(
    lists: pa.Array, dim: int, wrong_length: Callable[[int], str], null_element: str
) -> np.ndarray:
    """An Arrow list (or fixed-size list) array of vectors as a float32 (rows, dim) matrix.

    Raises ``ValueError(wrong_length(length))`` for a vector whose length is not ``dim``
    and ``ValueError(null_element)`` for a vector with a NULL element.
    """
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    if len(lengths) and (lengths.min() != dim or lengths.max() != dim):
        raise ValueError(wrong_length(int(lengths[lengths != dim][0])))
    flat = lists.flatten()
    if flat.null_count:
        raise ValueError(null_element)
    return flat.to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, dim)


def _list_matrix(lists: pa.Array, dim: int, name: str) -> np.ndarray:
    """A column of query vectors as a (rows, dim) matrix."""
    return _flat_vectors(
        lists,
        dim,
        lambda bad: (
            f"vsa_index: index {name!r} holds vectors of length {dim}, but a query vector has "
            f"length {bad}. Encode the queries with the same configuration as the indexed column."
        ),
        "vsa_index: a query vector contains a NULL element; only complete vectors can be ranked.",
    )


def _check_fresh(name: str, index: VectorIndex, fingerprints: np.ndarray) -> None:
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
    raise ValueError(
        f"The duckdb_vsa index {name!r} is out of date: table {source.table} changed after the "
        f"index was built ({change}). Rebuild it with duckdb_vsa.build_index(con, "
        f"{_py_table(source.table)!r}, {source.column!r}, name={name!r}{extra}, replace=True)."
    )


def _py_table(table: str) -> str:
    """The quoted three-part name as a user would type it (quotes only where needed)."""
    parts = _split_identifier(table)
    simple = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
    return ".".join(p if simple.match(p) else _quote(p) for p in parts)


# -- SQL text ----------------------------------------------------------------------------


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _source_sql(table: str, column: str, part: str, check: str = "full", dim: int = 0) -> str:
    """SQL over the indexed table; the macros read it through ``query(...)``.

    The fingerprint expression is the one :func:`build_index` records: both
    must hash the column exactly as stored.
    """
    col = _quote(column)
    if part == "fingerprint":
        if check == "full":
            hashed = col
        else:
            # DuckDB rewrites an updated LIST/ARRAY row under a new rowid, so
            # rowids catch updates until a checkpoint renumbers rows; the
            # sampled elements catch a different row landing on an old rowid.
            hashed = ", ".join(f"{col}[{i}]" for i in sorted({1, dim // 2 + 1, max(dim, 1)}))
        return (
            "SELECT count(*)::VARCHAR || ':' || coalesce(bit_xor(hash(rowid, "
            f"{hashed})), 0)::VARCHAR AS __vsa_fingerprint FROM {table}"
        )
    if part == "vectors":
        return f"SELECT rowid AS __vsa_rowid, {col} AS __vsa_v FROM {table}"
    return f"SELECT rowid AS __vsa_rowid, __vsa_t AS __vsa_row FROM {table} AS __vsa_t"


def _split_identifier(name: str) -> list[str]:
    """``a."b.c"`` -> ``["a", "b.c"]``; raise on malformed quoting."""
    parts: list[str] = []
    i, n = 0, len(name)
    while True:
        if i < n and name[i] == '"':
            j, buf = i + 1, []
            while True:
                end = name.find('"', j)
                if end < 0:
                    raise ValueError(f"Unbalanced double quote in table name {name!r}.")
                buf.append(name[j:end])
                if end + 1 < n and name[end + 1] == '"':
                    buf.append('"')
                    j = end + 2
                    continue
                i = end + 1
                break
            parts.append("".join(buf))
        else:
            end = name.find(".", i)
            end = n if end < 0 else end
            part = name[i:end].strip()
            if not part or '"' in part:
                raise ValueError(f"{name!r} is not a valid table name.")
            parts.append(part)
            i = end
        if i == n:
            return parts
        if name[i] != ".":
            raise ValueError(f"{name!r} is not a valid table name.")
        i += 1


_ARRAY_TYPE = re.compile(r"^(?P<base>[A-Z][A-Z0-9_]*(?:\([0-9, ]+\))?)\[(?P<size>[0-9]*)\]$")


def _resolve_table(con: duckdb.DuckDBPyConnection, table: str) -> tuple[str, str, str]:
    """(database, schema, name) of the base table ``table`` names, as DuckDB resolves it."""
    if not isinstance(table, str) or not table.strip():
        raise ValueError(f"table must be the name of a table, given as a string, got {table!r}.")
    parts = _split_identifier(table.strip())
    if len(parts) > 3:
        raise ValueError(f"{table!r} is not a valid table name (too many dots).")
    database, schema = con.execute("SELECT current_database(), current_schema()").fetchone()
    if len(parts) == 1:
        candidates = [("temp", "main", parts[0]), (database, schema, parts[0])]
    elif len(parts) == 2:
        candidates = [
            ("temp", parts[0], parts[1]),
            (database, parts[0], parts[1]),
            (parts[0], "main", parts[1]),
        ]
    else:
        candidates = [(parts[0], parts[1], parts[2])]
    relations = con.execute(
        "SELECT database_name, schema_name, table_name, 'table' FROM duckdb_tables() "
        "UNION ALL SELECT database_name, schema_name, view_name, 'view' FROM duckdb_views() "
        "WHERE NOT internal"
    ).fetchall()
    found = {(d.lower(), s.lower(), t.lower()): (d, s, t, kind) for d, s, t, kind in relations}
    for d, s, t in candidates:
        hit = found.get((d.lower(), s.lower(), t.lower()))
        if hit is None:
            continue
        if hit[3] == "view":
            raise ValueError(
                f"{table!r} is a view; an index needs a base table, whose rowids identify its "
                f"rows. Build the index on the underlying table, or materialise the view with "
                f"CREATE TABLE ... AS SELECT * FROM {table}."
            )
        return hit[0], hit[1], hit[2]
    raise ValueError(
        f"There is no table named {table!r} in this database; an index is built from a base "
        "table (not a view, file or table function)."
    )


def _resolve_column(
    con: duckdb.DuckDBPyConnection, table: tuple[str, str, str], column: str
) -> tuple[str, str]:
    """(exact column name, its type)."""
    if not isinstance(column, str) or not column:
        raise ValueError(f"column must be a column name, given as a string, got {column!r}.")
    columns = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = ? AND schema_name = ? AND table_name = ?",
        list(table),
    ).fetchall()
    for name, data_type in columns:
        if name.lower() == column.lower():
            return name, data_type
    listing = ", ".join(name for name, _ in columns)
    raise ValueError(f"Table {'.'.join(table)} has no column {column!r} (its columns: {listing}).")


# -- public functions ---------------------------------------------------------------------


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
        A base table (``items``, ``main.items`` or ``db.main.items``), resolved
        as DuckDB resolves it on ``con``; views are refused.
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
        whole column on every query (about 6 ns per float: 0.6 s for 100,000
        rows of FLOAT[1024] on one core). ``"sample"``: the row count, every
        rowid and three elements of each vector, about 7 times cheaper. It
        catches every INSERT, DELETE and UPDATE (DuckDB stores an updated
        vector under a new rowid) and rows renumbered by a checkpoint, but
        not a vector edited only outside the sampled elements and moved back
        onto its old rowid by a checkpoint.
    method : {"exact", "hnsw", "ivf"}, default "exact"
        The kind of index. ``"exact"``: brute force, the true top k
        (:class:`ExactIndex`). ``"hnsw"``: an approximate HNSW graph from
        faiss (:class:`~duckdb_vsa.ann.HnswIndex`); ``"ivf"``: an approximate
        k-means inverted file from faiss (:class:`~duckdb_vsa.ann.IvfIndex`),
        much quicker to build. Both are for tables too large to scan per
        query and need ``pip install "duckdb-vsa[ann]"``.
    block_bytes : int, default DEFAULT_BLOCK_BYTES
        Scratch budget of each search call (score block); ``"exact"`` only.
    **options
        Parameters of the ``"hnsw"`` index: ``m``, ``ef_construction``,
        ``ef_search``, ``threads`` (see :class:`~duckdb_vsa.ann.HnswIndex`);
        of the ``"ivf"`` index: ``nlist``, ``nprobe``, ``threads`` (see
        :class:`~duckdb_vsa.ann.IvfIndex`).

    Returns
    -------
    VectorIndex
        The index (an :class:`ExactIndex`, ``HnswIndex`` or ``IvfIndex`` whose
        ids are the table's rowids).

    Raises
    ------
    ValueError
        If duckdb_vsa is not registered on ``con``, the table is a view or does
        not exist, the column is missing, not a vector column, of another
        dimension than the encoder, or holds NULL or non-finite elements, or an
        index of that name exists and ``replace`` is False, or ``method`` or an
        option is not one of those above.
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
    from duckdb_vsa.duck import registered_encoder

    if check not in CHECKS:
        raise ValueError(f"check must be 'full' or 'sample', got {check!r}.")
    make = _index_maker(method, block_bytes, options)
    encoder = registered_encoder(con)
    if encoder is None:
        raise ValueError(
            "duckdb_vsa is not registered on this connection; call duckdb_vsa.register(con) "
            "before building an index."
        )
    index_name = table if name is None else name
    if not isinstance(index_name, str) or not index_name:
        raise ValueError(f"name must be a non-empty string, got {index_name!r}.")
    catalog = _catalog(con)
    with catalog.lock:
        existing = catalog.indexes.get(index_name)
    if existing is not None and not replace:
        where = f" (on {existing.source.table}.{existing.source.column})" if existing.source else ""
        raise ValueError(
            f"An index named {index_name!r} already exists{where}; pass replace=True to "
            f"rebuild it, or drop it with duckdb_vsa.drop_index(con, {index_name!r})."
        )
    parts = _resolve_table(con, table)
    qualified = ".".join(_quote(p) for p in parts)
    column_name, data_type = _resolve_column(con, parts, column)
    dim = encoder.dim
    match = _ARRAY_TYPE.match(data_type.upper())
    if match is None:
        raise ValueError(
            f"Column {column_name!r} of {qualified} has type {data_type}, not a vector; index a "
            f"FLOAT[{dim}] column such as vsa_encode makes."
        )
    if match["size"] and int(match["size"]) != dim:
        raise ValueError(
            f"Column {column_name!r} of {qualified} holds {data_type} vectors, but this "
            f"connection's encoder makes FLOAT[{dim}]. Index a column encoded with this "
            f"configuration, or register with dim={match['size']}."
        )
    pending = IndexSource(index_name, qualified, column_name, "", check, dim)
    recorded = con.execute(
        "SELECT vsa_column_info(?, ?)", [pending.sql("table"), column_name]
    ).fetchall()[0][0]
    if recorded is not None and not recorded["comparable"]:
        raise ValueError(
            f"Column {column_name!r} of {qualified} was encoded with "
            f"{recorded['configuration']}, but this connection's encoder is "
            f"{encoder.config.describe()}. Vectors of different configurations are not "
            "comparable: build the index on a connection registered with the column's "
            "configuration, or re-encode the column with duckdb_vsa.encode_column()."
        )
    fingerprint_sql = pending.sql("fingerprint")
    vector_sql = pending.sql("vectors")
    cast = f"FLOAT[{dim}]" if match["size"] else "FLOAT[]"
    # One statement, so the vectors and the fingerprint come from one snapshot;
    # the outer join keeps the fingerprint when no row has a vector.
    result = _arrow(
        con,
        f"SELECT __vsa_f.__vsa_fingerprint, __vsa_r.__vsa_rowid, __vsa_r.__vsa_v::{cast} "
        f"FROM ({fingerprint_sql}) __vsa_f LEFT JOIN ({vector_sql} WHERE {_quote(column_name)} "
        f"IS NOT NULL) __vsa_r ON true",
    )
    fingerprint = str(result.column(0)[0])
    if result.column(1).null_count:
        rowids = np.zeros(0, dtype=np.int64)
        matrix = np.zeros((0, dim), dtype=np.float32)
    else:
        rowids = result.column(1).to_numpy()
        matrix = _table_matrix(result.column(2), dim, qualified, column_name)
    del result
    try:
        index = make(matrix, rowids)
    except ValueError as err:
        raise ValueError(f"Column {column_name!r} of {qualified}: {err}") from None
    index.source = dataclasses.replace(pending, fingerprint=fingerprint)
    with catalog.lock:
        if index_name in catalog.indexes and not replace:
            raise ValueError(
                f"An index named {index_name!r} was created while this one was being built; "
                "pass replace=True to replace it."
            )
        catalog.indexes[index_name] = index
    return index


def _index_maker(method: str, block_bytes: int, options: dict[str, Any]) -> Any:
    """A function (vectors, ids) -> VectorIndex for ``method``; checks everything first."""
    if method == "exact":
        if options:
            raise ValueError(
                f"Option(s) {', '.join(sorted(options))} apply to method='hnsw' or 'ivf' only; "
                "the exact index takes block_bytes alone."
            )
        if block_bytes < 1:
            raise ValueError(f"block_bytes must be a positive number of bytes, got {block_bytes}.")
        return lambda vectors, ids: ExactIndex(vectors, ids, block_bytes=block_bytes, copy=False)
    if method in ("hnsw", "ivf"):
        from duckdb_vsa.ann import HnswIndex, IvfIndex, check_options, import_faiss

        if block_bytes != DEFAULT_BLOCK_BYTES:
            takes = (
                "m, ef_construction, ef_search and threads"
                if method == "hnsw"
                else "nlist, nprobe and threads"
            )
            raise ValueError(
                f"block_bytes applies to method='exact' only; an {method.upper()} index takes "
                f"{takes}."
            )
        checked = check_options(options, method)
        import_faiss()
        kind = HnswIndex if method == "hnsw" else IvfIndex
        return lambda vectors, ids: kind(vectors, ids, copy=False, **checked)
    raise ValueError(
        f"method must be 'exact' (brute force), 'hnsw' or 'ivf' (approximate, need faiss-cpu), "
        f"got {method!r}."
    )


def _arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    relation = con.sql(sql)
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    table = fetch()
    # Some duckdb releases return a reader from .arrow().
    return table.read_all() if isinstance(table, pa.RecordBatchReader) else table


def _table_matrix(lists: pa.ChunkedArray, dim: int, table: str, column: str) -> np.ndarray:
    matrix = np.empty((len(lists), dim), dtype=np.float32)
    row = 0
    for chunk in lists.chunks:
        values = _flat_vectors(
            chunk,
            dim,
            lambda bad: (
                f"Column {column!r} of {table} has a vector of length {bad}, but this "
                f"connection's encoder makes vectors of length {dim}; every vector of an "
                "indexed column must have that length."
            ),
            f"Column {column!r} of {table} has a vector with a NULL element; an index needs "
            "complete vectors (a whole vector may be NULL: that row is left out).",
        )
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
    ValueError
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
    ValueError
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
