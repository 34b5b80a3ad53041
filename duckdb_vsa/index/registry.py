"""The indexes of one DuckDB database instance, the tickets queries search with, and loading.

An :class:`Entry` is one index (built by ``build_index`` or
``vsa_create_index``, or recorded in a database and not loaded yet) or one
exact matrix the plain macros cache for a table column. A query asks for a
*ticket* with the signature of its snapshot (:meth:`IndexCatalog.ticket`):
the entry answers at once if its :class:`~duckdb_vsa.index.live.LiveIndex`
matches that snapshot, else it catches up with the committed table through a
helper connection; if the committed table is not what the query sees (changes
of its own transaction not yet committed), there is no ticket and the SQL
falls back to the builtin scan. The ticket names the very
:class:`~duckdb_vsa.index.live.LiveIndex` it was issued for, so the query's
searches see one state of the index even while another query moves it on.

Memory: named indexes hold their vectors until dropped; cached exact matrices
are kept within :data:`CACHE_BYTES` in all, the least recently used dropped first.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
import numpy as np

from duckdb_vsa.db.names import Relation, fold
from duckdb_vsa.errors import CatalogError, StaleIndexError
from duckdb_vsa.index.ann import HnswIndex, IvfIndex
from duckdb_vsa.index.base import VectorIndex
from duckdb_vsa.index.exact import DEFAULT_BLOCK_BYTES, ExactIndex
from duckdb_vsa.index.faissbase import check_options, import_faiss
from duckdb_vsa.index.live import LiveIndex, SyncState, match_hashes
from duckdb_vsa.index.source import IndexSource
from duckdb_vsa.index.store import Definition, load_arrays
from duckdb_vsa.index.sync import catch_up, new_live, read_all
from duckdb_vsa.marker import marker_keys

__all__ = ["CACHE_BYTES", "Entry", "IndexCatalog", "index_maker", "stored_arrays"]

#: Budget of the exact matrices the plain macros cache, all tables together.
CACHE_BYTES = 2 * 2**30
#: Tickets an entry remembers (queries running at once that may still search).
_TICKETS = 16


def index_maker(
    method: str, options: dict[str, Any], block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Callable[[np.ndarray, np.ndarray], VectorIndex]:
    """A function ``(vectors, ids) -> VectorIndex`` for ``method`` with checked ``options``."""
    if method == "exact":
        return lambda vectors, ids: ExactIndex(vectors, ids, block_bytes=block_bytes, copy=False)
    checked = check_options(options, method)
    import_faiss()
    kind = HnswIndex if method == "hnsw" else IvfIndex
    return lambda vectors, ids: kind(vectors, ids, copy=False, **checked)


def stored_arrays(live: LiveIndex) -> dict[str, np.ndarray]:
    """What :func:`~duckdb_vsa.index.store.save` keeps of an index (see that module)."""
    folded = live.folded()
    base, hashes = folded.base, folded.base_hashes
    if isinstance(base, IvfIndex):
        cells = base.assignment()
        held = (cells >= 0) & (base.positions >= 0)
        return {"centroids": base.centroids(), "hashes": hashes[held], "cells": cells[held]}
    if isinstance(base, HnswIndex):
        return {"graph": base.serialize(), "ids": np.asarray(base.positions), "hashes": hashes}
    return {}


@dataclasses.dataclass
class Entry:
    """One index, or one cached exact matrix, and what it answers for.

    Attributes
    ----------
    handle : str
        Its key in the catalog; SQL passes it back.
    source : IndexSource
        The table and column (``source.name`` is empty for a cached matrix).
    method : str
        ``"exact"``, ``"ivf"`` or ``"hnsw"``.
    options : dict
        Build options.
    block_bytes : int
    definition : Definition or None
        Where it is recorded, if it is.
    live : LiveIndex or None
        None until first used (a recorded index, a matrix not read yet).
    """

    handle: str
    source: IndexSource
    method: str = "exact"
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    block_bytes: int = DEFAULT_BLOCK_BYTES
    definition: Definition | None = None
    live: LiveIndex | None = None
    used: float = 0.0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    #: Held while the entry is loaded or brought up to date: one query at a time does it.
    update_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    tickets: collections.OrderedDict[int, LiveIndex] = dataclasses.field(
        default_factory=collections.OrderedDict
    )
    issued: int = 0

    @property
    def cached(self) -> bool:
        """Whether this is a matrix the plain macros cache (not a named index)."""
        return not self.source.name

    def issue(self, live: LiveIndex) -> str:
        """A ticket for ``live``."""
        with self.lock:
            self.issued += 1
            self.tickets[self.issued] = live
            while len(self.tickets) > _TICKETS:
                self.tickets.popitem(last=False)
            return f"{self.handle}#{self.issued}"


class IndexCatalog:
    """The entries of one DuckDB database instance, and its helper connections.

    Helper connections are cursors of the connections ``register`` was called
    on (a cursor closes with its connection; a query runs on a registered
    connection, so one is open whenever a query needs a helper).

    Parameters
    ----------
    token : str
        What ``__vsa_index_catalog()`` returns in this instance.
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self.lock = threading.RLock()
        self.entries: dict[str, Entry] = {}
        self._parents: dict[int, duckdb.DuckDBPyConnection] = {}

    def adopt(self, con: duckdb.DuckDBPyConnection) -> None:
        """Make helper connections from ``con`` (a connection ``register`` was called on)."""
        with self.lock:
            if id(con) not in self._parents:
                self._parents[id(con)] = con.cursor()

    @contextlib.contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A new helper connection of the instance; it reads committed data only.

        Raises
        ------
        CatalogError
            If every connection duckdb_vsa was registered on is closed.
        """
        cur = None
        with self.lock:
            for key, parent in reversed(list(self._parents.items())):
                try:
                    cur = parent.cursor()
                    break
                except duckdb.ConnectionException:
                    del self._parents[key]
        if cur is None:
            raise CatalogError(
                "Every connection duckdb_vsa was registered on is closed; call "
                "duckdb_vsa.register(con) on the connection you use."
            )
        try:
            yield cur
        finally:
            cur.close()

    # -- entries ------------------------------------------------------------------------------

    def named(self, name: str) -> Entry | None:
        """The entry of the index called ``name``, if it is in memory."""
        with self.lock:
            return self.entries.get(f"n:{name}")

    def put(self, entry: Entry) -> None:
        """Add or replace an entry."""
        with self.lock:
            self.entries[entry.handle] = entry

    def remove(self, handle: str) -> Entry | None:
        """Forget an entry."""
        with self.lock:
            return self.entries.pop(handle, None)

    def on_column(self, relation: Relation, column: str) -> list[Entry]:
        """The entries (named or cached) of ``column`` of ``relation``."""
        key, col = relation.key(), fold(column)
        with self.lock:
            return [
                e
                for e in self.entries.values()
                if e.source.relation.key() == key and fold(e.source.column) == col
            ]

    def cached_entry(self, source: IndexSource) -> Entry:
        """The cached exact matrix of ``source``'s column (a new, empty one if none)."""
        handle = "c:" + "\x1f".join((*source.relation.key(), fold(source.column), str(source.dim)))
        with self.lock:
            entry = self.entries.get(handle)
            if entry is None or entry.source.watch != source.watch:
                entry = Entry(handle, source)
                self.entries[handle] = entry
            return entry

    def memory(self) -> int:
        """Bytes held by cached exact matrices."""
        with self.lock:
            return sum(e.live.nbytes for e in self.entries.values() if e.cached and e.live)

    def make_room(self, wanted: int, keep: Entry) -> bool:
        """Drop least recently used cached matrices until ``wanted`` more bytes fit."""
        if wanted > CACHE_BYTES:
            return False
        with self.lock:
            cached = sorted(
                (e for e in self.entries.values() if e.cached and e.live and e is not keep),
                key=lambda e: e.used,
            )
            held = self.memory()
            for entry in cached:
                if held + wanted <= CACHE_BYTES:
                    break
                held -= entry.live.nbytes if entry.live else 0
                entry.live = None
            return held + wanted <= CACHE_BYTES

    # -- tickets ------------------------------------------------------------------------------

    def ticket(self, handle: str | None, signature: str | None) -> str | None:
        """A ticket to search the entry ``handle`` for a snapshot of ``signature``, or None.

        Raises
        ------
        CatalogError, ImportError, VectorShapeError
            If a recorded index cannot be loaded.
        """
        if not handle or not signature:
            return None
        with self.lock:
            entry = self.entries.get(handle)
        if entry is None:
            return None
        entry.used = time.monotonic()
        live = entry.live
        if live is not None and live.source == entry.source and live.state.proves(signature):
            return entry.issue(live)
        with entry.update_lock:
            live = entry.live
            if live is not None and live.source == entry.source and live.state.proves(signature):
                return entry.issue(live)
            with self.cursor() as cur:
                if live is None:
                    live = self._load(entry, cur)
                    if live is None:
                        return None
                elif live.source != entry.source:
                    live = _resourced(live, entry.source)
                moved = catch_up(live, cur, signature)
            entry.live = live if moved is None else moved
            return None if moved is None else entry.issue(moved)

    def searched(self, ticket: str) -> LiveIndex:
        """The index a ticket was issued for.

        Raises
        ------
        StaleIndexError
            If the index was dropped, or moved on so far that the ticket is forgotten.
        """
        handle, _, number = ticket.rpartition("#")
        with self.lock:
            entry = self.entries.get(handle)
        live = None if entry is None else entry.tickets.get(int(number))
        if live is None:
            raise StaleIndexError(
                "duckdb_vsa: the index this query started with was dropped or changed while "
                "the query ran; run the query again."
            )
        return live

    # -- loading ------------------------------------------------------------------------------

    def _load(self, entry: Entry, cur: duckdb.DuckDBPyConnection) -> LiveIndex | None:
        """Read a cached matrix, or load a recorded index, from the committed table."""
        source = entry.source
        if entry.cached:
            rows = cur.execute(f"SELECT count(*) FROM {source.table}").fetchall()[0][0]
            if not self.make_room(int(rows) * source.dim * 4, entry):
                return None
        state, rows = read_all(cur, source, hashed=entry.method != "exact")
        if entry.method == "exact":
            return new_live(source, state, rows, index_maker("exact", {}, entry.block_bytes))
        definition = entry.definition
        if definition is None:
            raise CatalogError(f"Internal error: index {source.name!r} has no data to load.")
        arrays = load_arrays(cur, definition.database, definition.name)
        rowids, hashes, vectors = rows
        if entry.method == "ivf":
            checked = check_options(entry.options, "ivf")
            cell_of, _ = match_hashes(arrays["hashes"], hashes)
            cells = np.where(cell_of >= 0, arrays["cells"][np.maximum(cell_of, 0)], -1)
            base: VectorIndex = IvfIndex.from_assignment(
                arrays["centroids"],
                vectors,
                rowids,
                cells,
                nprobe=checked["nprobe"],
                nlist=checked["nlist"],
                threads=checked["threads"],
            )
            base.source = source
            return LiveIndex(base, hashes, source=source, state=state, markers=marker_keys(vectors))
        checked = check_options(entry.options, "hnsw")
        graph = HnswIndex.from_serialized(arrays["graph"], arrays["ids"], **checked)
        graph.source = source
        # The stored rowids were right when the graph was saved; pair each vector
        # with the row that holds its content now.
        unknown = SyncState(None, "", 0, 0, -1, None)
        stale = LiveIndex(
            graph, arrays["hashes"], source=source, state=unknown, markers=marker_keys(vectors)
        )
        return stale.resynced(state, rowids, hashes, _from(rowids, vectors))


def _from(rowids: np.ndarray, vectors: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def fetch(wanted: np.ndarray) -> np.ndarray:
        return vectors[np.searchsorted(rowids, wanted)]

    return fetch


def _resourced(live: LiveIndex, source: IndexSource) -> LiveIndex:
    """``live`` with another source (the table's watch changed); it will resync."""
    base = live.base
    base.source = source
    return LiveIndex(
        base,
        live.base_hashes,
        source=source,
        state=live.state,
        delta=live.delta,
        delta_hashes=live.delta_hashes,
        markers=live.markers,
    )
