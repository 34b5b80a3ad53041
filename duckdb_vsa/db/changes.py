"""Per-table change counters kept by statement triggers.

An index must know, inside the snapshot of each query, whether its table
changed since the index last read it. Hashing the vector column answers that
but costs as much as scanning it. Instead, :func:`watch_column` installs three
statement triggers on the table that append a row to the log table
``duckdb_vsa_changes`` (in schema main of the table's database) on every
INSERT (COPY and the appender included), DELETE (TRUNCATE included) and UPDATE
of the vector column. Two sums over the log rows of one *watch* give a counter
that any query reads in its own snapshot, at the cost of a lookup in a small
table.

The triggers append rows rather than updating one counter row: two
transactions may append to a table at once, and an update of one shared row
would make the second fail with a write conflict. :func:`compact_changes`
folds a watch's log rows into one.

DuckDB does not fire triggers for ALTER TABLE; callers check the column's type
themselves. Triggers cannot be installed on views, on temporary tables (a
query's helper connections cannot read them), in read-only databases, or on a
table that already has FOR EACH ROW triggers: there :func:`watch_column`
returns None and says why.

Triggers are schema objects: they persist in a file database, block
``ALTER TABLE ... RENAME`` of the table, and are dropped with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid

import duckdb

from duckdb_vsa.db.names import Relation, fold
from duckdb_vsa.sqltext import quote_ident, quote_literal

__all__ = [
    "CHANGES_TABLE",
    "EVENTS",
    "TRIGGER_PREFIX",
    "Watch",
    "compact_changes",
    "find_watch",
    "unwatch",
    "watch_column",
    "watches",
]

#: The log table, in schema main of each database with a watched table.
CHANGES_TABLE = "duckdb_vsa_changes"
#: Names of the triggers: ``__vsa_watch_<key>_<event>``.
TRIGGER_PREFIX = "__vsa_watch_"
#: The events each watch has a trigger for; UPDATE only of the watched column.
EVENTS = ("insert", "delete", "update")


@dataclasses.dataclass(frozen=True)
class Watch:
    """The triggers that count changes of one column of one table.

    Attributes
    ----------
    relation : Relation
        The watched table.
    column : str
        The watched column, as stored.
    key : str
        The watch's id in the log table and in its trigger names.
    """

    relation: Relation
    column: str
    key: str

    @property
    def changes(self) -> Relation:
        """The log table: ``duckdb_vsa_changes`` in main of the table's database."""
        return Relation(self.relation.database, "main", CHANGES_TABLE)

    def trigger_name(self, event: str) -> str:
        """The name of the trigger for ``event`` (one of :data:`EVENTS`)."""
        return f"{TRIGGER_PREFIX}{self.key}_{event}"

    def counts_sql(self) -> str:
        """SQL: ``'<inserts>:<deletes>'``, the statements logged so far, in the query's snapshot.

        Examples
        --------
        >>> w = Watch(Relation("memory", "main", "t"), "vec", "ab12")
        >>> "WHERE watch = 'ab12'" in w.counts_sql()
        True
        """
        return (
            "(SELECT coalesce(sum(inserts), 0)::VARCHAR || ':' || coalesce(sum(deletes), 0)"
            f"::VARCHAR FROM {self.changes.sql} WHERE watch = {quote_literal(self.key)})"
        )


def _trigger_rows(
    con: duckdb.DuckDBPyConnection, relation: Relation
) -> list[tuple[str, list[str] | None]]:
    return con.execute(
        "SELECT trigger_name, columns FROM duckdb_triggers() WHERE database_name = ? "
        "AND schema_name = ? AND table_name = ? AND starts_with(trigger_name, ?)",
        [*relation.parts, TRIGGER_PREFIX],
    ).fetchall()


def find_watch(con: duckdb.DuckDBPyConnection, relation: Relation, column: str) -> Watch | None:
    """The complete watch of ``column`` of ``relation`` (all three triggers), or None.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Read in its current snapshot.
    relation : Relation
    column : str
        The column, compared as DuckDB compares names.

    Returns
    -------
    Watch or None
    """
    rows = _trigger_rows(con, relation)
    names = {name for name, _ in rows}
    for name, columns in rows:
        if not name.endswith("_update") or not columns or len(columns) != 1:
            continue
        if fold(columns[0]) != fold(column):
            continue
        found = Watch(relation, columns[0], name[len(TRIGGER_PREFIX) : -len("_update")])
        if all(found.trigger_name(e) in names for e in EVENTS):
            return found
    return None


def watches(con: duckdb.DuckDBPyConnection, database: str) -> list[str]:
    """The keys of every watch with a trigger in ``database``."""
    rows = con.execute(
        "SELECT DISTINCT trigger_name FROM duckdb_triggers() WHERE database_name = ? "
        "AND starts_with(trigger_name, ?)",
        [database, TRIGGER_PREFIX],
    ).fetchall()
    return sorted({n[len(TRIGGER_PREFIX) :].rsplit("_", 1)[0] for (n,) in rows})


def watch_column(
    con: duckdb.DuckDBPyConnection, relation: Relation, column: str
) -> tuple[Watch | None, str]:
    """Install (or find) the triggers that count changes of ``column`` of ``relation``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The statements run on it, in its open transaction if it has one.
    relation : Relation
        A resolved relation.
    column : str
        The column, as stored.

    Returns
    -------
    watch : Watch or None
        None if the table cannot have the triggers.
    reason : str
        Why not (empty when there is a watch), for messages.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE t (v FLOAT[2])")
    >>> w, _ = watch_column(con, Relation("memory", "main", "t"), "v")
    >>> _ = con.execute("INSERT INTO t VALUES ([1, 2]), ([3, 4])")
    >>> con.execute(f"SELECT {w.counts_sql()}").fetchall()
    [('1:0',)]
    """
    if relation.kind != "table":
        return None, f"{relation.display} is a view"
    if fold(relation.database) == "temp":
        return None, f"{relation.display} is a temporary table"
    found = find_watch(con, relation, column)
    if found is not None:
        return found, ""
    made = Watch(relation, column, uuid.uuid4().hex[:16])
    key = quote_literal(made.key)
    bump = {"insert": "1, 0", "delete": "0, 1", "update": "0, 1"}
    done: list[str] = []
    try:
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {made.changes.sql} "
            "(watch VARCHAR, inserts BIGINT, deletes BIGINT)"
        ).fetchall()
        con.execute(f"INSERT INTO {made.changes.sql} VALUES ({key}, 0, 0)").fetchall()
        for event in EVENTS:
            what = f"UPDATE OF {quote_ident(column)}" if event == "update" else event.upper()
            con.execute(
                f"CREATE TRIGGER {quote_ident(made.trigger_name(event))} AFTER {what} ON "
                f"{relation.sql} FOR EACH STATEMENT INSERT INTO {made.changes.sql} "
                f"VALUES ({key}, {bump[event]})"
            ).fetchall()
            done.append(event)
    except duckdb.Error as err:
        _remove(con, made, done)
        return None, f"triggers cannot be created on {relation.display} ({err})"
    return made, ""


def _remove(con: duckdb.DuckDBPyConnection, watch: Watch, events: list[str]) -> None:
    for event in events:
        with contextlib.suppress(duckdb.Error):
            con.execute(
                f"DROP TRIGGER IF EXISTS {quote_ident(watch.trigger_name(event))} ON "
                f"{watch.relation.sql}"
            ).fetchall()
    with contextlib.suppress(duckdb.Error):
        con.execute(
            f"DELETE FROM {watch.changes.sql} WHERE watch = {quote_literal(watch.key)}"
        ).fetchall()


def unwatch(con: duckdb.DuckDBPyConnection, watch: Watch) -> None:
    """Drop a watch's triggers and log rows, and the log table if no watch is left in it.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    watch : Watch
    """
    _remove(con, watch, list(EVENTS))
    if not watches(con, watch.relation.database):
        con.execute(f"DROP TABLE IF EXISTS {watch.changes.sql}").fetchall()


def compact_changes(con: duckdb.DuckDBPyConnection, watch: Watch) -> None:
    """Fold the log rows of ``watch`` into one, keeping its sums.

    Runs in a transaction of its own on ``con`` (or in its open one); a
    statement that appends to the log at the same time is not in conflict with it.
    """
    key = quote_literal(watch.key)
    table = watch.changes.sql
    try:
        con.execute("BEGIN TRANSACTION").fetchall()
        own = True
    except duckdb.TransactionException:
        own = False  # inside the caller's transaction: it commits or rolls back
    try:
        sums = con.execute(
            f"SELECT count(*), coalesce(sum(inserts), 0), coalesce(sum(deletes), 0) FROM "
            f"{table} WHERE watch = {key}"
        ).fetchall()[0]
        if sums[0] > 1:
            con.execute(f"DELETE FROM {table} WHERE watch = {key}").fetchall()
            con.execute(f"INSERT INTO {table} VALUES ({key}, ?, ?)", list(sums[1:])).fetchall()
        if own:
            con.execute("COMMIT").fetchall()
    except duckdb.Error:
        if own:
            con.execute("ROLLBACK").fetchall()
        raise
