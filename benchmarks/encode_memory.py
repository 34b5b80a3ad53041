"""Streaming encode in bounded memory: records/s and peak RSS over a long stream.

Generates records chunk by chunk (never the whole input at once), encodes every
chunk with ``Encoder.encode_arrow`` (the call the ``vsa_encode`` UDF makes) and
appends the vectors to a Parquet file, so the output lives on disk, not in
memory. Reports the throughput, the process's peak resident set size (RSS,
``resource.getrusage``) and its RSS before encoding, and the output's size. The
encoder's caches keep their default byte budgets (``cache_bytes``).

Run: python benchmarks/encode_memory.py [--records 1000000] [--workload flat] [--quick]
"""

from __future__ import annotations

import os

# One thread for every BLAS/OpenMP pool; must happen before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import harness  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import workloads  # noqa: E402

import duckdb_vsa  # noqa: E402

HEADERS = [
    "workload",
    "records",
    "D",
    "encode s",
    "records/s",
    "RSS before MiB",
    "peak RSS MiB",
    "peak − before MiB",
    "output MiB",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workload", default="flat", choices=workloads.WORKLOADS)
    parser.add_argument("--dim", type=int, default=None, help="default 1024 (256 with --quick)")
    parser.add_argument("--binding", default="perm", choices=("perm", "haar"))
    parser.add_argument("--chunk", type=int, default=2048, help="Arrow rows per encode_arrow call")
    parser.add_argument("--out", default=None, help="Parquet file (default: a temporary file)")
    parser.add_argument("--seed", type=int, default=0, help="workload seed")
    parser.add_argument("--quick", action="store_true", help="small run for tests (5,000 records)")
    args = parser.parse_args(argv)
    if args.quick:
        args.records = 5_000
    if args.dim is None:
        args.dim = 256 if args.quick else 1024
    return args


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # kilobytes on Linux


def current_rss_bytes() -> int:
    """Resident set size now (Linux); the peak elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return peak_rss_bytes()


def record_chunks(workload: str, n: int, size: int, seed: int) -> Iterator[pa.Array]:
    """``n`` records of a workload as JSON text, ``size`` at a time, generated lazily."""
    generated = workloads.iter_records(workload, n, seed)
    for start in range(0, n, size):
        texts = [json.dumps(next(generated)) for _ in range(start, min(start + size, n))]
        yield pa.array(texts, type=pa.string())


def run(args: argparse.Namespace, out: Path) -> list:
    enc = duckdb_vsa.Encoder(dim=args.dim, binding=args.binding)
    enc.encode(json.dumps(workloads.flat_record(random.Random(0), 0)))  # imports, first roles
    before = current_rss_bytes()
    schema = pa.schema([("id", pa.int64()), ("vec", pa.list_(pa.float32(), args.dim))])
    encode_seconds = 0.0
    done = 0
    with pq.ParquetWriter(out, schema) as writer:
        for chunk in record_chunks(args.workload, args.records, args.chunk, args.seed):
            start = time.process_time()
            vectors = enc.encode_arrow(chunk)
            encode_seconds += time.process_time() - start
            ids = pa.array(range(done, done + len(chunk)), type=pa.int64())
            writer.write_table(pa.table({"id": ids, "vec": vectors}, schema=schema))
            done += len(chunk)
            if done % (50 * args.chunk) < args.chunk:
                print(
                    f"  {done:,} records, {done / encode_seconds:,.0f} records/s, "
                    f"peak RSS {peak_rss_bytes() / 2**20:,.0f} MiB",
                    file=sys.stderr,
                    flush=True,
                )
    peak = peak_rss_bytes()
    mib = 2**20
    return [
        args.workload,
        done,
        args.dim,
        encode_seconds,
        done / encode_seconds,
        before / mib,
        peak / mib,
        (peak - before) / mib,
        out.stat().st_size / mib,
    ]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    harness.print_header(
        "Streaming encode: throughput and peak memory",
        [
            f"{args.records:,} generated {args.workload} records, D = {args.dim}, "
            f"binding = {args.binding}, {args.chunk}-row Arrow chunks through "
            "Encoder.encode_arrow, vectors appended to a Parquet file",
            "records are generated chunk by chunk; 'encode s' is process time inside "
            "encode_arrow only (generation and Parquet writing excluded)",
            "peak RSS: resource.getrusage ru_maxrss of the whole process (Python, numpy, "
            "pyarrow, the encoder and its caches at their default budgets)",
        ],
    )
    if args.out:
        row = run(args, Path(args.out))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            row = run(args, Path(tmp) / "vectors.parquet")
    print(harness.markdown_table(HEADERS, [row]))


if __name__ == "__main__":
    main()
