"""What the faiss indexes share: options, the build lock, ids by position, and their upkeep.

A faiss index stores vectors by *position* (``0, 1, ...`` in the order they
were added); :class:`FaissIndex` maps each position to the id SQL sees (a
rowid). When the table changes, the index is not rebuilt:

- :meth:`FaissIndex.remapped` gives the positions new ids (a row that moved
  to another rowid) or none (``-1``: the row is gone). Searches ask for as
  many more candidates as there are such positions and drop them.
- :meth:`FaissIndex.extended` adds vectors at new positions.
- Both return a new object: one that queries may still be searching is never
  changed. ``extended`` copies the faiss index first.

faiss is imported only when an approximate index is built or loaded.
"""

from __future__ import annotations

import copy
import math
import threading
from typing import Any

import numpy as np

from duckdb_vsa.errors import InvalidArgumentError, UnknownOptionError
from duckdb_vsa.index.base import Hits, VectorIndex, ragged_search

__all__ = [
    "DEFAULTS",
    "HNSW_DEFAULTS",
    "IVF_DEFAULTS",
    "FaissIndex",
    "check_options",
    "default_nlist",
    "import_faiss",
    "int_option",
    "locked_build",
]

#: Default build and search parameters of :class:`~duckdb_vsa.index.HnswIndex`.
HNSW_DEFAULTS: dict[str, int] = {"m": 16, "ef_construction": 128, "ef_search": 64, "threads": 1}

#: Default build and search parameters of :class:`~duckdb_vsa.index.IvfIndex`;
#: ``nlist=None`` means :func:`default_nlist` of the row count.
IVF_DEFAULTS: dict[str, int | None] = {"nlist": None, "nprobe": 8, "threads": 1}

#: The defaults of each method.
DEFAULTS: dict[str, dict[str, Any]] = {"hnsw": HNSW_DEFAULTS, "ivf": IVF_DEFAULTS}

_INSTALL_HINT = (
    'method="hnsw" and method="ivf" need the faiss-cpu package, which is not installed: '
    'install it with pip install "duckdb-vsa[ann]" (or pip install faiss-cpu), or use '
    'method="exact".'
)

# faiss sets its thread count process-wide: builds take turns.
_BUILD_LOCK = threading.Lock()


def import_faiss() -> Any:
    """The faiss module, or an ImportError that says how to install it.

    Returns
    -------
    module
        ``faiss``.

    Raises
    ------
    ImportError
        If faiss-cpu is not installed.
    """
    try:
        import faiss
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err
    return faiss


def int_option(name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int, or an InvalidArgumentError naming ``name`` and the range."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not (low <= value <= high)
    ):
        raise InvalidArgumentError(
            f"{name} must be an integer from {low} to {high}, got {value!r}."
        )
    return int(value)


def default_nlist(n: int) -> int:
    """IVF cells for ``n`` rows: ``round(4 * sqrt(n))``, at least 1 and at most ``n``."""
    return max(1, min(int(n), round(4 * math.sqrt(max(int(n), 0)))))


def check_options(options: dict[str, Any], method: str = "hnsw") -> dict[str, Any]:
    """The options of ``method``, defaults filled in, or an error naming the bad one.

    Parameters
    ----------
    options : dict
        ``"hnsw"``: any of ``m``, ``ef_construction``, ``ef_search``,
        ``threads``. ``"ivf"``: any of ``nlist``, ``nprobe``, ``threads``.
    method : {"hnsw", "ivf"}, default "hnsw"

    Returns
    -------
    dict of str to int (``nlist`` may be None: the default for the row count)
    """
    defaults = DEFAULTS[method]
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise UnknownOptionError(
            f"Unknown option(s) for method={method!r}: {', '.join(unknown)}. The options are "
            f"{', '.join(defaults)}."
        )
    merged = {**defaults, **options}
    threads = int_option("threads", merged["threads"], 0, 4096)
    if method == "ivf":
        nlist = merged["nlist"]
        return {
            "nlist": None if nlist is None else int_option("nlist", nlist, 1, 1 << 24),
            "nprobe": int_option("nprobe", merged["nprobe"], 1, 1 << 24),
            "threads": threads,
        }
    return {
        "m": int_option("m", merged["m"], 2, 512),
        "ef_construction": int_option("ef_construction", merged["ef_construction"], 1, 100_000),
        "ef_search": int_option("ef_search", merged["ef_search"], 1, 100_000),
        "threads": threads,
    }


def locked_build(faiss: Any, threads: int, build: Any) -> None:
    """Run ``build()`` with faiss on ``threads`` threads (0: its default), one at a time."""
    with _BUILD_LOCK:
        before = faiss.omp_get_max_threads()
        if threads:
            faiss.omp_set_num_threads(threads)
        try:
            build()
        finally:
            faiss.omp_set_num_threads(before)


class FaissIndex(VectorIndex):
    """A faiss index behind the index interface, with ids by position.

    Subclasses set ``_faiss``, ``_index`` (a faiss index over positions
    ``0..n-1``), ``_ids`` (the id of each position, ``-1`` if its row is
    gone), ``_dim``, ``threads``, and implement :meth:`_options`,
    :meth:`_search_block` and :meth:`_add`.
    """

    exact = False
    method: str = ""
    _faiss: Any
    _index: Any
    _ids: np.ndarray
    _dim: int
    _params: dict[str, int]
    threads: int
    #: Positions whose row is gone but whose vector faiss still holds.
    _dead: int = 0
    _live: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def ids(self) -> np.ndarray:
        if self._live is None:
            live = np.sort(self._ids[self._ids >= 0])
            live.flags.writeable = False
            self._live = live
        return self._live

    @property
    def slots(self) -> int:
        return int(self._index.ntotal)

    @property
    def positions(self) -> np.ndarray:
        """The id of each position, ``-1`` where the row is gone (read-only int64)."""
        return self._ids

    def _options(self) -> dict[str, Any]:
        """The current options, by name (as :func:`check_options` names them)."""
        raise NotImplementedError

    @property
    def build_arguments(self) -> dict[str, Any]:
        """``method=...`` and the options that differ from the defaults."""
        defaults = DEFAULTS[self.method]
        changed = {k: v for k, v in self._options().items() if v != defaults[k]}
        return {"method": self.method, **changed}

    def __repr__(self) -> str:
        where = f", source={self.source.table}.{self.source.column}" if self.source else ""
        shown = {k: v for k, v in self._options().items() if k != "threads"}
        options = "".join(f", {k}={v}" for k, v in shown.items())
        return f"{type(self).__name__}(n={len(self)}, dim={self.dim}{options}{where})"

    def _search_block(self, q: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions) of the best ``want`` found for each row of ``q``; -1: none."""
        raise NotImplementedError

    def _add(self, index: Any, vectors: np.ndarray, first: int) -> None:
        """Add ``vectors`` to the faiss index ``index`` at positions ``first, first + 1, ...``."""
        raise NotImplementedError

    def search_ragged(self, queries: Any, k: int, *, exclude: Any = None) -> Hits:
        """The best ``k`` hits found for each query, as ragged lists.

        Parameters
        ----------
        queries : array_like of float, shape (q, dim)
            Query vectors.
        k : int
            Hits wanted per query (>= 1); a query gets ``min(k, len(self))``
            hits, or one fewer when its excluded id is in the index.
        exclude : array_like of int64, shape (q,), optional
            For each query, an id that must not be among its hits.

        Returns
        -------
        Hits
            Best first by the score faiss computes; ties by the smaller id.
        """
        return ragged_search(self, queries, k, exclude, self._candidates, extra=self._dead)

    def _candidates(self, q: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query, id, score) of the best ``want`` faiss finds for each query."""
        vals, pos = self._search_block(q, want)
        rows = np.repeat(np.arange(len(q), dtype=np.int64), want)
        pos, vals = pos.reshape(-1), vals.reshape(-1)
        found = (pos >= 0) & (pos < len(self._ids))
        rows, ids, vals = rows[found], self._ids[pos[found]], vals[found]
        if self._dead:
            keep = ids >= 0
            rows, ids, vals = rows[keep], ids[keep], vals[keep]
        return rows, ids, vals

    def remapped(self, ids: np.ndarray) -> FaissIndex:
        """The same vectors with other ids: ``ids[p]`` for position ``p``, ``-1`` for none.

        The faiss index is shared, not copied.
        """
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) != len(self._ids):
            raise InvalidArgumentError(f"Got {len(ids)} ids for {len(self._ids)} positions.")
        clone = copy.copy(self)
        clone._ids = ids.copy()
        clone._ids.flags.writeable = False
        clone._dead = int((ids < 0).sum())
        clone._live = None
        clone.source = self.source
        return clone

    def extended(self, vectors: np.ndarray, ids: np.ndarray) -> FaissIndex:
        """A copy of this index with ``vectors`` added under ``ids`` at new positions."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        clone = copy.copy(self)
        index = self._faiss.clone_index(self._index)
        first = len(self._ids)
        if len(vectors):
            locked_build(self._faiss, self.threads, lambda: self._add(index, vectors, first))
        clone._index = index
        clone._ids = np.concatenate([self._ids, np.asarray(ids, dtype=np.int64)])
        clone._ids.flags.writeable = False
        clone._live = None
        return clone

    def serialize(self) -> np.ndarray:
        """The faiss index as bytes (uint8 array), for :meth:`deserialize`-style loading."""
        return self._faiss.serialize_index(self._index)
