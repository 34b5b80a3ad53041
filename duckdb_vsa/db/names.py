"""The one rule that turns a table name into the table DuckDB would read, and finds its columns.

Every entry point that takes a table name (the SQL macros' configuration check,
:func:`~duckdb_vsa.encode_column`, :func:`~duckdb_vsa.column_info`,
:func:`~duckdb_vsa.build_index`; public for other callers such as the command
line) resolves it here, the way DuckDB's binder resolves the name given to
``query_table``:

- the name is read by :func:`~duckdb_vsa.sqltext.split_identifier`: parts
  separated by dots, a part in double quotes may hold dots, spaces and doubled
  quotes, an unquoted part is taken as written;
- ``t`` is looked up in every entry of the search path in order: the temporary
  schema ``temp.main`` first, then the entries of ``search_path`` (``SET schema``
  and ``USE`` set it), then ``main`` of the current database, then the system
  schemas;
- ``x.t`` names schema ``x`` (in each catalog of the search path that lists a
  schema ``x``, else in the current database) unless a database ``x`` is
  attached, in which case it names database ``x`` (in the schemas the search
  path lists for it, else ``main``); DuckDB refuses the name as ambiguous when
  both exist, and so does this rule. ``main.t`` is read as ``t``, as
  ``query_table`` reads it (so with ``SET schema = 's'`` it is ``s.t`` when
  that exists, although ``SELECT * FROM main.t`` would read ``main.t``);
- ``d.s.t`` names exactly that;
- names match without regard to ASCII case, as DuckDB's catalog does (``É``
  and ``é`` stay different).

The rule is a pure function of the name, ``current_database()``,
``current_setting('search_path')`` and the lists of schemas and relations
(:class:`CatalogSnapshot`), so SQL can hand those to a Python function in the
query's own snapshot and get the same answer as Python does.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import duckdb

from duckdb_vsa.errors import CatalogError, InvalidArgumentError, VsaError
from duckdb_vsa.sqltext import display_name, qualified, split_identifier

__all__ = [
    "RELATIONS_SQL",
    "SCHEMAS_SQL",
    "SETTINGS_SQL",
    "SNAPSHOT_SQL",
    "SNAPSHOT_TYPES",
    "CatalogSnapshot",
    "Column",
    "Relation",
    "find_column",
    "fold",
    "resolve_relation",
    "resolve_table",
    "search_path_entries",
    "snapshot",
    "stored_key",
    "stored_name",
    "table_columns",
]

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

#: Schemas DuckDB looks up in the system catalog whatever the search path says.
SYSTEM_SCHEMAS = ("information_schema", "pg_catalog")

#: SQL: every schema of every attached database, as the list :class:`CatalogSnapshot` reads.
SCHEMAS_SQL = (
    "(SELECT list(struct_pack(database_name := database_name, schema_name := schema_name)) "
    "FROM duckdb_schemas())"
)

#: SQL: every table and view, as the list :class:`CatalogSnapshot` reads (DuckDB's own
#: information_schema and pg_catalog views left out: no macro reads them).
RELATIONS_SQL = (
    "(SELECT list(struct_pack(database_name := database_name, schema_name := schema_name, "
    "name := name, kind := kind)) FROM ("
    "SELECT database_name, schema_name, table_name AS name, 'table' AS kind FROM duckdb_tables() "
    "UNION ALL "
    "SELECT database_name, schema_name, view_name AS name, 'view' AS kind FROM duckdb_views() "
    "WHERE NOT internal))"
)

#: SQL: the settings the rule depends on, in the order :meth:`CatalogSnapshot.from_rows` takes.
SETTINGS_SQL = "current_database(), current_setting('search_path')"

#: SQL types of the values of :data:`SETTINGS_SQL`, :data:`SCHEMAS_SQL` and :data:`RELATIONS_SQL`.
SNAPSHOT_TYPES = (
    "VARCHAR",
    "VARCHAR",
    "STRUCT(database_name VARCHAR, schema_name VARCHAR)[]",
    "STRUCT(database_name VARCHAR, schema_name VARCHAR, name VARCHAR, kind VARCHAR)[]",
)

#: SQL: every value :class:`CatalogSnapshot` is made of, as arguments of a function.
SNAPSHOT_SQL = f"{SETTINGS_SQL}, {SCHEMAS_SQL}, {RELATIONS_SQL}"


def fold(name: str) -> str:
    """``name`` with ASCII letters in lower case: how DuckDB compares catalog names.

    Examples
    --------
    >>> fold("My Table É")
    'my table É'
    """
    return name.translate(_ASCII_LOWER)


@dataclasses.dataclass(frozen=True)
class Relation:
    """A table or view, by the names the catalog stores.

    Attributes
    ----------
    database, schema, name : str
        Its three-part name, spelled as stored.
    kind : {"table", "view"}
    """

    database: str
    schema: str
    name: str
    kind: str = "table"

    @property
    def parts(self) -> tuple[str, str, str]:
        """``(database, schema, name)``."""
        return (self.database, self.schema, self.name)

    @property
    def sql(self) -> str:
        """The quoted three-part name, for SQL text: ``"memory"."main"."items"``."""
        return qualified(self.parts)

    @property
    def display(self) -> str:
        """The three-part name quoted only where needed: ``memory.main."My Table"``."""
        return display_name(self.parts)

    def key(self) -> tuple[str, str, str]:
        """The parts as the catalog compares them."""
        return (fold(self.database), fold(self.schema), fold(self.name))


@dataclasses.dataclass(frozen=True)
class Column:
    """A column of a relation: its stored name, SQL type and comment (None if none)."""

    name: str
    data_type: str
    comment: str | None = None


def search_path_entries(text: str) -> list[tuple[str, str]]:
    """The entries of ``current_setting('search_path')`` as ``(catalog, schema)`` pairs.

    An entry that names only a schema has catalog ``""``: the current database.

    Examples
    --------
    >>> search_path_entries('s,Other DB."we""ird s"')
    [('', 's'), ('Other DB', 'we"ird s')]
    >>> search_path_entries("")
    []
    """
    entries: list[tuple[str, str]] = []
    parts: list[str] = []
    current: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == '"':
            end = i + 1
            while end < n:
                if text[end] == '"':
                    if end + 1 < n and text[end + 1] == '"':
                        current.append('"')
                        end += 2
                        continue
                    break
                current.append(text[end])
                end += 1
            i = end + 1
            continue
        if char in ".,":
            parts.append("".join(current))
            current = []
            if char == ",":
                entries.append(_entry(parts))
                parts = []
        else:
            current.append(char)
        i += 1
    if current or parts:
        parts.append("".join(current))
        entries.append(_entry(parts))
    return entries


def _entry(parts: list[str]) -> tuple[str, str]:
    if len(parts) == 1:
        return ("", parts[0])
    return (parts[-2], parts[-1])


@dataclasses.dataclass(frozen=True)
class CatalogSnapshot:
    """What the resolution rule reads from a database: settings, schemas, relations.

    Attributes
    ----------
    database : str
        ``current_database()``.
    search_path : str
        ``current_setting('search_path')`` (empty when not set).
    schemas : tuple of (str, str)
        ``(database, schema)`` of every schema.
    relations : tuple of Relation
        Every table and view.
    """

    database: str
    search_path: str
    schemas: tuple[tuple[str, str], ...]
    relations: tuple[Relation, ...]

    @classmethod
    def from_rows(
        cls,
        database: str,
        search_path: str | None,
        schemas: Iterable[Mapping[str, Any]] | None,
        relations: Iterable[Mapping[str, Any]] | None,
    ) -> CatalogSnapshot:
        """A snapshot from the values of :data:`SETTINGS_SQL`, :data:`SCHEMAS_SQL` and
        :data:`RELATIONS_SQL` (lists of dicts, as DuckDB hands them to Python)."""
        return cls(
            database,
            search_path or "",
            tuple((s["database_name"], s["schema_name"]) for s in schemas or ()),
            tuple(
                Relation(r["database_name"], r["schema_name"], r["name"], r["kind"])
                for r in relations or ()
            ),
        )

    def _paths(self) -> list[tuple[str, str]]:
        """DuckDB's search path: temp, the set entries, the current database's main, system."""
        return [
            ("temp", "main"),
            *search_path_entries(self.search_path),
            ("", "main"),
            ("system", "main"),
            ("system", "pg_catalog"),
        ]

    def candidates(self, parts: Sequence[str]) -> list[tuple[str, str, str]]:
        """The ``(database, schema, name)`` triples a name may mean, in the order DuckDB tries.

        Raises
        ------
        CatalogError
            If a two-part name is both a database and a schema (DuckDB refuses it).
        InvalidArgumentError
            If the name has more than three parts.
        """
        paths = self._paths()
        here = self.database
        if len(parts) == 2 and fold(parts[0]) == "main":
            # query_table reads main.t as t, whatever the search path says.
            parts = parts[1:]
        if len(parts) == 1:
            return [(catalog or here, schema, parts[0]) for catalog, schema in paths]
        if len(parts) == 3:
            return [(parts[0], parts[1], parts[2])]
        if len(parts) != 2:
            raise InvalidArgumentError(
                f"The table name {display_name(parts)!r} has {len(parts)} parts; a table is "
                "named as table, schema.table or database.schema.table."
            )
        first, name = parts
        if fold(first) in {fold(s) for s in SYSTEM_SCHEMAS}:
            schema_catalogs = ["system"]
        else:
            schema_catalogs = [c or here for c, s in paths if fold(s) == fold(first)] or [here]
        databases = {fold(d) for d, _ in self.schemas}
        if fold(first) not in databases:
            return [(catalog, first, name) for catalog in schema_catalogs]
        schemas = {(fold(d), fold(s)) for d, s in self.schemas}
        for catalog in schema_catalogs:
            if (fold(catalog), fold(first)) in schemas:
                raise CatalogError(
                    f"{first!r} is both a database and a schema of database {catalog!r}, so "
                    f"{display_name(parts)!r} is ambiguous; write {catalog}.{first}.{name} or "
                    f"{first}.main.{name}."
                )
        listed = [s for c, s in paths if c and fold(c) == fold(first)] or ["main"]
        return [(first, schema, name) for schema in listed]

    def resolve(self, name: str) -> Relation | None:
        """The relation ``name`` means, or None if there is none.

        Parameters
        ----------
        name : str
            A table or view name (``t``, ``s.t``, ``d.s.t``, parts quoted as needed).

        Returns
        -------
        Relation or None

        Raises
        ------
        InvalidArgumentError
            If ``name`` cannot be read as a name.
        CatalogError
            If it is ambiguous.

        Examples
        --------
        >>> snap = CatalogSnapshot("memory", "", (("memory", "main"), ("temp", "main")),
        ...     (Relation("memory", "main", "T"), Relation("temp", "main", "t")))
        >>> snap.resolve("T").database, snap.resolve("main.t").database
        ('temp', 'temp')
        >>> snap.resolve('memory."t"').parts
        ('memory', 'main', 'T')
        """
        found = {r.key(): r for r in self.relations}
        for database, schema, table in self.candidates(split_identifier(name)):
            relation = found.get((fold(database), fold(schema), fold(table)))
            if relation is not None:
                return relation
        return None


def snapshot(con: duckdb.DuckDBPyConnection) -> CatalogSnapshot:
    """The settings, schemas and relations of ``con``, in its current transaction.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection

    Returns
    -------
    CatalogSnapshot
    """
    row = con.execute(f"SELECT {SNAPSHOT_SQL}").fetchall()[0]
    return CatalogSnapshot.from_rows(*row)


def resolve_relation(con: duckdb.DuckDBPyConnection, name: str) -> Relation | None:
    """The table or view ``name`` means on ``con`` (as ``query_table(name)`` reads), or None.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    name : str
        ``t``, ``s.t`` or ``d.s.t``; quote a part with dots, spaces or quotes in it.

    Returns
    -------
    Relation or None

    Raises
    ------
    InvalidArgumentError
        If ``name`` is not a readable name.
    CatalogError
        If it is ambiguous.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute('CREATE TABLE "My Table"(x INTEGER)')
    >>> resolve_relation(con, '"my table"').display
    'memory.main."My Table"'
    """
    return snapshot(con).resolve(name)


def resolve_table(
    con: duckdb.DuckDBPyConnection, name: str, *, views: bool = False, purpose: str = ""
) -> Relation:
    """The relation ``name`` means on ``con``, or an error saying there is none.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    name : str
        As for :func:`resolve_relation`.
    views : bool, default False
        Accept a view; by default only a base table is.
    purpose : str, optional
        What needs a table, such as ``"an index"``, for the error messages.

    Returns
    -------
    Relation

    Raises
    ------
    CatalogError
        If there is no such table (or it is a view and ``views`` is False).
    InvalidArgumentError
        If ``name`` is not a readable name.
    """
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(
            f"table must be the name of a table, given as a string, got {name!r}."
        )
    relation = resolve_relation(con, name)
    needs = purpose or "this"
    if relation is None:
        raise CatalogError(
            f"There is no table named {name!r} in this database; {needs} needs a base table "
            "(not a view, file or table function)."
        )
    if relation.kind == "view" and not views:
        raise CatalogError(
            f"{name!r} is a view; {needs} needs a base table, whose rowids identify its rows. "
            f"Use the underlying table, or materialise the view with CREATE TABLE ... AS "
            f"SELECT * FROM {name}."
        )
    return relation


def table_columns(con: duckdb.DuckDBPyConnection, relation: Relation) -> list[Column]:
    """The columns of ``relation``, in table order.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    relation : Relation

    Returns
    -------
    list of Column
    """
    rows = con.execute(
        "SELECT column_name, data_type, comment FROM duckdb_columns() "
        "WHERE database_name = ? AND schema_name = ? AND table_name = ? ORDER BY column_index",
        list(relation.parts),
    ).fetchall()
    return [Column(n, t, c) for n, t, c in rows]


def find_column(columns: Iterable[Column], name: str) -> Column | None:
    """The column called ``name`` (compared as DuckDB compares names), or None.

    Column names are given as they are stored, not as SQL identifiers: ``My Col``,
    not ``"My Col"``, as for the macros' column arguments.

    Examples
    --------
    >>> find_column([Column("Vec", "FLOAT[8]")], "vec").name
    'Vec'
    """
    if not isinstance(name, str):
        return None
    wanted = fold(name)
    return next((c for c in columns if fold(c.name) == wanted), None)


def stored_name(relation: Relation) -> str:
    """``relation``'s name as the tables duckdb_vsa keeps in its database record it.

    ``t`` for a table in schema main, else ``s.t``: the name stays right when
    the database file is attached under another name.

    Examples
    --------
    >>> stored_name(Relation("db", "main", "T")), stored_name(Relation("db", "s", "a.b"))
    ('T', 's."a.b"')
    """
    parts = relation.parts[2:] if fold(relation.schema) == "main" else relation.parts[1:]
    return display_name(parts)


def stored_key(name: Any, database: str) -> tuple[str, str, str] | None:
    """The relation a :func:`stored_name` means in ``database``, as :meth:`Relation.key`.

    Examples
    --------
    >>> stored_key('s."a.b"', "Db")
    ('db', 's', 'a.b')
    """
    try:
        parts = split_identifier(name)
    except VsaError:
        return None
    full = {1: (database, "main", *parts), 2: (database, *parts), 3: parts}.get(len(parts))
    return None if full is None else (fold(full[0]), fold(full[1]), fold(full[2]))
