"""An approximate nearest-neighbour index (HNSW, from faiss) behind the index interface.

:class:`HnswIndex` answers the same calls as :class:`~duckdb_vsa.index.ExactIndex`
(``search``, ``search_ragged``, ``ids``, ``nbytes``), so the ``vsa_index_*``
SQL macros use it unchanged, with the same freshness check. It is built by
``duckdb_vsa.build_index(con, table, column, method="hnsw")`` or directly
from a matrix.

The graph is faiss's ``IndexHNSWFlat`` with the inner-product metric: the
vectors that ``vsa_encode`` makes have unit length, so inner product is
cosine. Search walks the graph instead of scoring every row, so it may miss
a true neighbour; ``ef_search`` trades speed for recall and can be changed
after the build.

faiss is an optional dependency, imported when an HNSW index is first built:
``pip install "duckdb-vsa[ann]"``. Without it everything else in duckdb_vsa
works.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from duckdb_vsa.index import (
    QUERY_BLOCK,
    Hits,
    VectorIndex,
    _positive_k,
    _query_matrix,
    _rank_in_row,
    _vectors_and_ids,
)

__all__ = ["HNSW_DEFAULTS", "HnswIndex", "import_faiss"]

#: Default build and search parameters of :class:`HnswIndex`.
HNSW_DEFAULTS: dict[str, int] = {"m": 16, "ef_construction": 128, "ef_search": 64, "threads": 1}

_INSTALL_HINT = (
    'method="hnsw" needs the faiss-cpu package, which is not installed: install it with '
    'pip install "duckdb-vsa[ann]" (or pip install faiss-cpu), or use method="exact".'
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


def _int_option(name: str, value: Any, low: int, high: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not (low <= value <= high)
    ):
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}.")
    return int(value)


def check_options(options: dict[str, Any]) -> dict[str, int]:
    """The HNSW options, defaults filled in, or a ValueError naming the bad one.

    Parameters
    ----------
    options : dict
        Any of ``m``, ``ef_construction``, ``ef_search``, ``threads``.

    Returns
    -------
    dict of str to int
    """
    unknown = sorted(set(options) - set(HNSW_DEFAULTS))
    if unknown:
        raise ValueError(
            f"Unknown option(s) for method='hnsw': {', '.join(unknown)}. The options are "
            f"{', '.join(HNSW_DEFAULTS)}."
        )
    merged = {**HNSW_DEFAULTS, **options}
    return {
        "m": _int_option("m", merged["m"], 2, 512),
        "ef_construction": _int_option("ef_construction", merged["ef_construction"], 1, 100_000),
        "ef_search": _int_option("ef_search", merged["ef_search"], 1, 100_000),
        "threads": _int_option("threads", merged["threads"], 0, 4096),
    }


class HnswIndex(VectorIndex):
    """Approximate top-k by inner product: an HNSW graph from faiss.

    Parameters
    ----------
    vectors : array_like of float, shape (n, dim)
        The vectors (unit length for cosine). faiss keeps its own float32 copy.
    ids : array_like of int, shape (n,), optional
        Their ids (distinct); ``0..n-1`` by default.
    m : int, default 16
        Graph degree: links per node on the upper layers, twice as many on the
        bottom one. More links: better recall, more memory (``8 * m`` bytes per
        vector on the bottom layer) and slower builds.
    ef_construction : int, default 128
        Candidates kept while linking a new vector. More: a better graph, a
        slower build.
    ef_search : int, default 64
        Candidates kept while searching (at least ``k`` are kept). More:
        better recall, slower queries. Can be changed after the build.
    threads : int, default 1
        Threads that build the graph; 0 means faiss's default (every core).
        With one thread the graph, and so every search result, is the same
        from build to build; with several, vectors are linked in an order
        that depends on timing and the results can differ slightly.
    copy : bool, default True
        Accepted for symmetry with :class:`~duckdb_vsa.index.ExactIndex`;
        faiss copies the vectors either way.

    Raises
    ------
    ImportError
        If faiss-cpu is not installed.
    ValueError
        If the vectors are not a finite 2-D array, the ids are not distinct or
        do not match the vectors, or an option is out of range.

    Notes
    -----
    Search is deterministic: the same graph gives the same hits for the same
    query, in any batch, on any number of DuckDB threads. Hits are ranked by
    the score faiss computes (float32, equal to the exact inner product to
    about 1e-6), ties by the smaller id.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> vectors = rng.standard_normal((2000, 64)).astype(np.float32)
    >>> vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    >>> index = HnswIndex(vectors)
    >>> ids, scores = index.search(vectors[:3], k=1)
    >>> ids.ravel().tolist()
    [0, 1, 2]
    """

    exact = False

    def __init__(
        self,
        vectors: Any,
        ids: Any = None,
        *,
        m: int = HNSW_DEFAULTS["m"],
        ef_construction: int = HNSW_DEFAULTS["ef_construction"],
        ef_search: int = HNSW_DEFAULTS["ef_search"],
        threads: int = HNSW_DEFAULTS["threads"],
        copy: bool = True,
    ) -> None:
        faiss = import_faiss()
        options = check_options(
            {"m": m, "ef_construction": ef_construction, "ef_search": ef_search, "threads": threads}
        )
        matrix, keys = _vectors_and_ids(vectors, ids, copy=False)
        dim = int(matrix.shape[1])
        graph = faiss.IndexHNSWFlat(dim, options["m"], faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = options["ef_construction"]
        graph.hnsw.efSearch = options["ef_search"]
        if len(matrix):
            with _BUILD_LOCK:
                before = faiss.omp_get_max_threads()
                if options["threads"]:
                    faiss.omp_set_num_threads(options["threads"])
                try:
                    graph.add(matrix)
                finally:
                    faiss.omp_set_num_threads(before)
        del matrix
        self._faiss = faiss
        self._graph = graph
        self._ids = keys
        self._dim = dim
        self.m = options["m"]
        self.ef_construction = options["ef_construction"]
        self.threads = options["threads"]
        self._ef_search = options["ef_search"]

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def ids(self) -> np.ndarray:
        return self._ids

    @property
    def nbytes(self) -> int:
        hnsw = self._graph.hnsw
        n = len(self._ids)
        return int(
            n * self._dim * 4  # the vectors faiss stores
            + hnsw.neighbors.size() * 4
            + hnsw.offsets.size() * 8
            + hnsw.levels.size() * 4
            + self._ids.nbytes
        )

    @property
    def ef_search(self) -> int:
        """Candidates kept while searching (at least ``k``); settable."""
        return self._ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self._ef_search = _int_option("ef_search", value, 1, 100_000)

    @property
    def build_arguments(self) -> dict[str, Any]:
        """``method="hnsw"`` and the options that differ from the defaults."""
        current = {
            "m": self.m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "threads": self.threads,
        }
        changed = {k: v for k, v in current.items() if v != HNSW_DEFAULTS[k]}
        return {"method": "hnsw", **changed}

    def __repr__(self) -> str:
        where = f", source={self.source.table}.{self.source.column}" if self.source else ""
        return (
            f"HnswIndex(n={len(self)}, dim={self.dim}, m={self.m}, "
            f"ef_construction={self.ef_construction}, ef_search={self.ef_search}{where})"
        )

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
        k = _positive_k(k)
        q = _query_matrix(queries, self.dim)
        skip = None
        if exclude is not None:
            skip = np.asarray(exclude, dtype=np.int64).reshape(-1)
            if len(skip) != len(q):
                raise ValueError(f"Got {len(skip)} ids to exclude for {len(q)} queries.")
        n, m = len(self._ids), len(q)
        # One more than asked when a query may find itself and drop it.
        want = min(k + (skip is not None), n)
        if want == 0 or m == 0:
            empty = np.zeros(0, dtype=np.int64)
            return Hits(np.zeros(m, dtype=np.int64), empty, np.zeros(0, dtype=np.float32))
        params = self._faiss.SearchParametersHNSW()
        params.efSearch = max(self._ef_search, want)
        pos = np.empty((m, want), dtype=np.int64)
        vals = np.empty((m, want), dtype=np.float32)
        for lo in range(0, m, QUERY_BLOCK):
            hi = min(lo + QUERY_BLOCK, m)
            vals[lo:hi], pos[lo:hi] = self._graph.search(q[lo:hi], want, params=params)
        rows = np.repeat(np.arange(m, dtype=np.int64), want)
        pos, vals = pos.reshape(-1), vals.reshape(-1)
        found = pos >= 0
        rows, ids, vals = rows[found], self._ids[pos[found]], vals[found]
        if skip is not None:
            keep = ids != skip[rows]
            rows, ids, vals = rows[keep], ids[keep], vals[keep]
        order = np.lexsort((ids, -vals, rows))
        rows, ids, vals = rows[order], ids[order], vals[order]
        keep = _rank_in_row(rows, m) < k
        rows, ids, vals = rows[keep], ids[keep], vals[keep]
        return Hits(np.bincount(rows, minlength=m).astype(np.int64), ids, vals)
