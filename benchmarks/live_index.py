"""Indexes under writes, and the plain macros with no index: the costs the thresholds rest on.

Four measurements, each side by side in one run (methods in turn, medians):

1. ``vsa_near_duplicates`` over a table with planted near-duplicates and no
   index (the macro caches an exact matrix), against the named index and,
   with ``--builtin-rows``, the builtin scan on a view at a smaller size.
2. Inserting 1 % new rows into an indexed table: the first query after
   (which reads the new rows), then queries through the index with the rows
   beside it against a freshly built index of the same table; the results
   must be identical (same rows and ranks, scores within 1e-6).
3. Deleting 1 % of the rows: the first query after (which pairs the rows with
   the stored vectors by content and reads none) against a rebuild.
4. The merge threshold: an exact search of a base index with ``f`` % of its rows
   appended beside it, against one index of all the rows, for several ``f``.

Run: python benchmarks/live_index.py [--quick]
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
from duckdb_vsa.index import ExactIndex, LiveIndex
from duckdb_vsa.index.live import SyncState

HEADERS = ["what", "size", "method", "runs", "median s", "ratio"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--dup-rows", type=int, default=5_000)
    parser.add_argument("--builtin-rows", type=int, default=1_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--fractions", default="0,0.5,1,2,5,10,20")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="small sizes, D = 256")
    args = parser.parse_args(argv)
    if args.quick:
        args.dim, args.dup_rows, args.builtin_rows = 256, 1_000, 300
        args.rows, args.queries, args.repeat = 10_000, 200, 3
    return args


def random_unit(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def with_near_duplicates(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors where a tenth are small perturbations of others."""
    x = random_unit(n, dim, rng)
    copies = rng.choice(n, n // 10, replace=False)
    x[copies] = x[rng.integers(0, n, len(copies))] + 0.05 * random_unit(len(copies), dim, rng)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def interleaved(methods: dict, repeat: int) -> dict[str, harness.Timing]:
    seconds: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(repeat):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    return {name: harness.Timing(runs) for name, runs in seconds.items()}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def near_duplicates(args: argparse.Namespace) -> list[list]:
    rng = np.random.default_rng([args.seed, 1])
    out = []
    for n, builtin in ((args.dup_rows, False), (args.builtin_rows, True)):
        out.extend(near_duplicates_of(with_near_duplicates(n, args.dim, rng), builtin, args))
    return out


def near_duplicates_of(x: np.ndarray, builtin: bool, args: argparse.Namespace) -> list[list]:
    n = len(x)
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=args.dim)
    topk.load_vectors(con, "t", x)
    con.execute("CREATE VIEW t_view AS SELECT * FROM t").fetchall()
    plain = "SELECT l.id, r.id, score FROM vsa_near_duplicates('t', 'v', threshold := 0.9)"
    scan = plain.replace("'t', 'v'", "'t_view', 'v'")
    first = timed(lambda: con.execute(plain).fetchall())
    out = [["near-duplicates, no index", f"{n:,} rows", "first run", 1, first, ""]]
    duckdb_vsa.build_index(con, "t", "v", name="t_index")
    methods = {
        "plain vsa_near_duplicates": lambda: con.execute(plain).fetchall(),
        "vsa_index_near_duplicates": lambda: con.execute(
            "SELECT l.id, r.id, score FROM vsa_index_near_duplicates('t_index', threshold := 0.9)"
        ).fetchall(),
    }
    if builtin:
        methods["builtin (view)"] = lambda: con.execute(scan).fetchall()
    timings = interleaved(methods, 3 if builtin else args.repeat)
    base = timings["plain vsa_near_duplicates"].median
    for name, t in timings.items():
        out.append(["near-duplicates", f"{n:,} rows", name, len(t), t.median, t.median / base])
    pairs = {(a, b) for a, b, _ in con.execute(plain).fetchall()}
    if builtin:
        assert pairs == {(a, b) for a, b, _ in con.execute(scan).fetchall()}, "they disagree"
    con.close()
    return out


def writes(args: argparse.Namespace) -> list[list]:
    rng = np.random.default_rng([args.seed, 2])
    n, dim = args.rows, args.dim
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=dim)
    topk.load_vectors(con, "t", random_unit(n, dim, rng))
    topk.load_vectors(con, "q", random_unit(args.queries, dim, rng))
    duckdb_vsa.build_index(con, "t", "v", name="kept")
    size = f"{n:,} × {dim}"
    join = "SELECT l.id, r.id, score, rank FROM vsa_index_topk_join('q', 'v', '{}', k := 10)"
    one = "SELECT id, score FROM vsa_index_search('{}', (SELECT v FROM q WHERE id = 0), k := 10)"
    out = []
    con.execute(f"INSERT INTO t SELECT id + {n}, v FROM t WHERE id < {n // 100}").fetchall()
    first = timed(lambda: con.execute(join.format("kept")).fetchall())
    out.append(["insert 1 %", size, "first join after (reads the new rows)", 1, first, ""])
    rebuild = timed(lambda: duckdb_vsa.build_index(con, "t", "v", name="fresh"))
    out.append(["insert 1 %", size, "build_index of the table (for comparison)", 1, rebuild, ""])
    live = duckdb_vsa.get_index(con, "kept")
    assert live.appended == n // 100, live.appended
    got, want = (con.execute(join.format(x)).fetchall() for x in ("kept", "fresh"))
    assert [r[:2] + r[3:] for r in got] == [r[:2] + r[3:] for r in want], "not identical"
    assert max(abs(a[2] - b[2]) for a, b in zip(got, want)) < 1e-6
    methods = {
        f"join {args.queries:,} queries, rows beside": lambda: con.execute(
            join.format("kept")
        ).fetchall(),
        f"join {args.queries:,} queries, fresh index": lambda: con.execute(
            join.format("fresh")
        ).fetchall(),
        "one search, rows beside": lambda: con.execute(one.format("kept")).fetchall(),
        "one search, fresh index": lambda: con.execute(one.format("fresh")).fetchall(),
    }
    timings = interleaved(methods, args.repeat)
    names = list(timings)
    for i, name in enumerate(names):
        t, base = timings[name], timings[names[i // 2 * 2 + 1]].median
        out.append(["insert 1 %", size, name, len(t), t.median, t.median / base])
    con.execute("DELETE FROM t WHERE id % 100 = 7").fetchall()
    first = timed(lambda: con.execute(join.format("kept")).fetchall())
    out.append(["delete 1 %", size, "first join after (pairs rows by content)", 1, first, ""])
    rebuild = timed(lambda: duckdb_vsa.build_index(con, "t", "v", name="fresh", replace=True))
    out.append(["delete 1 %", size, "build_index of the table (for comparison)", 1, rebuild, ""])
    got, want = (con.execute(join.format(x)).fetchall() for x in ("kept", "fresh"))
    assert [r[:2] + r[3:] for r in got] == [r[:2] + r[3:] for r in want], "not identical"
    con.close()
    return out


def threshold(args: argparse.Namespace) -> list[list]:
    rng = np.random.default_rng([args.seed, 3])
    n, dim = args.rows, args.dim
    queries = random_unit(args.queries, dim, rng)
    out = []
    state = SyncState(None, "", 0, 0, -1, None)
    for fraction in [float(f) for f in args.fractions.split(",")]:
        extra = int(n * fraction / 100)
        x = random_unit(n + extra, dim, rng)
        ids = np.arange(n + extra)
        whole = ExactIndex(x, ids)
        base = ExactIndex(x[:n], ids[:n])
        beside = LiveIndex(
            base,
            np.zeros(n, np.uint64),
            source=None,  # type: ignore[arg-type]
            state=state,
            delta=ExactIndex(x[n:], ids[n:]) if extra else None,
            delta_hashes=np.zeros(extra, np.uint64),
        )
        timings = interleaved(
            {
                "one index": lambda w=whole: w.search_ragged(queries, 10),
                "base + rows beside": lambda b=beside: b.search_ragged(queries, 10),
            },
            args.repeat,
        )
        merge = timed(lambda b=beside: b.folded()) if extra else 0.0
        ratio = timings["base + rows beside"].median / timings["one index"].median
        size = f"{n:,} + {fraction:g} % × {dim}"
        one, two = timings["one index"], timings["base + rows beside"]
        what = f"{args.queries:,} queries"
        out.append(["merge threshold", size, f"{what}, one index", len(one), one.median, 1.0])
        out.append(["merge threshold", size, f"{what}, rows beside", len(two), two.median, ratio])
        out.append(["merge threshold", size, "merging them (once)", 1, merge, ""])
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    load = os.getloadavg()
    harness.print_header(
        "Indexes under writes, and the plain macros with no index",
        [
            f"random unit float32 vectors, D = {args.dim}; medians of {args.repeat} runs, "
            "methods interleaved; ratio: to the method named in the same group",
            f"load average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
        ],
    )
    rows: list[list] = []
    for part in (near_duplicates, writes, threshold):
        rows.extend(part(args))
        print(f"(done: {part.__name__})", flush=True)
    load = os.getloadavg()
    print(f"\nload average at end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}\n")
    print(harness.markdown_table(HEADERS, rows))


if __name__ == "__main__":
    main()
