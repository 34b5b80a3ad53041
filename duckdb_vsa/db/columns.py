"""Vector columns that remember which encoder made them.

:func:`encode_column` fills a ``FLOAT[D]`` column from a JSON column and records
the encoder configuration twice: in the column's comment
(``duckdb_vsa:<fingerprint> <configuration>``, which the SQL macros read) and in
the metadata table ``duckdb_vsa_columns`` in schema main of the table's
database (for a temporary table, a temporary one), which :func:`column_info`
reads. The table macros then refuse to compare a column with a connection, or
with another column, of a different configuration. :func:`encode_column` also
installs the table's change triggers (see :mod:`duckdb_vsa.db.changes`).

Table names are resolved by :mod:`duckdb_vsa.db.names` everywhere, the macros'
check included (:func:`recorded_sql`), so a check reads the comment of the very
table the macro then scans.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import duckdb

from duckdb_vsa.config import EncoderConfig
from duckdb_vsa.db.changes import watch_column
from duckdb_vsa.db.encoded import EncodedPairs, pair_sql
from duckdb_vsa.db.encoders import (
    configuration,
    ensure_encode_function,
    registered_encoder,
    registration,
)
from duckdb_vsa.db.names import (
    SNAPSHOT_SQL,
    SNAPSHOT_TYPES,
    CatalogSnapshot,
    Column,
    Relation,
    find_column,
    fold,
    resolve_relation,
    resolve_table,
    stored_key,
    stored_name,
    table_columns,
)
from duckdb_vsa.db.udf import ensure_function
from duckdb_vsa.dispatch import check_workers
from duckdb_vsa.errors import CatalogError, InvalidArgumentError, NotRegisteredError
from duckdb_vsa.sqltext import qualified, quote_ident, quote_literal

__all__ = [
    "COMMENT_PREFIX",
    "METADATA_TABLE",
    "RECORDED_FUNCTION",
    "column_info",
    "encode_column",
    "ensure_guard_function",
    "parse_comment",
    "record_column",
    "recorded_configuration",
    "recorded_sql",
]

METADATA_TABLE = "duckdb_vsa_columns"
COMMENT_PREFIX = "duckdb_vsa:"
#: Progress is printed (when not given a callback) only for work that lasts longer.
PROGRESS_AFTER_SECONDS = 2.0

#: The database-wide function behind the macros' configuration check.
RECORDED_FUNCTION = "__vsa_recorded_comment"

# Every recorded comment: few columns, so the whole list goes to the check function.
_RECORDED_COLUMNS_SQL = (
    "(SELECT list(struct_pack(database_name := database_name, schema_name := schema_name, "
    "table_name := table_name, column_name := column_name, comment := comment)) "
    f"FROM duckdb_columns() WHERE comment LIKE '{COMMENT_PREFIX}%')"
)
_RECORDED_COLUMNS_TYPE = (
    "STRUCT(database_name VARCHAR, schema_name VARCHAR, table_name VARCHAR, "
    "column_name VARCHAR, comment VARCHAR)[]"
)


def parse_comment(comment: str | None) -> tuple[str, str] | None:
    """``(fingerprint, configuration)`` from a column comment written by :func:`record_column`.

    Examples
    --------
    >>> parse_comment("duckdb_vsa:0a1b dim=64, seed=0 (fingerprint 0a1b)")
    ('0a1b', 'dim=64, seed=0 (fingerprint 0a1b)')
    >>> parse_comment("a note") is None
    True
    """
    if not comment or not comment.startswith(COMMENT_PREFIX):
        return None
    fingerprint, _, description = comment[len(COMMENT_PREFIX) :].partition(" ")
    return fingerprint, description


def recorded_comment(
    table: str | None,
    column: str | None,
    database: str,
    search_path: str | None,
    schemas: Sequence[Mapping[str, Any]] | None,
    relations: Sequence[Mapping[str, Any]] | None,
    columns: Sequence[Mapping[str, Any]] | None,
) -> str | None:
    """The duckdb_vsa comment of ``column`` of the table ``table`` names, or None.

    The body of the SQL function :data:`RECORDED_FUNCTION`: SQL hands it the
    catalog as the calling query sees it.
    """
    if table is None or column is None:
        return None
    relation = CatalogSnapshot.from_rows(database, search_path, schemas, relations).resolve(table)
    if relation is None:
        return None
    wanted = fold(column)
    for entry in columns or ():
        where = (entry["database_name"], entry["schema_name"], entry["table_name"])
        if where == relation.parts and fold(entry["column_name"]) == wanted:
            return entry["comment"]
    return None


def recorded_sql(table_sql: str, column_sql: str) -> str:
    """SQL for the recorded comment of a column, given SQL for its table and column names.

    Examples
    --------
    >>> recorded_sql("'items'", "'vec'").startswith("__vsa_recorded_comment('items', 'vec', ")
    True
    """
    return (
        f"{RECORDED_FUNCTION}({table_sql}, {column_sql}, {SNAPSHOT_SQL}, {_RECORDED_COLUMNS_SQL})"
    )


def ensure_guard_function(con: duckdb.DuckDBPyConnection) -> None:
    """Create the function behind :func:`recorded_sql` in ``con``'s database, once."""
    ensure_function(
        con,
        RECORDED_FUNCTION,
        recorded_comment,
        [["VARCHAR", "VARCHAR", *SNAPSHOT_TYPES, _RECORDED_COLUMNS_TYPE]],
        "VARCHAR",
        kind="native",
        null_handling="special",
    )


def _registered(con: duckdb.DuckDBPyConnection, what: str) -> Any:
    encoder = registered_encoder(con)
    if encoder is None:
        raise NotRegisteredError(
            "This connection has no duckdb_vsa encoder: call duckdb_vsa.register(con, ...) "
            f"before {what}."
        )
    return encoder


def _encode_function(con: duckdb.DuckDBPyConnection, workers: int) -> str:
    """The function encoding like the connection's ``vsa_encode``, with ``workers`` workers."""
    current = registration(con)
    known = None if current is None else configuration(current[0])
    if current is None or known is None:
        raise NotRegisteredError(
            "This connection has no duckdb_vsa encoder: call duckdb_vsa.register(con, ...) "
            "before encode_column()."
        )
    return ensure_encode_function(con, known[0], known[1], current[1], workers)


def _column(columns: Sequence[Column], name: str, table: str) -> Column:
    found = find_column(columns, name)
    if found is None:
        listing = ", ".join(c.name for c in columns)
        raise CatalogError(
            f"Table {table!r} has no column {name!r} (its columns: {listing}); name an "
            "existing column."
        )
    return found


def encode_column(
    con: duckdb.DuckDBPyConnection,
    table: str,
    json_col: str,
    vec_col: str = "vec",
    *,
    incremental: bool = True,
    batch_rows: int = 20_000,
    progress: bool | Callable[[int, int, float], None] | None = None,
    workers: int | str | None = None,
) -> dict[str, Any]:
    """Add and fill a vector column, and record the configuration that made it.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection on which :func:`duckdb_vsa.register` was called.
    table : str
        The table (``t``, ``schema.t``, ``db.schema.t``; quote a part with dots,
        spaces or quotes, as in ``'"My Table"'``), resolved as ``query_table``
        resolves it; it is changed only by the vector column.
    json_col : str
        The column of JSON documents (VARCHAR, JSON or STRUCT); never changed.
    vec_col : str, default "vec"
        The vector column; added as ``FLOAT[D]`` if missing, overwritten if present.
    incremental : bool, default True
        Encode only the rows whose vector is not the encoding of their document
        by this connection's configuration: a NULL vector, a document changed
        since its vector was written by ``encode_column`` (or the command
        line's ``encode``), a vector written some other way, or a column made
        with another configuration. Each vector written is recorded as the hash
        of the document with the vector, in the table ``duckdb_vsa_encoded``
        (see :mod:`duckdb_vsa.db.encoded`). False encodes every row.
    batch_rows : int, default 20000
        Rows encoded per statement.
    progress : bool or callable, optional
        A callable gets ``(rows_done, rows_to_encode, rows_per_second)`` after
        every batch; ``True`` prints a line to stderr after every batch;
        ``None`` prints only once the work has lasted more than two seconds;
        ``False`` is silent.
    workers : int or "auto", optional
        Worker processes to encode with (see :func:`duckdb_vsa.register`): 0
        encodes in this process, ``"auto"`` on the usable cores; None (the
        default) uses what the connection was registered with. The vectors are
        the same either way.

    Returns
    -------
    dict
        ``table``, ``column``, ``rows`` (the table's rows), ``encoded`` (rows
        encoded by this call), ``skipped`` (rows whose vector was current, or
        whose document and vector are both NULL), ``fingerprint`` and
        ``configuration``.

    Raises
    ------
    NotRegisteredError
        If the connection has no encoder registered.
    CatalogError
        If the table or JSON column does not exist, the table is a view, or
        ``vec_col`` exists with another type.
    InvalidArgumentError
        If ``batch_rows`` is not a positive integer, or ``workers`` not None,
        ``"auto"`` or an integer >= 0.

    Examples
    --------
    >>> import duckdb, duckdb_vsa
    >>> con = duckdb.connect()
    >>> _ = duckdb_vsa.register(con, dim=64)
    >>> _ = con.execute('''CREATE TABLE "My Table" AS SELECT '{"a": 1}' AS doc''')
    >>> encode_column(con, '"My Table"', "doc", progress=False)["encoded"]
    1
    >>> _ = con.execute('''INSERT INTO "My Table" (doc) VALUES ('{"a": 2}')''')
    >>> done = encode_column(con, '"My Table"', "doc", progress=False)
    >>> done["rows"], done["encoded"], done["skipped"]
    (2, 1, 1)
    """
    encoder = _registered(con, "encode_column()")
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise InvalidArgumentError(f"batch_rows must be a positive integer, got {batch_rows!r}.")
    encode_sql = "vsa_encode" if workers is None else _encode_function(con, check_workers(workers))
    relation = resolve_table(con, table, purpose="encode_column")
    columns = table_columns(con, relation)
    source = _column(columns, json_col, table)
    vector_type = f"FLOAT[{encoder.dim}]"
    found = find_column(columns, vec_col)
    target = relation.sql
    if found is None:
        con.execute(
            f"ALTER TABLE {target} ADD COLUMN {quote_ident(vec_col)} {vector_type}"
        ).fetchall()
        vector_name = vec_col
    elif found.data_type != vector_type:
        raise CatalogError(
            f"Column {vec_col!r} of {table!r} exists with type {found.data_type}, but this "
            f"connection's encoder makes {vector_type}: drop the column or choose another vec_col."
        )
    else:
        vector_name = found.name
    pairs = EncodedPairs(relation, source.name, vector_name, encoder.config.fingerprint)
    total, encoded = _encode_rows(
        con, pairs, encoder.dim, encode_sql, incremental, batch_rows, progress
    )
    record_column(con, table, json_col, vector_name, encoder.config, total, watch=True)
    return {
        "table": table,
        "column": vec_col,
        "rows": total,
        "encoded": encoded,
        "skipped": total - encoded,
        "fingerprint": encoder.config.fingerprint,
        "configuration": encoder.config.describe(),
    }


def _encode_rows(
    con: duckdb.DuckDBPyConnection,
    pairs: EncodedPairs,
    dim: int,
    encode_sql: str,
    incremental: bool,
    batch_rows: int,
    progress: bool | Callable[[int, int, float], None] | None,
) -> tuple[int, int]:
    """Encode the rows of a column that need it; ``(rows of the table, rows encoded)``."""
    target = pairs.relation.sql
    doc = quote_ident(pairs.doc)
    stale = pairs.stale_sql(pairs.exists(con)) if incremental else "true"
    # Rowids change when a vector is written (DuckDB rewrites an updated row), so
    # the rows to encode are listed first, encoded batch by batch into a scratch
    # table, and written by one UPDATE at the end.
    scratch = qualified(("temp", "main", f"__vsa_encode_scratch_{pairs.fingerprint}"))
    todo = qualified(("temp", "main", f"__vsa_encode_todo_{pairs.fingerprint}"))
    start = time.perf_counter()
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {todo} AS SELECT rowid AS rid, "
            f"(row_number() OVER (ORDER BY rowid) - 1) // {batch_rows} AS batch "
            f"FROM {target} WHERE {stale}"
        ).fetchall()
        total = int(con.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0])
        batches = con.execute(
            f"SELECT batch, min(rid), max(rid), count(*) FROM {todo} GROUP BY batch ORDER BY batch"
        ).fetchall()
        wanted = sum(int(b[3]) for b in batches)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {scratch} (rid BIGINT, v FLOAT[{dim}], pair UBIGINT)"
        ).fetchall()
        fill = (
            f"INSERT INTO {scratch} SELECT __vsa_rid, __vsa_v, "
            f"{pair_sql('__vsa_doc', '__vsa_v')} FROM (SELECT rowid AS __vsa_rid, "
            f"{doc} AS __vsa_doc, {encode_sql}({doc}) AS __vsa_v FROM {target} "
            f"WHERE rowid BETWEEN ? AND ? AND rowid IN (SELECT rid FROM {todo} WHERE batch = ?))"
        )
        done = 0
        for batch, low, high, _ in batches:
            inserted = con.execute(fill, [low, high, batch]).fetchall()
            done += int(inserted[0][0]) if inserted else 0
            _report(progress, done, wanted, time.perf_counter() - start)
        if done:
            con.execute(
                f"UPDATE {target} AS __vsa_t SET {quote_ident(pairs.vec)} = __vsa_s.v "
                f"FROM {scratch} AS __vsa_s WHERE __vsa_t.rowid = __vsa_s.rid"
            ).fetchall()
        # Only pairs of a document and the vector made from it are recorded.
        pairs.update(con, f"SELECT pair FROM {scratch} WHERE v IS NOT NULL", total)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {scratch}").fetchall()
        con.execute(f"DROP TABLE IF EXISTS {todo}").fetchall()
    return total, done


def _report(
    progress: bool | Callable[[int, int, float], None] | None,
    done: int,
    total: int,
    elapsed: float,
) -> None:
    rate = done / max(elapsed, 1e-9)
    if callable(progress):
        progress(done, total, rate)
    elif progress or (progress is None and elapsed > PROGRESS_AFTER_SECONDS):
        print(
            f"duckdb_vsa.encode_column: {done:,} / {total:,} records ({rate:,.0f} records/s)",
            file=sys.stderr,
            flush=True,
        )


def _metadata_table(relation: Relation) -> Relation:
    """Where the records of ``relation`` live: ``duckdb_vsa_columns`` in main of its database.

    So a record travels with its database file, and a temporary table's record
    is itself temporary.
    """
    return Relation(relation.database, "main", METADATA_TABLE)


def _metadata_rows(
    con: duckdb.DuckDBPyConnection, relation: Relation, column: str | None
) -> tuple[bool, list[tuple[Any, ...]]]:
    """Whether the metadata table of ``relation``'s database exists, and its rows (rowid
    first, oldest first) about ``column`` of ``relation`` (every column for None)."""
    meta = _metadata_table(relation)
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE database_name = ? AND schema_name = ? AND table_name = ?",
        list(meta.parts),
    ).fetchall()[0][0]
    if not exists:
        return False, []
    rows = con.execute(
        "SELECT rowid, table_name, column_name, source_column, fingerprint, configuration, "
        f"config_json, n_rows, encoded_at FROM {meta.sql} ORDER BY encoded_at, rowid"
    ).fetchall()
    wanted = None if column is None else fold(column)
    return True, [
        row
        for row in rows
        if isinstance(row[2], str)
        and (wanted is None or fold(row[2]) == wanted)
        and stored_key(row[1], meta.database) == relation.key()
    ]


def recorded_columns(con: duckdb.DuckDBPyConnection, relation: Relation) -> list[str]:
    """The vector columns of ``relation`` whose configuration is recorded, oldest first.

    Examples
    --------
    >>> import duckdb
    >>> from duckdb_vsa.db.names import resolve_table
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE t (doc VARCHAR)")
    >>> recorded_columns(con, resolve_table(con, "t"))
    []
    """
    _, rows = _metadata_rows(con, relation, None)
    return list(dict.fromkeys(row[2] for row in rows))


def record_column(
    con: duckdb.DuckDBPyConnection,
    table: str,
    json_col: str,
    vec_col: str,
    config: EncoderConfig,
    rows: int,
    *,
    watch: bool = False,
) -> None:
    """Record that ``config`` made the vectors of column ``vec_col`` of ``table``.

    Writes the column comment the SQL macros check and the row of
    ``duckdb_vsa_columns`` that :func:`column_info` reads, as
    :func:`encode_column` does after filling a column (the command line's
    ``encode`` calls it after writing a table).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    table : str
        The table, named as for :func:`encode_column`.
    json_col : str
        The column the documents came from.
    vec_col : str
        The vector column.
    config : EncoderConfig
        The configuration that made the vectors.
    rows : int
        How many rows were encoded.
    watch : bool, default False
        Also install the table's change triggers
        (:func:`~duckdb_vsa.db.changes.watch_column`) where it can, so that
        ``vsa_search`` and the other search macros keep an exact matrix of the
        column between changes instead of scanning it per query (the log table
        ``duckdb_vsa_changes`` then appears in the table's database).
        :func:`encode_column` does.

    Raises
    ------
    CatalogError
        If the table or the vector column does not exist.
    """
    relation = resolve_table(con, table, purpose="record_column")
    column = _column(table_columns(con, relation), vec_col, table)
    description = config.describe()
    comment = f"{COMMENT_PREFIX}{config.fingerprint} {description}"
    con.execute(
        f"COMMENT ON COLUMN {relation.sql}.{quote_ident(column.name)} IS {quote_literal(comment)}"
    ).fetchall()
    meta = _metadata_table(relation)
    exists, stale = _metadata_rows(con, relation, column.name)
    if not exists:
        temp = fold(meta.database) == "temp"
        # A temporary table can only be created unqualified, with TEMP.
        target = quote_ident(meta.name) if temp else meta.sql
        con.execute(
            f"CREATE {'TEMP ' if temp else ''}TABLE IF NOT EXISTS {target} ("
            "table_name VARCHAR, column_name VARCHAR, source_column VARCHAR, "
            "fingerprint VARCHAR, configuration VARCHAR, config_json VARCHAR, n_rows BIGINT, "
            "encoded_at TIMESTAMP)"
        ).fetchall()
    if stale:
        con.execute(
            f"DELETE FROM {meta.sql} WHERE rowid IN ({', '.join('?' for _ in stale)})",
            [row[0] for row in stale],
        ).fetchall()
    con.execute(
        f"INSERT INTO {meta.sql} VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp)",
        [
            stored_name(relation),
            column.name,
            json_col,
            config.fingerprint,
            description,
            json.dumps(config.as_dict(), sort_keys=True),
            rows,
        ],
    ).fetchall()
    if watch:
        watch_column(con, relation, column.name)


def column_info(con: duckdb.DuckDBPyConnection, table: str, vec_col: str) -> dict[str, Any] | None:
    """The configuration recorded for a vector column by :func:`encode_column`, or None.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    table : str
        The table, named as for :func:`encode_column`.
    vec_col : str
        The vector column.

    Returns
    -------
    dict or None
        ``fingerprint``, ``configuration`` (readable), ``config`` (every option),
        ``source_column``, ``rows``, ``encoded_at`` and ``comparable`` (whether it
        matches this connection's encoder; None if no encoder is registered).
        None if the table does not exist or nothing is recorded for the column.
    """
    relation = resolve_relation(con, table)
    if relation is None:
        return None
    _, rows = _metadata_rows(con, relation, vec_col)
    if not rows:
        return None
    _, _, _, source, fingerprint, description, config_json, n_rows, encoded_at = rows[-1]
    current = registration(con)
    return {
        "fingerprint": fingerprint,
        "configuration": description,
        "config": json.loads(config_json),
        "source_column": source,
        "rows": n_rows,
        "encoded_at": encoded_at,
        "comparable": None if current is None else current[0] == fingerprint,
    }


def recorded_configuration(
    con: duckdb.DuckDBPyConnection, relation: Relation, column: str
) -> tuple[str, str] | None:
    """``(fingerprint, configuration)`` recorded in the comment of a column, or None.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    relation : Relation
        A resolved table.
    column : str
        The column name.

    Returns
    -------
    tuple of (str, str) or None
    """
    found = find_column(table_columns(con, relation), column)
    return None if found is None else parse_comment(found.comment)
