"""Reading an indexed table through a connection, and bringing a live index up to date.

Everything here reads one snapshot: a transaction of its own on a helper
connection (a cursor, which sees committed data), or the caller's open
transaction when it has one.

:func:`catch_up` decides how an index reaches the table's committed state:

- nothing changed: the index as it is;
- rows were only appended (the log shows inserts and no delete, and no vacuum
  renumbered rows): the new rows, read by rowid, are added beside the base;
- anything else (deletes, updates of the vector, a vacuum, an unwatched table
  whose fingerprint changed): an exact index reads the column again (that is
  all building one takes); an approximate one reads the rowid and content hash
  of every row, pairs each row with a stored vector of the same content, and
  reads only rows whose content is new (:meth:`LiveIndex.resynced`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from duckdb_vsa.arrays import vectors_from_arrow
from duckdb_vsa.errors import VectorShapeError
from duckdb_vsa.index.base import VectorIndex
from duckdb_vsa.index.exact import ExactIndex
from duckdb_vsa.index.live import LiveIndex, SyncState
from duckdb_vsa.index.source import IndexSource
from duckdb_vsa.marker import marker_keys

__all__ = [
    "Rows",
    "arrow",
    "catch_up",
    "new_live",
    "read_all",
    "read_state",
    "snapshot",
]

#: ``(rowids, hashes, vectors)`` of rows with a vector, in rowid order.
Rows = tuple[np.ndarray, np.ndarray, np.ndarray]


def arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The result of ``sql`` on ``con`` as an Arrow table."""
    relation = con.sql(sql)
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    table = fetch()
    # Some duckdb releases return a reader from .arrow().
    return table.read_all() if isinstance(table, pa.RecordBatchReader) else table


@contextlib.contextmanager
def snapshot(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run the enclosed reads in one transaction on ``con`` (its open one, if any)."""
    try:
        con.execute("BEGIN TRANSACTION").fetchall()
    except duckdb.TransactionException:
        # Already inside the caller's transaction: one snapshot already.
        yield con
        return
    try:
        yield con
    finally:
        con.execute("ROLLBACK").fetchall()


def read_state(con: duckdb.DuckDBPyConnection, source: IndexSource) -> SyncState:
    """The table's :class:`SyncState` in ``con``'s snapshot."""
    return SyncState.from_row(con.execute(source.state_sql()).fetchall()[0])


def _matrix(lists: pa.ChunkedArray, dim: int, where: str) -> np.ndarray:
    """The vectors of a column, chunk by chunk into one matrix (no second full copy)."""
    matrix = np.empty((len(lists), dim), dtype=np.float32)
    row = 0
    for chunk in lists.chunks:
        try:
            values, _ = vectors_from_arrow(chunk, dim)
        except VectorShapeError as err:
            if err.length is None:
                raise VectorShapeError(
                    f"{where} has a vector with a NULL element; an index needs complete "
                    "vectors (a whole vector may be NULL: that row is left out)."
                ) from None
            raise VectorShapeError(
                f"{where} has a vector of length {err.length}, but this connection's encoder "
                f"makes vectors of length {dim}; every vector of an indexed column must have "
                "that length.",
                err.length,
            ) from None
        matrix[row : row + len(values)] = values
        row += len(values)
    return matrix


def _where(source: IndexSource) -> str:
    return f"Column {source.column!r} of {source.display_table}"


def _rows(table: pa.Table, source: IndexSource) -> Rows:
    rowids = table.column(0).to_numpy().astype(np.int64, copy=False)
    hashes = table.column(1).to_numpy().astype(np.uint64, copy=False)
    return rowids, hashes, _matrix(table.column(2), source.dim, _where(source))


def read_all(
    con: duckdb.DuckDBPyConnection, source: IndexSource, *, hashed: bool = True
) -> tuple[SyncState, Rows]:
    """The table's state and every row with a vector, in one snapshot.

    ``hashed=False`` leaves the content hashes 0 (an exact index does not use them).
    """
    with snapshot(con) as cur:
        state = read_state(cur, source)
        rows = _rows(arrow(cur, source.vectors_sql(hashed=hashed)), source)
    return state, rows


def _fetch(
    cur: duckdb.DuckDBPyConnection, source: IndexSource
) -> Callable[[np.ndarray], np.ndarray]:
    """A function giving the vectors of some rowids, in the order asked, in ``cur``'s snapshot."""

    def fetch(rowids: np.ndarray) -> np.ndarray:
        wanted = pa.table({"r": pa.array(np.asarray(rowids, dtype=np.int64))})
        name = "__vsa_wanted_rowids"
        cur.register(name, wanted)
        try:
            got = arrow(
                cur,
                f"SELECT __vsa_t.rowid, hash(__vsa_t.{_quoted(source)}), "
                f"__vsa_t.{_quoted(source)} FROM {source.table} AS __vsa_t "
                f"JOIN {name} ON __vsa_t.rowid = {name}.r ORDER BY __vsa_t.rowid",
            )
        finally:
            cur.unregister(name)
        ids, _, vectors = _rows(got, source)
        order = np.searchsorted(ids, rowids)
        return vectors[order]

    return fetch


def _quoted(source: IndexSource) -> str:
    return '"' + source.column.replace('"', '""') + '"'


def _append_only(old: SyncState, new: SyncState) -> bool:
    """Whether the table only gained rows, at rowids above every old one, between the two."""
    if old.watched is None or new.watched is None:
        return False
    if old.watched.split("|")[2:] != new.watched.split("|")[2:]:
        return False  # the column's type, or its first vector, changed
    (ins_old, del_old), (ins_new, del_new) = old.counts or (0, 0), new.counts or (0, 0)
    if del_new != del_old or ins_new < ins_old:
        return False
    # A vacuum removes stored rows without a trigger: the stored rows must have
    # grown by exactly the rows that were added.
    return new.estimated - old.estimated == new.count - old.count and new.count >= old.count


def catch_up(
    live: LiveIndex, con: duckdb.DuckDBPyConnection, wanted: str | None
) -> LiveIndex | None:
    """``live`` brought to the table's committed state, if that is the state ``wanted`` names.

    Parameters
    ----------
    live : LiveIndex
    con : duckdb.DuckDBPyConnection
        A helper connection (it must see committed data only).
    wanted : str or None
        The signature of the asking query's snapshot.

    Returns
    -------
    LiveIndex or None
        The index for that snapshot; None if the committed table is not in
        the state the query sees (it has uncommitted changes of its own, or
        its snapshot is older), so the index cannot answer for it.
    """
    source = live.source
    with snapshot(con) as cur:
        state = read_state(cur, source)
        if not state.matches(wanted):
            return None
        if state == live.state:
            return live
        if _append_only(live.state, state):
            hashed = not isinstance(live.base, ExactIndex)
            table = arrow(cur, source.vectors_sql(live.state.max_rowid, hashed=hashed))
            if table.num_rows == state.count - live.state.count:
                keep = pc.is_valid(table.column(2))
                rowids, hashes, vectors = _rows(table.filter(keep), source)
                return live.with_rows(state, rowids, hashes, vectors)
        base = live.base
        if isinstance(base, ExactIndex):
            # Reading the column is all an exact index is built from, and hashing
            # every vector to pair rows with stored ones costs as much.
            rows = _rows(arrow(cur, source.vectors_sql(hashed=False)), source)
            maker = lambda vectors, ids: ExactIndex(  # noqa: E731
                vectors, ids, block_bytes=base.block_bytes, copy=False
            )
            return new_live(source, state, rows, maker)
        got = arrow(cur, source.hashes_sql())
        rowids = got.column(0).to_numpy().astype(np.int64, copy=False)
        hashes = got.column(1).to_numpy().astype(np.uint64, copy=False)
        return live.resynced(state, rowids, hashes, _fetch(cur, source))


def new_live(
    source: IndexSource,
    state: SyncState,
    rows: Rows,
    make: Callable[[np.ndarray, np.ndarray], VectorIndex],
) -> LiveIndex:
    """A live index over ``rows`` (read at ``state``), its base made by ``make(vectors, ids)``."""
    rowids, hashes, vectors = rows
    base = make(vectors, rowids)
    base.source = source
    return LiveIndex(base, hashes, source=source, state=state, markers=marker_keys(vectors))
