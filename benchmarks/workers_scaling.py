"""Worker processes against one process: start-up, cost per call, and throughput.

Three measurements on nested records (depth 4, about 40 leaves), D = 1024:

1. Time to the first vector from cold: a new ``WorkerPool`` encoding one
   document (interpreter, libraries and encoder of every worker), against a
   new ``Encoder`` in this already running process.
2. Cost per call by rows per call: ``pool.encode`` on k fresh rows against
   ``Encoder.encode_arrow`` on the same rows, with warm pools; once with the
   pool's own slicing and once with every call cut in exactly one slice per
   worker, down to one row each. The first k where workers win is the
   threshold below which a call should stay in process.
3. Throughput on 30,000 and 300,000 records: ``pool.encode`` over 2048-row
   chunks (what a DuckDB UDF receives), and ``CREATE TABLE t2 AS SELECT
   f(doc) FROM t`` with ``f`` an Arrow UDF calling either the encoder or the
   pool (a registration for this benchmark only). Every run starts from cold
   caches: the in-process encoder is cleared, each pool is new (started
   before the clock). The variants of one repetition run back to back, so the
   ratios compare runs under the same machine load. CPU seconds (this process,
   DuckDB's threads included, plus the workers) tell what the work costs
   whatever else runs on the machine; wall seconds tell what a user waits.
   Beside each pool run, a plain loop in as many processes as workers, against
   one, measures how many cores the machine gives right then (other users
   share it; Linux shares CPU between sessions, not processes): the ceiling
   of any speed-up measured in the same repetition.

Run: python benchmarks/workers_scaling.py [--quick] [--sizes 30000 300000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import harness
import pyarrow as pa
import workloads

from duckdb_vsa.encoder import Encoder
from duckdb_vsa.pool import WorkerPool, usable_cores

CALL_ROWS = (1, 4, 16, 64, 128, 256, 512, 1024, 2048)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[30_000, 300_000])
    parser.add_argument("--workers", type=int, nargs="+", default=sorted({1, 2, usable_cores()}))
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per cell (median)")
    parser.add_argument("--calls", type=int, default=7, help="timed calls per row count")
    parser.add_argument("--quick", action="store_true", help="2,500 rows, one run, fewer calls")
    args = parser.parse_args(argv)
    args.call_rows = CALL_ROWS
    args.startup_runs = max(args.repeat, 5)
    if args.quick:
        args.sizes, args.repeat, args.calls, args.startup_runs = [2_500], 1, 2, 1
        args.call_rows = CALL_ROWS[:5]
    return args


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return f"load average {os.getloadavg()}"


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SPIN = "for _ in range(20_000_000): pass"


def parallel_capacity(processes: int) -> float:
    """How many cores' worth of work ``processes`` CPU-bound processes get right now.

    The same fixed loop in one process, then in ``processes`` at once: the
    ratio of rates is what the machine (its other users included) gives to
    that many processes, the ceiling of any worker speed-up measured beside it.
    """

    if processes == 1:
        return 1.0

    def run(n: int) -> float:
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(n)]
        for proc in procs:
            proc.wait()
        return time.perf_counter() - start

    return processes * run(1) / run(processes)


def rss_mib(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory of a process, MiB (Linux)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


# -- 1. start-up ---------------------------------------------------------------------------


def startup(args: argparse.Namespace, doc: pa.Array) -> None:
    rows = []
    for workers in args.workers:
        runs = []
        for _ in range(args.startup_runs):
            start = time.perf_counter()
            pool = WorkerPool({"dim": args.dim}, workers=workers).start()
            pool.encode(doc)
            runs.append(time.perf_counter() - start)
            pool.close()
        label = f"WorkerPool, {workers} worker(s), started"
        rows.append([label, len(runs), statistics.median(runs)])
        runs = []
        for _ in range(args.startup_runs):
            start = time.perf_counter()
            with WorkerPool({"dim": args.dim}, workers=workers) as pool:
                pool.encode(doc)
                runs.append(time.perf_counter() - start)
        rows.append([f"WorkerPool, {workers} worker(s), lazy", len(runs), statistics.median(runs)])
    runs = []
    for _ in range(args.startup_runs):
        start = time.perf_counter()
        Encoder(dim=args.dim).encode_arrow(doc)
        runs.append(time.perf_counter() - start)
    rows.append(["Encoder in this process", len(runs), statistics.median(runs)])
    print("### Time to the first vector from cold\n")
    print(harness.markdown_table(["what", "runs", "median s"], rows))
    print()


# -- 2. cost per call ----------------------------------------------------------------------


def per_call(args: argparse.Namespace, texts: list[str]) -> None:
    encoder = Encoder(dim=args.dim)
    pools = {w: WorkerPool({"dim": args.dim}, workers=w).start() for w in args.workers}
    split = {w: WorkerPool({"dim": args.dim}, workers=w).start() for w in args.workers if w > 1}
    for pool in split.values():
        pool.min_slice_rows, pool.slices_per_worker = 1, 1
    variants: dict[str, Callable[[pa.Array], object]] = {"in process": encoder.encode_arrow}
    for w, pool in pools.items():
        variants[f"{w} worker(s)"] = pool.encode
    for w, pool in split.items():
        variants[f"{w} workers, 1 slice each"] = pool.encode
    cursor = 0

    def fresh(k: int) -> pa.Array:
        nonlocal cursor
        if cursor + k > len(texts):
            cursor = 0
        cursor += k
        return pa.array(texts[cursor - k : cursor], type=pa.string())

    for fn in variants.values():  # warm the role and chain caches everywhere
        for _ in range(3):
            fn(fresh(256))
    table = []
    for k in args.call_rows:
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.calls):
            for name, fn in variants.items():
                array = fresh(k)
                start = time.perf_counter()
                fn(array)
                times[name].append(time.perf_counter() - start)
        local = statistics.median(times["in process"])
        row: list[object] = [k]
        for name in variants:
            median = statistics.median(times[name])
            row += [median * 1e3] if name == "in process" else [median * 1e3, local / median]
        table.append(row)
    headers = ["rows/call", "in process ms"]
    for name in list(variants)[1:]:
        headers += [f"{name} ms", f"{name} × in process"]
    print(f"### Cost per call (median of {args.calls} calls, fresh rows each)\n")
    print(harness.markdown_table(headers, table))
    print()
    for pool in [*pools.values(), *split.values()]:
        pool.close()


# -- 3. throughput -------------------------------------------------------------------------


class PoolUdf:
    """The function behind the benchmark's UDF: whichever pool is current, counting callers."""

    def __init__(self) -> None:
        self.pool: WorkerPool | None = None
        self.threads: set[int] = set()
        self.calls = 0

    def __call__(self, docs: pa.ChunkedArray) -> pa.Array:
        self.threads.add(threading.get_ident())
        self.calls += 1
        return self.pool.encode(docs)


def throughput(args: argparse.Namespace, n: int, texts: list[str]) -> None:
    texts = texts[:n]
    chunks = workloads.arrow_chunks(texts)
    con = duckdb.connect()
    con.register("docs_arrow", pa.table({"doc": pa.array(texts, type=pa.string())}))
    con.execute("CREATE TABLE t AS SELECT doc FROM docs_arrow")
    con.unregister("docs_arrow")
    threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    encoder = Encoder(dim=args.dim)
    vector_type = f"FLOAT[{args.dim}]"
    con.create_function(
        "f_local",
        lambda docs: encoder.encode_arrow(docs),
        ["VARCHAR"],
        vector_type,
        type="arrow",
        null_handling="special",
    )
    udf = PoolUdf()
    con.create_function(
        "f_pool", udf, ["VARCHAR"], vector_type, type="arrow", null_handling="special"
    )

    def sql(name: str) -> None:
        con.execute(f"CREATE OR REPLACE TABLE t2 AS SELECT {name}(doc) AS v FROM t")

    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    capacity: dict[int, list[float]] = {}
    memory: dict[int, list[tuple[float, float]]] = {}
    for _ in range(args.repeat):
        for path in ("pool.encode", "DuckDB UDF"):
            encoder.clear_caches()
            start, start_cpu = time.perf_counter(), time.process_time()
            if path == "pool.encode":
                for chunk in chunks:
                    encoder.encode_arrow(chunk)
            else:
                sql("f_local")
            times.setdefault(f"{path}|in process", []).append(time.perf_counter() - start)
            cpu.setdefault(f"{path}|in process", []).append(time.process_time() - start_cpu)
            for w in args.workers:
                capacity.setdefault(w, []).append(parallel_capacity(w))
                with WorkerPool({"dim": args.dim}, workers=w).start() as pool:
                    workers_cpu = sum(cpu_seconds(pid) for pid in pool.pids())
                    start, start_cpu = time.perf_counter(), time.process_time()
                    if path == "pool.encode":
                        for chunk in chunks:
                            pool.encode(chunk)
                    else:
                        udf.pool = pool
                        sql("f_pool")
                    times.setdefault(f"{path}|{w}", []).append(time.perf_counter() - start)
                    workers_cpu = sum(cpu_seconds(pid) for pid in pool.pids()) - workers_cpu
                    cpu.setdefault(f"{path}|{w}", []).append(
                        time.process_time() - start_cpu + workers_cpu
                    )
                    memory.setdefault(w, []).extend(rss_mib(pid) for pid in pool.pids())
    rows = []
    for key, runs in times.items():
        path, variant = key.split("|")
        local = statistics.median(times[f"{path}|in process"])
        local_cpu = statistics.median(cpu[f"{path}|in process"])
        median, median_cpu = statistics.median(runs), statistics.median(cpu[key])
        if variant == "in process":
            label, ceiling = variant, 1.0
        else:
            label, ceiling = f"{variant} worker(s)", statistics.median(capacity[int(variant)])
        rows.append(
            [path, label, len(runs), median, n / median, local / median, ceiling, median_cpu,
             median_cpu / local_cpu]
        )  # fmt: skip
    print(f"### Throughput, {n:,} nested records (DuckDB threads = {threads})\n")
    headers = ["path", "encoder", "runs", "median s", "rows/s", "× in process", "cores free ×"]
    print(harness.markdown_table([*headers, "CPU s", "CPU × in process"], rows))
    print(
        "\n'cores free ×': the same loop in that many processes at once against one, "
        "measured just before each run: the most any speed-up could be then."
    )
    print(
        f"\nUDF calls per query: {udf.calls // max(1, args.repeat * len(args.workers))}, "
        f"from {len(udf.threads)} distinct DuckDB thread(s) over all runs."
    )
    for w, values in memory.items():
        rss = max(v[0] for v in values)
        peak = max(v[1] for v in values)
        print(f"Worker memory with {w} worker(s): RSS up to {rss:.0f} MiB, peak {peak:.0f} MiB.")
    print()
    con.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    harness.print_header(
        "Worker processes: start-up, cost per call, throughput",
        [
            f"nested records, D = {args.dim}, workers {args.workers}",
            f"load before: {uptime()}",
        ],
    )
    texts = workloads.json_records("nested", max(args.sizes), seed=0)
    startup(args, pa.array([texts[0]], type=pa.string()))
    per_call(args, workloads.json_records("nested", 40_000, seed=1))
    for n in args.sizes:
        throughput(args, n, texts)
    print(f"Load after: {uptime()}")


if __name__ == "__main__":
    main()
