"""What the commands print: result rows as a table, CSV or JSON Lines; progress and notes."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from typing import Any

from duckdb_vsa.cli.common import PROG

OUTPUT_FORMATS = ("table", "csv", "jsonl")


def note(message: str) -> None:
    """Print ``message`` on stderr as a note of the command line (not an error)."""
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def duration(seconds: float) -> str:
    """``seconds`` as ``H:MM:SS``."""
    seconds = max(round(seconds), 0)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """A progress bar on stderr: records done, records/s and the time left.

    On a terminal one line is redrawn at most five times a second; elsewhere
    (``--progress`` into a file or pipe) a line is printed at most every five
    seconds, and always at the end.

    Parameters
    ----------
    label : str
        What is counted, at the start of the line.
    total : int or None
        The number of records expected, if known.
    enabled : bool
        False prints nothing.
    stream : file, optional
        Where to print; stderr by default.
    """

    def __init__(self, label: str, total: int | None, enabled: bool, stream: Any = None):
        self.label = label
        self.total = total
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last = -math.inf
        self._interval = 0.2 if self.tty else 5.0
        self._printed = ""

    def line(self, done: int, final: bool = False) -> str:
        """The progress line after ``done`` records."""
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = done / elapsed
        if self.total:
            frac = min(done / self.total, 1.0)
            width = 24
            filled = int(frac * width)
            bar = "#" * filled + "." * (width - filled)
            left = (self.total - done) / rate if rate > 0 else math.inf
            eta = duration(left) if math.isfinite(left) else "?"
            when = f"in {duration(elapsed)}" if final else f"ETA {eta}"
            return (
                f"{self.label} [{bar}] {done:,}/{self.total:,} records ({frac:.0%}), "
                f"{rate:,.0f} records/s, {when}"
            )
        return f"{self.label} {done:,} records, {rate:,.0f} records/s, {duration(elapsed)}"

    def update(self, done: int) -> None:
        """Show ``done`` records, unless a line was shown very recently."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < self._interval:
            return
        self._last = now
        self._printed = self.line(done)
        self._write(self._printed, final=False)

    def finish(self, done: int) -> None:
        """Show the final line: ``done`` records, and the time they took."""
        if self.enabled:
            if self.total is not None:
                self.total = done  # the count may have been an estimate (blank lines)
            text = self.line(done, final=True)
            if self.tty or text != self._printed:
                self._write(text, final=True)

    def _write(self, text: str, final: bool) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def progress_enabled(args: argparse.Namespace) -> bool:
    """Whether to show progress: on a terminal, or when --progress asks for it."""
    if args.quiet:
        return False
    return bool(args.progress or sys.stderr.isatty())


def _cell(value: Any, width: int) -> str:
    if value is None:
        text = "NULL"
    elif isinstance(value, float):
        text = f"{value:.4f}"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = " ".join(text.split()) if "\n" in text or "\t" in text else text
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def print_rows(rows: list[dict[str, Any]], columns: list[str], fmt: str, max_width: int) -> None:
    """Print ``rows`` (their ``columns``, in order) to stdout.

    Parameters
    ----------
    rows : list of dict
        One dict per row, holding at least ``columns``.
    columns : list of str
        The columns to print.
    fmt : {"table", "csv", "jsonl"}
        An aligned table, CSV with a header, or one JSON object per line.
    max_width : int
        The longest cell of a table, in characters; longer ones are cut with "…".
    """
    out = sys.stdout
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps({c: row[c] for c in columns}, ensure_ascii=False, default=str))
            out.write("\n")
        return
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                [
                    json.dumps(row[c], ensure_ascii=False)
                    if isinstance(row[c], (dict, list))
                    else row[c]
                    for c in columns
                ]
            )
        return
    cells = [[_cell(row[c], max_width) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [
        all(isinstance(row[c], (int, float)) or row[c] is None for row in rows) for c in columns
    ]

    def fit(text: str, i: int) -> str:
        return text.rjust(widths[i]) if numeric[i] else text.ljust(widths[i])

    out.write("  ".join(fit(c, i) for i, c in enumerate(columns)).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for r in cells:
        out.write("  ".join(fit(t, i) for i, t in enumerate(r)).rstrip() + "\n")
