"""A thread-safe least-recently-used cache bounded in bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

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
