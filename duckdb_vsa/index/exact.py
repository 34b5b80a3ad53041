"""The exact index: brute-force top-k by inner product with float32 matrix products.

DuckDB's vector builtins score one pair at a time; this index holds a column
as one contiguous float32 matrix and answers a whole block of queries with
one matrix product per block of index rows, finding each query's top k
without sorting the scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from duckdb_vsa.arrays import rank_in_row
from duckdb_vsa.errors import InvalidArgumentError
from duckdb_vsa.index.base import Hits, VectorIndex, ragged_search, vectors_and_ids

__all__ = ["DEFAULT_BLOCK_BYTES", "ExactIndex"]

#: Scratch budget of one search call: the block of scores it holds at once.
#: DuckDB runs the UDF on several threads, each with its own block.
DEFAULT_BLOCK_BYTES = 64 * 2**20

#: Column groups per block row when the top-k threshold is estimated.
_MAX_GROUP = 32


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
    VectorShapeError
        If the vectors are not a finite 2-D array.
    InvalidArgumentError
        If the ids are not distinct or do not match the vectors, or
        ``block_bytes`` is not positive.

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
        matrix, keys = vectors_and_ids(vectors, ids, copy=copy)
        if block_bytes < 1:
            raise InvalidArgumentError(
                f"block_bytes must be a positive number of bytes, got {block_bytes}."
            )
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
        return ragged_search(self, queries, k, exclude, self._candidates)

    def _candidates(self, q: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query, id, score) of the true best ``want`` of each query, ties included.

        BLAS rounds a product differently depending on where it falls in its
        blocks, so two equal vectors may score a last bit apart. Candidates are
        therefore kept down to a margin below each query's ``want``-th score and
        scored again pair by pair in float64, so that equal vectors tie exactly
        and the ranking is that of the exact inner products.
        """
        m, n = len(q), len(self._matrix)
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
            rows, cols, vals = _block_candidates(scores, want, best.floor() - best.margin())
            best.merge(rows, cols + lo, vals)
        rows, pos = best.rows, best.pos
        exact = np.einsum(
            "ij,ij->i", q[rows].astype(np.float64), self._matrix[pos].astype(np.float64)
        ).astype(np.float32)
        return rows, self._ids[pos], exact


#: Relative margin below a query's k-th BLAS score within which candidates are scored
#: again: far above the few last bits by which BLAS products of equal pairs differ.
_MARGIN = 2.0**-16


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

    def margin(self) -> np.ndarray:
        """Per query, how far below its floor a candidate is still kept (rounding of BLAS)."""
        return np.float32(_MARGIN) * np.maximum(np.abs(self._floor), np.float32(1.0))

    def merge(self, rows: np.ndarray, pos: np.ndarray, vals: np.ndarray) -> None:
        rows = np.concatenate((self.rows, rows))
        pos = np.concatenate((self.pos, pos))
        vals = np.concatenate((self.vals, vals))
        # Best first within a query; equal scores keep the smaller position,
        # which is the smaller id because the matrix is in id order.
        order = np.lexsort((pos, -vals, rows))
        rows, pos, vals = rows[order], pos[order], vals[order]
        rank = rank_in_row(rows, self.m)
        last = rank == self.want - 1
        self._floor[rows[last]] = vals[last]
        # The best ``want``, and the others within the margin of the want-th.
        keep = (rank < self.want) | (vals >= (self._floor - self.margin())[rows])
        self.rows, self.pos, self.vals = rows[keep], pos[keep], vals[keep]


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
