"""Vector indexes that the SQL search macros use, kept in step with their tables.

DuckDB's vector builtins score one pair at a time; a top-k join over a large
table is an order of magnitude slower than a float32 matrix product. An index
holds one table column as a contiguous float32 matrix (or an approximate
faiss structure), and a vectorised UDF answers a whole Arrow chunk of queries
(up to 2048 rows) with one matrix product per block of index rows.

:class:`VectorIndex` is the interface; :class:`ExactIndex` is brute force,
exact, and ranks ties by the smaller id exactly as the builtin macros rank them
by the earlier row. :class:`HnswIndex` (``method="hnsw"``) is an approximate
HNSW graph and :class:`IvfIndex` (``method="ivf"``) an approximate k-means
inverted file behind the same interface. :class:`LiveIndex` is one of them
kept in step with its table (rows appended since are searched beside it).

:func:`build_index` (or ``SELECT vsa_create_index('items', 'vec')``) makes an
index of a table's vector column, counts the table's changes with statement
triggers, and records the index in the database, where the macros of every
connection find it::

    vsa_search('items', 'vec', query, k := 10)       -- uses an index of items.vec
    vsa_index_search('items', query, k := 10)        -- uses the index named items
    vsa_index_topk_join('orders', 'vec', 'items', k := 5)
    vsa_index_near_duplicates('items', threshold := 0.9, k := 10)
    vsa_index_topk('items', query, k := 10)          -- LIST of STRUCT(rowid, score)

Without an index, ``vsa_search``, ``vsa_topk_join`` and ``vsa_near_duplicates``
cache an exact matrix of the column they search.

The modules, from the bottom: :mod:`~duckdb_vsa.index.source` (the SQL over an
indexed table), :mod:`~duckdb_vsa.index.base` (the interface, input checks and
ranking), :mod:`~duckdb_vsa.index.faissbase`, :mod:`~duckdb_vsa.index.exact`,
:mod:`~duckdb_vsa.index.ann` (faiss), :mod:`~duckdb_vsa.index.store` (what is
kept in the database), :mod:`~duckdb_vsa.index.live` (an index and the table
state it matches), :mod:`~duckdb_vsa.index.sync` (reading the table, catching
up), :mod:`~duckdb_vsa.index.registry` (the entries of a database, tickets,
loading), :mod:`~duckdb_vsa.index.plan` (what a macro call reads),
:mod:`~duckdb_vsa.index.build`, :mod:`~duckdb_vsa.index.udf` (the database
functions) and :mod:`~duckdb_vsa.index.catalog` (the public functions).
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
from duckdb_vsa.index.live import LiveIndex
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
    "LiveIndex",
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
