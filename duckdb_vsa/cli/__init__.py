"""The ``duckdb-vsa`` command line: encode files, search them, find near-duplicates.

Commands (``duckdb-vsa COMMAND --help`` for each):

- ``encode INPUT -o OUTPUT``: JSON Lines, a JSON array, or Parquet/CSV with a JSON
  column, to Parquet with a vector column or to a table of a DuckDB database
  file. Streams the input in chunks (``--chunk-size`` rows at a time, so memory
  stays bounded whatever the input's size) and shows a progress bar on stderr.
- ``search STORE --query DOC``: the ``k`` rows most similar to a query document.
- ``dedup STORE``: pairs of rows whose vectors score at least ``--threshold``.
- ``explain DOC_A DOC_B``: which fields make two documents similar.
- ``info [STORE]``: an encoder's configuration, or the one recorded for a store.

A *store* is what ``encode`` writes: a Parquet file, or a DuckDB database file
(``--table``). ``encode`` records the encoder configuration with the vectors (in
the Parquet schema metadata under ``duckdb_vsa``; in a DuckDB database as
:func:`duckdb_vsa.encode_column` does), so ``search`` encodes the query with the
same configuration and refuses options that would make incomparable vectors.

JSON Lines are read by Python line by line, and each line's text is encoded
exactly as written (blank lines are skipped; the output keeps the 1-based
``line`` number). JSON arrays, Parquet and CSV are read by DuckDB
(``read_json_objects``, ``read_parquet``, ``read_csv``); a JSON array's elements
keep their text as written and their 0-based ``index``. Errors are one line on
stderr, ``duckdb-vsa: error: ...``, with exit code 1 (2 for usage errors); Ctrl-C
exits with 130 and SIGTERM with 143, after removing what the run had written.

Modules: :mod:`~duckdb_vsa.cli.parser` (the arguments),
:mod:`~duckdb_vsa.cli.inputs` (documents to encode), :mod:`~duckdb_vsa.cli.stores`
(encoded stores and the outputs of ``encode``), :mod:`~duckdb_vsa.cli.staging`
(where rows wait until all are in, and the leftovers of killed runs),
:mod:`~duckdb_vsa.cli.output` (rows, progress, notes) and
:mod:`~duckdb_vsa.cli.commands` (the sub-commands); this module runs them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

import duckdb

from duckdb_vsa.cli.commands import COMMANDS
from duckdb_vsa.cli.common import PROG, CLIError, one_line
from duckdb_vsa.cli.parser import build_parser
from duckdb_vsa.errors import VsaError

__all__ = ["CLIError", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (0 success, 1 error, 2 usage).

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        The exit code.

    Notes
    -----
    Only the package's own errors (:class:`~duckdb_vsa.errors.VsaError`, which
    :class:`CLIError` is), DuckDB's, operating-system errors and running out of
    memory become one line on stderr; any other exception is a bug and
    propagates with its traceback.
    """
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            # The sub-command's usage, not the top-level one, shows what it takes.
            args.command_parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 2
    with _terminated_as_interrupt():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(COMMANDS[args.command](args) or 0)
    except VsaError as err:
        message = str(err)
    except duckdb.Error as err:
        message = f"DuckDB: {err}"
    except MemoryError:
        message = "Out of memory; lower --chunk-size, or use a machine with more memory."
    except OSError as err:
        if isinstance(err, BrokenPipeError):
            _silence_stdout()
            return 1
        where = f" {err.filename}" if getattr(err, "filename", None) else ""
        message = f"Cannot access{where}: {err.strerror or err}."
    except Terminated:
        return _signal_exit(signal.SIGTERM)
    except KeyboardInterrupt:
        return _signal_exit(signal.SIGINT)
    if _SIGNALLED:
        # DuckDB turns an interrupt that arrives inside one of its calls back into
        # Python (reading a registered Arrow table) into an error of its own, which
        # the command may wrap in one of ours: the signal is what stopped the run.
        return _signal_exit(_SIGNALLED[-1])
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)
    return 1


def _signal_exit(signum: int) -> int:
    """Say that a signal stopped the run; its exit code (130 for Ctrl-C, 143 for SIGTERM)."""
    what = "terminated" if signum == signal.SIGTERM else "interrupted"
    print(f"{PROG}: {what}", file=sys.stderr)
    return 128 + signum


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that it cleans up as after Ctrl-C."""


#: The signals received while a command runs, newest last.
_SIGNALLED: list[int] = []


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    # A second SIGTERM ends the process at once; the next run removes what is left.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _SIGNALLED.append(signal.SIGTERM)
    raise Terminated()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    _SIGNALLED.append(signal.SIGINT)
    raise KeyboardInterrupt()


@contextlib.contextmanager
def _terminated_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` and both signals are remembered.

    (In the main thread only: signal handlers can be set nowhere else.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _SIGNALLED.clear()
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    previous_int = signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _silence_stdout() -> None:
    # Output went to a closed pipe (| head): don't let the final flush complain.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass
