"""Where ``encode`` puts rows until all are in, and what an interrupted run leaves behind.

``encode`` never writes its output in place: a Parquet file is written to a
hidden temporary file beside it (``.NAME.<pid>.tmp``) and renamed at the end; a
DuckDB table is filled as a staging table (``__vsa_staging_<pid>_<random>``)
and renamed at the end. Both names carry the id of the process that made them,
so a later run can tell the leftovers of a run that was killed (its process is
gone) from the work of one still running, and remove only the former.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import duckdb

from duckdb_vsa.sqltext import qualified

#: Every staging table starts so; the pattern below is what a run of encode makes.
STAGING_PREFIX = "__vsa_staging_"
_STAGING_TABLE = re.compile(re.escape(STAGING_PREFIX) + r"([0-9]+)_[0-9a-f]{8}")


def new_staging_table() -> str:
    """A staging table name no user table has, carrying this process's id."""
    return f"{STAGING_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"


def is_staging_table(name: str) -> bool:
    """Whether ``name`` is one of :func:`new_staging_table`'s."""
    return _STAGING_TABLE.fullmatch(name) is not None


def temporary_path(path: Path) -> Path:
    """The hidden file ``path`` is written to before it is renamed into place."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists; True when that cannot be told (never remove then)."""
    if os.name != "posix":
        return True  # os.kill would end the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, but belongs to another user
    return True


def remove_dead_files(path: Path) -> list[str]:
    """Remove the temporary files of earlier runs writing ``path`` whose process is gone.

    Returns
    -------
    list of str
        One sentence per file removed, or left because it could not be.
    """
    pattern = re.compile(re.escape(f".{path.name}.") + r"([0-9]+)\.tmp")
    notes = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return notes
    for entry in sorted(entries):
        found = pattern.fullmatch(entry.name)
        if not found:
            continue
        pid = int(found.group(1))
        if pid == os.getpid() or process_alive(pid):
            continue
        try:
            entry.unlink()
        except OSError as err:
            notes.append(
                f"cannot remove {entry}, left by an earlier run (process {pid}) that did not "
                f"finish: {err.strerror or err}"
            )
        else:
            notes.append(
                f"removed {entry}, left by an earlier run (process {pid}) that did not finish"
            )
    return notes


def remove_dead_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int, bool]]:
    """Drop the staging tables of the current database whose process is gone.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection to the database file, open for writing.

    Returns
    -------
    list of (schema, table, pid, dropped)
        Every staging table of another process: dropped, or left because its
        process still exists.
    """
    rows = con.execute(
        "SELECT database_name, schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND starts_with(table_name, ?) "
        "ORDER BY schema_name, table_name",
        [STAGING_PREFIX],
    ).fetchall()
    found = []
    for catalog, schema, table in rows:
        match = _STAGING_TABLE.fullmatch(table)
        if not match or int(match.group(1)) == os.getpid():
            continue
        pid = int(match.group(1))
        dead = not process_alive(pid)
        if dead:
            con.execute(f"DROP TABLE {qualified((catalog, schema, table))}").fetchall()
        found.append((schema, table, pid, dead))
    return found
