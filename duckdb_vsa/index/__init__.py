"""In-memory vector indexes that SQL top-k queries can use.

DuckDB's vector builtins score one pair at a time; a top-k join over a large
table is an order of magnitude slower than a float32 matrix product. An index
holds one table column as a contiguous float32 matrix, and a vectorised UDF
answers a whole Arrow chunk of queries (up to 2048 rows) with one matrix
product per block of index rows.

:class:`VectorIndex` is the interface; :class:`ExactIndex` is brute force,
exact, and ranks ties by the smaller id exactly as the builtin macros rank them
by the earlier row. :class:`HnswIndex` (``method="hnsw"``) is an approximate
HNSW graph and :class:`IvfIndex` (``method="ivf"``) an approximate k-means
inverted file behind the same interface, for tables too large to scan per
query.

:func:`build_index` makes an index from a table's vector column and puts it in
a per-database catalog that the ``vsa_index_*`` SQL macros reach by name::

    vsa_index_search('items', query, k := 10)       -- as vsa_search('items', 'vec', ...)
    vsa_index_topk_join('orders', 'vec', 'items', k := 5)
                                                    -- as vsa_topk_join(..., 'items', 'vec', ...)
    vsa_index_near_duplicates('items', threshold := 0.9, k := 10)
    vsa_index_topk('items', query, k := 10)         -- LIST of STRUCT(rowid, score)

The modules: :mod:`~duckdb_vsa.index.base` (the interface, input checks and
ranking), :mod:`~duckdb_vsa.index.exact`, :mod:`~duckdb_vsa.index.ann` (faiss),
:mod:`~duckdb_vsa.index.source` (the SQL over an indexed table),
:mod:`~duckdb_vsa.index.udf` (the database functions) and
:mod:`~duckdb_vsa.index.catalog` (the per-database catalog and the public
functions).
"""

from duckdb_vsa.index.ann import (
    HNSW_DEFAULTS,
    IVF_DEFAULTS,
    HnswIndex,
    IvfIndex,
    check_options,
    default_nlist,
    import_faiss,
)
from duckdb_vsa.index.base import QUERY_BLOCK, Hits, VectorIndex
from duckdb_vsa.index.catalog import (
    build_index,
    drop_index,
    ensure_index_functions,
    get_index,
    list_indexes,
)
from duckdb_vsa.index.exact import DEFAULT_BLOCK_BYTES, ExactIndex
from duckdb_vsa.index.source import CHECKS, IndexSource

__all__ = [
    "CHECKS",
    "DEFAULT_BLOCK_BYTES",
    "HNSW_DEFAULTS",
    "IVF_DEFAULTS",
    "QUERY_BLOCK",
    "ExactIndex",
    "Hits",
    "HnswIndex",
    "IndexSource",
    "IvfIndex",
    "VectorIndex",
    "build_index",
    "check_options",
    "default_nlist",
    "drop_index",
    "ensure_index_functions",
    "get_index",
    "import_faiss",
    "list_indexes",
]
