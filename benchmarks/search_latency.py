"""One search through SQL: ``vsa_search`` against the index alone and against plain DuckDB.

For each table size, side by side in one run (methods in turn, repeatedly, so a
burst of load elsewhere hits them alike; medians):

- sql: ``SELECT * FROM vsa_search('t', 'v', vsa_encode(doc), k := 10)`` on a
  table with an index of ``v`` (the whole SQL path: plan, signature, ticket,
  search, join back to the rows, rows fetched into Python);
- floor: the index's own ``search`` of ``Encoder.encode(doc)`` in Python (the
  query's encoding plus the search, nothing else);
- order by: ``SELECT * FROM t ORDER BY array_inner_product(v, vsa_encode(doc))
  DESC LIMIT 10``, DuckDB's own way.

Random unit float32 vectors (fixed seed). ``--method ivf`` builds an IVF index
(``nlist`` as given, default ``round(4 sqrt(n))``) instead of an exact one.

Run: python benchmarks/search_latency.py [--rows 10000,30000,100000] [--dim 1024]
     python benchmarks/search_latency.py --rows 1000000 --dim 256 --method ivf
"""

from __future__ import annotations

import argparse
import os
import time

import duckdb
import harness
import numpy as np
import topk

import duckdb_vsa

DOC = '{"name": "red running shoe", "size": 42, "tags": ["trail", "sport"]}'
SQL = "sql: vsa_search"
FLOOR = "floor: index.search + encode"
ORDER = "order by: array_inner_product"
HEADERS = ["rows", "D", "index", "method", "runs", "median ms", "× floor", "× order by"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="10000,30000,100000")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--method", default="exact", choices=["exact", "ivf"])
    parser.add_argument("--nlist", type=int, default=None)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def random_unit(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, 100_000):
        block = rng.standard_normal((min(100_000, n - lo), dim), dtype=np.float32)
        out[lo : lo + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def interleaved(methods: dict, repeat: int) -> dict[str, harness.Timing]:
    seconds: dict[str, list[float]] = {name: [] for name in methods}
    for fn in methods.values():
        fn()  # warm: plans, caches, the index loaded
    for _ in range(repeat):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    return {name: harness.Timing(runs) for name, runs in seconds.items()}


def run(n: int, args: argparse.Namespace) -> tuple[list[list], dict]:
    rng = np.random.default_rng([args.seed, n, args.dim])
    con = duckdb.connect()
    encoder = duckdb_vsa.register(con, dim=args.dim)
    topk.load_vectors(con, "t", random_unit(n, args.dim, rng))
    options = {} if args.method == "exact" else {"method": "ivf", "nlist": args.nlist}
    options = {k: v for k, v in options.items() if v is not None}
    start = time.perf_counter()
    index = duckdb_vsa.build_index(con, "t", "v", **options)
    built = time.perf_counter() - start
    query = f"vsa_encode('{DOC}')"
    k = args.k
    sql = f"SELECT * FROM vsa_search('t', 'v', {query}, k := {k})"
    answered = con.execute(
        "SELECT __vsa_ticket_of('search', 't', 'v', NULL) IS NOT NULL"
    ).fetchall()[0][0]
    methods = {
        SQL: lambda: con.execute(sql).fetchall(),
        FLOOR: lambda: index.search(encoder.encode(DOC), k),
        ORDER: lambda: con.execute(
            f"SELECT * FROM t ORDER BY array_inner_product(v, {query}) DESC LIMIT {k}"
        ).fetchall(),
    }
    timings = interleaved(methods, args.repeat)
    floor, order = timings[FLOOR].median, timings[ORDER].median
    kind = args.method if args.method == "exact" else f"ivf nlist={index.nlist}"
    rows = [
        [f"{n:,}", args.dim, kind, name, len(t), t.median * 1000, t.median / floor,
         t.median / order]
        for name, t in timings.items()
    ]  # fmt: skip
    con.close()
    return rows, {"rows": n, "build s": built, "index answered": answered}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    threads = duckdb.connect().execute("SELECT current_setting('threads')").fetchall()[0][0]
    load = os.getloadavg()
    harness.print_header(
        "One search through SQL against the index alone and DuckDB's ORDER BY",
        [
            f"k = {args.k}; random unit float32 vectors; median of {args.repeat} runs, methods "
            "interleaved",
            f"DuckDB threads = {threads}; load average at start {load[0]:.2f} / {load[1]:.2f} / "
            f"{load[2]:.2f} (1 / 5 / 15 min)",
            "× floor, × order by: seconds relative to those methods in the same run",
        ],
    )
    rows: list[list] = []
    notes = []
    for n in [int(r) for r in args.rows.split(",") if r.strip()]:
        got, info = run(n, args)
        rows.extend(got)
        notes.append(info)
        print(f"(done: {n:,} rows; {info})", flush=True)
    load = os.getloadavg()
    print(f"\nload average at end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}\n")
    print(harness.markdown_table(HEADERS, rows))


if __name__ == "__main__":
    main()
