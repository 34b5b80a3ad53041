"""Thread-safe caches bounded in bytes: per-key arrays (LRU) and row tables."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from itertools import repeat
from typing import Any, Generic, TypeVar

import numpy as np

V = TypeVar("V")


class ByteBoundedCache(Generic[V]):
    """LRU cache whose values are charged by size in bytes.

    DuckDB calls a UDF from several threads at once, so every operation takes
    a lock. A value larger than the whole budget is returned but not kept.

    Parameters
    ----------
    max_bytes : int
        Budget; the least recently used entries are dropped beyond it.
    sizeof : callable
        Returns the size of a value in bytes.
    """

    def __init__(self, max_bytes: int, sizeof: Callable[[V], int]) -> None:
        if max_bytes < 0:
            raise ValueError(f"A cache budget must be >= 0 bytes, got {max_bytes}.")
        self.max_bytes = int(max_bytes)
        self._sizeof = sizeof
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        """Bytes currently held."""
        return self._bytes

    def get(self, key: Hashable) -> V | None:
        """Return the value for ``key`` (marking it recently used), or None."""
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def get_many(self, keys: list[Hashable]) -> list[V | None]:
        """Return the value (or None) for every key, under one lock."""
        out: list[V | None] = []
        with self._lock:
            data = self._data
            for key in keys:
                value = data.get(key)
                if value is not None:
                    data.move_to_end(key)
                out.append(value)
        found = sum(v is not None for v in out)
        self.hits += found
        self.misses += len(keys) - found
        return out

    def put_many(self, items: list[tuple[Hashable, V]]) -> None:
        """Store several values (see :meth:`put`)."""
        for key, value in items:
            self.put(key, value)

    def put(self, key: Hashable, value: V) -> None:
        """Store ``value`` under ``key``, evicting old entries beyond the budget."""
        size = self._sizeof(value)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= self._sizeof(old)
            self._data[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._data.popitem(last=False)
                self._bytes -= self._sizeof(evicted)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._data.clear()
            self._bytes = 0


class RowTable:
    """Rows of one width and dtype kept in a single matrix, keyed by name, bounded in bytes.

    Where :class:`ByteBoundedCache` keeps one small array per key and is read
    key by key, a table answers a whole batch of names with one dictionary
    lookup each and hands back row numbers into one matrix, so that callers
    gather or multiply rows in bulk. Rows are only ever appended: a matrix
    handed out stays valid for the row numbers given with it, even if the
    table later grows (into a new matrix) or starts over (when full, it drops
    every row at once rather than tracking recency per row).

    Parameters
    ----------
    max_bytes : int
        Budget for the matrix; 0 keeps nothing.
    width : int
        Row length.
    dtype : numpy dtype
        Row type.
    """

    def __init__(self, max_bytes: int, width: int, dtype: Any) -> None:
        if max_bytes < 0:
            raise ValueError(f"A cache budget must be >= 0 bytes, got {max_bytes}.")
        self.width = int(width)
        self.dtype = np.dtype(dtype)
        self.max_rows = int(max_bytes) // max(self.width * self.dtype.itemsize, 1)
        self._lock = threading.Lock()
        self._matrix = np.empty((0, self.width), dtype=self.dtype)
        self.clear()

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes of the rows held."""
        return self._count * self.width * self.dtype.itemsize

    def clear(self) -> None:
        """Drop every row."""
        with self._lock:
            self._start_over()

    def _start_over(self) -> None:
        """Forget every row (under the lock), keeping the matrix if no caller holds it.

        A matrix handed out must keep its rows, so one still referenced elsewhere
        is left to its holders; an unreferenced one is written over, which spares
        the operating system mapping and zeroing fresh pages.
        """
        self._index: dict[Hashable, int] = {}
        self._count = 0
        if sys.getrefcount(self._matrix) > 2:  # the attribute and the call's argument
            self._matrix = np.empty((0, self.width), dtype=self.dtype)

    def lookup(self, keys: list[Hashable]) -> tuple[np.ndarray, np.ndarray]:
        """The current matrix and the row of every key in it (-1 where absent)."""
        with self._lock:
            return self._matrix, self._rows(keys)

    def _rows(self, keys: list[Hashable]) -> np.ndarray:
        """The row of every key (-1 where absent); under the lock."""
        return np.fromiter(map(self._index.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))

    def rows_of(
        self, keys: list[Hashable], compute: Callable[[list[Hashable]], np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """A matrix and the row of every key in it, computing absent rows with ``compute``.

        ``compute(missing_keys)`` returns their rows (a ``(len(missing), width)``
        array); it runs under the table's lock, so it should be quick. Keys
        must be distinct. When the table has no room for them all, the matrix
        returned is a private one holding just these keys.
        """
        with self._lock:
            rows = self._rows(keys)
            missing = np.flatnonzero(rows < 0)
            if not len(missing):
                return self._matrix, rows
            fresh = np.asarray(compute([keys[i] for i in missing.tolist()]), dtype=self.dtype)
            if len(keys) > self.max_rows:
                private = np.empty((len(keys), self.width), dtype=self.dtype)
                found = np.flatnonzero(rows >= 0)
                private[found] = self._matrix[rows[found]]
                private[missing] = fresh
                return private, np.arange(len(keys), dtype=np.int64)
            if self._count + len(missing) > self.max_rows:
                # Start over with the rows this call needs.
                found = np.flatnonzero(rows >= 0)
                old = self._matrix[rows[found]]
                self._start_over()
                rows[found] = self._append([keys[i] for i in found.tolist()], old)
            rows[missing] = self._append([keys[i] for i in missing.tolist()], fresh)
            return self._matrix, rows

    def insert(self, keys: list[Hashable], values: np.ndarray) -> None:
        """Keep ``values`` under ``keys`` (distinct), if they fit; keys held already stay."""
        if not keys or len(keys) > self.max_rows:
            return
        with self._lock:
            new = [i for i, k in enumerate(keys) if k not in self._index]
            if not new:
                return
            if self._count + len(new) > self.max_rows:
                self._start_over()
            self._append([keys[i] for i in new], np.asarray(values, dtype=self.dtype)[new])

    def _append(self, keys: list[Hashable], values: np.ndarray) -> np.ndarray:
        start, end = self._count, self._count + len(keys)
        if end > len(self._matrix):
            # Up to 1 GiB, the whole budget at once: untouched pages of np.empty take
            # no memory, and the rows are never copied to grow. Beyond, doubling.
            row_bytes = self.width * self.dtype.itemsize
            capacity = max(2 * len(self._matrix), end, (1 << 30) // max(row_bytes, 1))
            grown = np.empty((min(capacity, self.max_rows), self.width), dtype=self.dtype)
            grown[:start] = self._matrix[:start]
            self._matrix = grown
        self._matrix[start:end] = values
        self._index.update(zip(keys, range(start, end)))
        self._count = end
        return np.arange(start, end, dtype=np.int64)
