"""Worker processes that encode one Arrow chunk of JSON documents on every core.

The encoder's Python parts hold the interpreter lock, so one process encodes
on one core whatever DuckDB's ``threads`` setting says, and DuckDB calls a
scalar function from a single thread on a table smaller than a row group.
:class:`WorkerPool` therefore cuts each call's array into slices, a few per
worker process, and waits for them without holding the lock (blocking pipe
reads release it). Slices wait in one queue, first come, first served, shared
by every calling thread; each worker takes the next one when it is done with
its last, so calls from several threads share the workers, and a worker
slowed down by other processes takes fewer slices. The processes and the
protocol are those of :mod:`duckdb_vsa.channel`.

A worker exits when its stdin reaches end of file: on :meth:`WorkerPool.close`,
when the pool is garbage-collected, and when the parent process exits or is
killed (the kernel closes the parent's end of the pipe), so no worker outlives
its parent by more than the slice it is encoding.

Memory: every worker is a Python process with its own encoder, so each holds
the interpreter with numpy, scipy, pyarrow and duckdb loaded, its encoder's
caches (bounded by ``cache_bytes`` exactly as in one process; each worker has
its own) and one slice of at most :data:`MAX_SLICE_ROWS` documents with their
vectors. Budget ``workers`` times that on top of the calling process, whose
own encoder the pool does not touch.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import threading
import weakref
from typing import Any

import numpy as np
import pyarrow as pa

from duckdb_vsa.arrays import combine
from duckdb_vsa.channel import PROTOCOL, WorkerChannel
from duckdb_vsa.config import ENCODER_VERSION, EncoderConfig
from duckdb_vsa.errors import (
    ConfigMismatchError,
    DocumentError,
    InvalidArgumentError,
    WorkerError,
)

__all__ = [
    "MAX_SLICE_ROWS",
    "MIN_SLICE_ROWS",
    "SLICES_PER_WORKER",
    "WorkerError",
    "WorkerPool",
    "usable_cores",
]

#: A call's array is cut into slices of at least this many rows, so a small
#: call goes to one worker instead of paying one round trip per worker.
MIN_SLICE_ROWS = 64
#: A call is cut into up to this many slices per worker: the queue then hands a
#: worker that another process slows down fewer slices, instead of the whole
#: call waiting for its one large slice.
SLICES_PER_WORKER = 4
#: No slice is longer than this, whatever the call: a worker's working memory
#: stays that of one such slice (its documents, and 4 * dim bytes per vector).
MAX_SLICE_ROWS = 4096

# The encoder's ON_ERROR; this module stays below the encoder, so it spells them out.
_ON_ERROR = ("raise", "null")


def usable_cores() -> int:
    """The number of cores this process may run on.

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> usable_cores() >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _empty_vectors(dim: int) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array([], type=pa.float32()), dim)


def _cut_points(array: pa.Array, parts: int, max_rows: int) -> list[int]:
    """Row boundaries of ``parts`` slices of about equal bytes of text, none over ``max_rows``.

    Returns ``[0, ..., len(array)]``. Balancing bytes rather than rows gives
    every worker about the same work when documents differ in size; a slice
    that would still be too long is cut again in equal parts.
    """
    n = len(array)
    if parts <= 1:
        inner: list[int] = []
    else:
        offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)
        offsets = offsets[array.offset : array.offset + n + 1].astype(np.int64)
        total = int(offsets[-1] - offsets[0])
        if total > 0:
            targets = offsets[0] + total * np.arange(1, parts, dtype=np.float64) / parts
            inner = np.searchsorted(offsets, targets, side="left").tolist()
        else:
            inner = [n * k // parts for k in range(1, parts)]
    cuts = [0]
    for cut in [*inner, n]:
        if cuts[-1] < cut <= n:
            pieces = -(-(cut - cuts[-1]) // max_rows)
            start = cuts[-1]
            cuts.extend(start + (cut - start) * k // pieces for k in range(1, pieces + 1))
    return cuts


class _Call:
    """The slices of one :meth:`WorkerPool.encode` call and what came back."""

    def __init__(self, n_slices: int) -> None:
        self.results: list[pa.Array | None] = [None] * n_slices
        self.errors: dict[int, Exception] = {}
        self.cancelled = False
        self._remaining = n_slices
        self._lock = threading.Lock()
        self.done = threading.Event()

    def settle(self, index: int, result: pa.Array | None, error: Exception | None) -> None:
        with self._lock:
            if error is not None:
                self.errors[index] = error
            else:
                self.results[index] = result
            self._remaining -= 1
            if self._remaining == 0:
                self.done.set()


class _Task:
    """One slice of a call, waiting in the pool's queue."""

    __slots__ = ("array", "call", "index", "on_error", "start")

    def __init__(self, call: _Call, index: int, start: int, array: pa.Array, on_error: str):
        self.call, self.index, self.start = call, index, start
        self.array, self.on_error = array, on_error


def _serve(worker: WorkerChannel, tasks: queue.SimpleQueue) -> None:
    """A service thread: feed the worker one queued slice at a time until the stop sentinel."""
    while True:
        task = tasks.get()
        if task is None:
            with worker.lock:
                worker.stop()
            return
        if task.call.cancelled:
            task.call.settle(task.index, None, None)
            continue
        end = task.start + len(task.array)
        what = f"encoding rows {task.start} to {end - 1} of a call"
        result, error = None, None
        try:
            with worker.lock:
                result = worker.request(task.array, task.on_error, what)
        except (DocumentError, WorkerError) as err:
            error = err
        except Exception as err:  # the slice must settle and this thread live on, whatever failed
            error = WorkerError(f"Talking to a worker process failed while {what}: {err!r}.")
            with contextlib.suppress(Exception), worker.lock:
                worker.stop(grace=2.0)
        task.call.settle(task.index, result, error)


class _State:
    """What a pool owns: the queue, the workers and their service threads."""

    def __init__(self, settings: str, fingerprint: str, dim: int, workers: int) -> None:
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.workers = [WorkerChannel(settings, fingerprint, dim) for _ in range(workers)]
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()
        self.closed = False

    def ensure_threads(self) -> None:
        """Start the service threads (not the processes) on first use."""
        if self.threads:
            return
        for i, worker in enumerate(self.workers):
            thread = threading.Thread(
                target=_serve, args=(worker, self.tasks), name=f"duckdb_vsa-worker-{i}"
            )
            thread.daemon = True
            thread.start()
            self.threads.append(thread)

    def shutdown(self) -> None:
        """Stop every worker once the slices already queued are done."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            threads = self.threads
            for _ in threads:
                self.tasks.put(None)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()
        for worker in self.workers:
            with worker.lock:
                worker.stop()

    def forget(self) -> None:
        for worker in self.workers:
            worker.forget()


_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pool in list(_POOLS):
        pool._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class WorkerPool:
    """Worker processes that encode slices of Arrow arrays of JSON text.

    Parameters
    ----------
    config_options : dict
        The encoder configuration: keyword options of
        :class:`~duckdb_vsa.config.EncoderConfig`, or what its ``as_dict()``
        returns (its ``version`` must then be this package's).
    cache_bytes : int, optional
        Cache budget of each worker's encoder (see ``Encoder``); None for the
        default. Every worker has its own caches: the pool holds ``workers``
        times (one interpreter with its libraries + the caches of one encoder
        + one slice).
    workers : int, default: the usable cores
        Number of worker processes.

    Raises
    ------
    InvalidArgumentError
        For a ``workers`` or ``cache_bytes`` that is not a positive integer.
    ConfigMismatchError
        For a configuration of another encoder version.
    ValueError, TypeError
        For an invalid or unknown encoder option.

    Notes
    -----
    No process starts before the first :meth:`encode` (or :meth:`start`). A
    worker that dies is started again for the next slice. A process that forks
    after the pool started gets a fresh pool state in the child: its workers
    start anew there, and the child closes its copies of the parent's pipes.

    Examples
    --------
    >>> import pyarrow as pa
    >>> with WorkerPool({"dim": 64}, workers=2) as pool:
    ...     vectors = pool.encode(pa.array(['{"a": 1}', None, '{"b": [1, 2]}']))
    >>> vectors.type.list_size, vectors.null_count
    (64, 1)
    """

    def __init__(
        self,
        config_options: dict[str, Any],
        cache_bytes: int | None = None,
        workers: int | None = None,
    ) -> None:
        options = dict(config_options)
        version = options.pop("version", ENCODER_VERSION)
        if version != ENCODER_VERSION:
            raise ConfigMismatchError(
                f"The configuration is of encoder version {version}, but this duckdb_vsa "
                f"encodes version {ENCODER_VERSION}: pass the options without 'version'."
            )
        config = EncoderConfig.from_options(**options)
        workers = usable_cores() if workers is None else workers
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidArgumentError(f"workers must be a positive integer, got {workers!r}.")
        if cache_bytes is not None and (
            isinstance(cache_bytes, bool) or not isinstance(cache_bytes, int) or cache_bytes < 0
        ):
            raise InvalidArgumentError(
                f"cache_bytes must be a non-negative integer or None, got {cache_bytes!r}."
            )
        self.config = config
        self.cache_bytes = cache_bytes
        self.workers = workers
        #: Slices are never cut smaller than this many rows.
        self.min_slice_rows = MIN_SLICE_ROWS
        #: Slices per worker a large call is cut into.
        self.slices_per_worker = SLICES_PER_WORKER
        #: Slices are never longer than this many rows.
        self.max_slice_rows = MAX_SLICE_ROWS
        #: Why the last ``start(wait=False)`` failed, if it did.
        self.start_error: Exception | None = None
        #: Rows of the calls this pool has encoded (nulls and failed calls included).
        self.rows_encoded = 0
        self._settings = json.dumps(
            {
                "protocol": PROTOCOL,
                "config": config.as_dict(),
                "cache_bytes": cache_bytes,
                "fingerprint": config.fingerprint,
            },
            sort_keys=True,
        )
        self._state = self._new_state()
        _POOLS.add(self)

    def _new_state(self) -> _State:
        state = _State(self._settings, self.config.fingerprint, self.config.dim, self.workers)
        self._finalizer = weakref.finalize(self, state.shutdown)
        return state

    def _reset_after_fork(self) -> None:
        self._finalizer.detach()
        old = self._state
        old.forget()
        self._state = self._new_state()
        if old.closed:
            self._state.closed = True

    # -- identity --------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self.config.dim

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the configuration the workers encode with."""
        return self.config.fingerprint

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._state.closed

    def pids(self) -> list[int]:
        """Process ids of the workers running now (fewer than ``workers`` before first use).

        Returns
        -------
        list of int
        """
        return [w.pid for w in self._state.workers if w.pid is not None]

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self.pids())} running"
        return f"WorkerPool(workers={self.workers}, dim={self.dim}, {state})"

    # -- life cycle ------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Whether every worker runs and has answered: an :meth:`encode` now pays no start-up.

        Returns
        -------
        bool
        """
        return all(w.ready for w in self._state.workers)

    def start(self, wait: bool = True) -> WorkerPool:
        """Start every worker now, so that no call pays for it.

        Without it, workers start on the first :meth:`encode`. A caller that
        cannot tell whether more work will follow (a query of unknown size) can
        start the workers in the background, keep encoding in its own process
        while :attr:`ready` is False, and move to the pool once it is True.

        Parameters
        ----------
        wait : bool, default True
            Wait until each worker has built its encoder; with False, start
            them from a background thread and return at once (a failure is
            then kept in :attr:`start_error` and raised by the next
            :meth:`encode`, which tries again).

        Returns
        -------
        WorkerPool
            This pool.

        Raises
        ------
        WorkerError
            If a worker cannot start (with ``wait=True``).
        """
        state = self._check_open()
        if not wait:
            self.start_error = None
            threading.Thread(
                target=self._start_in_background, name="duckdb_vsa-pool-start", daemon=True
            ).start()
            return self
        with state.lock:
            state.ensure_threads()
        for worker in state.workers:
            with worker.lock:
                worker.spawn()
        empty = pa.array([], type=pa.string())
        for worker in state.workers:
            with worker.lock:
                if not worker.ready:
                    worker.request(empty, "raise", "starting")
        return self

    def _start_in_background(self) -> None:
        try:
            self.start()
        except Exception as err:  # kept for the caller: a background thread has no one to tell
            self.start_error = err

    def close(self) -> None:
        """Stop the workers after the slices already queued; later calls raise WorkerError.

        Each worker gets end of file on its stdin and exits; one that has not
        exited after 10 s is killed.
        """
        self._finalizer.detach()
        self._state.shutdown()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> _State:
        state = self._state
        if state.closed:
            raise WorkerError("This WorkerPool is closed: create a new one to encode.")
        return state

    # -- encoding --------------------------------------------------------------------
    def encode(
        self, array: pa.Array | pa.ChunkedArray, on_error: str = "raise"
    ) -> pa.FixedSizeListArray:
        """Encode an Arrow array of JSON text on the workers, as ``Encoder.encode_arrow`` does.

        The array is cut into up to ``slices_per_worker`` slices per worker, of
        about equal bytes, none under :attr:`min_slice_rows` rows and none over
        :attr:`max_slice_rows`; each idle worker takes the next slice from a
        queue shared by every calling thread. The calling thread waits without
        holding the interpreter lock. Vectors are bit-identical to encoding in
        this process.

        Parameters
        ----------
        array : pyarrow.Array or pyarrow.ChunkedArray of string
            JSON documents; nulls stay null. Extension types (DuckDB's JSON)
            are read as their storage.
        on_error : {"raise", "null"}, default "raise"
            What an empty or invalid document gives: a DocumentError, or a
            null vector.

        Returns
        -------
        pyarrow.FixedSizeListArray of float32, list size ``dim``

        Raises
        ------
        DocumentError
            For an invalid document with ``on_error="raise"``: the first one
            in the array, with the message and ``row`` one process gives.
        WorkerError
            If a worker died during the call (it is replaced for the next
            call) or the pool is closed.
        TypeError
            For an array that is not of strings.
        """
        if on_error not in _ON_ERROR:
            raise InvalidArgumentError(f"on_error must be 'raise' or 'null', got {on_error!r}.")
        array = combine(array)
        if pa.types.is_null(array.type) or pa.types.is_large_string(array.type):
            array = array.cast(pa.string())
        elif not pa.types.is_string(array.type):
            raise TypeError(f"encode_arrow expects an Arrow string array, got {array.type}.")
        state = self._check_open()
        if len(array) == 0:
            return _empty_vectors(self.dim)
        n = len(array)
        most = self.workers * max(1, self.slices_per_worker)
        parts = max(1, min(most, n // max(1, self.min_slice_rows)))
        parts = max(parts, -(-n // max(1, self.max_slice_rows)))
        cuts = _cut_points(array, parts, max(1, self.max_slice_rows))
        call = _Call(len(cuts) - 1)
        with state.lock:
            if state.closed:
                raise WorkerError("This WorkerPool is closed: create a new one to encode.")
            state.ensure_threads()
            for index, (start, end) in enumerate(itertools.pairwise(cuts)):
                state.tasks.put(
                    _Task(call, index, start, array.slice(start, end - start), on_error)
                )
        try:
            call.done.wait()
        except BaseException:
            call.cancelled = True
            raise
        with state.lock:
            self.rows_encoded += n
        if call.errors:
            index = min(call.errors)
            error = call.errors[index]
            if isinstance(error, DocumentError):
                raise DocumentError(str(error), row=cuts[index] + (error.row or 0))
            raise error
        results = call.results
        if len(results) == 1:
            return results[0]
        return pa.concat_arrays(results)
