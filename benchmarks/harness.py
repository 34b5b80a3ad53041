"""The harness every speed benchmark shares: timing, cold caches, machine, tables.

- :func:`measure` times a callable several times and :class:`Timing` reports
  the median (robust to another process's burst on a shared machine);
- :func:`cold_caches` empties an encoder's value caches so that a run encodes
  every value afresh, as a table of new documents would;
- :func:`print_header` describes the run and the machine (cores, CPU, versions)
  before the results, and :func:`markdown_table` prints them.

Scripts run as ``python benchmarks/NAME.py``, which puts this folder first on
``sys.path``: they import these modules by their bare names.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

# -- timing ----------------------------------------------------------------------------


@dataclasses.dataclass
class Timing:
    """Wall-clock seconds of repeated runs."""

    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def best(self) -> float:
        return min(self.runs)

    def __len__(self) -> int:
        return len(self.runs)


def measure(
    fn: Callable[[], Any],
    repeat: int = 5,
    *,
    setup: Callable[[], Any] | None = None,
    warmup: int = 0,
) -> Timing:
    """Time ``fn()`` ``repeat`` times; ``setup()`` runs untimed before every call.

    Report :attr:`Timing.median`: on a shared machine the median is far less
    sensitive to another process's burst than the mean.
    """
    for _ in range(warmup):
        if setup is not None:
            setup()
        fn()
    runs = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return Timing(runs)


# -- caches --------------------------------------------------------------------------------


def cold_caches(encoder: Any) -> None:
    """Empty an encoder's value caches (strings, tokens, trigrams, number levels).

    Without this, the second pass over the same records finds every string
    already cached, which no real table of new documents would. Role, chain and
    key-bag caches stay warm: they depend on the documents' keys, and a DuckDB
    session fills them once for the life of the process.
    """
    encoder.clear_caches(structure=False)


# -- output ----------------------------------------------------------------------------


def fmt(value: Any, digits: int = 3) -> str:
    """Compact number formatting for tables: thousands separators, 3 significant digits."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    return f"{value:.{max(decimals, 0)}f}"


def fixed(decimals: int = 3) -> Callable[[Any], str]:
    """A cell formatter: floats with ``decimals`` decimals (NaN as a dash), the rest as text."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "—" if math.isnan(value) else f"{value:.{decimals}f}"
        return str(value)

    return cell


def markdown_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    cell: Callable[[Any], str] = fmt,
) -> str:
    """A markdown table of ``cell(value)`` texts; columns of numbers right-aligned."""
    cells = [[cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    numeric = [
        bool(rows) and all(isinstance(row[j], (int, float)) or row[j] is None for row in rows)
        for j in range(len(headers))
    ]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"]
    lines.append(
        "| "
        + " | ".join(("-" * (w - 1) + ":") if n else "-" * w for w, n in zip(widths, numeric))
        + " |"
    )
    for row in cells:
        lines.append(
            "| "
            + " | ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric))
            + " |"
        )
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info() -> dict[str, str]:
    """Cores, CPU model and the versions that the figures depend on."""
    info = {
        "cores": str(os.cpu_count()),
        "cpu": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    if hasattr(os, "sched_getaffinity"):
        info["cores usable"] = str(len(os.sched_getaffinity(0)))
    for module in ("numpy", "scipy", "pyarrow", "duckdb", "sklearn"):
        mod = sys.modules.get(module)
        if mod is None:
            try:
                mod = __import__(module)
            except ImportError:
                info[module] = "not installed"
                continue
        info[module] = getattr(mod, "__version__", "?")
    try:
        import duckdb_vsa

        info["duckdb_vsa"] = f"{duckdb_vsa.__version__} (encoder v{duckdb_vsa.ENCODER_VERSION})"
    except ImportError:
        info["duckdb_vsa"] = "not importable"
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if var in os.environ:
            info[var] = os.environ[var]
    return info


def print_machine_info() -> None:
    print("Machine:\n")
    print(markdown_table(["", "value"], list(machine_info().items())))
    print()


def print_header(title: str, notes: Sequence[str] = ()) -> None:
    print(f"## {title}\n")
    for note in notes:
        print(f"- {note}")
    if notes:
        print()
    print_machine_info()
