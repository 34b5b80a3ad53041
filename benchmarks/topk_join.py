"""Top-k similarity join: the ``vsa_topk_join`` macro against plain SQL and BLAS.

For every query vector, its k = 10 best targets by inner product (the vectors
are unit length, so by cosine), three ways:

- (a) ``vsa_topk_join('queries', 'v', 'targets', 'v', k := 10)``;
- (b) DuckDB's best plain formulation,
  ``max_by(t.id, array_inner_product(q.v, t.v), 10) ... GROUP BY q.id``;
- (c) the BLAS floor: numpy blocked matrix product (512 queries a block),
  ``argpartition``, then a sort of the k survivors.

Recall@10 of each against the exact top 10 computed in float64. Workloads:
random unit float32 vectors (fixed seed) at D = 256 and 1024, and vectors of
generated flat records encoded by duckdb_vsa at D = 256 (queries are perturbed
copies of random targets: two letters swapped, a nudged price), whose near-ties are what
real data looks like.

Run: python benchmarks/topk_join.py [--quick]
"""

from __future__ import annotations

import argparse
import random

import duckdb
import harness
import numpy as np
import topk
import workloads

import duckdb_vsa

K_DEFAULT = 10
MACRO = "(a) vsa_topk_join macro"
PLAIN = "(b) plain SQL max_by GROUP BY"
BLAS = "(c) numpy BLAS floor"
HEADERS = [
    "workload",
    "D",
    "method",
    "queries × targets",
    "runs",
    "median s",
    "pair-scores/s",
    "recall@10",
    "× BLAS time",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--targets", type=int, default=100_000)
    parser.add_argument("--dims", default="256,1024", help="dimensions of the random workload")
    parser.add_argument("-k", type=int, default=K_DEFAULT)
    parser.add_argument(
        "--sql-repeat",
        type=int,
        default=None,
        help="runs of each SQL path (default 1 at full size, 3 with --quick)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of the BLAS floor")
    parser.add_argument("--block", type=int, default=512, help="queries per BLAS block")
    parser.add_argument(
        "--no-records", action="store_true", help="skip the encoded-records workload"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="200 queries × 10,000 targets")
    args = parser.parse_args(argv)
    if args.quick:
        args.queries, args.targets = 200, 10_000
    if args.sql_repeat is None:
        args.sql_repeat = 3 if args.quick else 1
    args.repeat = max(args.repeat, 5)
    return args


# -- workloads -------------------------------------------------------------------------


def random_unit(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def random_workload(args: argparse.Namespace, dim: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([args.seed, dim])
    return random_unit(args.queries, dim, rng), random_unit(args.targets, dim, rng)


def records_workload(args: argparse.Namespace, dim: int) -> tuple[np.ndarray, np.ndarray]:
    targets = workloads.records("flat", args.targets, args.seed)
    rng = random.Random(f"topk-queries:{args.seed}")
    queries = [workloads.near_duplicate_flat(rng.choice(targets), rng) for _ in range(args.queries)]
    encoder = duckdb_vsa.Encoder(dim=dim)
    return encoder.encode_batch(queries), encoder.encode_batch(targets)


# -- the three methods -----------------------------------------------------------------


def macro_topk(con: duckdb.DuckDBPyConnection, n_queries: int, k: int) -> np.ndarray:
    rows = con.execute(
        f"""
        SELECT l.id, r.id, rank
        FROM vsa_topk_join('queries', 'v', 'targets', 'v', k := {k})
        """
    ).fetchall()
    out = np.full((n_queries, k), -1, dtype=np.int64)
    for qid, tid, rank in rows:
        out[qid, rank - 1] = tid
    return out


def plain_topk(con: duckdb.DuckDBPyConnection, n_queries: int, k: int) -> np.ndarray:
    rows = con.execute(
        f"""
        SELECT q.id, max_by(t.id, array_inner_product(q.v, t.v), {k})
        FROM queries q, targets t
        GROUP BY q.id
        """
    ).fetchall()
    out = np.full((n_queries, k), -1, dtype=np.int64)
    for qid, top in rows:
        out[qid, : len(top)] = top
    return out


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    hits = (found[:, :, None] == exact[:, None, :]).any(axis=2).sum()
    return float(hits) / exact.size


# -- driver ----------------------------------------------------------------------------


def bench(
    workload: str, queries: np.ndarray, targets: np.ndarray, args: argparse.Namespace
) -> list[list]:
    dim = queries.shape[1]
    k = args.k
    exact = topk.exact_topk(queries, targets, k)
    con = duckdb.connect()  # one in-memory database per dimension: register() fixes D
    duckdb_vsa.register(con, dim=dim)
    topk.load_vectors(con, "queries", queries)
    topk.load_vectors(con, "targets", targets)

    results: list[tuple[str, harness.Timing, np.ndarray]] = []
    found: dict[str, np.ndarray] = {}

    def keep(name: str, fn):
        def run() -> None:
            found[name] = fn()

        return run

    for name, fn in (
        (MACRO, lambda: macro_topk(con, len(queries), k)),
        (PLAIN, lambda: plain_topk(con, len(queries), k)),
    ):
        timing = harness.measure(keep(name, fn), args.sql_repeat)
        results.append((name, timing, found[name]))
    con.close()
    timing = harness.measure(
        keep(BLAS, lambda: topk.blas_topk(queries, targets, k, args.block)), args.repeat
    )
    results.append((BLAS, timing, found[BLAS]))

    pairs = len(queries) * len(targets)
    blas_seconds = results[-1][1].median
    return [
        [
            workload,
            str(dim),  # a dimension, not a quantity: no thousands separator
            name,
            f"{len(queries):,} × {len(targets):,}",
            len(timing),
            timing.median,
            pairs / timing.median,
            f"{recall(top, exact):.4f}",
            timing.median / blas_seconds,
        ]
        for name, timing, top in results
    ]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    threads = duckdb.connect().execute("SELECT current_setting('threads')").fetchall()[0][0]
    harness.print_header(
        "Top-k similarity join",
        [
            f"{args.queries:,} queries × {args.targets:,} targets, k = {args.k}; unit float32 "
            "vectors in FLOAT[D] columns of an in-memory DuckDB",
            f"SQL paths: median of {args.sql_repeat} run(s)"
            + (" (slow at full size: measured once)" if args.sql_repeat == 1 else "")
            + f"; BLAS floor: median of {args.repeat} runs, {args.block} queries per block",
            f"DuckDB threads = {threads}; numpy uses its BLAS's default threads",
            "recall@10: share of the exact float64 top 10 that each method returns",
            "× BLAS time: seconds relative to the numpy floor (> 1 is slower)",
            "records: flat records encoded by duckdb_vsa; queries are perturbed copies of "
            "random targets",
        ],
    )
    rows: list[list] = []
    for dim in [int(d) for d in args.dims.split(",") if d.strip()]:
        rows.extend(bench("random", *random_workload(args, dim), args))
        print(f"(done: random D={dim})", flush=True)
    if not args.no_records:
        rows.extend(bench("records", *records_workload(args, 256), args))
        print("(done: records D=256)", flush=True)
    print()
    print(harness.markdown_table(HEADERS, rows))


if __name__ == "__main__":
    main()
