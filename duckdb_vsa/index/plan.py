"""What a macro call reads, decided while its query is bound.

``vsa_search``, ``vsa_topk_join``, ``vsa_near_duplicates`` and the
``vsa_index_*`` macros call ``__vsa_plan(part, ...)`` with constant arguments,
so DuckDB evaluates it once, while binding, and hands its SQL text to
``query(...)``. :func:`plan` decides which entry of the catalog answers (a named
index on that table and column, exact first; else the exact matrix cached for
the column) and writes:

- ``handle``: the entry, or NULL when the builtin scan must answer (a view, a
  temporary table, a table function, a column that is not ``FLOAT[D]``; or a
  table without change triggers for ``vsa_search``, where one scan is cheaper
  than the fingerprint a cached matrix would need);
- ``signature``: SQL giving the table's signature in the query's snapshot
  (:mod:`~duckdb_vsa.index.source`), NULL if the name the query gave resolves to
  another relation there (a temporary table of the same name, say): the plan
  is made from the committed catalog, which the query may not see;
- ``rows`` and ``vectors``: SQL reading the table's rowids with its rows, or
  with its vectors, through the name as the query gave it, so that they bind to
  the relation ``query_table`` binds to.

The plan reads the committed catalog through a helper connection, with the
calling connection's database and search path. Plans are remembered for
:data:`PLAN_SECONDS`: one macro call asks for several parts, and a plan that
is out of date only costs speed (its handle is gone, or its signature does
not match, and the builtin scan answers).
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time

import duckdb

from duckdb_vsa.db.changes import find_watch
from duckdb_vsa.db.names import (
    RELATIONS_SQL,
    SCHEMAS_SQL,
    CatalogSnapshot,
    Relation,
    find_column,
    fold,
    table_columns,
)
from duckdb_vsa.errors import CatalogError, VsaError
from duckdb_vsa.index.faissbase import import_faiss
from duckdb_vsa.index.registry import Entry, IndexCatalog
from duckdb_vsa.index.source import IndexSource, rows_sql
from duckdb_vsa.index.store import Definition, definitions, references
from duckdb_vsa.sqltext import quote_ident, quote_literal, split_identifier

__all__ = [
    "ARRAY_TYPE",
    "KINDS",
    "PARTS",
    "PLAN_SECONDS",
    "Plan",
    "entry_for_definition",
    "forget_plans",
    "named_entry",
    "plan",
]

#: What the macros ask for: one search, a join, pairs within a table.
KINDS = ("search", "join", "pairs")
#: The parts of a plan.
PARTS = ("handle", "signature", "rows", "vectors")
#: How long a plan is reused.
PLAN_SECONDS = 1.0

#: A fixed-size array type, such as ``FLOAT[256]``.
ARRAY_TYPE = re.compile(r"^(?P<base>[A-Z][A-Z0-9_]*(?:\([0-9, ]+\))?)\[(?P<size>[0-9]*)\]$")

#: Kinds of index a plain macro prefers, best first.
_PREFERENCE = ("exact", "ivf", "hnsw")


@dataclasses.dataclass(frozen=True)
class Plan:
    """The SQL a macro call runs, and the entry that answers it (None: the builtin scan)."""

    handle: str | None
    signature: str
    rows: str
    vectors: str

    def part(self, name: str) -> str | None:
        """The part called ``name`` (one of :data:`PARTS`)."""
        return {
            "handle": self.handle,
            "signature": self.signature,
            "rows": self.rows,
            "vectors": self.vectors,
        }[name]


def _builtin(table: str) -> Plan:
    """A plan whose fast branch returns nothing, typed like the table's rows."""
    return Plan(
        None,
        "SELECT NULL::VARCHAR AS __vsa_sig",
        "SELECT NULL::BIGINT AS __vsa_rowid, __vsa_t AS __vsa_row FROM query_table("
        f"{quote_literal(table)}) AS __vsa_t LIMIT 0",
        "SELECT NULL::BIGINT AS __vsa_rowid, NULL::FLOAT[] AS __vsa_v LIMIT 0",
    )


_CACHE: dict[tuple[object, ...], tuple[float, Plan]] = {}
_CACHE_LOCK = threading.Lock()


def plan(
    catalog: IndexCatalog,
    kind: str,
    table: str | None,
    column: str | None,
    index: str | None,
    database: str,
    search_path: str | None,
    dim: int,
) -> Plan:
    """The plan of one macro call (see the module notes).

    Parameters
    ----------
    catalog : IndexCatalog
    kind : {"search", "join", "pairs"}
    table, column : str
        The table name and column name the macro was given.
    index : str or None
        The index name, for the ``vsa_index_*`` macros.
    database, search_path : str
        The calling connection's ``current_database()`` and search path.
    dim : int
        The calling connection's vector dimension.

    Returns
    -------
    Plan

    Raises
    ------
    CatalogError
        If ``index`` names no index.
    """
    key = (catalog.token, kind, table, column, index, database, search_path, dim)
    now = time.monotonic()
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None and now - hit[0] < PLAN_SECONDS:
            return hit[1]
    with catalog.cursor() as cur:
        made = (
            _by_name(catalog, cur, index)
            if index is not None
            else _by_table(catalog, cur, kind, table, column, database, search_path, dim)
        )
    with _CACHE_LOCK:
        if len(_CACHE) > 256:
            _CACHE.clear()
        _CACHE[key] = (now, made)
    return made


def forget_plans() -> None:
    """Drop remembered plans (after an index is built or dropped)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def entry_for_definition(
    catalog: IndexCatalog, definition: Definition, relation: Relation
) -> Entry:
    """The catalog entry of a recorded index, made (not loaded) if it is not in memory."""
    entry = catalog.named(definition.name)
    if entry is not None:
        return entry
    source = IndexSource(
        definition.name, relation, definition.column, definition.dim, definition.check
    )
    entry = Entry(
        f"n:{definition.name}",
        source,
        method=definition.method,
        options=dict(definition.options),
        definition=definition,
    )
    catalog.put(entry)
    return entry


def _relation_of(cur: duckdb.DuckDBPyConnection, key: tuple[str, str, str]) -> Relation | None:
    rows = cur.execute(
        "SELECT database_name, schema_name, table_name FROM duckdb_tables() WHERE "
        "lower(database_name) = ? AND lower(schema_name) = ? AND lower(table_name) = ?",
        [k.lower() for k in key],
    ).fetchall()
    matches = [Relation(*r) for r in rows if Relation(*r).key() == key]
    return matches[0] if matches else None


def named_entry(catalog: IndexCatalog, cur: duckdb.DuckDBPyConnection, name: str) -> Entry:
    """The entry of index ``name``: in memory, or recorded in an attached database.

    Raises
    ------
    CatalogError
        If there is no such index, or its table is gone.
    """
    entry = catalog.named(name)
    if entry is not None:
        return entry
    recorded = [d for d in definitions(cur) if d.name == name]
    if not recorded:
        known = sorted(
            {e.source.name for e in list(catalog.entries.values()) if e.source.name}
            | {d.name for d in definitions(cur)}
        )
        listing = ", ".join(repr(n) for n in known) if known else "none"
        raise CatalogError(
            f"There is no duckdb_vsa index named {name!r} on this database (indexes: "
            f"{listing}). Build it with SELECT vsa_create_index('<table>', '<column>', name := "
            f"{name!r}) or duckdb_vsa.build_index(con, table, column, name={name!r})."
        )
    definition = recorded[0]
    key = definition.key()
    relation = None if key is None else _relation_of(cur, key)
    if relation is None:
        raise CatalogError(
            f"The table {definition.table!r} of duckdb_vsa index {name!r} (database "
            f"{definition.database!r}) no longer exists; drop the index with "
            f"SELECT vsa_drop_index({name!r})."
        )
    return entry_for_definition(catalog, definition, relation)


def _exposed(cur: duckdb.DuckDBPyConnection, relation: Relation) -> bool:
    """Whether the committed table holds deleted rows a vacuum will renumber others over."""
    rows = cur.execute(
        "SELECT (SELECT estimated_size FROM duckdb_tables() WHERE database_name = ? AND "
        f"schema_name = ? AND table_name = ?), (SELECT count(*) FROM {relation.sql})",
        list(relation.parts),
    ).fetchall()[0]
    return int(rows[0] or 0) > int(rows[1])


def _signature(cur: duckdb.DuckDBPyConnection, entry: Entry, shadow: str) -> str:
    """The signature SQL of ``entry``, after checking its table's watch is still the same."""
    source = entry.source
    watch = find_watch(cur, source.relation, source.column)
    key = "" if watch is None else watch.key
    if key != source.watch:
        entry.source = source = source.with_watch(key)
    if not source.watch:
        return source.signature_sql(source.mode_unwatched, shadow)
    return source.signature_sql("wr" if _exposed(cur, source.relation) else "w", shadow)


def _fast(entry: Entry, signature: str, reference: str) -> Plan:
    col = quote_ident(entry.source.column)
    return Plan(
        entry.handle,
        signature,
        rows_sql(reference),
        f"SELECT __vsa_t.rowid AS __vsa_rowid, __vsa_t.{col} AS __vsa_v FROM {reference} "
        f"AS __vsa_t WHERE __vsa_t.{col} IS NOT NULL",
    )


def _by_name(catalog: IndexCatalog, cur: duckdb.DuckDBPyConnection, name: str) -> Plan:
    entry = named_entry(catalog, cur, name)
    return _fast(entry, _signature(cur, entry, "true"), entry.source.relation.sql)


def _shadow_check(candidates: list[tuple[str, str, str]]) -> str:
    """SQL: no relation exists at any of ``candidates`` (looked up before the planned one)."""
    if not candidates:
        return "true"
    wanted = ", ".join(
        "[" + ", ".join(quote_literal(p.lower()) for p in c) + "]" for c in candidates
    )
    return (
        "(SELECT count(*) = 0 FROM (SELECT database_name AS d, schema_name AS s, table_name AS "
        "n FROM duckdb_tables() UNION ALL SELECT database_name, schema_name, view_name FROM "
        f"duckdb_views()) WHERE [lower(d), lower(s), lower(n)] IN ({wanted}))"
    )


def _usable(method: str) -> bool:
    if method == "exact":
        return True
    try:
        import_faiss()
    except ImportError:
        return False
    return True


def _by_table(
    catalog: IndexCatalog,
    cur: duckdb.DuckDBPyConnection,
    kind: str,
    table: str | None,
    column: str | None,
    database: str,
    search_path: str | None,
    dim: int,
) -> Plan:
    if not isinstance(table, str) or not isinstance(column, str):
        return _builtin(str(table))
    try:
        parts = split_identifier(table)
        schemas, relations = cur.execute(f"SELECT {SCHEMAS_SQL}, {RELATIONS_SQL}").fetchall()[0]
        snap = CatalogSnapshot.from_rows(database, search_path, schemas, relations)
        candidates = snap.candidates(parts)
        relation = snap.resolve(table)
    except VsaError:
        return _builtin(table)
    if relation is None or relation.kind != "table" or fold(relation.database) == "temp":
        return _builtin(table)
    found = find_column(table_columns(cur, relation), column)
    match = None if found is None else ARRAY_TYPE.match(found.data_type.upper())
    if found is None or match is None or match["base"] != "FLOAT" or match["size"] != str(dim):
        return _builtin(table)
    before = candidates[
        : [(fold(d), fold(s), fold(n)) for d, s, n in candidates].index(relation.key())
    ]
    if len(parts) == 2 and fold(parts[0]) == "main":
        parts = parts[1:]
    reference = ".".join(quote_ident(p) for p in parts)
    named = [e for e in catalog.on_column(relation, found.name) if not e.cached]
    for definition in references(definitions(cur, relation.database), relation, found.name):
        if all(e.source.name != definition.name for e in named):
            named.append(entry_for_definition(catalog, definition, relation))
    named = [e for e in named if e.source.dim == dim and _usable(e.method)]
    if named:
        entry = min(named, key=lambda e: (_PREFERENCE.index(e.method), e.source.name))
    else:
        watch = find_watch(cur, relation, found.name)
        if watch is None and kind == "search":
            return _builtin(table)
        source = IndexSource("", relation, found.name, dim, "full", watch.key if watch else "")
        entry = catalog.cached_entry(source)
    return _fast(entry, _signature(cur, entry, _shadow_check(before)), reference)
