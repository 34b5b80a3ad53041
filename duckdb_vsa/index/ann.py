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

from typing import Any

import numpy as np

from duckdb_vsa.index.base import vectors_and_ids
from duckdb_vsa.index.faissbase import (
    HNSW_DEFAULTS,
    IVF_DEFAULTS,
    FaissIndex,
    check_options,
    default_nlist,
    import_faiss,
    int_option,
    locked_build,
)

__all__ = [
    "HNSW_DEFAULTS",
    "IVF_DEFAULTS",
    "HnswIndex",
    "IvfIndex",
    "check_options",
    "default_nlist",
    "import_faiss",
]

#: Rows of the k-means training sample per IVF cell (at most; all rows if fewer).
IVF_TRAIN_PER_LIST = 64
#: Iterations of the IVF k-means.
IVF_KMEANS_ITERATIONS = 10
#: Seed of the IVF training sample and of faiss's k-means initialisation.
IVF_SEED = 1234


class HnswIndex(FaissIndex):
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
            locked_build(faiss, options["threads"], lambda: graph.add(matrix))
        self._faiss = faiss
        self._index = graph
        self._ids = keys
        self._dim = dim
        self.m = options["m"]
        self.ef_construction = options["ef_construction"]
        self.threads = options["threads"]
        # Shared by the copies remapped() and extended() make.
        self._params = {"ef_search": options["ef_search"]}

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

    @classmethod
    def from_serialized(
        cls,
        data: np.ndarray,
        ids: Any,
        *,
        m: int,
        ef_construction: int,
        ef_search: int,
        threads: int,
    ) -> HnswIndex:
        """An index from :meth:`serialize`'s bytes, its vectors under ``ids`` (one per position).

        Raises
        ------
        ImportError
            If faiss-cpu is not installed.
        """
        faiss = import_faiss()
        graph = faiss.deserialize_index(np.ascontiguousarray(data, dtype=np.uint8))
        self = cls.__new__(cls)
        self._faiss = faiss
        self._index = graph
        self._ids = np.array(ids, dtype=np.int64)
        self._ids.flags.writeable = False
        self._dead = int((self._ids < 0).sum())
        self._dim = int(graph.d)
        self.m = m
        self.ef_construction = ef_construction
        self.threads = threads
        self._params = {"ef_search": ef_search}
        return self

    def _add(self, index: Any, vectors: np.ndarray, first: int) -> None:
        # HNSW numbers vectors in the order they are added.
        index.add(vectors)

    @property
    def ef_search(self) -> int:
        """Candidates kept while searching (at least ``k``); settable."""
        return int(self._params["ef_search"])

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self._params["ef_search"] = int_option("ef_search", value, 1, 100_000)

    def _options(self) -> dict[str, Any]:
        return {
            "m": self.m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "threads": self.threads,
        }

    def _search_block(self, q: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray]:
        params = self._faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, want)
        return self._index.search(q, want, params=params)


class IvfIndex(FaissIndex):
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

            locked_build(faiss, options["threads"], build)
        self._faiss = faiss
        self._quantizer = quantizer  # faiss's IVF index does not own it
        self._index = ivf
        self._ids = keys
        self._dim = dim
        self._nlist_option = requested
        self.nlist = cells
        self.threads = options["threads"]
        # Shared by the copies remapped() and extended() make.
        self._params = {"nprobe": options["nprobe"]}

    @property
    def nbytes(self) -> int:
        n = len(self._ids)
        return int(
            n * self._dim * 4  # the vectors faiss stores, by cell
            + n * 8  # their positions in the cells
            + self.nlist * self._dim * 4  # the centres
            + self._ids.nbytes
        )

    @classmethod
    def from_assignment(
        cls,
        centroids: np.ndarray,
        vectors: np.ndarray,
        ids: np.ndarray,
        cells: np.ndarray,
        *,
        nprobe: int,
        nlist: int | None,
        threads: int,
    ) -> IvfIndex:
        """An index over trained centres with each vector's cell given (``-1``: find it).

        No k-means is run; only vectors without a cell are compared with the centres.

        Parameters
        ----------
        centroids : numpy.ndarray, shape (cells, dim)
            The cell centres.
        vectors : numpy.ndarray, shape (n, dim)
        ids : numpy.ndarray of int64, shape (n,)
            Their ids, one per position.
        cells : numpy.ndarray of int64, shape (n,)
            The cell of each vector, ``-1`` where unknown.
        nprobe, nlist, threads
            As for the constructor (``nlist`` as it was requested).

        Raises
        ------
        ImportError
            If faiss-cpu is not installed.
        """
        faiss = import_faiss()
        centres = np.ascontiguousarray(centroids, dtype=np.float32)
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        assign = np.array(cells, dtype=np.int64)
        dim = int(centres.shape[1])
        quantizer = faiss.IndexFlatIP(dim)
        quantizer.add(centres)
        ivf = faiss.IndexIVFFlat(quantizer, dim, len(centres), faiss.METRIC_INNER_PRODUCT)
        ivf.nprobe = nprobe
        positions = np.arange(len(matrix), dtype=np.int64)

        def build() -> None:
            unknown = np.flatnonzero(assign < 0)
            if len(unknown):
                _, nearest = quantizer.search(matrix[unknown], 1)
                assign[unknown] = nearest[:, 0]
            if len(matrix):
                ivf.add_core(
                    len(matrix),
                    faiss.swig_ptr(matrix),
                    faiss.swig_ptr(positions),
                    faiss.swig_ptr(assign),
                )

        locked_build(faiss, threads, build)
        self = cls.__new__(cls)
        self._faiss = faiss
        self._quantizer = quantizer
        self._index = ivf
        self._ids = np.array(ids, dtype=np.int64)
        self._ids.flags.writeable = False
        self._dim = dim
        self._nlist_option = nlist
        self.nlist = len(centres)
        self.threads = threads
        self._params = {"nprobe": nprobe}
        return self

    def centroids(self) -> np.ndarray:
        """The cell centres, shape (nlist, dim)."""
        quantizer = self._faiss.downcast_index(self._index.quantizer)
        return quantizer.reconstruct_n(0, self.nlist)

    def assignment(self) -> np.ndarray:
        """The cell of each position (``-1`` for a position no cell holds), int64."""
        cells = np.full(len(self._ids), -1, dtype=np.int64)
        lists = self._index.invlists
        for cell in range(self.nlist):
            size = lists.list_size(cell)
            if size:
                held = self._faiss.rev_swig_ptr(lists.get_ids(cell), size)
                cells[np.asarray(held, dtype=np.int64)] = cell
        return cells

    def _add(self, index: Any, vectors: np.ndarray, first: int) -> None:
        index.add_with_ids(vectors, np.arange(first, first + len(vectors), dtype=np.int64))

    @property
    def nprobe(self) -> int:
        """Cells scored per query (capped at ``nlist``); settable."""
        return int(self._params["nprobe"])

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._params["nprobe"] = int_option("nprobe", value, 1, 1 << 24)

    def _options(self) -> dict[str, Any]:
        return {"nlist": self._nlist_option, "nprobe": self.nprobe, "threads": self.threads}

    def __repr__(self) -> str:
        where = f", source={self.source.table}.{self.source.column}" if self.source else ""
        return (
            f"IvfIndex(n={len(self)}, dim={self.dim}, nlist={self.nlist}, "
            f"nprobe={self.nprobe}{where})"
        )

    def _search_block(self, q: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray]:
        probe = min(self.nprobe, self.nlist)
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
