"""duckdb_vsa: similarity between JSON documents, inside DuckDB.

``register(con)`` adds ``vsa_encode``, cosine functions and table macros for
nearest neighbours, top-k similarity joins and near-duplicates to a DuckDB
connection; :class:`Encoder` is the same encoder from Python. ``build_index``
keeps a table's vector column in memory so that the ``vsa_index_*`` macros
answer top-k queries with matrix products, or (``method="hnsw"`` or
``method="ivf"``, with the optional faiss-cpu package) from an approximate HNSW
graph or k-means inverted file. ``encode_partition``
is the encoder as a batch function for distributed engines (Dask, Ray, Spark).
"""

from duckdb_vsa.config import ENCODER_VERSION, EncoderConfig
from duckdb_vsa.db.columns import column_info, encode_column
from duckdb_vsa.encoder import Encoder
from duckdb_vsa.errors import DocumentError
from duckdb_vsa.index import (
    ExactIndex,
    HnswIndex,
    IvfIndex,
    VectorIndex,
    build_index,
    drop_index,
    get_index,
    list_indexes,
)
from duckdb_vsa.ops import bind, bundle, cosine, normalize, unbind
from duckdb_vsa.partition import encode_partition
from duckdb_vsa.register import SQL_OBJECTS, register, registered_encoder
from duckdb_vsa.version import __version__ as __version__

__all__ = [
    "ENCODER_VERSION",
    "SQL_OBJECTS",
    "DocumentError",
    "Encoder",
    "EncoderConfig",
    "ExactIndex",
    "HnswIndex",
    "IvfIndex",
    "VectorIndex",
    "bind",
    "build_index",
    "bundle",
    "column_info",
    "cosine",
    "drop_index",
    "encode_column",
    "encode_partition",
    "get_index",
    "list_indexes",
    "normalize",
    "register",
    "registered_encoder",
    "unbind",
]
