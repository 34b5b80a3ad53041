"""Top-k join: the plain macro and the named index against the BLAS floor and the builtin scan.

For every query vector, its k = 10 best targets by inner product (unit
vectors, so by cosine):

- plain: ``vsa_topk_join('queries', 'v', 'targets', 'v', k := 10)`` with no
  index built: the macro caches an exact matrix of ``targets.v``. Two tables:
  ``targets`` has change triggers (its column was recorded, as
  ``encode_column`` does), so a query reads a change counter;
  ``targets_untracked`` has none, so each query hashes the column instead;
- index: ``duckdb_vsa.build_index(con, 'targets', 'v')`` once, then
  ``vsa_index_topk_join('queries', 'v', 'targets', k := 10)``;
- floor: numpy blocked matrix product (512 queries a block), ``argpartition``,
  then a sort of the k survivors, on arrays already in memory;
- builtin: the macro on a view of the table (no index answers for a view):
  DuckDB's scalar vector builtins, slow, so it runs at a smaller size where
  the others run again for the ratio.

Every SQL path is whole: the plan, the counter or hash, the UDF, the join back to
the rows, the ids fetched. Random unit float32 vectors (fixed seed) at D = 256
and 1024. Methods run in turn, repeatedly, so a burst of load elsewhere hits
them alike; the first run of each (which reads the column into the cache)
is timed apart. Recall@10 is the share of the exact float64 top 10 each method
returns.

Run: python benchmarks/index_topk.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import duckdb
import harness
import numpy as np
import topk

import duckdb_vsa
from duckdb_vsa.db.columns import record_column

PLAIN = "plain: vsa_topk_join, triggers"
UNTRACKED = "plain: vsa_topk_join, no triggers"
INDEX = "index: vsa_index_topk_join"
FLOOR = "floor: numpy matmul + argpartition"
BUILTIN = "builtin: vsa_topk_join on a view"
HEADERS = [
    "D",
    "method",
    "queries × targets",
    "runs",
    "median s",
    "× floor",
    "recall@10",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--targets", type=int, default=100_000)
    parser.add_argument("--small-queries", type=int, default=200, help="size of the builtin run")
    parser.add_argument("--small-targets", type=int, default=10_000)
    parser.add_argument("--dims", default="1024,256")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each method (median)")
    parser.add_argument("--block", type=int, default=512, help="queries per floor block")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="500 × 20,000 (builtin 100 × 2,000), D = 256"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.queries, args.targets = 500, 20_000
        args.small_queries, args.small_targets = 100, 2_000
        args.dims = "256"
    return args


def random_unit(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def sql_topk(con: duckdb.DuckDBPyConnection, sql: str, n_queries: int, k: int) -> np.ndarray:
    rows = con.execute(sql).fetchall()
    out = np.full((n_queries, k), -1, dtype=np.int64)
    for qid, tid, rank in rows:
        out[qid, rank - 1] = tid
    return out


def index_sql(k: int) -> str:
    return f"SELECT l.id, r.id, rank FROM vsa_index_topk_join('queries', 'v', 'targets', k := {k})"


def plain_sql(k: int, table: str = "targets") -> str:
    return f"SELECT l.id, r.id, rank FROM vsa_topk_join('queries', 'v', '{table}', 'v', k := {k})"


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    hits = (found[:, :, None] == exact[:, None, :]).any(axis=2).sum()
    return float(hits) / exact.size


def timed_sql(con: duckdb.DuckDBPyConnection, sql: str, repeat: int) -> float:
    return harness.measure(lambda: con.execute(sql).fetchall(), repeat).median


def interleaved(methods: list[tuple[str, Callable[[], Any]]], repeat: int) -> dict[str, list]:
    """Seconds of each method, run in turn ``repeat`` times (load bursts hit all alike)."""
    seconds: dict[str, list[float]] = {name: [] for name, _ in methods}
    results: dict[str, Any] = {}
    for _ in range(repeat):
        for name, fn in methods:
            start = time.perf_counter()
            results[name] = fn()
            seconds[name].append(time.perf_counter() - start)
    return {name: [harness.Timing(seconds[name]), results[name]] for name, _ in methods}


def run(
    dim: int, n_queries: int, n_targets: int, args: argparse.Namespace, *, small: bool
) -> tuple[list[list], list[list]]:
    rng = np.random.default_rng([args.seed, dim, n_targets])
    queries, targets = random_unit(n_queries, dim, rng), random_unit(n_targets, dim, rng)
    k = args.k
    exact = topk.exact_topk(queries, targets, k)
    con = duckdb.connect()
    encoder = duckdb_vsa.register(con, dim=dim)
    topk.load_vectors(con, "queries", queries)
    topk.load_vectors(con, "targets", targets)
    con.execute("CREATE TABLE targets_untracked AS SELECT * FROM targets").fetchall()
    con.execute("CREATE VIEW targets_view AS SELECT * FROM targets").fetchall()
    # What encode_column records: the column's configuration, and its change triggers.
    record_column(con, "targets", "v", "v", encoder.config, n_targets, watch=True)
    costs: list[list] = []
    size = f"{n_queries:,} × {n_targets:,}"
    for label, table in ((PLAIN, "targets"), (UNTRACKED, "targets_untracked")):
        first = harness.measure(lambda t=table: sql_topk(con, plain_sql(k, t), n_queries, k), 1)
        costs.append([dim, size, f"{label}: first run (reads the column)", first.median])
    build = harness.measure(lambda: duckdb_vsa.build_index(con, "targets", "v", replace=True), 1)
    costs.append([dim, size, "build_index (once)", build.median])
    methods = [
        (PLAIN, lambda: sql_topk(con, plain_sql(k), n_queries, k)),
        (UNTRACKED, lambda: sql_topk(con, plain_sql(k, "targets_untracked"), n_queries, k)),
        (INDEX, lambda: sql_topk(con, index_sql(k), n_queries, k)),
        (FLOOR, lambda: topk.blas_topk(queries, targets, k, args.block)),
    ]
    if small:
        methods.append((BUILTIN, lambda: sql_topk(con, plain_sql(k, "targets_view"), n_queries, k)))
    measured = interleaved(methods, args.repeat)
    floor = measured[FLOOR][0].median
    rows = [
        [dim, name, size, len(t), t.median, t.median / floor, recall(found, exact)]
        for name, (t, found) in measured.items()
    ]
    con.close()
    return rows, costs


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    threads = duckdb.connect().execute("SELECT current_setting('threads')").fetchall()[0][0]
    harness.print_header(
        "Top-k join through the exact in-memory index",
        [
            f"k = {args.k}; random unit float32 vectors in FLOAT[D] columns of an in-memory DuckDB",
            f"median of {args.repeat} runs, methods interleaved; floor: {args.block} queries "
            "per block, arrays already in memory",
            f"DuckDB threads = {threads}; numpy uses its BLAS's default threads",
            "× floor: seconds relative to the numpy floor at the same size (> 1 is slower)",
            "recall@10: share of the exact float64 top 10 that each method returns",
            "SQL paths: the whole path, the change counter (or, without triggers, the hash of "
            "the column) every query reads included, and the ids fetched into Python",
        ],
    )
    rows: list[list] = []
    costs: list[list] = []
    print(f"load average at start: {os.getloadavg()}", flush=True)
    for dim in [int(d) for d in args.dims.split(",") if d.strip()]:
        big, cost = run(dim, args.queries, args.targets, args, small=False)
        few, _ = run(dim, args.small_queries, args.small_targets, args, small=True)
        rows.extend(big + few)
        costs.extend(cost)
        print(f"(done: D={dim})", flush=True)
    print()
    print(harness.markdown_table(HEADERS, rows))
    print()
    print(harness.markdown_table(["D", "queries × targets", "step", "s"], costs))
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
