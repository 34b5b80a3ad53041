"""One worker process and the Arrow IPC protocol spoken over its pipes.

A worker is started as ``python -m duckdb_vsa.worker`` (see
:mod:`duckdb_vsa.worker`), never by re-running the caller's ``__main__``, so a
script without a main guard runs its top-level code once. Documents and
vectors cross the pipes as Arrow IPC streams, not pickles:

- Parent to worker (the worker's stdin): one stream of ``doc: string``
  batches. The schema's metadata key ``duckdb_vsa.worker`` holds the settings
  as JSON: ``protocol``, ``config`` (``EncoderConfig.as_dict()``),
  ``cache_bytes`` and ``fingerprint``. Each batch is a request; its custom
  metadata ``on_error`` is ``"raise"`` or ``"null"``. End of stream, or of
  file, tells the worker to exit.
- Worker to parent (its stdout): one stream of ``vector:
  fixed_size_list<float>[dim]`` batches, one per request, in order. The
  schema's metadata under the same key holds ``protocol``, ``fingerprint`` and
  ``pid``. A failed request answers with an empty batch whose custom metadata
  holds ``error`` (``"document"`` or ``"failure"``), ``message`` and, for a
  document, ``row`` (within the request). A worker that cannot build its
  encoder writes only the schema, with ``error`` in its metadata, and exits.

Arrow writes a stream's schema with its first batch, so a worker is known to
be ready when the answer to its first request arrives.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import site
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa

from duckdb_vsa.errors import DocumentError, WorkerError

__all__ = [
    "DOC_FIELD",
    "PROTOCOL",
    "SETTINGS_KEY",
    "VECTOR_FIELD",
    "WORKER_MODULE",
    "WorkerChannel",
    "WorkerError",
    "worker_command",
    "worker_environment",
]

#: Version of the pipe protocol; parent and worker must agree.
PROTOCOL = 1
#: The module a worker runs (``python -m WORKER_MODULE``).
WORKER_MODULE = "duckdb_vsa.worker"
#: Schema metadata key of the settings, in both directions.
SETTINGS_KEY = "duckdb_vsa.worker"
#: Field names of the request and answer streams.
DOC_FIELD, VECTOR_FIELD = "doc", "vector"
#: Seconds a worker gets to exit after end of file before it is killed.
EXIT_GRACE = 10.0

REQUEST_SCHEMA = pa.schema([pa.field(DOC_FIELD, pa.string())])
# The directory holding this package: workers must import the same code as the parent.
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


def worker_command() -> list[str]:
    """The command line of a worker process.

    Returns
    -------
    list of str
        ``[sys.executable, "-m", "duckdb_vsa.worker"]``, with ``-P`` where the
        interpreter has it so that the current directory cannot shadow a module.
    """
    flags = ["-P"] if sys.version_info >= (3, 11) else []
    return [sys.executable, *flags, "-m", WORKER_MODULE]


def worker_environment() -> dict[str, str]:
    """The environment of a worker: the parent's, with this package findable.

    A package imported from a checkout (not from site-packages) is put first on
    ``PYTHONPATH``, so the worker runs the code the parent runs.

    Returns
    -------
    dict
    """
    env = dict(os.environ)
    getsitepackages = getattr(site, "getsitepackages", list)
    installed = {str(Path(p).resolve()) for p in getsitepackages()}
    if _PACKAGE_ROOT not in installed:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
    return env


def describe_exit(code: int | None) -> str:
    """How a process ended, for an error message: ``"was killed by SIGKILL"``...

    Examples
    --------
    >>> describe_exit(-9), describe_exit(1)
    ('was killed by SIGKILL', 'exited with code 1')
    """
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


class WorkerChannel:
    """One worker process and the parent's ends of its pipes, started on first use.

    One request is in flight at a time: callers hold :attr:`lock` around
    :meth:`request` and :meth:`stop`.

    Parameters
    ----------
    settings : str
        The settings JSON the worker starts from (see the module docstring).
    fingerprint : str
        The configuration's fingerprint; a worker that reports another is refused.
    dim : int
        Vector dimension.
    """

    def __init__(self, settings: str, fingerprint: str, dim: int) -> None:
        self.settings = settings
        self.fingerprint = fingerprint
        self.dim = dim
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._reader: pa.ipc.RecordBatchStreamReader | None = None

    @property
    def pid(self) -> int | None:
        """The process id, or None when no process runs."""
        return None if self.proc is None else self.proc.pid

    @property
    def ready(self) -> bool:
        """Whether the process runs and has answered a request (its encoder is built)."""
        return self.proc is not None and self._reader is not None

    def spawn(self) -> None:
        """Start the process if none runs; it loads its libraries while the caller goes on."""
        if self.proc is not None:
            return
        self.proc = subprocess.Popen(
            worker_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=worker_environment(),
        )
        schema = REQUEST_SCHEMA.with_metadata({SETTINGS_KEY: self.settings})
        self._writer = pa.ipc.new_stream(self.proc.stdin, schema)
        self._reader = None

    def request(self, array: pa.Array, on_error: str, what: str) -> pa.Array:
        """Send one array of documents and read its vectors back.

        Parameters
        ----------
        array : pyarrow.Array of string
        on_error : {"raise", "null"}
        what : str
            What the request is for, as in "encoding rows 0 to 99 of a call",
            for error messages.

        Returns
        -------
        pyarrow.FixedSizeListArray

        Raises
        ------
        DocumentError
            With ``row`` counted within ``array``.
        WorkerError
            If the worker died, could not start, broke the protocol or failed
            otherwise. A dead or confused worker is stopped; the next request
            starts a new one.
        """
        self.spawn()
        assert self.proc is not None and self._writer is not None
        try:
            batch = pa.record_batch([array], schema=REQUEST_SCHEMA)
            self._writer.write_batch(batch, custom_metadata={"on_error": on_error})
            self.proc.stdin.flush()
            if self._reader is None:
                self._reader = pa.ipc.open_stream(self.proc.stdout)
                self._check_ready(self._reader.schema.metadata or {})
            answer, meta = self._reader.read_next_batch_with_custom_metadata()
        except (OSError, ValueError, pa.ArrowException, StopIteration):
            raise self._lost(what) from None
        meta = {k.decode(): v.decode() for k, v in (meta or {}).items()}
        error = meta.get("error")
        if error == "document":
            raise DocumentError(meta["message"], row=int(meta["row"]))
        if error is not None:
            raise WorkerError(
                f"A worker process failed while {what}: {meta.get('message', error)}. "
                "This is a bug in duckdb_vsa; please report it with the documents."
            )
        vectors = answer.column(0)
        if answer.num_rows != len(array) or vectors.type.list_size != self.dim:
            raise self._lost(what, "answered with the wrong number of rows")
        return vectors

    def _check_ready(self, metadata: dict[bytes, bytes]) -> None:
        settings = json.loads(metadata.get(SETTINGS_KEY.encode(), b"{}"))
        if "error" in settings:
            self.stop()
            raise WorkerError(f"A worker process could not start: {settings['error']}.")
        if settings.get("protocol") != PROTOCOL or settings.get("fingerprint") != self.fingerprint:
            self.stop()
            raise WorkerError(
                "A worker process runs another version of duckdb_vsa than this process "
                f"(protocol {settings.get('protocol')}, fingerprint "
                f"{settings.get('fingerprint')}): check that {sys.executable} imports the "
                "same duckdb_vsa."
            )

    def _lost(self, what: str, how: str | None = None) -> WorkerError:
        pid = self.pid
        code = self.stop(grace=2.0)
        return WorkerError(
            f"Worker process {pid} {how or describe_exit(code)} while {what}; the call was "
            "not completed and a new worker will be started for the next one. If this "
            "repeats, the machine may be short of memory: use fewer workers or a smaller "
            "cache_bytes."
        )

    def stop(self, grace: float = EXIT_GRACE) -> int | None:
        """End the process: end of file on its stdin, then a kill after ``grace`` seconds.

        Returns
        -------
        int or None
            Its exit code (negative: the signal that ended it); None if none ran.
        """
        proc, self.proc, self._writer, self._reader = self.proc, None, None, None
        if proc is None:
            return None
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        try:
            return proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def forget(self) -> None:
        """Close this process's copies of the pipes, without a word to the worker.

        For a forked child, where the worker belongs to the parent: the child
        must not write into the parent's stream, and must not keep the pipe
        open, or the worker would miss the end of file when its parent exits.
        Closing the raw files closes each descriptor exactly once and discards
        anything still buffered.
        """
        proc, self.proc, self._writer, self._reader = self.proc, None, None, None
        self.lock = threading.Lock()
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    stream.raw.close()
