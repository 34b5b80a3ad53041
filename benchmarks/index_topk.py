"""Top-k join through the in-memory index: ``vsa_index_topk_join`` against the BLAS floor.

For every query vector, its k = 10 best targets by inner product (unit
vectors, so by cosine):

- index: ``duckdb_vsa.build_index(con, 'targets', 'v')`` once, then
  ``vsa_index_topk_join('queries', 'v', 'targets', k := 10)`` (the full SQL
  path: freshness fingerprint, UDF, join back to the rows, ids fetched);
- floor: numpy blocked matrix product (512 queries a block), ``argpartition``,
  then a sort of the k survivors, on arrays already in memory;
- builtin: ``vsa_topk_join`` (DuckDB's scalar vector builtins), which is slow,
  so it runs at a smaller size where the other two run again for the ratio.

Random unit float32 vectors (fixed seed) at D = 256 and 1024. Methods run in
turn, repeatedly, so a burst of load elsewhere hits them alike. Recall@10 is
the share of the exact float64 top 10 each method returns. A second table
gives the index build time, the cost of the freshness fingerprint that every
index query pays (check='full' hashes every vector, check='sample' three
elements of each), and the latency of one query: ``vsa_index_search`` with
either check against the builtin ``vsa_search``.

Run: python benchmarks/index_topk.py [--quick]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import duckdb
import harness
import numpy as np
import topk

import duckdb_vsa

INDEX = "index: vsa_index_topk_join"
FLOOR = "floor: numpy matmul + argpartition"
BUILTIN = "builtin: vsa_topk_join"
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
    parser.add_argument("--dims", default="256,1024")
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


def builtin_sql(k: int) -> str:
    return f"SELECT l.id, r.id, rank FROM vsa_topk_join('queries', 'v', 'targets', 'v', k := {k})"


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
    duckdb_vsa.register(con, dim=dim)
    topk.load_vectors(con, "queries", queries)
    topk.load_vectors(con, "targets", targets)
    build = harness.measure(lambda: duckdb_vsa.build_index(con, "targets", "v", replace=True), 1)
    methods = [
        (INDEX, lambda: sql_topk(con, index_sql(k), n_queries, k)),
        (FLOOR, lambda: topk.blas_topk(queries, targets, k, args.block)),
    ]
    if small:
        methods.append((BUILTIN, lambda: sql_topk(con, builtin_sql(k), n_queries, k)))
    measured = interleaved(methods, args.repeat)
    floor = measured[FLOOR][0].median
    size = f"{n_queries:,} × {n_targets:,}"
    rows = [
        [dim, name, size, len(t), t.median, t.median / floor, recall(found, exact)]
        for name, (t, found) in measured.items()
    ]
    costs: list[list] = []
    if not small:
        costs.append([dim, f"{n_targets:,}", "build_index (once)", build.median])
        one = "(SELECT v FROM queries WHERE id = 0)"
        single = [
            ("vsa_index_search, check='full'", "full"),
            ("vsa_index_search, check='sample'", "sample"),
            ("vsa_search (builtin)", None),
        ]
        for label, check in single:
            if check is None:
                sql = f"SELECT id FROM vsa_search('targets', 'v', {one}, k := {k})"
            else:
                duckdb_vsa.build_index(con, "targets", "v", replace=True, check=check)
                fingerprint = duckdb_vsa.get_index(con, "targets").source.sql("fingerprint")
                timing = timed_sql(con, fingerprint, args.repeat)
                costs.append([dim, f"{n_targets:,}", f"fingerprint, check='{check}'", timing])
                sql = f"SELECT id FROM vsa_index_search('targets', {one}, k := {k})"
            costs.append(
                [dim, f"{n_targets:,}", f"1 query: {label}", timed_sql(con, sql, args.repeat)]
            )
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
            "index: the whole SQL path, including the freshness fingerprint every query "
            "recomputes (check='full', the default), and the ids fetched into Python",
        ],
    )
    rows: list[list] = []
    costs: list[list] = []
    for dim in [int(d) for d in args.dims.split(",") if d.strip()]:
        big, cost = run(dim, args.queries, args.targets, args, small=False)
        few, _ = run(dim, args.small_queries, args.small_targets, args, small=True)
        rows.extend(big + few)
        costs.extend(cost)
        print(f"(done: D={dim})", flush=True)
    print()
    print(harness.markdown_table(HEADERS, rows))
    print()
    print(harness.markdown_table(["D", "targets", "step", "median s"], costs))


if __name__ == "__main__":
    main()
