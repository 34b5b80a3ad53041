"""Approximate nearest neighbours: the HNSW and IVF indexes against the exact index.

For each size (rows × D) the table is loaded into DuckDB and indexed, and a
batch of queries asks for its k = 10 best rows by inner product (unit vectors,
so cosine). Contenders:

- exact: ``build_index(con, 'targets', 'v')`` (brute force, :class:`ExactIndex`),
  queried from Python (``index.search``) and through SQL
  (``vsa_index_topk_join``); its top 10 is the reference for recall;
- hnsw (faiss): ``build_index(con, 'targets', 'v', method='hnsw', ...)``, the
  package's approximate index, queried from Python at several ``ef_search``
  and through SQL at the default;
- ivf (faiss): ``build_index(con, 'targets', 'v', method='ivf', ...)``, the
  package's k-means inverted-file index, queried from Python at several
  ``nprobe`` and through SQL at the default;
- usearch HNSW with the same graph parameters (connectivity = m,
  expansion_add = ef_construction), built and queried from Python: the engine
  that was measured beside faiss and not chosen;
- DuckDB's vss extension (HNSW): only if it loads without a download; it
  does not exist for duckdb 2.0 (``INSTALL`` needs the network and is never
  run here).

Data: clustered unit vectors (``rows / 100`` random centres, a point is its
centre plus Gaussian noise of 0.7 × the centre's scale, normalised), queries
drawn from the same clusters; or ``--data records``: encoded synthetic flat
records, queries are near-duplicates of some of them (two letters swapped, a nudged price).
Uniform random unit vectors have no neighbourhood structure and are the
worst case for any graph index; real encoded tables are clustered.

Build: seconds (wall and CPU) to build the index from the DuckDB table (for
usearch: from the numpy array); memory: the index's own size (``nbytes``, usearch's
``memory_usage``) and the growth of the process's resident memory during
the build. queries/s: the whole batch in one call, on ``--query-threads``
threads (1 by default: per-core rates, the least disturbed by other work on a
shared machine); × exact: that rate over the exact Python path's, measured in
the same run. SQL rows include the freshness fingerprint
and the join back to the table.

Run: python benchmarks/ann_topk.py [--rows 1000000 --dim 256] [--ef-construction 40] [--quick]
     python benchmarks/ann_topk.py --engines exact,ivf --nprobe 8,16,32,64 [--nlist 4000]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
import harness
import numpy as np
import topk
import workloads

import duckdb_vsa

HEADERS = [
    "rows",
    "D",
    "method",
    "params",
    "build s",
    "build CPU s",
    "index MB",
    "RSS Δ MB",
    "queries/s",
    "× exact",
    "recall@10",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="1000000", help="comma-separated table sizes")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--data", choices=("clustered", "records"), default="clustered")
    defaults = duckdb_vsa.index.HNSW_DEFAULTS
    parser.add_argument("--m", type=int, default=defaults["m"], help="HNSW links per node")
    parser.add_argument("--ef-construction", type=int, default=defaults["ef_construction"])
    parser.add_argument("--ef-search", default="32,64,128", help="values to query with")
    parser.add_argument("--nlist", type=int, default=None, help="IVF cells (default: 4·√rows)")
    parser.add_argument("--nprobe", default="8,16,32,64", help="IVF cells to query, values")
    parser.add_argument("--threads", type=int, default=1, help="HNSW/IVF build threads (0: all)")
    parser.add_argument(
        "--query-threads",
        type=int,
        default=1,
        help="threads of every query path (BLAS, OpenMP, usearch, DuckDB); 0: all cores",
    )
    parser.add_argument(
        "--engines", default="exact,faiss,ivf,usearch,vss", help="which contenders to run"
    )
    parser.add_argument("--no-sql", action="store_true", help="skip the SQL query paths")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each fast query (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="4,000 rows, D = 256, 200 queries")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.dim, args.queries = "4000", 256, 200
        args.ef_search, args.nprobe, args.repeat = "32,64", "8,32", 1
    args.sizes = [int(r) for r in args.rows.split(",") if r.strip()]
    args.efs = [int(e) for e in args.ef_search.split(",") if e.strip()]
    args.nprobes = [int(p) for p in args.nprobe.split(",") if p.strip()]
    args.engine_set = {e.strip() for e in args.engines.split(",") if e.strip()}
    return args


# -- data ------------------------------------------------------------------------------


def clustered(n: int, dim: int, rng: np.random.Generator, centres: int) -> np.ndarray:
    """Unit vectors around ``centres`` random centres, made in blocks (bounded memory)."""
    middle = rng.standard_normal((centres, dim), dtype=np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, 65536):
        hi = min(lo + 65536, n)
        block = middle[rng.integers(0, centres, hi - lo)]
        block += np.float32(0.7) * rng.standard_normal((hi - lo, dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[lo:hi] = block
    return out


def make_data(args: argparse.Namespace, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(targets, queries) as unit float32 rows."""
    if args.data == "clustered":
        rng = np.random.default_rng([args.seed, args.dim, n])
        both = clustered(n + args.queries, args.dim, rng, max((n + args.queries) // 100, 10))
        return both[args.queries :], both[: args.queries]
    encoder = duckdb_vsa.Encoder(dim=args.dim)
    rows = workloads.records("flat", n, seed=args.seed)
    targets = np.vstack(
        [encoder.encode_batch(rows[i : i + 8192]) for i in range(0, n, 8192)]
    ).astype(np.float32)
    rng = random.Random(args.seed)
    picked = [rows[rng.randrange(n)] for _ in range(args.queries)]
    queries = encoder.encode_batch([workloads.near_duplicate_flat(r, rng) for r in picked])
    return targets, queries.astype(np.float32)


# -- measuring -------------------------------------------------------------------------


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def built(fn: Callable[[], Any]) -> tuple[Any, list[float]]:
    """(result, [wall seconds, CPU seconds of every thread, resident memory growth in MB])."""
    gc.collect()
    before = rss_mb()
    cpu = time.process_time()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    gc.collect()
    return result, [seconds, cpu, rss_mb() - before]


def timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    """(last result, median seconds) of ``repeat`` runs."""
    runs, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return result, float(np.median(runs))


@contextlib.contextmanager
def query_threads(threads: int) -> Iterator[None]:
    """Limit BLAS and OpenMP (faiss) to ``threads`` (0: leave them alone)."""
    if not threads:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("(threadpoolctl is not installed: BLAS and OpenMP use every core)")
        yield
        return
    # Load faiss's OpenMP runtime first, so that the limit reaches it.
    with contextlib.suppress(ImportError):
        import faiss  # noqa: F401
    with threadpool_limits(limits=threads):
        yield


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    hits = sum(len(set(f[f >= 0].tolist()) & set(e[e >= 0].tolist())) for f, e in zip(found, exact))
    return hits / max(int((exact >= 0).sum()), 1)


def sql_topk(con: duckdb.DuckDBPyConnection, index: str, n_queries: int, k: int) -> np.ndarray:
    found = con.execute(
        f"SELECT l.id, r.id, rank FROM vsa_index_topk_join('queries', 'v', '{index}', k := {k})"
    ).fetchall()
    out = np.full((n_queries, k), -1, dtype=np.int64)
    for qid, tid, rank in found:
        out[qid, rank - 1] = tid
    return out


def vss_status() -> str:
    """Whether DuckDB's vss extension can be loaded here without a download."""
    con = duckdb.connect()
    try:
        con.execute("LOAD vss")
    except duckdb.Error as err:
        first = str(err).splitlines()[0][:120]
        return f"not available with duckdb {duckdb.__version__} (LOAD vss: {first})"
    finally:
        con.close()
    return "loaded"


# -- one size --------------------------------------------------------------------------


def run(args: argparse.Namespace, n: int) -> list[list]:
    k, dim, nq = args.k, args.dim, args.queries
    targets, queries = make_data(args, n)
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=dim)
    if args.query_threads:
        con.execute(f"SET threads = {args.query_threads}")
    topk.load_vectors(con, "targets", targets)
    topk.load_vectors(con, "queries", queries)
    rows: list[list] = []
    mb = 2**20
    params_hnsw = f"m={args.m}, ef_construction={args.ef_construction}"

    # The exact index: its top 10 is the reference.
    exact_index, cost = built(lambda: duckdb_vsa.build_index(con, "targets", "v"))
    assert np.array_equal(exact_index.ids, np.arange(n)), "rowids are not the row order"
    exact, exact_s = timed(lambda: exact_index.search(queries, k)[0], 1)
    exact_qps = nq / exact_s
    exact_row = [n, dim, "exact: ExactIndex.search", "", *cost[:2], exact_index.nbytes / mb,
                 cost[2]]  # fmt: skip
    rows.append([*exact_row, exact_qps, 1.0, 1.0])
    if not args.no_sql:
        found, s = timed(lambda: sql_topk(con, "targets", nq, k), 1)
        rows.append([n, dim, "exact: vsa_index_topk_join (SQL)", "", *[None] * 4, nq / s,
                     (nq / s) / exact_qps, recall(found, exact)])  # fmt: skip
    if "exact" not in args.engine_set:
        rows = rows[:0]
    duckdb_vsa.drop_index(con, "targets")
    exact_index = None  # free it before the next build
    print(f"(exact done: {n:,} × {dim}, {exact_qps:.1f} queries/s)", flush=True)

    def measure_faiss(engine: str, knob: str, values: list[int], **options) -> None:
        """Build one faiss index, query it at every value of its search knob, then via SQL."""
        try:
            index, cost = built(
                lambda: duckdb_vsa.build_index(con, "targets", "v", method=engine, **options)
            )
        except ImportError as err:
            print(f"({'hnsw faiss' if engine == 'hnsw' else engine} skipped: {err})")
            return
        params = params_hnsw if engine == "hnsw" else f"nlist={index.nlist}"
        first = True
        for value in values:
            setattr(index, knob, value)
            found, s = timed(lambda: index.search(queries, k)[0], args.repeat)
            build = [*cost[:2], index.nbytes / mb, cost[2]] if first else [None] * 4
            rows.append([n, dim, f"{engine} (faiss): {type(index).__name__}.search",
                         f"{params}, {knob}={value}", *build, nq / s,
                         (nq / s) / exact_qps, recall(found, exact)])  # fmt: skip
            first = False
        if not args.no_sql:
            defaults = {
                "hnsw": duckdb_vsa.index.HNSW_DEFAULTS,
                "ivf": duckdb_vsa.index.IVF_DEFAULTS,
            }
            setattr(index, knob, defaults[engine][knob])
            found, s = timed(lambda: sql_topk(con, "targets", nq, k), args.repeat)
            rows.append([n, dim, f"{engine} (faiss): vsa_index_topk_join (SQL)",
                         f"{knob}={getattr(index, knob)}", *[None] * 4, nq / s,
                         (nq / s) / exact_qps, recall(found, exact)])  # fmt: skip
        duckdb_vsa.drop_index(con, "targets")  # the index is freed when this returns
        print(f"({'faiss' if engine == 'hnsw' else engine} done: {n:,} × {dim}, "
              f"build {cost[0]:.0f} s)", flush=True)  # fmt: skip

    if "faiss" in args.engine_set:
        measure_faiss("hnsw", "ef_search", args.efs, m=args.m,
                      ef_construction=args.ef_construction, threads=args.threads)  # fmt: skip
    if "ivf" in args.engine_set:
        extra = {} if args.nlist is None else {"nlist": args.nlist}
        measure_faiss("ivf", "nprobe", args.nprobes, threads=args.threads, **extra)

    if "usearch" in args.engine_set:
        try:
            from usearch.index import Index
        except ImportError:
            print("(usearch skipped: not installed; pip install usearch)")
        else:

            def build_usearch() -> Any:
                graph = Index(
                    ndim=dim,
                    metric="ip",
                    dtype="f32",
                    connectivity=args.m,
                    expansion_add=args.ef_construction,
                )
                graph.add(np.arange(n), targets, threads=args.threads)
                return graph

            graph, cost = built(build_usearch)
            first = True
            for ef in args.efs:
                graph.expansion_search = ef
                found, s = timed(
                    lambda: graph.search(queries, k, threads=args.query_threads).keys.astype(
                        np.int64
                    ),
                    args.repeat,
                )
                build = [*cost[:2], graph.memory_usage / mb, cost[2]] if first else [None] * 4
                rows.append([n, dim, "hnsw (usearch, not chosen): Index.search",
                             f"{params_hnsw}, ef_search={ef}", *build, nq / s,
                             (nq / s) / exact_qps, recall(found, exact)])  # fmt: skip
                first = False
            graph = None
            print(f"(usearch done: {n:,} × {dim}, build {cost[0]:.0f} s)", flush=True)
    con.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    vss = vss_status() if "vss" in args.engine_set else "not run"
    harness.print_header(
        "Approximate top-k: HNSW and IVF indexes against the exact index",
        [
            f"k = {args.k}; {args.queries:,} queries; data: {args.data} unit float32 vectors in "
            "a FLOAT[D] column of an in-memory DuckDB",
            f"HNSW/IVF build threads = {args.threads} (1: the same index on every build); query "
            f"threads = {args.query_threads or 'all cores'} for every path (BLAS and OpenMP "
            "through threadpoolctl, usearch threads=, DuckDB SET threads)",
            f"queries/s: median of {args.repeat} runs of the whole batch in one call "
            "(the exact paths: one run); × exact: over ExactIndex.search in the same run",
            "recall@10: share of the exact index's top 10 that each method returns",
            "build s: build_index from the DuckDB table (usearch: from the numpy array); "
            "build CPU s: CPU time of the process during the build (on a shared machine the "
            "wall time also counts waiting for a core); RSS Δ: resident memory growth",
            f"DuckDB vss (HNSW) extension: {vss}",
        ],
    )
    rows: list[list] = []
    for n in args.sizes:
        with query_threads(args.query_threads):
            rows.extend(run(args, n))
        # After every size, so that partial results survive a run stopped later.
        print()
        print(harness.markdown_table(HEADERS, rows), flush=True)


if __name__ == "__main__":
    main()
