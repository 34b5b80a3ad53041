"""Approximate nearest-neighbour indexes (HNSW and IVF, from faiss) behind the index interface.

:class:`HnswIndex` and :class:`IvfIndex` answer the same calls as
:class:`~duckdb_vsa.index.ExactIndex` (``search``, ``search_ragged``, ``ids``,
``nbytes``), so the ``vsa_index_*`` SQL macros use them unchanged, with the
same freshness check. They are built by ``duckdb_vsa.build_index(con, table,
column, method="hnsw")`` (or ``method="ivf"``) or directly from a matrix.

Both use the inner-product metric: the vectors that ``vsa_encode`` makes have
unit length, so inner product is cosine.

- HNSW (faiss's ``IndexHNSWFlat``) walks a graph instead of scoring every
  row; ``ef_search`` trades speed for recall.
- IVF (faiss's ``IndexIVFFlat``) splits the rows into ``nlist`` k-means
  cells and scores only the rows of the ``nprobe`` cells whose centres are
  closest to the query; ``nprobe`` trades speed for recall. It builds much
  faster than a graph of the same recall.

Either may miss a true neighbour; ``ef_search`` and ``nprobe`` can be changed
after the build.

faiss is an optional dependency, imported when an approximate index is first
built: ``pip install "duckdb-vsa[ann]"``. Without it everything else in
duckdb_vsa works.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from duckdb_vsa.errors import InvalidArgumentError, UnknownOptionError
from duckdb_vsa.index.base import Hits, VectorIndex, ragged_search, vectors_and_ids

__all__ = [
    "HNSW_DEFAULTS",
    "IVF_DEFAULTS",
    "HnswIndex",
    "IvfIndex",
    "check_options",
    "default_nlist",
    "import_faiss",
]

#: Default build and search parameters of :class:`HnswIndex`.
HNSW_DEFAULTS: dict[str, int] = {"m": 16, "ef_construction": 128, "ef_search": 64, "threads": 1}

#: Default build and search parameters of :class:`IvfIndex`; ``nlist=None``
#: means :func:`default_nlist` of the row count.
IVF_DEFAULTS: dict[str, int | None] = {"nlist": None, "nprobe": 8, "threads": 1}

#: Rows of the k-means training sample per IVF cell (at most; all rows if fewer).
IVF_TRAIN_PER_LIST = 64
#: Iterations of the IVF k-means.
IVF_KMEANS_ITERATIONS = 10
#: Seed of the IVF training sample and of faiss's k-means initialisation.
IVF_SEED = 1234

_DEFAULTS: dict[str, dict[str, Any]] = {"hnsw": HNSW_DEFAULTS, "ivf": IVF_DEFAULTS}

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


def _int_option(name: str, value: Any, low: int, high: int) -> int:
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
    defaults = _DEFAULTS[method]
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise UnknownOptionError(
            f"Unknown option(s) for method={method!r}: {', '.join(unknown)}. The options are "
            f"{', '.join(defaults)}."
        )
    merged = {**defaults, **options}
    threads = _int_option("threads", merged["threads"], 0, 4096)
    if method == "ivf":
        nlist = merged["nlist"]
        return {
            "nlist": None if nlist is None else _int_option("nlist", nlist, 1, 1 << 24),
            "nprobe": _int_option("nprobe", merged["nprobe"], 1, 1 << 24),
            "threads": threads,
        }
    return {
        "m": _int_option("m", merged["m"], 2, 512),
        "ef_construction": _int_option("ef_construction", merged["ef_construction"], 1, 100_000),
        "ef_search": _int_option("ef_search", merged["ef_search"], 1, 100_000),
        "threads": threads,
    }


class _FaissIndex(VectorIndex):
    """What the faiss indexes share: the ids, the build under the lock, and ragged search.

    Subclasses set ``_index`` (a faiss index over positions ``0..n-1``),
    ``_ids``, ``_dim``, ``threads`` and implement :meth:`_options` and
    :meth:`_search_block`.
    """

    exact = False
    method: str = ""
    _faiss: Any
    _index: Any
    _ids: np.ndarray
    _dim: int
    threads: int

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def ids(self) -> np.ndarray:
        return self._ids

    def _options(self) -> dict[str, Any]:
        """The current options, by name (as :func:`check_options` names them)."""
        raise NotImplementedError

    @property
    def build_arguments(self) -> dict[str, Any]:
        """``method=...`` and the options that differ from the defaults."""
        defaults = _DEFAULTS[self.method]
        changed = {k: v for k, v in self._options().items() if v != defaults[k]}
        return {"method": self.method, **changed}

    def __repr__(self) -> str:
        where = f", source={self.source.table}.{self.source.column}" if self.source else ""
        shown = {k: v for k, v in self._options().items() if k != "threads"}
        options = "".join(f", {k}={v}" for k, v in shown.items())
        return f"{type(self).__name__}(n={len(self)}, dim={self.dim}{options}{where})"

    @staticmethod
    def _locked_build(faiss: Any, threads: int, build: Any) -> None:
        """Run ``build()`` with faiss on ``threads`` threads (0: its default), one at a time."""
        with _BUILD_LOCK:
            before = faiss.omp_get_max_threads()
            if threads:
                faiss.omp_set_num_threads(threads)
            try:
                build()
            finally:
                faiss.omp_set_num_threads(before)

    def _search_block(self, q: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions) of the best ``want`` found for each row of ``q``; -1: none."""
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
        return ragged_search(self, queries, k, exclude, self._candidates)

    def _candidates(self, q: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query, id, score) of the best ``want`` faiss finds for each query."""
        vals, pos = self._search_block(q, want)
        rows = np.repeat(np.arange(len(q), dtype=np.int64), want)
        pos, vals = pos.reshape(-1), vals.reshape(-1)
        found = pos >= 0
        return rows[found], self._ids[pos[found]], vals[found]


class HnswIndex(_FaissIndex):
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
    VectorShapeError
        If the vectors are not a finite 2-D array.
    InvalidArgumentError
        If the ids are not distinct or do not match the vectors, or an option
        is out of range.

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

    method = "hnsw"

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
        matrix, keys = vectors_and_ids(vectors, ids, copy=False)
        dim = int(matrix.shape[1])
        graph = faiss.IndexHNSWFlat(dim, options["m"], faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = options["ef_construction"]
        graph.hnsw.efSearch = options["ef_search"]
        if len(matrix):
            self._locked_build(faiss, options["threads"], lambda: graph.add(matrix))
        self._faiss = faiss
        self._index = graph
        self._ids = keys
        self._dim = dim
        self.m = options["m"]
        self.ef_construction = options["ef_construction"]
        self.threads = options["threads"]
        self._ef_search = options["ef_search"]

    @property
    def nbytes(self) -> int:
        hnsw = self._index.hnsw
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

    def _options(self) -> dict[str, Any]:
        return {
            "m": self.m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "threads": self.threads,
        }

    def _search_block(self, q: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray]:
        params = self._faiss.SearchParametersHNSW()
        params.efSearch = max(self._ef_search, want)
        return self._index.search(q, want, params=params)


class IvfIndex(_FaissIndex):
    """Approximate top-k by inner product: an inverted file of k-means cells, from faiss.

    The rows are split into ``nlist`` cells by k-means (faiss's
    ``IndexIVFFlat`` with an ``IndexFlatIP`` quantizer); a query scores the
    centres, then every row of its ``nprobe`` best cells, exactly.

    Parameters
    ----------
    vectors : array_like of float, shape (n, dim)
        The vectors (unit length for cosine). faiss keeps its own float32 copy.
    ids : array_like of int, shape (n,), optional
        Their ids (distinct); ``0..n-1`` by default.
    nlist : int, optional
        Cells. Default :func:`default_nlist`: ``round(4 * sqrt(n))`` (4,000
        for a million rows); never more than ``n``. More cells: faster
        queries at the same ``nprobe``, lower recall, a slower build.
    nprobe : int, default 8
        Cells scored per query (at most ``nlist``; ``nlist`` is exact). More:
        better recall, slower queries. Can be changed after the build.
    threads : int, default 1
        Threads of the build (k-means and assigning the rows); 0 means
        faiss's default (every core).
    copy : bool, default True
        Accepted for symmetry with :class:`~duckdb_vsa.index.ExactIndex`;
        faiss copies the vectors either way.

    Raises
    ------
    ImportError
        If faiss-cpu is not installed.
    VectorShapeError
        If the vectors are not a finite 2-D array.
    InvalidArgumentError
        If the ids are not distinct or do not match the vectors, or an option
        is out of range.

    Notes
    -----
    k-means trains on a fixed sample: ``min(n, 64 * nlist)`` rows chosen by
    a seeded generator, 10 iterations, faiss's seed fixed; with one thread
    two builds from the same rows are identical, and so are their results.
    Search is deterministic for a given index. A query gets ``min(k, n)``
    hits even when its ``nprobe`` cells hold fewer rows: it is asked again
    with more cells. Hits are ranked by the score faiss computes (float32),
    ties by the smaller id.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> vectors = rng.standard_normal((2000, 64)).astype(np.float32)
    >>> vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    >>> index = IvfIndex(vectors, nprobe=8)
    >>> index.nlist
    179
    >>> ids, scores = index.search(vectors[:3], k=1)
    >>> ids.ravel().tolist()
    [0, 1, 2]
    """

    method = "ivf"

    def __init__(
        self,
        vectors: Any,
        ids: Any = None,
        *,
        nlist: int | None = IVF_DEFAULTS["nlist"],
        nprobe: int = IVF_DEFAULTS["nprobe"],  # type: ignore[assignment]
        threads: int = IVF_DEFAULTS["threads"],  # type: ignore[assignment]
        copy: bool = True,
    ) -> None:
        faiss = import_faiss()
        options = check_options({"nlist": nlist, "nprobe": nprobe, "threads": threads}, "ivf")
        matrix, keys = vectors_and_ids(vectors, ids, copy=False)
        n, dim = int(matrix.shape[0]), int(matrix.shape[1])
        requested = options["nlist"]
        cells = default_nlist(n) if requested is None else max(1, min(requested, n))
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFFlat(quantizer, dim, cells, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.seed = IVF_SEED
        ivf.cp.niter = IVF_KMEANS_ITERATIONS
        ivf.cp.max_points_per_centroid = IVF_TRAIN_PER_LIST
        ivf.cp.min_points_per_centroid = 1  # no warning on small tables
        ivf.nprobe = options["nprobe"]
        if n:
            sample = min(n, IVF_TRAIN_PER_LIST * cells)
            if sample < n:
                rng = np.random.default_rng(IVF_SEED)
                train = matrix[np.sort(rng.choice(n, sample, replace=False))]
            else:
                train = matrix

            def build() -> None:
                ivf.train(train)
                ivf.add(matrix)

            self._locked_build(faiss, options["threads"], build)
        self._faiss = faiss
        self._quantizer = quantizer  # faiss's IVF index does not own it
        self._index = ivf
        self._ids = keys
        self._dim = dim
        self._nlist_option = requested
        self.nlist = cells
        self.threads = options["threads"]
        self._nprobe = options["nprobe"]

    @property
    def nbytes(self) -> int:
        n = len(self._ids)
        return int(
            n * self._dim * 4  # the vectors faiss stores, by cell
            + n * 8  # their positions in the cells
            + self.nlist * self._dim * 4  # the centres
            + self._ids.nbytes
        )

    @property
    def nprobe(self) -> int:
        """Cells scored per query (capped at ``nlist``); settable."""
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._nprobe = _int_option("nprobe", value, 1, 1 << 24)

    def _options(self) -> dict[str, Any]:
        return {"nlist": self._nlist_option, "nprobe": self.nprobe, "threads": self.threads}

    def __repr__(self) -> str:
        where = f", source={self.source.table}.{self.source.column}" if self.source else ""
        return (
            f"IvfIndex(n={len(self)}, dim={self.dim}, nlist={self.nlist}, "
            f"nprobe={self.nprobe}{where})"
        )

    def _search_block(self, q: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray]:
        probe = min(self._nprobe, self.nlist)
        params = self._faiss.SearchParametersIVF()
        params.nprobe = probe
        vals, pos = self._index.search(q, want, params=params)
        short = np.flatnonzero(pos[:, -1] < 0)
        # Cells too small for ``want`` hits: ask those queries again with more cells
        # (with every cell the search is exhaustive, so this ends).
        while len(short) and probe < self.nlist:
            probe = min(probe * 2, self.nlist)
            params.nprobe = probe
            vals[short], pos[short] = self._index.search(q[short], want, params=params)
            short = short[pos[short, -1] < 0]
        return vals, pos
