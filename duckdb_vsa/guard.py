"""Vector columns that remember which encoder made them.

:func:`encode_column` fills a ``FLOAT[D]`` column from a JSON column and records
the encoder configuration twice: in the column's comment
(``duckdb_vsa:<fingerprint> <configuration>``, which the SQL macros read through
``duckdb_columns()``) and in the metadata table ``duckdb_vsa_columns``. The table
macros then refuse to compare a column with a connection, or with another
column, of a different configuration.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import duckdb

from duckdb_vsa.config import EncoderConfig
from duckdb_vsa.duck import registered_encoder

METADATA_TABLE = "duckdb_vsa_columns"
COMMENT_PREFIX = "duckdb_vsa:"
#: Progress is printed (when not given a callback) only for work that lasts longer.
PROGRESS_AFTER_SECONDS = 2.0


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(table: str) -> str:
    return ".".join(_quote(part) for part in table.split("."))


def _column_type(con: duckdb.DuckDBPyConnection, table: str, column: str) -> str | None:
    rows = con.execute(
        "SELECT data_type FROM duckdb_columns() WHERE lower(column_name) = lower(?) AND "
        "lower(?) IN (lower(table_name), lower(schema_name || '.' || table_name), "
        "lower(database_name || '.' || schema_name || '.' || table_name))",
        [column, table],
    ).fetchall()
    return rows[0][0] if rows else None


def encode_column(
    con: duckdb.DuckDBPyConnection,
    table: str,
    json_col: str,
    vec_col: str = "vec",
    *,
    batch_rows: int = 20_000,
    progress: bool | Callable[[int, int, float], None] | None = None,
) -> dict[str, Any]:
    """Add and fill a vector column, and record the configuration that made it.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection on which :func:`duckdb_vsa.register` was called.
    table : str
        The table (``t``, ``schema.t``); it is changed only by the vector column.
    json_col : str
        The column of JSON documents (VARCHAR, JSON or STRUCT); never changed.
    vec_col : str, default "vec"
        The vector column; added as ``FLOAT[D]`` if missing, overwritten if present.
    batch_rows : int, default 20000
        Rows encoded per UPDATE statement.
    progress : bool or callable, optional
        A callable gets ``(rows_done, rows_total, rows_per_second)`` after every
        batch; ``True`` prints a line to stderr after every batch; ``None``
        prints only once the work has lasted more than two seconds; ``False``
        is silent.

    Returns
    -------
    dict
        ``table``, ``column``, ``rows``, ``fingerprint`` and ``configuration``.

    Raises
    ------
    ValueError
        If the connection has no encoder registered, the table or JSON column
        does not exist, or ``vec_col`` exists with another type.
    """
    encoder = registered_encoder(con)
    if encoder is None:
        raise ValueError(
            "This connection has no duckdb_vsa encoder: call duckdb_vsa.register(con, ...) "
            "before encode_column()."
        )
    if not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValueError(f"batch_rows must be a positive integer, got {batch_rows!r}.")
    if _column_type(con, table, json_col) is None:
        raise ValueError(
            f"Table {table!r} has no column {json_col!r} (or does not exist); "
            "name an existing table and its JSON column."
        )
    vector_type = f"FLOAT[{encoder.dim}]"
    found = _column_type(con, table, vec_col)
    target = _qualified(table)
    if found is None:
        con.execute(f"ALTER TABLE {target} ADD COLUMN {_quote(vec_col)} {vector_type}").fetchall()
    elif found != vector_type:
        raise ValueError(
            f"Column {vec_col!r} of {table!r} exists with type {found}, but this connection's "
            f"encoder makes {vector_type}: drop the column or choose another vec_col."
        )
    low, high, total = con.execute(
        f"SELECT min(rowid), max(rowid), count(*) FROM {target}"
    ).fetchall()[0]
    done = 0
    start = time.perf_counter()
    if total:
        # Updating a vector column rewrites its rows under new rowids, so batches
        # read the table (rowids stay put) into a scratch table, and one UPDATE
        # writes every vector at the end.
        scratch = f"__vsa_encode_scratch_{encoder.fingerprint}"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {scratch} (rid BIGINT, v {vector_type})"
        ).fetchall()
        try:
            fill = (
                f"INSERT INTO {scratch} SELECT rowid, vsa_encode({_quote(json_col)}) "
                f"FROM {target} WHERE rowid >= ? AND rowid < ?"
            )
            for lo in range(low, high + 1, batch_rows):
                inserted = con.execute(fill, [lo, lo + batch_rows]).fetchall()
                done += int(inserted[0][0]) if inserted else 0
                elapsed = max(time.perf_counter() - start, 1e-9)
                rate = done / elapsed
                if callable(progress):
                    progress(done, total, rate)
                elif progress or (progress is None and elapsed > PROGRESS_AFTER_SECONDS):
                    print(
                        f"duckdb_vsa.encode_column: {done:,} / {total:,} records "
                        f"({rate:,.0f} records/s)",
                        file=sys.stderr,
                        flush=True,
                    )
            con.execute(
                f"UPDATE {target} SET {_quote(vec_col)} = {scratch}.v FROM {scratch} "
                f"WHERE {target}.rowid = {scratch}.rid"
            ).fetchall()
        finally:
            con.execute(f"DROP TABLE IF EXISTS {scratch}").fetchall()
    record_column(con, table, json_col, vec_col, encoder.config, done)
    return {
        "table": table,
        "column": vec_col,
        "rows": done,
        "fingerprint": encoder.config.fingerprint,
        "configuration": encoder.config.describe(),
    }


def record_column(
    con: duckdb.DuckDBPyConnection,
    table: str,
    json_col: str,
    vec_col: str,
    config: EncoderConfig,
    rows: int,
) -> None:
    """Record that ``config`` made the vectors of column ``vec_col`` of ``table``.

    Writes the column comment the SQL macros check and the row of
    ``duckdb_vsa_columns`` that :func:`column_info` reads, as
    :func:`encode_column` does after filling a column (the command line's
    ``encode`` calls it after writing a table).
    """
    target = _qualified(table)
    description = config.describe()
    comment = f"{COMMENT_PREFIX}{config.fingerprint} {description}"
    con.execute(
        f"COMMENT ON COLUMN {target}.{_quote(vec_col)} IS " + "'" + comment.replace("'", "''") + "'"
    ).fetchall()
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {METADATA_TABLE} ("
        "table_name VARCHAR, column_name VARCHAR, source_column VARCHAR, fingerprint VARCHAR, "
        "configuration VARCHAR, config_json VARCHAR, n_rows BIGINT, encoded_at TIMESTAMP)"
    ).fetchall()
    con.execute(
        f"DELETE FROM {METADATA_TABLE} WHERE lower(table_name) = lower(?) "
        "AND lower(column_name) = lower(?)",
        [table, vec_col],
    ).fetchall()
    con.execute(
        f"INSERT INTO {METADATA_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp)",
        [
            table,
            vec_col,
            json_col,
            config.fingerprint,
            description,
            json.dumps(config.as_dict(), sort_keys=True),
            rows,
        ],
    ).fetchall()


def column_info(con: duckdb.DuckDBPyConnection, table: str, vec_col: str) -> dict[str, Any] | None:
    """The configuration recorded for a vector column by :func:`encode_column`, or None.

    Returns
    -------
    dict or None
        ``fingerprint``, ``configuration`` (readable), ``config`` (every option),
        ``source_column``, ``rows``, ``encoded_at`` and ``comparable`` (whether it
        matches this connection's encoder; None if no encoder is registered).
    """
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [METADATA_TABLE]
    ).fetchall()[0][0]
    if not exists:
        return None
    rows = con.execute(
        "SELECT fingerprint, configuration, config_json, source_column, n_rows, encoded_at "
        f"FROM {METADATA_TABLE} "
        "WHERE lower(table_name) = lower(?) AND lower(column_name) = lower(?)",
        [table, vec_col],
    ).fetchall()
    if not rows:
        return None
    fingerprint, description, config_json, source, n_rows, encoded_at = rows[0]
    encoder = registered_encoder(con)
    return {
        "fingerprint": fingerprint,
        "configuration": description,
        "config": json.loads(config_json),
        "source_column": source,
        "rows": n_rows,
        "encoded_at": encoded_at,
        "comparable": None if encoder is None else encoder.fingerprint == fingerprint,
    }
