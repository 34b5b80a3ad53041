"""Which encode calls go to worker processes, and the process's worker pools.

Every encode path (``Encoder.encode_arrow`` and ``encode_batch``, SQL
``vsa_encode``, ``encode_column``, ``duckdb-vsa encode``) that is given
``workers > 0`` calls :func:`encode_arrow` here with a function that encodes
in this process. A call goes to the workers only when it is worth it:

- a call of fewer than :data:`MIN_POOL_ROWS` rows is encoded in this process
  (a round trip to the workers costs about a millisecond, and no small query
  ever starts a pool);
- the first large call starts the pool's processes in the background (about
  a second: an interpreter with its libraries, and an encoder, per worker) and
  encodes in this process, :data:`LOCAL_STEP_ROWS` rows at a time, until every
  worker has answered; the rest of that call, and every later large call, go
  to the workers.

Vectors are bit-identical whichever way a row goes; an invalid document gives
the same :class:`~duckdb_vsa.errors.DocumentError`, with its row in the call.

Pools are shared by every caller in the process, one per (configuration,
cache budget, number of workers), and bounded: :func:`shared_pool` keeps the
:data:`SHARED_POOLS` most recently used and closes one it evicts (after the
slices already queued); all are closed at exit. Memory: each worker is a
Python process holding numpy, scipy, pyarrow and duckdb, its own encoder
caches (``cache_bytes`` each, as in one process) and one slice of at most
``duckdb_vsa.pool.MAX_SLICE_ROWS`` documents, so a pool of ``w`` workers
adds ``w`` times that to the calling process.
"""

from __future__ import annotations

import atexit
import os
import threading
import warnings
from collections.abc import Callable

import pyarrow as pa

from duckdb_vsa.arrays import combine
from duckdb_vsa.config import EncoderConfig
from duckdb_vsa.errors import DocumentError, InvalidArgumentError, WorkerError
from duckdb_vsa.pool import WorkerPool, usable_cores

__all__ = [
    "AUTO",
    "DEFAULT_WORKERS",
    "LOCAL_STEP_ROWS",
    "MIN_POOL_ROWS",
    "SHARED_POOLS",
    "auto_workers",
    "check_workers",
    "close_shared_pools",
    "encode_arrow",
    "find_pool",
    "shared_pool",
]

#: Calls with fewer rows are encoded in the calling process.
MIN_POOL_ROWS = 256
#: While a pool starts, a large call is encoded in this process this many rows at a time.
LOCAL_STEP_ROWS = 512
#: Pools :func:`shared_pool` keeps running at once.
SHARED_POOLS = 2
#: What ``workers=None`` means: encoding in the calling process. Measured on a shared
#: 2-core machine, workers did not beat one process (see the README, "Worker processes");
#: where cores are free, pass ``workers=AUTO`` or a number.
DEFAULT_WORKERS = 0
#: ``workers="auto"``: the usable cores when there are two or more (see :func:`auto_workers`).
AUTO = "auto"

LocalEncode = Callable[[pa.Array, str], pa.Array]
_Key = tuple[EncoderConfig, "int | None", int]

# Pools by key, least recently used first.
_POOLS: dict[_Key, WorkerPool] = {}
# By id(pool): why its workers could not start; warned about; starting now.
_FAILED: dict[int, Exception] = {}
_WARNED: set[int] = set()
_STARTING: set[int] = set()
_LOCK = threading.Lock()


def auto_workers() -> int:
    """The number of workers ``workers="auto"`` stands for.

    Returns
    -------
    int
        The cores this process may run on when there are at least two, else 0
        (a worker on a single core only adds its start-up and round trips).

    Examples
    --------
    >>> auto_workers() >= 0
    True
    """
    cores = usable_cores()
    return cores if cores >= 2 else 0


def check_workers(workers: int | str | None) -> int:
    """``workers`` as a number of worker processes.

    Parameters
    ----------
    workers : int, "auto" or None
        0 encodes in the calling process; ``n > 0`` uses ``n`` worker processes
        for large calls; ``"auto"`` gives :func:`auto_workers`; None gives
        :data:`DEFAULT_WORKERS`.

    Returns
    -------
    int

    Raises
    ------
    InvalidArgumentError
        For anything else.

    Examples
    --------
    >>> check_workers(None), check_workers(0), check_workers(3)
    (0, 0, 3)
    """
    if workers is None:
        return DEFAULT_WORKERS
    if workers == AUTO:
        return auto_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InvalidArgumentError(
            f"workers must be an integer >= 0 (0: encode in this process), 'auto' (the usable "
            f"cores) or None (the default, {DEFAULT_WORKERS}), got {workers!r}."
        )
    return workers


def shared_pool(config: EncoderConfig, cache_bytes: int | None, workers: int) -> WorkerPool:
    """The process's pool for this configuration, cache budget and number of workers.

    Parameters
    ----------
    config : EncoderConfig
    cache_bytes : int or None
        Each worker's cache budget (None: the encoder's default).
    workers : int
        A positive number of worker processes.

    Returns
    -------
    WorkerPool
        The same pool for the same arguments while it is among the
        :data:`SHARED_POOLS` most recently used; its processes start on first
        use. An evicted pool is closed once the slices already queued are done.
    """
    key = (config, cache_bytes, workers)
    evicted: list[WorkerPool] = []
    with _LOCK:
        pool = _POOLS.pop(key, None)
        if pool is None or pool.closed:
            pool = WorkerPool(config.as_dict(), cache_bytes=cache_bytes, workers=workers)
        while len(_POOLS) >= SHARED_POOLS:
            evicted.append(_POOLS.pop(next(iter(_POOLS))))
        _POOLS[key] = pool
    for old in evicted:
        _forget(old)
        old.close()
    return pool


def find_pool(config: EncoderConfig, cache_bytes: int | None, workers: int) -> WorkerPool | None:
    """The pool :func:`shared_pool` keeps for these arguments, without making one.

    Returns
    -------
    WorkerPool or None
        None when no call has needed it yet, or it was evicted or closed.
    """
    with _LOCK:
        pool = _POOLS.get((config, cache_bytes, workers))
    return None if pool is None or pool.closed else pool


def close_shared_pools() -> None:
    """Close every pool :func:`shared_pool` keeps; later calls start new ones."""
    with _LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        _forget(pool)
        pool.close()


atexit.register(close_shared_pools)


def _after_fork_in_child() -> None:
    # A start under way in the parent has no thread here; the pool itself resets (see WorkerPool).
    global _LOCK
    _LOCK = threading.Lock()
    _STARTING.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _forget(pool: WorkerPool) -> None:
    with _LOCK:
        _FAILED.pop(id(pool), None)
        _WARNED.discard(id(pool))


def _offset(err: DocumentError, start: int) -> DocumentError:
    return DocumentError(str(err), row=None if err.row is None else start + err.row)


def _start(pool: WorkerPool) -> None:
    """Start the pool's workers (a background thread): a failure is kept, not raised."""
    try:
        pool.start()
    except Exception as err:  # reported by _usable, in the thread of a caller
        if not pool.closed:
            with _LOCK:
                _FAILED[id(pool)] = err
    finally:
        with _LOCK:
            _STARTING.discard(id(pool))


def _usable(pool: WorkerPool) -> bool:
    """Whether the pool can take work now; starts it in the background if not.

    A pool whose workers could not start is not tried again (until it is
    evicted): its calls are encoded in this process, after one warning.
    """
    if pool.ready:
        return True
    with _LOCK:
        failed = _FAILED.get(id(pool))
        warn = failed is not None and id(pool) not in _WARNED
        if warn:
            _WARNED.add(id(pool))
        start = failed is None and id(pool) not in _STARTING
        if start:
            _STARTING.add(id(pool))
    if warn:
        warnings.warn(
            f"duckdb_vsa could not start its worker processes ({failed}); encoding in this "
            "process instead. Pass workers=0 to encode in this process without this warning.",
            RuntimeWarning,
            stacklevel=4,
        )
    if start:
        threading.Thread(
            target=_start, args=(pool,), name="duckdb_vsa-pool-start", daemon=True
        ).start()
    return False


def encode_arrow(
    array: pa.Array | pa.ChunkedArray,
    on_error: str,
    *,
    config: EncoderConfig,
    cache_bytes: int | None,
    workers: int,
    local: LocalEncode,
) -> pa.Array:
    """Encode an Arrow array of JSON text on the workers or in this process, whichever fits.

    Parameters
    ----------
    array : pyarrow.Array or pyarrow.ChunkedArray of string
    on_error : {"raise", "null"}
    config : EncoderConfig
        The configuration ``local`` encodes with.
    cache_bytes : int or None
        Each worker's cache budget.
    workers : int
        Worker processes; 0 always encodes with ``local``.
    local : callable
        ``local(array, on_error)``: the same encoding in this process
        (``Encoder.encode_arrow`` of an encoder of ``config``).

    Returns
    -------
    pyarrow.FixedSizeListArray

    Raises
    ------
    DocumentError
        As ``local`` raises it, with ``row`` counted in ``array``.
    WorkerError
        If a worker died during the call (it is replaced for the next one).
    """
    if workers <= 0 or len(array) < MIN_POOL_ROWS:
        return local(array, on_error)
    array = combine(array)
    pool = shared_pool(config, cache_bytes, workers)
    pieces: list[pa.Array] = []
    start, n = 0, len(array)
    while start < n and not _usable(pool):
        step = min(LOCAL_STEP_ROWS, n - start)
        try:
            pieces.append(local(array.slice(start, step), on_error))
        except DocumentError as err:
            raise _offset(err, start) from None
        start += step
    if start < n:
        rest = array.slice(start) if start else array
        try:
            pieces.append(pool.encode(rest, on_error))
        except DocumentError as err:
            raise _offset(err, start) from None
        except WorkerError:
            if not pool.closed:
                raise
            # Evicted by another thread between lookup and use: this process encodes.
            try:
                pieces.append(local(rest, on_error))
            except DocumentError as err:
                raise _offset(err, start) from None
    return pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces)
