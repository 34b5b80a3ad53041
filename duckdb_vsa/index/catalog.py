"""The indexes of each database: building, finding, listing and dropping them, from Python and SQL.

:func:`build_index` (or ``SELECT vsa_create_index('tbl', 'vec')`` in SQL)
reads a table's vector column into an index, installs statement triggers that
count the table's changes (see :mod:`duckdb_vsa.db.changes`), and records the
index in the table's database, so that it survives a restart: the first query
that needs it after ``register`` loads it. ``vsa_search``, ``vsa_topk_join``
and ``vsa_near_duplicates`` use an index of the table and column they are
given; the ``vsa_index_*`` macros use one by name.

Every query reads the table's change counter in its own snapshot and hands it
to the index, which answers if it matches the rows the query sees, catches up
with the committed table if that is what the query sees (appended rows are
searched beside the index, other changes are matched by content), and else
lets the macro fall back to DuckDB's builtin scan (a transaction that changed
the table and has not committed). So writes never break a search.

Memory: an exact index holds ``rows x dim x 4`` bytes until :func:`drop_index`
(an HNSW index about ``rows x (dim x 4 + 8 x m + 20)``, an IVF index
``rows x (dim x 4 + 16) + nlist x dim x 4``), plus the rows appended since it
was built; the plain macros cache exact matrices of the columns they search
within ``duckdb_vsa.index.registry.CACHE_BYTES``. Each search call adds at most
``block_bytes`` of scores.
"""

from __future__ import annotations

import functools
import json
import threading
import uuid
from typing import Any

import duckdb

from duckdb_vsa.db.encoders import configuration, registered_config
from duckdb_vsa.db.names import (
    RELATIONS_SQL,
    SCHEMAS_SQL,
    CatalogSnapshot,
    Relation,
    resolve_table,
)
from duckdb_vsa.errors import CatalogError, InvalidArgumentError, NotRegisteredError
from duckdb_vsa.index.build import check_arguments, check_markers, drop, make, vector_column
from duckdb_vsa.index.exact import DEFAULT_BLOCK_BYTES
from duckdb_vsa.index.live import LiveIndex, SyncState
from duckdb_vsa.index.plan import entry_for_definition, named_entry, plan
from duckdb_vsa.index.registry import Entry, IndexCatalog
from duckdb_vsa.index.store import definitions
from duckdb_vsa.index.udf import Handlers, catalog_token, create_index_functions
from duckdb_vsa.marker import foreign_keys

__all__ = [
    "build_index",
    "drop_index",
    "ensure_index_functions",
    "get_index",
    "list_indexes",
]

# One catalog per database instance, by the token its __vsa_index_catalog() returns.
_CATALOGS: dict[str, IndexCatalog] = {}
_LOCK = threading.RLock()


def _catalog(con: duckdb.DuckDBPyConnection) -> IndexCatalog:
    with _LOCK:
        token = catalog_token(con)
        if token is None:
            catalog = IndexCatalog(uuid.uuid4().hex)
            catalog.adopt(con)
            create_index_functions(con, catalog.token, _handlers(catalog))
            _CATALOGS[catalog.token] = catalog
            return catalog
        found = _CATALOGS.get(token)
        if found is None:
            raise CatalogError(
                "This DuckDB database has duckdb_vsa index functions registered by another copy "
                "of the package in this process; use a fresh connection."
            )
        found.adopt(con)
        return found


def ensure_index_functions(con: duckdb.DuckDBPyConnection) -> None:
    """Create the index functions on ``con``'s database if it does not have them yet.

    :func:`~duckdb_vsa.register` calls this, so the search macros always find
    their functions (and indexes recorded in the database load on first use).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection or cursor of the database.
    """
    _catalog(con)


def build_index(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    *,
    name: str | None = None,
    replace: bool = False,
    check: str = "full",
    method: str = "exact",
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    **options: Any,
) -> LiveIndex:
    """Build an index of a table's vector column, kept in step with the table and in the database.

    The column is read once (rows with a NULL vector are left out). The index
    belongs to the database, not the connection: every connection to it uses
    it once ``register`` has been called on it. ``vsa_search``,
    ``vsa_topk_join`` and ``vsa_near_duplicates`` on that table and column use
    it (an exact index first, if there are several), and the ``vsa_index_*``
    macros use it by name.

    Writes do not break it. Three statement triggers on the table count its
    INSERTs (COPY and the appender included), DELETEs (TRUNCATE included) and
    UPDATEs of the column; each query compares the count it sees with the
    index's. Appended rows are searched exactly beside the index (merged into
    it past 5 % of its rows); after deletes and updates an exact index reads
    the column again, an approximate one pairs the rows with its stored
    vectors by content and reads only new vectors. Inside a transaction that
    changed the table and has not committed, the macros fall back to DuckDB's
    builtin scan. Where triggers cannot be installed (a
    temporary table, a read-only database, a table with FOR EACH ROW
    triggers), each query hashes the column instead (``check``).

    The index is recorded in the table's database (tables
    ``duckdb_vsa_indexes`` and ``duckdb_vsa_index_data``, in schema main):
    after a restart the first query that needs it loads it. An IVF index
    keeps its cell centres and each vector's cell, so loading it runs no
    k-means; an HNSW index keeps its graph.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection on which :func:`duckdb_vsa.register` has been called. The
        triggers and records are written in its open transaction, if any.
    table : str
        A base table (``items``, ``main.items``, ``db.main.items``, ``"My
        Table"``), resolved as ``query_table`` resolves it on ``con``; views
        are refused.
    column : str
        Its vector column: ``FLOAT[D]`` or a list of numbers of length D, where
        D is the dimension of the registered encoder.
    name : str, optional
        The name SQL uses for the index; defaults to ``table`` as given.
    replace : bool, default False
        Replace an existing index of the same name instead of raising.
    check : {"full", "sample"}, default "full"
        What each query hashes when the table cannot have triggers:
        ``"full"``: every ``(rowid, vector)``; ``"sample"``: every rowid and
        three elements of each vector, several times cheaper (DuckDB stores an
        updated vector under a new rowid).
    method : {"exact", "hnsw", "ivf"}, default "exact"
        ``"exact"``: brute force, the true top k
        (:class:`~duckdb_vsa.index.ExactIndex`). ``"hnsw"`` and ``"ivf"``:
        approximate indexes from faiss (:class:`~duckdb_vsa.index.HnswIndex`,
        :class:`~duckdb_vsa.index.IvfIndex`), for tables too large to scan
        per query; they need ``pip install "duckdb-vsa[ann]"``.
    block_bytes : int, default DEFAULT_BLOCK_BYTES
        Scratch budget of each search call (score block); ``"exact"`` only.
    **options
        Of ``"hnsw"``: ``m``, ``ef_construction``, ``ef_search``, ``threads``;
        of ``"ivf"``: ``nlist``, ``nprobe``, ``threads``.

    Returns
    -------
    LiveIndex
        The index as it is now; its ``base`` is the ``ExactIndex``,
        ``HnswIndex`` or ``IvfIndex``, whose ids are the table's rowids.

    Raises
    ------
    NotRegisteredError
        If duckdb_vsa is not registered on ``con``.
    CatalogError
        If the table is a view or does not exist, or the column is missing or
        not a vector column.
    ConfigMismatchError
        If the column was recorded with another configuration than the
        connection's.
    VectorShapeError
        If the vectors are of another dimension than the encoder's, or hold
        NULL or non-finite elements.
    InvalidArgumentError
        If an index of that name exists and ``replace`` is False, or
        ``method``, ``check`` or an option is not one of those above.
    ImportError
        If ``method="hnsw"`` or ``"ivf"`` and faiss-cpu is not installed.

    Examples
    --------
    >>> import duckdb, duckdb_vsa
    >>> con = duckdb.connect()
    >>> _ = duckdb_vsa.register(con, dim=256)
    >>> con.execute(
    ...     "CREATE TABLE docs AS SELECT i AS id, vsa_encode(json_object('n', i)) AS vec "
    ...     "FROM range(100) t(i)"
    ... ).fetchall()
    [(100,)]
    >>> duckdb_vsa.build_index(con, "docs", "vec")
    ExactIndex(n=100, dim=256, source="memory"."main"."docs".vec)
    >>> con.execute(
    ...     "SELECT id, round(score, 3) FROM vsa_index_search('docs', "
    ...     "vsa_encode(json_object('n', 42)), k := 1)"
    ... ).fetchall()
    [(42, 1.0)]
    """
    checked = check_arguments(method, check, block_bytes, options)
    config = registered_config(con)
    if config is None:
        raise NotRegisteredError(
            "duckdb_vsa is not registered on this connection; call duckdb_vsa.register(con) "
            "before building an index."
        )
    index_name = table if name is None else name
    if not isinstance(index_name, str) or not index_name:
        raise InvalidArgumentError(f"name must be a non-empty string, got {index_name!r}.")
    catalog = _catalog(con)
    _check_free(catalog, con, index_name, replace)
    relation = resolve_table(con, table, purpose="an index")
    found = vector_column(con, relation, column, config.dim, config.fingerprint, config.describe())
    stored = dict(checked) if method != "exact" else {}
    entry = make(
        catalog,
        con,
        relation,
        found.name,
        name=index_name,
        method=method,
        options=stored,
        block_bytes=block_bytes,
        check=check,
        dim=config.dim,
        fingerprint=config.fingerprint,
        describe=config.describe(),
    )
    assert entry.live is not None
    return entry.live


def _check_free(
    catalog: IndexCatalog, con: duckdb.DuckDBPyConnection, name: str, replace: bool
) -> None:
    """Raise unless ``name`` is free (or ``replace``); drop the old index when replacing."""
    try:
        existing: Entry | None = named_entry(catalog, con, name)
    except CatalogError:
        existing = catalog.named(name)
    if existing is None:
        return
    if not replace:
        where = f" (on {existing.source.table}.{existing.source.column})"
        raise InvalidArgumentError(
            f"An index named {name!r} already exists{where}; pass replace=True to "
            f"rebuild it, or drop it with duckdb_vsa.drop_index(con, {name!r})."
        )
    catalog.remove(existing.handle)


def drop_index(con: duckdb.DuckDBPyConnection, name: str, *, missing_ok: bool = False) -> None:
    """Remove an index: from memory, from the database, and its triggers if nothing needs them.

    The table's change triggers stay while another index of the same column
    exists, or while ``encode_column`` has recorded the column's configuration.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection or cursor of the database; the records are deleted in its
        open transaction, if any.
    name : str
        The index name.
    missing_ok : bool, default False
        Do nothing if there is no such index instead of raising.

    Raises
    ------
    CatalogError
        If there is no index of that name and ``missing_ok`` is False.

    Examples
    --------
    >>> import duckdb, duckdb_vsa
    >>> con = duckdb.connect()
    >>> _ = duckdb_vsa.register(con, dim=256)
    >>> duckdb_vsa.drop_index(con, "nothing", missing_ok=True)
    """
    catalog = _catalog(con)
    try:
        entry = named_entry(catalog, con, name)
    except CatalogError:
        entry = _orphan(catalog, con, name)
        if entry is None:
            if missing_ok:
                return
            raise
    drop(catalog, con, entry)


def _orphan(catalog: IndexCatalog, con: duckdb.DuckDBPyConnection, name: str) -> Entry | None:
    """The entry of a recorded index whose table is gone, so that it can be dropped."""
    for definition in definitions(con):
        if definition.name == name:
            key = definition.key() or (definition.database, "main", definition.table)
            return entry_for_definition(catalog, definition, Relation(*key))
    return None


def get_index(con: duckdb.DuckDBPyConnection, name: str) -> LiveIndex:
    """The index called ``name`` on ``con``'s database, brought up to date with its table.

    An index recorded in the database and not loaded yet is loaded.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection or cursor of the database.
    name : str
        The index name.

    Returns
    -------
    LiveIndex

    Raises
    ------
    CatalogError
        If there is no index of that name.

    Examples
    --------
    >>> import duckdb, duckdb_vsa
    >>> con = duckdb.connect()
    >>> _ = duckdb_vsa.register(con, dim=256)
    >>> _ = con.execute("CREATE TABLE t AS SELECT vsa_encode('{}') AS v").fetchall()
    >>> duckdb_vsa.get_index(con, duckdb_vsa.build_index(con, "t", "v").source.name)
    ExactIndex(n=1, dim=256, source="memory"."main"."t".v)
    """
    catalog = _catalog(con)
    entry = named_entry(catalog, con, name)
    return _current(catalog, entry)


def _current(catalog: IndexCatalog, entry: Entry) -> LiveIndex:
    """The entry's index, loaded and caught up with the committed table where possible."""
    try:
        with catalog.cursor() as cur:
            state = cur.execute(entry.source.state_sql()).fetchall()[0]
        now = SyncState.from_row(state)
        catalog.ticket(entry.handle, now.signature(now.mode))
    except duckdb.Error:
        # A temporary table: helper connections cannot read it; the index is as built.
        pass
    if entry.live is None:
        raise CatalogError(f"The duckdb_vsa index {entry.source.name!r} could not be loaded.")
    return entry.live


def list_indexes(con: duckdb.DuckDBPyConnection) -> dict[str, LiveIndex]:
    """Every index of ``con``'s database (and of its attached ones), by name.

    Indexes recorded in a database and not loaded yet are loaded.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection or cursor of the database.

    Returns
    -------
    dict of str to LiveIndex

    Examples
    --------
    >>> import duckdb, duckdb_vsa
    >>> con = duckdb.connect()
    >>> _ = duckdb_vsa.register(con, dim=256)
    >>> duckdb_vsa.list_indexes(con)
    {}
    """
    catalog = _catalog(con)
    names = {d.name for d in definitions(con)}
    with catalog.lock:
        names |= {e.source.name for e in catalog.entries.values() if not e.cached}
    return {name: get_index(con, name) for name in sorted(names)}


# -- the SQL functions' bodies ---------------------------------------------------------------


def _handlers(catalog: IndexCatalog) -> Handlers:
    def plan_part(
        part: str,
        kind: str,
        table: str | None,
        column: str | None,
        index: str | None,
        database: str,
        search_path: str | None,
        dim: int,
    ) -> str | None:
        made = plan(catalog, kind, table, column, index, database, search_path, dim)
        return made.part(part)

    def index_part(name: str, part: str) -> str:
        with catalog.cursor() as cur:
            entry = named_entry(catalog, cur, name)
        return entry.source.display_table if part == "table" else entry.source.column

    def ticket(handle: str | None, signature: str | None, fingerprint: str | None) -> str | None:
        try:
            issued = catalog.ticket(handle, signature)
        except duckdb.Error:
            # The committed table cannot be read (a temporary table of the caller's):
            # the builtin scan answers.
            return None
        if issued is not None and fingerprint:
            # The marker rule on every vector the index holds, against the asking connection.
            live = catalog.searched(issued)
            if foreign_keys(live.markers, fingerprint, live.dim):
                check_markers(live, fingerprint, _describe(fingerprint))
        return issued

    return Handlers(
        plan=plan_part,
        part=index_part,
        ticket=ticket,
        searched=catalog.searched,
        create=functools.partial(_create, catalog),
        drop=lambda name, missing_ok: _drop(catalog, name, missing_ok),
        listing=lambda: _listing(catalog),
    )


def _create(
    catalog: IndexCatalog,
    table: str | None,
    column: str | None,
    name: str | None,
    method: str | None,
    options: str | None,
    replace: bool | None,
    database: str,
    search_path: str | None,
    dim: int,
    fingerprint: str,
) -> str:
    """``vsa_create_index``: build through a helper connection; a description back."""
    parsed = {k: v for k, v in json.loads(options or "{}").items() if v is not None}
    method = method or "exact"
    checked = check_arguments(method, "full", DEFAULT_BLOCK_BYTES, parsed)
    if not isinstance(table, str) or not table:
        raise InvalidArgumentError(f"vsa_create_index: give a table name, got {table!r}.")
    index_name = name or table
    with catalog.cursor() as cur:
        _check_free(catalog, cur, index_name, bool(replace))
        schemas, relations = cur.execute(f"SELECT {SCHEMAS_SQL}, {RELATIONS_SQL}").fetchall()[0]
        snap = CatalogSnapshot.from_rows(database, search_path, schemas, relations)
        relation = snap.resolve(table)
        if relation is None or relation.kind != "table":
            what = "is a view" if relation is not None else "is not a committed table"
            raise CatalogError(
                f"vsa_create_index: {table!r} {what} of this database; an index needs a base "
                "table (to index a temporary table, use duckdb_vsa.build_index from Python)."
            )
        described = _describe(fingerprint)
        found = vector_column(cur, relation, column, dim, fingerprint, described)
        entry = make(
            catalog,
            cur,
            relation,
            found.name,
            name=index_name,
            method=method,
            options=checked if method != "exact" else {},
            block_bytes=DEFAULT_BLOCK_BYTES,
            check="full",
            dim=dim,
            fingerprint=fingerprint,
            describe=described,
        )
    assert entry.live is not None
    return repr(entry.live)


def _describe(fingerprint: str) -> str:
    known = configuration(fingerprint)
    return known[0].describe() if known else f"fingerprint {fingerprint}"


def _drop(catalog: IndexCatalog, name: str, missing_ok: bool) -> str:
    with catalog.cursor() as cur:
        try:
            entry = named_entry(catalog, cur, name)
        except CatalogError:
            entry = _orphan(catalog, cur, name)
            if entry is None:
                if missing_ok:
                    return f"no index named {name!r}"
                raise
        drop(catalog, cur, entry)
    return f"dropped {name!r}"


def _listing(catalog: IndexCatalog) -> list[dict[str, Any]]:
    """``FROM vsa_indexes()``: every index, loaded or only recorded."""
    with catalog.cursor() as cur:
        recorded = {d.name: d for d in definitions(cur)}
    out = []
    with catalog.lock:
        entries = {e.source.name: e for e in catalog.entries.values() if not e.cached}
    for name in sorted(set(recorded) | set(entries)):
        entry = entries.get(name)
        live = entry.live if entry else None
        definition = recorded.get(name)
        if entry is not None:
            table, column = entry.source.display_table, entry.source.column
            method, options, dim = entry.method, entry.options, entry.source.dim
        else:
            assert definition is not None
            table = f"{definition.database}.{definition.table}"
            column, method = definition.column, definition.method
            options, dim = definition.options, definition.dim
        out.append(
            {
                "name": name,
                "table": table,
                "column": column,
                "method": method,
                "rows": None if live is None else len(live),
                "dim": dim,
                "options": json.dumps(options, sort_keys=True),
                "loaded": live is not None,
                "appended": None if live is None else live.appended,
                "bytes": None if live is None else live.nbytes,
            }
        )
    return out
