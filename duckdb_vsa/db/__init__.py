"""DuckDB plumbing shared by every SQL feature: functions, names, recorded columns.

- :mod:`~duckdb_vsa.db.udf`: create a Python function in a database once and
  keep it alive;
- :mod:`~duckdb_vsa.db.names`: the one rule that resolves a table name as
  DuckDB does;
- :mod:`~duckdb_vsa.db.encoders`: which configuration a connection uses, and
  its encoder from the process's bounded registry;
- :mod:`~duckdb_vsa.db.columns`: :func:`encode_column`, :func:`column_info`,
  :func:`record_column` and the configuration check the macros run.
"""

from duckdb_vsa.db.columns import METADATA_TABLE, column_info, encode_column, record_column
from duckdb_vsa.db.encoders import registered_encoder
from duckdb_vsa.db.names import Relation, resolve_relation, resolve_table

__all__ = [
    "METADATA_TABLE",
    "Relation",
    "column_info",
    "encode_column",
    "record_column",
    "registered_encoder",
    "resolve_relation",
    "resolve_table",
]
