"""Python functions registered in a DuckDB database once, and kept alive for the process's life.

DuckDB keeps a Python UDF in the database instance's system catalog, seen by
every connection to that database, but the Python callable belongs to the
connection object that registered it: if that object is closed or collected
while another connection still calls the function, DuckDB calls freed memory.
Registering a name twice raises, and an overload (the same name with other
parameter types) must come from another connection object. So
:func:`ensure_function` checks the catalog first (through a cursor of its own,
which does not pin the caller's transaction snapshot), creates each overload
from a cursor of its own, and keeps every cursor and callable referenced until
the process ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import duckdb

__all__ = ["ensure_function", "function_exists"]

# Cursors that registered a function, and the callables they own: never released.
_KEEPALIVE: list[tuple[duckdb.DuckDBPyConnection, Callable[..., Any]]] = []
# Check-then-create must not interleave between two threads registering one name.
_LOCK = threading.RLock()


def function_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether ``con``'s database has a function called ``name``.

    Reads the catalog through a new cursor: a read on ``con`` itself inside the
    caller's open transaction would pin a snapshot without functions added later.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection or cursor of the database.
    name : str
        The function name.

    Returns
    -------
    bool

    Examples
    --------
    >>> import duckdb
    >>> function_exists(duckdb.connect(), "abs")
    True
    """
    cursor = con.cursor()
    try:
        rows = cursor.execute(
            "SELECT count(*) FROM duckdb_functions() WHERE function_name = ?", [name]
        ).fetchall()
        return bool(rows[0][0])
    finally:
        cursor.close()


def ensure_function(
    con: duckdb.DuckDBPyConnection,
    name: str,
    fn: Callable[..., Any],
    overloads: Sequence[Sequence[str]],
    return_type: str,
    *,
    kind: str = "arrow",
    null_handling: str = "default",
    side_effects: bool = False,
) -> bool:
    """Create the Python function ``name`` in ``con``'s database unless it exists.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection or cursor of the database.
    name : str
        The function name, database-wide.
    fn : callable
        The implementation. It must not run SQL on the connection that calls
        it, and must be safe to call from several threads at once.
    overloads : sequence of sequence of str
        The parameter types of each overload, such as ``[["VARCHAR"], ["JSON"]]``.
    return_type : str
        The SQL return type.
    kind : {"arrow", "native"}, default "arrow"
        DuckDB's UDF type: whole Arrow chunks, or one row per call.
    null_handling : {"default", "special"}, default "default"
        ``"special"`` hands NULL arguments to ``fn``, which may return NULL.
    side_effects : bool, default False
        True for a function whose result may change between calls with the
        same arguments (it reads or writes the database): DuckDB then neither
        folds it into a constant nor reuses a result.

    Returns
    -------
    bool
        True if this call created the function, False if it existed.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> ensure_function(con, "twice", lambda x: 2 * x, [["BIGINT"]], "BIGINT", kind="native")
    True
    >>> ensure_function(con, "twice", lambda x: 3 * x, [["BIGINT"]], "BIGINT", kind="native")
    False
    >>> con.execute("SELECT twice(21)").fetchall()
    [(42,)]
    """
    with _LOCK:
        if function_exists(con, name):
            return False
        for parameters in overloads:
            cursor = con.cursor()
            cursor.create_function(
                name,
                fn,
                list(parameters),
                return_type,
                type=kind,
                null_handling=null_handling,
                side_effects=side_effects,
            )
            _KEEPALIVE.append((cursor, fn))
        return True
