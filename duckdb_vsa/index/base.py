"""The vector index interface, what every index validates, and how hits are ranked.

:class:`VectorIndex` is the interface the ``vsa_index_*`` SQL macros search;
:class:`~duckdb_vsa.index.exact.ExactIndex` and the faiss indexes of
:mod:`duckdb_vsa.index.ann` implement it. They share the checks of their
inputs (:func:`vectors_and_ids`, :func:`query_matrix`, :func:`positive_k`) and
one search loop, :func:`ragged_search`: each index only finds candidates for a
block of queries, and :func:`rank_hits` drops a query's own id, ranks (best
first, ties by the smaller id) and cuts to k.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from duckdb_vsa.arrays import rank_in_row
from duckdb_vsa.errors import InvalidArgumentError, VectorShapeError
from duckdb_vsa.index.source import IndexSource

__all__ = [
    "QUERY_BLOCK",
    "Hits",
    "VectorIndex",
    "exclude_ids",
    "positive_k",
    "query_matrix",
    "ragged_search",
    "rank_hits",
    "vectors_and_ids",
]

#: Queries scored together; DuckDB's Arrow UDF chunks are at most this long.
QUERY_BLOCK = 2048


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

    @classmethod
    def empty(cls, queries: int = 0) -> Hits:
        """No hits for each of ``queries`` queries."""
        nothing = np.zeros(0, dtype=np.int64)
        return cls(np.zeros(queries, dtype=np.int64), nothing, np.zeros(0, dtype=np.float32))


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
    def slots(self) -> int:
        """Vectors a search looks at: ``len(self)``, plus any whose row is gone."""
        return len(self)

    @property
    def build_arguments(self) -> dict[str, Any]:
        """The arguments of :func:`~duckdb_vsa.build_index` beyond the defaults that make
        this kind of index again (``{}`` for an exact index); error messages quote them."""
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
        VectorShapeError
            If the queries do not have this index's dimension or are not finite.
        InvalidArgumentError
            If ``k`` is not a positive integer.

        Examples
        --------
        >>> import numpy as np
        >>> from duckdb_vsa.index import ExactIndex
        >>> index = ExactIndex(np.eye(3, dtype=np.float32), ids=[10, 20, 30])
        >>> ids, scores = index.search([[0.0, 1.0, 0.5]], k=2)
        >>> ids.tolist(), scores.tolist()
        ([[20, 30]], [[1.0, 0.5]])
        """
        q = np.asarray(queries)
        single = q.ndim == 1
        hits = self.search_ragged(q.reshape(1, -1) if single else q, k)
        width = min(positive_k(k), len(self))
        rows = len(hits.counts)
        ids = np.full((rows, width), -1, dtype=np.int64)
        scores = np.full((rows, width), -np.inf, dtype=np.float32)
        if width:
            row = np.repeat(np.arange(rows), hits.counts)
            col = rank_in_row(row, rows)
            ids[row, col] = hits.ids
            scores[row, col] = hits.scores
        return ids, scores


def positive_k(k: Any) -> int:
    """``k`` as an int, or an InvalidArgumentError if it is not a positive integer."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidArgumentError(f"k must be a positive integer, got {k!r}.")
    return int(k)


def query_matrix(queries: Any, dim: int) -> np.ndarray:
    """Queries as a C-contiguous float32 (q, dim) matrix, or a VectorShapeError."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != dim:
        shape = q.shape if q.ndim != 2 else f"vectors of length {q.shape[1]}"
        raise VectorShapeError(
            f"The index holds vectors of length {dim}, but the queries are {shape}; encode the "
            "queries with the same configuration as the indexed column.",
            q.shape[1] if q.ndim == 2 else None,
        )
    if not np.isfinite(q).all():
        raise VectorShapeError(
            "A query vector contains NaN, infinite or NULL values; only finite vectors can be "
            "ranked."
        )
    return q


def exclude_ids(exclude: Any, queries: int) -> np.ndarray | None:
    """The ids to exclude, one per query, as int64; None for none."""
    if exclude is None:
        return None
    skip = np.asarray(exclude, dtype=np.int64).reshape(-1)
    if len(skip) != queries:
        raise InvalidArgumentError(f"Got {len(skip)} ids to exclude for {queries} queries.")
    return skip


def vectors_and_ids(vectors: Any, ids: Any, *, copy: bool) -> tuple[np.ndarray, np.ndarray]:
    """Vectors as a C-contiguous float32 matrix and their ids, both in ascending id order.

    The arrays come back read-only.

    Raises
    ------
    VectorShapeError
        If the vectors are not a finite 2-D array.
    InvalidArgumentError
        If the ids are not distinct or do not match the vectors.
    """
    if copy:
        matrix = np.array(vectors, dtype=np.float32, order="C", copy=True)
    else:
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] < 1:
        raise VectorShapeError(
            f"An index needs a 2-D array of vectors (rows x dimension), got shape {matrix.shape}."
        )
    if not np.isfinite(matrix).all():
        raise VectorShapeError(
            "The vectors contain NaN or infinite values; an index can only rank finite "
            "vectors. Remove or re-encode those rows."
        )
    if ids is None:
        keys = np.arange(len(matrix), dtype=np.int64)
    else:
        keys = np.array(ids, dtype=np.int64).reshape(-1)
        if len(keys) != len(matrix):
            raise InvalidArgumentError(
                f"Got {len(keys)} ids for {len(matrix)} vectors; give one id per vector."
            )
        order = np.argsort(keys, kind="stable")
        if len(keys) and not np.array_equal(order, np.arange(len(keys))):
            keys, matrix = keys[order], matrix[order]
        if len(keys) > 1 and not (np.diff(keys) > 0).all():
            raise InvalidArgumentError(
                "The ids of an index must be distinct; some id occurs twice."
            )
    matrix.flags.writeable = False
    keys.flags.writeable = False
    return matrix, keys


def rank_hits(
    rows: np.ndarray,
    ids: np.ndarray,
    scores: np.ndarray,
    queries: int,
    k: int,
    exclude: np.ndarray | None = None,
) -> Hits:
    """Candidates of ``queries`` queries as their hits: own id dropped, ranked, cut to ``k``.

    Parameters
    ----------
    rows : numpy.ndarray of int64
        The query (``0 .. queries - 1``) of each candidate.
    ids, scores : numpy.ndarray
        The candidates' ids and scores.
    queries : int
        How many queries.
    k : int
        Hits kept per query.
    exclude : numpy.ndarray of int64, shape (queries,), optional
        For each query, an id that is dropped from its candidates.

    Returns
    -------
    Hits
        Best first within each query; equal scores rank the smaller id first.

    Examples
    --------
    >>> hits = rank_hits(np.array([0, 0, 0, 1]), np.array([5, 3, 9, 5]),
    ...                  np.array([0.5, 0.5, 0.9, 0.1], dtype=np.float32), 2, 2,
    ...                  exclude=np.array([9, 0]))
    >>> hits.counts.tolist(), hits.ids.tolist()
    ([2, 1], [3, 5, 5])
    """
    if exclude is not None:
        keep = ids != exclude[rows]
        rows, ids, scores = rows[keep], ids[keep], scores[keep]
    order = np.lexsort((ids, -scores, rows))
    rows, ids, scores = rows[order], ids[order], scores[order]
    keep = rank_in_row(rows, queries) < k
    rows, ids, scores = rows[keep], ids[keep], scores[keep]
    return Hits(np.bincount(rows, minlength=queries).astype(np.int64), ids, scores)


#: Finds candidates for a block of queries: ``(queries, want)`` to ``(rows, ids, scores)``.
Candidates = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray, np.ndarray]]


def ragged_search(
    index: VectorIndex,
    queries: Any,
    k: int,
    exclude: Any,
    candidates: Candidates,
    extra: int = 0,
) -> Hits:
    """:meth:`VectorIndex.search_ragged` of an index that can find candidates.

    Checks the arguments, then for each block of :data:`QUERY_BLOCK` queries
    asks ``candidates`` for the best ``want`` of each (one more than ``k``
    when a query's own id may be among them) and keeps the hits
    :func:`rank_hits` selects.

    Parameters
    ----------
    index : VectorIndex
        The index searched (its ``dim`` and size).
    queries, k, exclude
        As for :meth:`VectorIndex.search_ragged`.
    candidates : callable
        ``candidates(block, want)`` returns ``(rows, ids, scores)`` of at
        least the true (or, for an approximate index, the found) best ``want``
        of each query of ``block``, rows counted from the block's first query.
    extra : int, default 0
        Candidates asked for beyond ``k``: an index whose candidates may
        include up to ``extra`` entries it then drops (vectors whose row is
        gone) still returns ``k`` hits.

    Returns
    -------
    Hits
    """
    k = positive_k(k)
    q = query_matrix(queries, index.dim)
    skip = exclude_ids(exclude, len(q))
    want = min(k + (skip is not None) + extra, index.slots)
    if want == 0 or len(q) == 0:
        return Hits.empty(len(q))
    parts = []
    for lo in range(0, len(q), QUERY_BLOCK):
        hi = min(lo + QUERY_BLOCK, len(q))
        rows, ids, scores = candidates(q[lo:hi], want)
        parts.append(
            rank_hits(rows, ids, scores, hi - lo, k, None if skip is None else skip[lo:hi])
        )
    return Hits(
        np.concatenate([p.counts for p in parts]),
        np.concatenate([p.ids for p in parts]),
        np.concatenate([p.scores for p in parts]),
    )
