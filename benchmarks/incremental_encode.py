"""Incremental encode_column: after changing a few rows, encode only those, against a full pass.

A table of generated webshop orders (``datasets.make_orders``) in a database
file, encoded by ``duckdb_vsa.encode_column`` at D = 1024. Then, each timed
(median of ``--repeat`` runs, each on a fresh copy of the encoded file):

1. a second call with nothing changed (the check alone: one hash of every
   document with its vector, against the recorded ones);
2. ``--changed`` of the rows' documents updated (plus as many rows inserted), then
   ``encode_column`` (the default, ``incremental=True``);
3. the same change, then ``encode_column(..., incremental=False)``: every row
   encoded again, as before incremental encoding.

The machine's load average is printed before and after: the machine is shared.

Run: python benchmarks/incremental_encode.py [--rows 18000] [--changed 0.01] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import datasets
import duckdb
import harness
import pyarrow as pa

import duckdb_vsa


def _load(path: Path, rows: int, dim: int) -> float:
    """Write the table and encode it once; the seconds of the first encode_column."""
    docs = [json.dumps(d, sort_keys=True) for d in datasets.make_orders(rows, seed=1)]
    con = duckdb.connect(str(path))
    duckdb_vsa.register(con, dim=dim)
    con.register("__docs", pa.table({"id": pa.array(range(rows), pa.int64()), "doc": docs}))
    con.execute("CREATE TABLE orders AS SELECT * FROM __docs").fetchall()
    con.unregister("__docs")
    start = time.perf_counter()
    duckdb_vsa.encode_column(con, "orders", "doc", "vec", progress=False)
    seconds = time.perf_counter() - start
    con.execute("CHECKPOINT").fetchall()
    con.close()
    return seconds


def _run(path: Path, dim: int, changed: int, incremental: bool) -> tuple[float, dict]:
    con = duckdb.connect(str(path))
    duckdb_vsa.register(con, dim=dim)
    if changed:
        # Spread over the table: every k-th row's document changes, and as many rows arrive.
        step = max(1, con.execute("SELECT count(*) FROM orders").fetchall()[0][0] // changed)
        con.execute(
            "UPDATE orders SET doc = json_merge_patch(doc, json_object('note', 'edited ' || id)) "
            f"WHERE id % {step} = 0"
        ).fetchall()
        con.execute(
            f"INSERT INTO orders (id, doc) SELECT id + 10000000, doc FROM orders "
            f"WHERE id % {step} = 1"
        ).fetchall()
    start = time.perf_counter()
    done = duckdb_vsa.encode_column(
        con, "orders", "doc", "vec", incremental=incremental, progress=False
    )
    seconds = time.perf_counter() - start
    con.close()
    return seconds, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=18_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of rows changed")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2,000 rows, one run each")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat = 2_000, 1
    changed = max(1, round(args.rows * args.changed))
    harness.print_header(
        "Incremental encode_column",
        [
            f"{args.rows:,} generated orders, D = {args.dim}, a database file",
            f"{changed:,} documents updated and {changed:,} rows inserted before each call",
            f"median of {args.repeat} runs, each on a fresh copy of the encoded file",
            f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.duckdb"
        first = _load(base, args.rows, args.dim)
        results = []
        for label, change, incremental in (
            ("second call, nothing changed", 0, True),
            (f"after changing {changed:,} + inserting {changed:,}, incremental", changed, True),
            (f"after changing {changed:,} + inserting {changed:,}, every row", changed, False),
        ):
            times, done = [], {}
            for i in range(args.repeat):
                # Same file name: DuckDB names a database after its file, and the
                # change triggers name their log table's database.
                copy = Path(tmp) / f"run{label[:5]}{i}" / base.name
                copy.parent.mkdir()
                shutil.copyfile(base, copy)
                seconds, done = _run(copy, args.dim, change, incremental)
                times.append(seconds)
                shutil.rmtree(copy.parent)
            results.append((label, statistics.median(times), done["encoded"], done["skipped"]))
    rows = [("first call (every row)", f"{first:.2f}", f"{args.rows:,}", "0")]
    rows += [(label, f"{t:.2f}", f"{e:,}", f"{s:,}") for label, t, e, s in results]
    print(harness.markdown_table(["call", "seconds", "encoded", "skipped"], rows))
    full, incremental = results[2][1], results[1][1]
    print(f"\nincremental / every row: {incremental / full:.3f} ({full / incremental:.1f}x faster)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
