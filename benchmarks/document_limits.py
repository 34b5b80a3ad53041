"""Very large single documents: time and peak memory of one ``SELECT vsa_encode(doc)``.

Each case runs in a fresh process (so peak RSS is the case's own): a DuckDB table
holds one document built by SQL, and the script reports the wall time of encoding
it through SQL, the process's resident memory before, and the peak growth during
the query. The documents are the ones the README's Limitations section quotes:

- ``numbers``: ``[0, 1, ..., 999999]``, a 6.9 MB array of a million integers;
- ``distinct``: 250,000 distinct decimal numbers;
- ``keys``: an object of 100,000 members ``{"k0": 0, ...}``.

Usage::

    python benchmarks/document_limits.py                 # every case, D = 1024 and 4096
    python benchmarks/document_limits.py --cases numbers --dims 1024
    python benchmarks/document_limits.py --quick         # small documents, D = 256
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = {
    "numbers": ("SELECT '[' || string_agg(i::VARCHAR, ',') || ']' FROM range({n}) t(i)", 1_000_000),
    "distinct": (
        "SELECT '[' || string_agg((i * 1.37)::VARCHAR, ',') || ']' FROM range({n}) t(i)",
        250_000,
    ),
    "keys": (
        "SELECT '{{' || string_agg('\"k' || i::VARCHAR || '\": ' || i::VARCHAR, ',') || '}}' "
        "FROM range({n}) t(i)",
        100_000,
    ),
}

CHILD = """
import json, resource, sys, time
import duckdb, duckdb_vsa

def rss_mib():
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import os
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20

query, n, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
duckdb_vsa.register(con, dim=dim, on_error="null")
doc = con.execute(query.format(n=n)).fetchall()[0][0]
con.execute("CREATE TABLE d AS SELECT ? AS doc", [doc])
del doc
before = rss_mib()
peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
(vector,) = con.execute("SELECT vsa_encode(doc) FROM d").fetchall()[0]
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({
    "seconds": seconds, "baseline_mib": before, "peak_mib": peak,
    "growth_mib": peak - max(before, peak_before), "null": vector is None,
    "bytes": con.execute("SELECT length(doc) FROM d").fetchall()[0][0],
}))
"""


def run_case(name: str, dim: int, scale: float) -> dict:
    query, n = CASES[name]
    n = max(1, int(n * scale))
    result = subprocess.run(
        [sys.executable, "-c", CHILD, query, str(n), str(dim)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    if result.returncode:
        raise SystemExit(f"{name} at D = {dim} failed:\n{result.stderr}")
    out = json.loads(result.stdout.strip().splitlines()[-1])
    return {"case": name, "n": n, "dim": dim, **out}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--dims", default="1024,4096")
    parser.add_argument(
        "--quick", action="store_true", help="documents a hundredth the size, D 256"
    )
    args = parser.parse_args(argv)
    scale = 0.01 if args.quick else 1.0
    dims = [256] if args.quick else [int(d) for d in args.dims.split(",")]
    print("| document | size | D | seconds | µs per leaf | baseline MiB | peak growth MiB |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for name in args.cases.split(","):
        for dim in dims:
            r = run_case(name, dim, scale)
            per_leaf = r["seconds"] / r["n"] * 1e6
            print(
                f"| {name} ({r['n']:,} leaves) | {r['bytes'] / 1e6:.1f} MB | {dim} | "
                f"{r['seconds']:.1f} | {per_leaf:.1f} | {r['baseline_mib']:.0f} | "
                f"{r['growth_mib']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
