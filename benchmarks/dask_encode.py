"""Encoding across Dask worker processes against one process.

Two scenarios over N generated records, split into the same partitions for
every contender:

- encode: the documents are already in memory (in the worker processes, for
  Dask); every partition is encoded and only its row count comes back. Once
  with empty caches, once more with every value cached (what remains is the
  cost of the engine and of running processes side by side).
- JSON Lines -> Parquet: the recipe of examples/distributed_encode.py, from a
  JSON Lines file to a directory of Parquet files with a vector column.

One process runs ``Encoder.encode_arrow`` partition after partition; Dask runs
``duckdb_vsa.encode_partition`` in ``map_partitions`` on a LocalCluster of W
worker processes with one thread each. Every run but the warm ones starts with
empty encoder caches (a new encoder in one process; the workers' encoders
dropped for Dask), as a job over new documents would. Cluster start-up is reported, not counted.

Besides wall time, the CPU time of every process involved (for Dask: the
client, which also runs the scheduler, and every worker): on a machine whose
cores are busy with other work, wall time shows the share of CPU the processes
got, CPU time what the work cost.

Run: python benchmarks/dask_encode.py [--quick] [--records N] [--workers W]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dask
import dask.bag as db
import dask.dataframe as dd
import distributed
import harness
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import workloads

import duckdb_vsa
from duckdb_vsa import encoder as encoder_module

HEADERS = [
    "scenario",
    "engine",
    "records",
    "partitions",
    "runs",
    "median s",
    "rec/s",
    "× 1 process",
    "CPU s",
    "CPU µs/rec",
]
PARQUET = "JSON Lines -> Parquet"
WARM = "encode, warm caches"
LOAD = ", ".join(f"{x:.1f}" for x in os.getloadavg())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--workload", default="flat", choices=workloads.WORKLOADS)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partition-rows", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per cell (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2,000 records, 500 per partition")
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.partition_rows = 2_000, 500
    return args


def clear_worker_caches(config: duckdb_vsa.EncoderConfig) -> None:
    """Empty every cache of this process's encoder of ``config``: the next task starts cold.

    A worker unpickles every copy of an encoder into its one shared encoder of that
    configuration, the object that ``shared_encoder`` returns.
    """
    encoder_module.shared_encoder(config).clear_caches()


def measure_cpu(
    fn: Callable[[], None],
    repeat: int,
    cpu_now: Callable[[], float],
    setup: Callable[[], None] | None = None,
) -> tuple[harness.Timing, float]:
    """Wall times of ``repeat`` runs, and the median CPU seconds they used."""
    walls, cpus = [], []
    for _ in range(repeat):
        if setup is not None:
            setup()
        cpu = cpu_now()
        start = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(cpu_now() - cpu)
    return harness.Timing(walls), statistics.median(cpus)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    texts = workloads.json_records(args.workload, args.records, args.seed)
    n_parts = max(1, -(-args.records // args.partition_rows))
    bounds = [
        (i * args.records // n_parts, (i + 1) * args.records // n_parts) for i in range(n_parts)
    ]
    arrow_parts = [pa.array(texts[a:b], type=pa.string()) for a, b in bounds]
    options = {"dim": args.dim}
    tmp = Path(tempfile.mkdtemp(prefix="dask_encode_"))
    source = tmp / "docs.jsonl"
    source.write_text("\n".join(texts) + "\n", encoding="utf-8")
    del texts
    blocksize = max(1, -(-source.stat().st_size // n_parts))
    results: list[tuple[str, str, harness.Timing, float, int]] = []

    # -- one process -------------------------------------------------------------------
    def one_process_encode() -> None:
        enc = duckdb_vsa.Encoder(**options)
        for part in arrow_parts:
            enc.encode_arrow(part)

    def one_process_parquet() -> None:
        out = tmp / "one"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        enc = duckdb_vsa.Encoder(**options)
        with source.open(encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip()]
        for i, (a, b) in enumerate(bounds):
            table = duckdb_vsa.encode_partition(pa.table({"doc": lines[a:b]}), enc)
            pq.write_table(table, out / f"part.{i}.parquet")

    one = "1 process (Encoder.encode_arrow)"
    for scenario, fn in (("encode", one_process_encode), (PARQUET, one_process_parquet)):
        timing, cpu = measure_cpu(fn, args.repeat, time.process_time)
        results.append((scenario, one, timing, cpu, n_parts))
    warm_encoder = duckdb_vsa.Encoder(**options)
    for part in arrow_parts:
        warm_encoder.encode_arrow(part)

    def one_process_warm() -> None:
        for part in arrow_parts:
            warm_encoder.encode_arrow(part)

    timing, cpu = measure_cpu(one_process_warm, args.repeat, time.process_time)
    results.append((WARM, one, timing, cpu, n_parts))

    # -- Dask ----------------------------------------------------------------------------
    started = time.perf_counter()
    with (
        distributed.LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        startup = time.perf_counter() - started
        encoder = duckdb_vsa.Encoder(**options)
        meta_in = pd.DataFrame({"doc": pd.Series(dtype="str")})
        meta = duckdb_vsa.encode_partition(meta_in, encoder)

        def read_lines() -> dd.DataFrame:
            lines = db.read_text(str(source), blocksize=blocksize).map(str.strip).filter(bool)
            return lines.map(lambda line: {"doc": line}).to_dataframe(meta=meta_in)

        docs = read_lines().persist()  # the documents wait in the workers' memory
        distributed.wait(docs)

        def dask_encode() -> None:
            vectors = docs.map_partitions(duckdb_vsa.encode_partition, encoder, meta=meta)
            counts = vectors.map_partitions(len).compute()
            assert sum(counts) == args.records

        def dask_parquet() -> None:
            out = tmp / "dask"
            shutil.rmtree(out, ignore_errors=True)
            read_lines().map_partitions(duckdb_vsa.encode_partition, encoder, meta=meta).to_parquet(
                str(out), write_index=False
            )

        def fresh() -> None:
            client.run(clear_worker_caches, encoder.config)

        def cluster_cpu() -> float:
            return time.process_time() + sum(client.run(time.process_time).values())

        engine = f"Dask LocalCluster, {args.workers} workers × 1 thread"
        for scenario, fn in (("encode", dask_encode), (PARQUET, dask_parquet)):
            timing, cpu = measure_cpu(fn, args.repeat, cluster_cpu, setup=fresh)
            results.append((scenario, engine, timing, cpu, docs.npartitions))
        dask_encode()  # the workers' encoders keep their caches from here on
        timing, cpu = measure_cpu(dask_encode, args.repeat, cluster_cpu)
        results.append((WARM, engine, timing, cpu, docs.npartitions))
    written = pq.read_table(tmp / "dask").num_rows
    if written != args.records:
        raise SystemExit(f"Dask wrote {written} rows, expected {args.records}")
    shutil.rmtree(tmp, ignore_errors=True)

    base = {scenario: t.median for scenario, engine, t, _, _ in results if engine == one}
    rows = [
        [
            scenario,
            engine,
            args.records,
            parts,
            len(timing),
            timing.median,
            args.records / timing.median,
            base[scenario] / timing.median,
            cpu,
            1e6 * cpu / args.records,
        ]
        for scenario, engine, timing, cpu, parts in results
    ]
    harness.print_header(
        "Encoding on Dask worker processes against one process",
        [
            f"D = {args.dim}; {args.records:,} {args.workload} records in partitions of about "
            f"{args.partition_rows:,}",
            f"median of {args.repeat} runs; every run starts with empty encoder caches, except "
            f"in '{WARM}' (the same documents again, every value already cached)",
            "encode: documents already in memory (persisted on the workers for Dask), "
            "vectors left where they were made",
            f"{PARQUET}: read a JSON Lines file, encode, write Parquet "
            "(examples/distributed_encode.py)",
            f"dask {dask.__version__}, distributed {distributed.__version__}, "
            f"pandas {pd.__version__}, pyarrow {pa.__version__}",
            f"LocalCluster start-up ({args.workers} worker processes): {startup:.1f} s, "
            "not counted",
            "× 1 process: speed relative to one process in the same scenario (> 1 is faster)",
            "CPU s: CPU seconds of every process involved (median run); "
            f"load average before the run: {LOAD}",
        ],
    )
    print(harness.markdown_table(HEADERS, rows))


if __name__ == "__main__":
    main()
