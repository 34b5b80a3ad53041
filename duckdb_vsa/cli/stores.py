"""Encoded stores: the Parquet and DuckDB outputs of ``encode``, and reading them back.

A store is a Parquet file whose schema metadata records the encoder
configuration under ``duckdb_vsa``, or a table of a DuckDB database file whose
vector column is recorded as :func:`duckdb_vsa.encode_column` records it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from duckdb_vsa.cli.common import CLIError, one_line
from duckdb_vsa.cli.inputs import read_head
from duckdb_vsa.config import EncoderConfig
from duckdb_vsa.guard import METADATA_TABLE, column_info, record_column
from duckdb_vsa.sqltext import quote_ident

#: Key of the Parquet schema metadata that records the encoder configuration.
PARQUET_METADATA_KEY = b"duckdb_vsa"
DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
#: DuckDB's buffer budget when encode writes a database (it spills beyond it).
DUCKDB_MEMORY_LIMIT = "256MB"


def encoding_metadata(
    config: EncoderConfig, vector_column: str, source_column: str
) -> dict[str, Any]:
    """What a Parquet store records about its vectors."""
    return {
        "fingerprint": config.fingerprint,
        "configuration": config.describe(),
        "config": config.as_dict(),
        "vector_column": vector_column,
        "source_column": source_column,
    }


class ParquetSink:
    """Writes to a temporary file next to the output, renamed on success."""

    def __init__(self, path: str, schema: pa.Schema, metadata: dict[str, Any], overwrite: bool):
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise CLIError(f"{path} exists; pass --overwrite to replace it.")
        if not self.path.parent.is_dir():
            raise CLIError(f"No such directory: {self.path.parent}.")
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        meta = dict(schema.metadata or {})
        meta[PARQUET_METADATA_KEY] = json.dumps(metadata, sort_keys=True).encode()
        self.schema = schema.with_metadata(meta)
        self.writer = pq.ParquetWriter(self.tmp, self.schema)
        self.where = str(path)

    def write(self, table: pa.Table) -> None:
        """Append rows."""
        self.writer.write_table(table.cast(self.schema))

    def close(self, ok: bool, rows: int) -> None:
        """Put the file in place (``ok``), or remove what was written."""
        self.writer.close()
        if ok:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


class DuckDBSink:
    """Creates a table in a DuckDB database file; records the configuration at the end."""

    def __init__(
        self,
        path: str,
        table: str,
        schema: pa.Schema,
        config: EncoderConfig,
        source_column: str,
        vector_column: str,
        overwrite: bool,
    ):
        self.table, self.config = table, config
        self.source_column, self.vector_column = source_column, vector_column
        self.where = f"table {table} of {path}"
        try:
            self.con = duckdb.connect(path)
        except duckdb.Error as err:
            raise CLIError(f"Cannot open the database {path}: {one_line(err)}") from None
        exists = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE lower(table_name) = lower(?) "
            "AND schema_name = 'main'",
            [table],
        ).fetchall()[0][0]
        if exists and not overwrite:
            self.con.close()
            raise CLIError(f"{path} already has a table {table}; pass --overwrite to replace it.")
        # Rows go to a staging table, which replaces the table only once all are in, so
        # a failure leaves the database as it was. Each chunk is committed on its own (one
        # transaction for all would hold more memory), within DuckDB's memory limit.
        self.final = quote_ident(table)
        self.target = quote_ident(f"__vsa_staging_{table}")
        self.con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'").fetchall()
        self.con.execute("SET enable_progress_bar = false").fetchall()
        self.con.execute(f"DROP TABLE IF EXISTS {self.target}").fetchall()
        empty = schema.empty_table()
        self.con.register("__vsa_batch", empty)
        self.con.execute(f"CREATE TABLE {self.target} AS SELECT * FROM __vsa_batch").fetchall()
        self.con.unregister("__vsa_batch")
        self.schema = schema

    def write(self, table: pa.Table) -> None:
        """Append rows to the staging table."""
        self.con.register("__vsa_batch", table)
        try:
            self.con.execute(f"INSERT INTO {self.target} SELECT * FROM __vsa_batch").fetchall()
        finally:
            self.con.unregister("__vsa_batch")

    def close(self, ok: bool, rows: int) -> None:
        """Put the table in place and record its configuration (``ok``), or drop the rows."""
        try:
            if ok:
                self.con.execute("BEGIN TRANSACTION").fetchall()
                self.con.execute(f"DROP TABLE IF EXISTS {self.final}").fetchall()
                self.con.execute(f"ALTER TABLE {self.target} RENAME TO {self.final}").fetchall()
                record_column(
                    self.con, self.table, self.source_column, self.vector_column, self.config, rows
                )
                self.con.execute("COMMIT").fetchall()
                self.con.execute("CHECKPOINT").fetchall()
            else:
                self.con.execute(f"DROP TABLE IF EXISTS {self.target}").fetchall()
        finally:
            self.con.close()


# -- reading a store -------------------------------------------------------------------


def is_duckdb_file(path: str) -> bool:
    """Whether ``path`` names a DuckDB database file (by its suffix or its header)."""
    if path.lower().endswith(DUCKDB_SUFFIXES):
        return True
    head = read_head(path, 16)
    return head[8:12] == b"DUCK"


class Store:
    """Encoded vectors: a Parquet file or a table of a DuckDB database file.

    Parameters
    ----------
    path : str
        The file.
    table : str, optional
        The table, in a DuckDB database (default: its only table).
    vector_column : str, optional
        The vector column (default: the recorded one, else ``vec``, else the
        only fixed-size list column).

    Attributes
    ----------
    label : str
        The store in messages ("table t of f.duckdb", or the file name).
    config : dict or None
        The encoder options recorded with the vectors, if any.
    dim : int or None
        The length of the vectors, when the column's type fixes it.
    columns : list of str
        Every column but the vectors.
    rows : int
        The number of rows.
    """

    def __init__(self, path: str, table: str | None, vector_column: str | None):
        if not Path(path).is_file():
            raise CLIError(f"No such file: {path}.")
        self.path = path
        self.config: dict[str, Any] | None = None
        self.con: Any = None
        if is_duckdb_file(path):
            self._open_duckdb(table, vector_column)
        else:
            if table is not None:
                raise CLIError(f"{path} is not a DuckDB database; --table applies to those only.")
            self._open_parquet(vector_column)
        dtype = self.schema.field(self.vector_column).type
        if not (pa.types.is_fixed_size_list(dtype) or pa.types.is_list(dtype)):
            raise CLIError(
                f"Column {self.vector_column!r} of {self.label} holds {dtype}, not vectors; "
                "name the vector column with --vector-column."
            )
        self.dim = dtype.list_size if pa.types.is_fixed_size_list(dtype) else None
        self.columns = [n for n in self.schema.names if n != self.vector_column]

    def _open_parquet(self, vector_column: str | None) -> None:
        try:
            # Without pre-buffering, reading holds about one row group at a time.
            self.file = pq.ParquetFile(self.path, pre_buffer=False, buffer_size=1 << 20)
        except (pa.ArrowException, OSError) as err:
            raise CLIError(
                f"Cannot read {self.path} as Parquet or a DuckDB database: {one_line(err)}"
            ) from None
        self.kind = "parquet"
        self.label = self.path
        self.schema = self.file.schema_arrow
        self.rows = self.file.metadata.num_rows
        meta = self._parquet_metadata()
        self.config = meta.get("config")
        self.encoded_with = meta.get("configuration")
        self.vector_column = self._vector_column(vector_column, meta.get("vector_column"))

    def _parquet_metadata(self) -> dict[str, Any]:
        recorded = (self.schema.metadata or {}).get(PARQUET_METADATA_KEY)
        if not recorded:
            return {}
        try:
            meta = json.loads(recorded)
        except ValueError:
            meta = None
        if not isinstance(meta, dict) or not isinstance(meta.get("config", {}), dict):
            raise CLIError(
                f"The {PARQUET_METADATA_KEY.decode()} metadata of {self.path} is not what encode "
                "records; re-encode the data, or remove that metadata."
            )
        return meta

    def _open_duckdb(self, table: str | None, vector_column: str | None) -> None:
        try:
            self.con = duckdb.connect(self.path, read_only=True)
        except duckdb.Error as err:
            raise CLIError(f"Cannot open the database {self.path}: {one_line(err)}") from None
        self.con.execute("SET enable_progress_bar = false").fetchall()
        self.kind = "duckdb"
        tables = [
            r[0]
            for r in self.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                "AND table_name <> ? ORDER BY table_name",
                [METADATA_TABLE],
            ).fetchall()
        ]
        if table is None:
            if len(tables) != 1:
                raise CLIError(
                    f"{self.path} has {len(tables)} tables ({', '.join(tables) or 'none'}); "
                    "choose one with --table."
                )
            table = tables[0]
        elif table.lower() not in {t.lower() for t in tables}:
            raise CLIError(
                f"{self.path} has no table {table!r} (tables: {', '.join(tables) or 'none'})."
            )
        self.table = table
        self.label = f"table {table} of {self.path}"
        self.relation = quote_ident(table)
        reader = self.con.sql(f"SELECT * FROM {self.relation}").to_arrow_reader(1)
        self.schema = reader.schema
        reader.close()
        self.rows = int(self.con.execute(f"SELECT count(*) FROM {self.relation}").fetchall()[0][0])
        recorded_column = None
        has_meta = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [METADATA_TABLE]
        ).fetchall()[0][0]
        if has_meta and vector_column is None:
            found = self.con.execute(
                f"SELECT column_name FROM {METADATA_TABLE} WHERE lower(table_name) = lower(?)",
                [table],
            ).fetchall()
            if len(found) == 1:
                recorded_column = found[0][0]
        self.vector_column = self._vector_column(vector_column, recorded_column)
        info = column_info(self.con, table, self.vector_column)
        self.config = info["config"] if info else None
        self.encoded_with = info["configuration"] if info else None

    def _vector_column(self, given: str | None, recorded: str | None) -> str:
        names = self.schema.names
        if given is not None:
            if given not in names:
                raise CLIError(
                    f"{self.label} has no column {given!r}; its columns are {', '.join(names)}."
                )
            return given
        if recorded in names:
            return recorded
        if "vec" in names:
            return "vec"
        lists = [f.name for f in self.schema if pa.types.is_fixed_size_list(f.type)]
        if len(lists) == 1:
            return lists[0]
        raise CLIError(
            f"Cannot tell which column of {self.label} holds the vectors: name it with "
            "--vector-column."
        )

    def batches(self, columns: list[str], chunk_size: int) -> Iterator[pa.RecordBatch]:
        """The store's ``columns``, in row order, ``chunk_size`` rows at a time."""
        if self.kind == "parquet":
            try:
                yield from self.file.iter_batches(batch_size=chunk_size, columns=columns)
            except pa.ArrowException as err:
                raise CLIError(f"Cannot read {self.path}: {one_line(err)}") from None
        else:
            select = ", ".join(quote_ident(c) for c in columns)
            yield from self.con.sql(f"SELECT {select} FROM {self.relation}").to_arrow_reader(
                chunk_size
            )

    def close(self) -> None:
        """Close the database, if the store is one."""
        if self.con is not None:
            self.con.close()
