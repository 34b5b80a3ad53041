"""An index kept in step with its table: the snapshot it answers for, and how it moves on.

:class:`LiveIndex` is what the SQL functions search. It holds

- a *base* index (exact or faiss) built once,
- the rows appended since, as a small exact index searched beside it (as
  LanceDB does), merged into the base past :data:`FOLD_FRACTION` of it,
- the content hash of every stored vector (DuckDB's ``hash(vec)``), so that
  rows which moved to another rowid, or whose row is gone, are found without
  reading the vectors again,
- the :class:`SyncState` of the table it matches.

Every change makes a new :class:`LiveIndex`; one that a query is searching is
never modified.

Thresholds (measured with ``benchmarks/live_index.py``): at 100,000 x 1,024 an
exact search of base and appended rows cost at most 3 % more than one of their
union for 1 to 5 % of appended rows, and 0 to 25 % more at 10 %, while merging
them (a new copy of the matrix) cost about half of a 2,000-query join; so
appended rows are merged when they pass :data:`FOLD_FRACTION` of the base or
:data:`FOLD_ROWS` rows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from duckdb_vsa.index.base import Hits, VectorIndex, query_matrix, rank_hits
from duckdb_vsa.index.exact import ExactIndex
from duckdb_vsa.index.faissbase import FaissIndex
from duckdb_vsa.index.source import IndexSource
from duckdb_vsa.marker import marker_keys

__all__ = [
    "DEAD_FRACTION",
    "FOLD_FRACTION",
    "FOLD_ROWS",
    "LiveIndex",
    "SyncState",
    "match_hashes",
]

#: Appended rows are merged into the base past this share of the base's rows ...
FOLD_FRACTION = 0.05
#: ... or past this many rows.
FOLD_ROWS = 200_000
#: Scores closer than this (relative) may be one value rounded two ways.
_TIE = 1e-5

#: Settings of the base that setting on the live index changes (shared by its generations).
_FORWARDED = ("ef_search", "nprobe")

#: An approximate index whose vectors without a row pass this share is past its best;
#: :attr:`LiveIndex.worn` says so.
DEAD_FRACTION = 0.2


@dataclasses.dataclass(frozen=True)
class SyncState:
    """What a helper connection read about a table, in one snapshot.

    Attributes
    ----------
    watched : str or None
        The table's ``"w"`` signature (see :mod:`~duckdb_vsa.index.source`), or
        None if the table is not watched.
    rowids : str
        ``'<rows>:<sum of rowids>'``.
    estimated : int
        Rows DuckDB stores for the table, deleted ones not yet vacuumed included.
    count : int
        Rows in the table.
    max_rowid : int
        The largest rowid (-1 for an empty table).
    fingerprint : str or None
        The ``"f"`` or ``"s"`` signature when the table is not watched.
    """

    watched: str | None
    rowids: str
    estimated: int
    count: int
    max_rowid: int
    fingerprint: str | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> SyncState:
        """From a row of :meth:`IndexSource.state_sql`."""
        watched, rowids, estimated, count, max_rowid, fingerprint = row
        return cls(
            watched,
            str(rowids),
            int(estimated or 0),
            int(count),
            -1 if max_rowid is None else int(max_rowid),
            fingerprint,
        )

    @property
    def counts(self) -> tuple[int, int] | None:
        """``(inserts, deletes)`` logged for a watched table, else None."""
        if self.watched is None:
            return None
        inserts, deletes = self.watched.split("|")[1].split(":")
        return int(inserts), int(deletes)

    @property
    def exposed(self) -> bool:
        """Whether deleted rows wait for a vacuum, which renumbers rows without a trigger."""
        return self.estimated > self.count

    @property
    def mode(self) -> str:
        """The cheapest signature mode that proves a snapshot equal to this one."""
        if self.watched is None:
            return str(self.fingerprint).split("|", 1)[0]
        return "wr" if self.exposed else "w"

    def signature(self, mode: str) -> str | None:
        """This state's signature in ``mode``, or None if it cannot be given in that mode."""
        if mode == "w":
            return self.watched
        if mode == "wr":
            if self.watched is None:
                return None
            return f"wr|{self.watched.split('|', 1)[1]}|{self.rowids}"
        if self.fingerprint is not None and self.fingerprint.startswith(f"{mode}|"):
            return self.fingerprint
        return None

    def matches(self, signature: str | None) -> bool:
        """Whether a running query's snapshot has ``signature``, this state read meanwhile.

        Any mode will do here: DuckDB does not vacuum rows that a running
        transaction may still see, so rows cannot have been renumbered between
        the query's snapshot and this one if their change counts agree.
        """
        if not signature:
            return False
        return self.signature(signature.split("|", 1)[0]) == signature

    def proves(self, signature: str | None) -> bool:
        """Whether a query whose snapshot has ``signature`` sees the rows this state saw.

        A signature in a cheaper mode than :attr:`mode` proves nothing: it
        cannot see a vacuum.
        """
        if not signature:
            return False
        mode = signature.split("|", 1)[0]
        if mode == "w" and self.mode != "w":
            return False
        return self.signature(mode) == signature


def match_hashes(
    old: np.ndarray, new: np.ndarray, old_ok: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pair vectors by content hash: each new one with an old one of the same hash.

    Equal vectors are interchangeable, so among several of one hash they are
    paired in order.

    Parameters
    ----------
    old, new : numpy.ndarray of uint64
        Content hashes.
    old_ok : numpy.ndarray of bool, optional
        Which old entries may be paired (all by default).

    Returns
    -------
    new_to_old : numpy.ndarray of int64, shape (len(new),)
        The old entry paired with each new one, ``-1`` for none.
    old_to_new : numpy.ndarray of int64, shape (len(old),)
        The converse.

    Examples
    --------
    >>> a, b = match_hashes(np.array([5, 7, 5], np.uint64), np.array([5, 9, 5, 5], np.uint64))
    >>> a.tolist(), b.tolist()
    ([0, -1, 2, -1], [0, -1, 2])
    """
    old_idx = np.arange(len(old), dtype=np.int64)
    if old_ok is not None:
        old_idx = old_idx[old_ok]
    keys = np.concatenate([old[old_idx], new]).astype(np.uint64)
    idx = np.concatenate([old_idx, np.arange(len(new), dtype=np.int64)])
    tag = np.concatenate([np.zeros(len(old_idx), np.int8), np.ones(len(new), np.int8)])
    # The rank of each entry among those of its side with its hash, in index order ...
    order = np.lexsort((idx, tag, keys))
    k, t = keys[order], tag[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (k[1:] != k[:-1]) | (t[1:] != t[:-1])
    first = np.flatnonzero(starts)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - first[np.cumsum(starts) - 1]
    # ... and entries of both sides with equal hash and rank are a pair.
    order = np.lexsort((tag, rank, keys))
    kk, rr, tt, ii = keys[order], rank[order], tag[order], idx[order]
    at = np.flatnonzero((kk[1:] == kk[:-1]) & (rr[1:] == rr[:-1]) & (tt[:-1] == 0) & (tt[1:] == 1))
    new_to_old = np.full(len(new), -1, dtype=np.int64)
    old_to_new = np.full(len(old), -1, dtype=np.int64)
    new_to_old[ii[at + 1]] = ii[at]
    old_to_new[ii[at]] = ii[at + 1]
    return new_to_old, old_to_new


class LiveIndex(VectorIndex):
    """A base index, the rows appended since, and the table state they match.

    Parameters
    ----------
    base : VectorIndex
        An :class:`~duckdb_vsa.index.ExactIndex` whose ids are rowids, or a
        faiss index whose positions map to rowids.
    base_hashes : numpy.ndarray of uint64
        Content hash of each base vector (by position for faiss, by row for exact).
    source : IndexSource
    state : SyncState
    delta : ExactIndex, optional
        Rows appended since the base was built; their rowids are larger
        than every rowid of the base.
    delta_hashes : numpy.ndarray of uint64, optional
    markers : frozenset of bytes, optional
        The configuration markers its vectors carry (:func:`duckdb_vsa.marker.marker_keys`),
        so that a search from another configuration is refused. Default: those of the
        vectors of an exact base and of the appended rows.
    """

    def __init__(
        self,
        base: VectorIndex,
        base_hashes: np.ndarray,
        *,
        source: IndexSource,
        state: SyncState,
        delta: ExactIndex | None = None,
        delta_hashes: np.ndarray | None = None,
        markers: frozenset[bytes] | None = None,
    ) -> None:
        self.base = base
        self.base_hashes = np.asarray(base_hashes, dtype=np.uint64)
        self.delta = delta if delta is not None and len(delta) else None
        self.delta_hashes = (
            np.zeros(0, np.uint64) if self.delta is None else np.asarray(delta_hashes, np.uint64)
        )
        self.source = source
        self.state = state
        self.exact = base.exact
        self._ids: np.ndarray | None = None
        if markers is None:
            markers = marker_keys(base.vectors) if isinstance(base, ExactIndex) else frozenset()
            if self.delta is not None:
                markers |= marker_keys(self.delta.vectors)
        self.markers = markers

    @property
    def dim(self) -> int:
        return self.base.dim

    @property
    def ids(self) -> np.ndarray:
        if self._ids is None:
            parts = [self.base.ids] + ([self.delta.ids] if self.delta is not None else [])
            ids = np.sort(np.concatenate(parts))
            ids.flags.writeable = False
            self._ids = ids
        return self._ids

    @property
    def nbytes(self) -> int:
        extra = 0 if self.delta is None else self.delta.nbytes
        return int(self.base.nbytes + extra + self.base_hashes.nbytes + self.delta_hashes.nbytes)

    @property
    def build_arguments(self) -> dict[str, Any]:
        return self.base.build_arguments

    @property
    def appended(self) -> int:
        """Rows searched beside the base."""
        return 0 if self.delta is None else len(self.delta)

    @property
    def dead(self) -> int:
        """Base vectors whose row is gone (approximate indexes only)."""
        return int(getattr(self.base, "_dead", 0))

    @property
    def worn(self) -> bool:
        """Whether so many base vectors lost their row that a rebuild would pay."""
        return self.dead > DEAD_FRACTION * max(self.base.slots, 1)

    def __repr__(self) -> str:
        shown = repr(self.base).replace(f"(n={len(self.base)},", f"(n={len(self)},", 1)
        return shown if self.base.source else shown[:-1] + f", source={self._where})"

    @property
    def _where(self) -> str:
        return f"{self.source.table}.{self.source.column}"

    def __getattr__(self, name: str) -> Any:
        # Search settings of the base (ef_search, nprobe, nlist, ...) read through.
        if name.startswith("_") or name in ("base", "source", "state"):
            raise AttributeError(name)
        return getattr(self.base, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FORWARDED:
            setattr(self.base, name, value)
        else:
            super().__setattr__(name, value)

    def search_ragged(self, queries: Any, k: int, *, exclude: Any = None) -> Hits:
        hits = self.base.search_ragged(queries, k, exclude=exclude)
        if self.delta is None:
            return hits
        more = self.delta.search_ragged(queries, k, exclude=exclude)
        m = len(hits.counts)
        rows = np.concatenate(
            [np.repeat(np.arange(m), hits.counts), np.repeat(np.arange(m), more.counts)]
        )
        ids = np.concatenate([hits.ids, more.ids])
        scores = np.concatenate([hits.scores, more.scores])
        base = self.base
        if isinstance(base, ExactIndex) and len(ids):
            scores = self._retie(queries, rows, ids, scores, len(hits.ids))
        return rank_hits(rows, ids, scores, m, k)

    def _retie(
        self,
        queries: Any,
        rows: np.ndarray,
        ids: np.ndarray,
        scores: np.ndarray,
        from_base: int,
    ) -> np.ndarray:
        """Scores of candidates from base and appended rows, equal for equal vectors.

        Two matrix products of different shapes may round one vector's score
        differently (BLAS picks other kernels), which would break a tie between
        a row of the base and an equal appended one. Where a query has a base
        and an appended candidate within rounding of each other, its candidates
        are scored again alike (in float64).
        """
        assert isinstance(self.base, ExactIndex) and self.delta is not None
        source = np.arange(len(ids)) >= from_base
        order = np.lexsort((scores, rows))
        r, s, src = rows[order], scores[order], source[order]
        close = (
            (r[1:] == r[:-1])
            & (src[1:] != src[:-1])
            & (np.abs(s[1:] - s[:-1]) <= _TIE * np.maximum(np.abs(s[1:]), 1.0))
        )
        if not close.any():
            return scores
        redo = np.isin(rows, np.unique(r[1:][close]))
        q = query_matrix(queries, self.dim)
        picked = np.flatnonzero(redo)
        base_part, delta_part = picked[picked < from_base], picked[picked >= from_base]
        vectors = np.concatenate(
            [
                self.base.vectors[np.searchsorted(self.base.ids, ids[base_part])],
                self.delta.vectors[np.searchsorted(self.delta.ids, ids[delta_part])],
            ]
        )
        at = np.concatenate([base_part, delta_part])
        exact = np.einsum("ij,ij->i", q[rows[at]].astype(np.float64), vectors.astype(np.float64))
        out = scores.copy()
        out[at] = exact.astype(np.float32)
        return out

    # -- moving on ------------------------------------------------------------------------

    def with_rows(
        self, state: SyncState, rowids: np.ndarray, hashes: np.ndarray, vectors: np.ndarray
    ) -> LiveIndex:
        """This index plus appended rows (rowids larger than every indexed one), at ``state``."""
        if self.delta is None:
            ids, kept, old = rowids, vectors, hashes
        else:
            ids = np.concatenate([self.delta.ids, rowids])
            kept = np.concatenate([self.delta.vectors, vectors])
            old = np.concatenate([self.delta_hashes, hashes])
        delta = ExactIndex(kept, ids, copy=False) if len(ids) else None
        grown = LiveIndex(
            self.base,
            self.base_hashes,
            source=self.source,
            state=state,
            delta=delta,
            delta_hashes=old,
            markers=self.markers | marker_keys(vectors),
        )
        return grown.folded() if grown.should_fold else grown

    @property
    def should_fold(self) -> bool:
        """Whether the appended rows are many enough to merge into the base."""
        n = self.appended
        return n > 0 and (n > FOLD_FRACTION * max(self.base.slots, 1) or n >= FOLD_ROWS)

    def folded(self) -> LiveIndex:
        """The appended rows merged into the base."""
        if self.delta is None:
            return self
        base = self.base
        if isinstance(base, ExactIndex):
            merged: VectorIndex = ExactIndex(
                np.concatenate([base.vectors, self.delta.vectors]),
                np.concatenate([base.ids, self.delta.ids]),
                block_bytes=base.block_bytes,
                copy=False,
            )
        elif isinstance(base, FaissIndex):
            merged = base.extended(self.delta.vectors, self.delta.ids)
        else:
            return self
        merged.source = base.source
        return LiveIndex(
            merged,
            np.concatenate([self.base_hashes, self.delta_hashes]),
            source=self.source,
            state=self.state,
            markers=self.markers,
        )

    def resynced(
        self,
        state: SyncState,
        rowids: np.ndarray,
        hashes: np.ndarray,
        fetch: Any,
    ) -> LiveIndex:
        """This index matched to the table's rows as they are now, whatever moved.

        Parameters
        ----------
        state : SyncState
        rowids, hashes : numpy.ndarray
            Every row with a vector, by rowid, and its vector's content hash.
        fetch : callable
            ``fetch(rowids)`` returns the vectors of those rows (a matrix).

        Returns
        -------
        LiveIndex
        """
        base = self.base
        if isinstance(base, FaissIndex):
            new_to_node, node_to_new = match_hashes(self.base_hashes, hashes)
            positions = np.where(node_to_new >= 0, rowids[np.maximum(node_to_new, 0)], -1)
            remapped = base.remapped(positions)
            remapped.source = base.source
            rest = np.flatnonzero(new_to_node < 0)
            vectors = self._vectors_for(hashes[rest], rowids[rest], fetch)
            delta = ExactIndex(vectors, rowids[rest], copy=False) if len(rest) else None
            live = LiveIndex(
                remapped,
                self.base_hashes,
                source=self.source,
                state=state,
                delta=delta,
                delta_hashes=hashes[rest],
                # Vectors whose row is gone may leave a marker behind: refusing
                # too much is safe, and a rebuild forgets it.
                markers=self.markers | marker_keys(vectors),
            )
            return live.folded() if live.should_fold else live
        # Exact: one matrix in rowid order, so that ties rank the smaller rowid first.
        assert isinstance(base, ExactIndex)
        from_base, _ = match_hashes(self.base_hashes, hashes)
        matrix = np.empty((len(rowids), self.dim), dtype=np.float32)
        got = from_base >= 0
        matrix[got] = base.vectors[from_base[got]]
        rest = np.flatnonzero(~got)
        matrix[rest] = self._vectors_for(hashes[rest], rowids[rest], fetch)
        rebuilt = ExactIndex(matrix, rowids, block_bytes=base.block_bytes, copy=False)
        rebuilt.source = base.source
        return LiveIndex(rebuilt, hashes, source=self.source, state=state)

    def _vectors_for(self, hashes: np.ndarray, rowids: np.ndarray, fetch: Any) -> np.ndarray:
        """Vectors of rows the base does not hold: from the appended rows where one has the
        same content, else fetched from the table."""
        out = np.empty((len(rowids), self.dim), dtype=np.float32)
        from_delta, _ = match_hashes(self.delta_hashes, hashes)
        known = from_delta >= 0
        if known.any():
            assert self.delta is not None
            out[known] = self.delta.vectors[from_delta[known]]
        if (~known).any():
            out[~known] = fetch(rowids[~known])
        return out
