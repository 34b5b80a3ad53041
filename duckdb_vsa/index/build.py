"""Building and dropping named indexes: the checks, the triggers, the record in the database.

Shared by :func:`duckdb_vsa.build_index` (which works on the caller's
connection, in its open transaction if it has one) and ``vsa_create_index``
(which works through a helper connection: a database function must not run
SQL on the connection that calls it).
"""

from __future__ import annotations

from typing import Any

import duckdb

from duckdb_vsa.db.changes import Watch, compact_changes, find_watch, unwatch, watch_column
from duckdb_vsa.db.columns import parse_comment
from duckdb_vsa.db.names import Column, Relation, find_column, fold, stored_name, table_columns
from duckdb_vsa.errors import (
    CatalogError,
    ConfigMismatchError,
    InvalidArgumentError,
    VectorShapeError,
    mismatch_message,
)
from duckdb_vsa.index.exact import DEFAULT_BLOCK_BYTES
from duckdb_vsa.index.faissbase import check_options, import_faiss
from duckdb_vsa.index.live import LiveIndex
from duckdb_vsa.index.plan import ARRAY_TYPE, forget_plans
from duckdb_vsa.index.registry import Entry, IndexCatalog, index_maker, stored_arrays
from duckdb_vsa.index.source import CHECKS, IndexSource
from duckdb_vsa.index.store import Definition, definitions, references
from duckdb_vsa.index.store import delete as delete_record
from duckdb_vsa.index.store import save as save_record
from duckdb_vsa.index.sync import new_live, read_all
from duckdb_vsa.marker import foreign_keys, foreign_message

__all__ = ["METHODS", "check_arguments", "check_markers", "drop", "make", "vector_column"]

#: The kinds of index.
METHODS = ("exact", "hnsw", "ivf")


def check_arguments(
    method: str, check: str, block_bytes: int, options: dict[str, Any]
) -> dict[str, Any]:
    """The options of ``method``, checked (defaults filled in for faiss ones).

    Raises
    ------
    InvalidArgumentError
        If ``method``, ``check``, ``block_bytes`` or an option is not valid.
    ImportError
        If ``method`` needs faiss and it is not installed.
    """
    if check not in CHECKS:
        raise InvalidArgumentError(f"check must be 'full' or 'sample', got {check!r}.")
    if method == "exact":
        if options:
            raise InvalidArgumentError(
                f"Option(s) {', '.join(sorted(options))} apply to method='hnsw' or 'ivf' only; "
                "the exact index takes block_bytes alone."
            )
        if isinstance(block_bytes, bool) or not isinstance(block_bytes, int) or block_bytes < 1:
            raise InvalidArgumentError(
                f"block_bytes must be a positive number of bytes, got {block_bytes}."
            )
        return {}
    if method in ("hnsw", "ivf"):
        if block_bytes != DEFAULT_BLOCK_BYTES:
            takes = (
                "m, ef_construction, ef_search and threads"
                if method == "hnsw"
                else "nlist, nprobe and threads"
            )
            raise InvalidArgumentError(
                f"block_bytes applies to method='exact' only; an {method.upper()} index takes "
                f"{takes}."
            )
        checked = check_options(options, method)
        import_faiss()
        return checked
    raise InvalidArgumentError(
        f"method must be 'exact' (brute force), 'hnsw' or 'ivf' (approximate, need faiss-cpu), "
        f"got {method!r}."
    )


def vector_column(
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    column: Any,
    dim: int,
    fingerprint: str,
    describe: str,
) -> Column:
    """The vector column an index reads, after checking its type and recorded configuration.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    relation : Relation
    column : str
    dim : int
        The calling connection's dimension.
    fingerprint, describe : str
        The calling connection's configuration fingerprint and description.

    Raises
    ------
    InvalidArgumentError, CatalogError, VectorShapeError, ConfigMismatchError
    """
    if not isinstance(column, str) or not column:
        raise InvalidArgumentError(
            f"column must be a column name, given as a string, got {column!r}."
        )
    columns = table_columns(con, relation)
    found = find_column(columns, column)
    if found is None:
        listing = ", ".join(c.name for c in columns)
        raise CatalogError(
            f"Table {relation.display} has no column {column!r} (its columns: {listing})."
        )
    where = f"Column {found.name!r} of {relation.display}"
    match = ARRAY_TYPE.match(found.data_type.upper())
    if match is None:
        raise CatalogError(
            f"{where} has type {found.data_type}, not a vector; index a FLOAT[{dim}] column "
            "such as vsa_encode makes."
        )
    if match["size"] and int(match["size"]) != dim:
        raise VectorShapeError(
            f"{where} holds {found.data_type} vectors, but this connection's encoder makes "
            f"FLOAT[{dim}]. Index a column encoded with this configuration, or register with "
            f"dim={match['size']}.",
            int(match["size"]),
        )
    recorded = parse_comment(found.comment)
    if recorded is not None and recorded[0] != fingerprint:
        raise ConfigMismatchError(
            mismatch_message(
                where,
                recorded[1],
                f"this connection's encoder is {describe}",
                "build the index on a connection registered with the column's configuration, "
                "or re-encode the column with duckdb_vsa.encode_column().",
            )
        )
    return found


def check_markers(live: LiveIndex, fingerprint: str, describe: str) -> None:
    """Refuse an index holding a vector that carries another configuration's marker.

    Parameters
    ----------
    live : LiveIndex
    fingerprint, describe : str
        The configuration fingerprint and description of the connection that
        builds or searches the index.

    Raises
    ------
    ConfigMismatchError
    """
    if foreign_keys(live.markers, fingerprint, live.dim):
        source = live.source
        named = f"index {source.name!r}: " if source.name else ""
        subject = f"{named}column {source.column!r} of {source.display_table}"
        raise ConfigMismatchError(foreign_message(subject, describe))


def make(
    catalog: IndexCatalog,
    con: duckdb.DuckDBPyConnection,
    relation: Relation,
    column: str,
    *,
    name: str,
    method: str,
    options: dict[str, Any],
    block_bytes: int,
    check: str,
    dim: int,
    fingerprint: str,
    describe: str,
) -> Entry:
    """Build index ``name`` of ``column`` of ``relation`` through ``con`` and record it.

    Installs the table's change triggers (when it can have them), reads the
    column in one snapshot, builds the index, records it in the table's
    database (unless that is the temporary one, or read-only) and puts it in
    the catalog, replacing any index of that name.

    Returns
    -------
    Entry

    Raises
    ------
    VectorShapeError, InvalidArgumentError
        If the vectors cannot be indexed.
    ConfigMismatchError
        If a vector carries another configuration's marker than the one of
        ``fingerprint`` (described by ``describe``).
    """
    watch, _ = watch_column(con, relation, column)
    if watch is not None:
        compact_changes(con, watch)
    source = IndexSource(name, relation, column, dim, check, "" if watch is None else watch.key)
    state, rows = read_all(con, source, hashed=method != "exact")
    where = f"Column {column!r} of {relation.display}"
    try:
        live = new_live(source, state, rows, index_maker(method, options, block_bytes))
    except (VectorShapeError, InvalidArgumentError) as err:
        raise type(err)(f"{where}: {err}") from None
    check_markers(live, fingerprint, describe)
    definition = None
    if fold(relation.database) != "temp":
        try:
            save_record(
                con,
                name,
                relation,
                column,
                method,
                options,
                dim,
                check,
                len(live),
                stored_arrays(live),
            )
            definition = Definition(
                relation.database, name, stored_name(relation), column, method, options, dim, check
            )
        except duckdb.Error:
            definition = None  # a read-only database: the index lives in memory only
    entry = Entry(
        f"n:{name}",
        source,
        method=method,
        options=dict(options),
        block_bytes=block_bytes,
        definition=definition,
        live=live,
    )
    for old in catalog.on_column(relation, column):
        if old.cached:
            catalog.remove(old.handle)
    catalog.put(entry)
    forget_plans()
    return entry


def drop(catalog: IndexCatalog, con: duckdb.DuckDBPyConnection, entry: Entry) -> None:
    """Remove an index: its record, its triggers if nothing else needs them, its memory.

    The triggers stay while another index of the same column exists, or while
    ``encode_column`` has recorded the column's configuration (the plain
    macros use them then).
    """
    source = entry.source
    relation = source.relation
    if entry.definition is not None:
        delete_record(con, entry.definition.database, entry.definition.name)
    catalog.remove(entry.handle)
    others = [e for e in catalog.on_column(relation, source.column) if not e.cached]
    recorded = references(definitions(con, relation.database), relation, source.column)
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND "
        "table_name = ?",
        list(relation.parts),
    ).fetchall()[0][0]
    if others or recorded:
        forget_plans()
        return
    key = source.watch
    if exists:
        column = find_column(table_columns(con, relation), source.column)
        if column is not None and parse_comment(column.comment) is not None:
            forget_plans()
            return  # encode_column's record keeps the triggers
        watch = find_watch(con, relation, source.column)
        key = key if watch is None else watch.key
    if key:
        # With the table gone, its triggers went with it; the log rows are left.
        unwatch(con, Watch(relation, source.column, key))
    for cached in catalog.on_column(relation, source.column):
        catalog.remove(cached.handle)
    forget_plans()
