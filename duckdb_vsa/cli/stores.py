"""Encoded stores: the Parquet and DuckDB outputs of ``encode``, and reading them back.

A store is a Parquet file whose schema metadata records the encoder
configuration under ``duckdb_vsa``, or a table of a DuckDB database file whose
vector column is recorded as :func:`duckdb_vsa.encode_column` records it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from duckdb_vsa.cli.common import PROG, CLIError, one_line
from duckdb_vsa.cli.inputs import read_head
from duckdb_vsa.cli.output import note
from duckdb_vsa.cli.staging import (
    is_staging_table,
    new_staging_table,
    remove_dead_files,
    remove_dead_tables,
    temporary_path,
)
from duckdb_vsa.config import EncoderConfig
from duckdb_vsa.db.changes import CHANGES_TABLE
from duckdb_vsa.db.columns import METADATA_TABLE, column_info, record_column, recorded_columns
from duckdb_vsa.db.names import Relation, resolve_relation
from duckdb_vsa.index.store import DATA_TABLE, INDEXES_TABLE
from duckdb_vsa.sqltext import display_name, qualified, quote_ident, split_identifier

#: Key of the Parquet schema metadata that records the encoder configuration.
PARQUET_METADATA_KEY = b"duckdb_vsa"
DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
#: DuckDB's buffer budget when encode writes a database (it spills beyond it).
DUCKDB_MEMORY_LIMIT = "256MB"


#: Tables duckdb_vsa keeps in a database beside the user's (never a store).
PACKAGE_TABLES = frozenset({METADATA_TABLE, CHANGES_TABLE, INDEXES_TABLE, DATA_TABLE})


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


def write_error(where: str, err: BaseException, committed: bool = False) -> CLIError:
    """The error of an output that could not be written (a full disk, a read-only file...).

    ``committed`` says the rows were committed to a DuckDB database before the
    failure (its checkpoint failed), so they were not lost.
    """
    reason = (getattr(err, "strerror", None) or one_line(err)).rstrip(".")
    if committed:
        then = (
            "The new table was committed, but DuckDB could not fold it into the database "
            "file; make room before opening the database again."
        )
    else:
        then = "Nothing was replaced."
    return CLIError(f"Cannot write {where}: {reason}. {then}")


class ParquetSink:
    """Writes to a temporary file next to the output, renamed by :meth:`commit`.

    Call :meth:`close` in a ``finally`` block: unless the rows were committed,
    it removes the temporary file, whatever interrupted the run (Ctrl-C and
    SIGTERM too). The temporary files of earlier runs that were killed are
    removed first (see :mod:`duckdb_vsa.cli.staging`).
    """

    def __init__(self, path: str, schema: pa.Schema, metadata: dict[str, Any], overwrite: bool):
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise CLIError(f"No such directory: {self.path.parent}.")
        for message in remove_dead_files(self.path):
            note(message)
        if self.path.exists() and not overwrite:
            raise CLIError(f"{path} exists; pass --overwrite to replace it.")
        self.tmp = temporary_path(self.path)
        self.where = str(path)
        meta = dict(schema.metadata or {})
        meta[PARQUET_METADATA_KEY] = json.dumps(metadata, sort_keys=True).encode()
        self.schema = schema.with_metadata(meta)
        try:
            self.writer = pq.ParquetWriter(self.tmp, self.schema)
        except OSError as err:
            self.tmp.unlink(missing_ok=True)
            raise write_error(self.where, err) from None
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise

    def write(self, table: pa.Table) -> None:
        """Append rows."""
        try:
            self.writer.write_table(table.cast(self.schema))
        except OSError as err:
            raise write_error(self.where, err) from None

    def commit(self, rows: int) -> None:
        """Put the file in place: every row is in."""
        try:
            self.writer.close()
            os.replace(self.tmp, self.path)
        except OSError as err:
            raise write_error(self.where, err) from None

    def close(self) -> None:
        """Remove the temporary file if it is still there; safe to call more than once."""
        # After a failure the writer may fail to close too; the first error is the one to
        # report, and the file goes either way.
        with contextlib.suppress(Exception):
            self.writer.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)


def table_parts(name: str) -> tuple[str, ...]:
    """The parts of a ``--table`` name: ``table``, ``schema.table`` or ``catalog.schema.table``.

    Parts are read as DuckDB reads them (see :func:`duckdb_vsa.sqltext.split_identifier`):
    ``'"My Table"'`` is one part holding a space.

    Examples
    --------
    >>> table_parts('s."My Table"')
    ('s', 'My Table')
    """
    parts = split_identifier(name, "--table name")
    if len(parts) > 3:
        raise CLIError(
            f"--table {name} has {len(parts)} parts; give table, schema.table or "
            'catalog.schema.table (quote a part that holds dots: "a.b").'
        )
    return parts


def shown_name(schema: str, table: str) -> str:
    """A table of the database in messages: ``table``, or ``schema.table`` outside ``main``."""
    return display_name((table,) if schema == "main" else (schema, table))


def recorded_name(schema: str, table: str) -> str:
    """The name a table's vector column is recorded under: ``table``, or ``schema.table``.

    Parts are quoted only when they hold a dot or a double quote, so that
    ``My Table`` is recorded as written.

    Examples
    --------
    >>> recorded_name("main", "My Table"), recorded_name("s", "a.b")
    ('My Table', 's."a.b"')
    """
    parts = (table,) if schema == "main" else (schema, table)
    if any("." in p or '"' in p for p in parts):
        return display_name(parts)
    return ".".join(parts)


class DuckDBSink:
    """Creates a table in a DuckDB database file; records the configuration at the end.

    Rows go to a staging table of a name no user table has, which replaces the
    table in :meth:`commit`, so a failure leaves the database as it was; call
    :meth:`close` in a ``finally`` block, which drops the staging table unless it
    was committed.
    The name of the table is checked (its schema must exist; an existing table
    needs ``overwrite``) before anything is written, and the staging tables of
    earlier runs that were killed are dropped.
    """

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
        parts = table_parts(table)
        self.config = config
        self.source_column, self.vector_column = source_column, vector_column
        self.committed = False
        self.target: str | None = None
        try:
            self.con = duckdb.connect(path)
        except duckdb.Error as err:
            raise CLIError(f"Cannot open the database {path}: {one_line(err)}") from None
        try:
            for schema_name, staging, pid, dropped in remove_dead_tables(self.con):
                left = shown_name(schema_name, staging)
                note(
                    f"dropped the staging table {left} from {path}, left by an earlier run "
                    f"(process {pid}) that did not finish"
                    if dropped
                    else f"{path} holds the staging table {left} of process {pid}, which still "
                    "exists; drop the table if no encode is running"
                )
            catalog, db_schema, name = self._resolve(path, parts, overwrite)
            self.where = f"table {shown_name(db_schema, name)} of {path}"
            self.recorded = recorded_name(db_schema, name)
            self.final = quote_ident(name)
            self.final_in_schema = qualified((catalog, db_schema, name))
            # Each chunk is committed on its own (one transaction for all would hold more
            # memory), within DuckDB's memory limit.
            self.con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'").fetchall()
            self.con.execute("SET enable_progress_bar = false").fetchall()
            self.con.register("__vsa_batch", schema.empty_table())
            self.target = qualified((catalog, db_schema, new_staging_table()))
            self.con.execute(f"CREATE TABLE {self.target} AS SELECT * FROM __vsa_batch").fetchall()
            self.con.unregister("__vsa_batch")
        except BaseException:
            self.close()
            raise
        self.schema = schema

    def _resolve(self, path: str, parts: tuple[str, ...], overwrite: bool) -> tuple[str, str, str]:
        """(catalog, schema, table) of the table to write; refuse what cannot be written."""
        catalog, current = self.con.execute(
            "SELECT current_database(), current_schema()"
        ).fetchall()[0]
        if len(parts) == 3 and parts[0].lower() != catalog.lower():
            raise CLIError(
                f"--table {display_name(parts)} names the catalog {parts[0]!r}, but the "
                f"database {path} is {catalog!r}; leave the catalog out."
            )
        wanted = parts[-2] if len(parts) > 1 else current
        found = self.con.execute(
            "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ? "
            "AND lower(schema_name) = lower(?)",
            [catalog, wanted],
        ).fetchall()
        if not found:
            raise CLIError(
                f"{path} has no schema {display_name([wanted])}: create it first "
                f"(CREATE SCHEMA {quote_ident(wanted)}), or choose another --table."
            )
        db_schema = found[0][0]
        name = parts[-1]
        if is_staging_table(name):
            raise CLIError(
                f"{display_name([name])} is the name of a staging table; choose another --table."
            )
        existing = self.con.execute(
            "SELECT 'table' FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
            "AND lower(table_name) = lower(?) UNION ALL "
            "SELECT 'view' FROM duckdb_views() WHERE database_name = ? AND schema_name = ? "
            "AND lower(view_name) = lower(?)",
            [catalog, db_schema, name] * 2,
        ).fetchall()
        shown = shown_name(db_schema, name)
        if existing and existing[0][0] == "view":
            raise CLIError(f"{path} has a view named {shown}; choose another --table.")
        if existing and not overwrite:
            raise CLIError(f"{path} already has a table {shown}; pass --overwrite to replace it.")
        return catalog, db_schema, name

    def write(self, table: pa.Table) -> None:
        """Append rows to the staging table."""
        self.con.register("__vsa_batch", table)
        try:
            self.con.execute(f"INSERT INTO {self.target} SELECT * FROM __vsa_batch").fetchall()
        except duckdb.Error as err:
            raise write_error(self.where, err) from None
        finally:
            self.con.unregister("__vsa_batch")

    def commit(self, rows: int) -> None:
        """Put the table in place and record its configuration: every row is in."""
        self._replace(rows)
        self.committed = True
        try:
            self.con.execute("CHECKPOINT").fetchall()
        except duckdb.Error as err:
            raise write_error(self.where, err, committed=True) from None

    def close(self) -> None:
        """Drop the staging table unless committed, and close; safe to call more than once."""
        if self.con is None:
            return
        try:
            if self.target is not None and not self.committed:
                self.con.execute(f"DROP TABLE IF EXISTS {self.target}").fetchall()
        except duckdb.Error as err:
            note(
                f"could not drop the staging table of {self.where} ({one_line(err)}); the "
                "next encode into this database drops it"
            )
        finally:
            self.con.close()
            self.con = None

    def _replace(self, rows: int) -> None:
        """Replace the table by the staging table and record the configuration, at once."""
        con = self.con
        try:
            con.execute("BEGIN TRANSACTION").fetchall()
            con.execute(f"DROP TABLE IF EXISTS {self.final_in_schema}").fetchall()
            con.execute(f"ALTER TABLE {self.target} RENAME TO {self.final}").fetchall()
            record_column(
                con, self.recorded, self.source_column, self.vector_column, self.config, rows
            )
            con.execute("COMMIT").fetchall()
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK").fetchall()
            raise


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
        elif not read_head(path, 4).startswith(b"PAR1"):
            output = Path(path).with_suffix(".parquet")
            if output == Path(path):
                output = output.with_name(output.stem + "_vectors.parquet")
            raise CLIError(
                f"{path} is not an encoded store (a Parquet file or DuckDB database written by "
                f"encode); encode it first: {PROG} encode {shlex.quote(path)} -o "
                f"{shlex.quote(str(output))}"
            )
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
        relation = self._find_table(table)
        self.table = recorded_name(relation.schema, relation.name)
        self.label = f"table {shown_name(relation.schema, relation.name)} of {self.path}"
        self.relation = relation.sql
        reader = self.con.sql(f"SELECT * FROM {self.relation}").to_arrow_reader(1)
        self.schema = reader.schema
        reader.close()
        self.rows = int(self.con.execute(f"SELECT count(*) FROM {self.relation}").fetchall()[0][0])
        recorded = recorded_columns(self.con, relation) if vector_column is None else []
        recorded_column = recorded[0] if len(recorded) == 1 else None
        self.vector_column = self._vector_column(vector_column, recorded_column)
        info = column_info(self.con, relation.sql, self.vector_column)
        self.config = info["config"] if info else None
        self.encoded_with = info["configuration"] if info else None

    def _find_table(self, table: str | None) -> Relation:
        """The table ``--table`` names (by the package's one name rule), or the only table."""
        rows = self.con.execute(
            "SELECT database_name, schema_name, table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() ORDER BY schema_name <> 'main', "
            "schema_name, table_name"
        ).fetchall()
        tables = [r for r in rows if r[2] not in PACKAGE_TABLES and not is_staging_table(r[2])]
        names = ", ".join(shown_name(s, t) for _, s, t in tables) or "none"
        if table is None:
            if len(tables) != 1:
                raise CLIError(
                    f"{self.path} has {len(tables)} tables ({names}); choose one with --table."
                )
            return Relation(*tables[0])
        table_parts(table)
        relation = resolve_relation(self.con, table)
        if relation is None:
            raise CLIError(f"{self.path} has no table {table} (tables: {names}).")
        return relation

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
        if not lists:
            raise CLIError(
                f"{self.label} has no vector column (columns: {', '.join(names)}); encode it "
                f"first ({PROG} encode --help), or name the vector column with --vector-column."
            )
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
