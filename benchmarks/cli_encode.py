"""``duckdb-vsa encode`` end to end: records/s and peak memory of the command.

Writes generated records (the ``flat``, ``nested`` or ``text`` workload of
``workloads.py``, from a fixed seed) as JSON Lines, then runs
``python -m duckdb_vsa encode`` on them as a separate process, into Parquet and
into a DuckDB database, and reports its wall time (Python start-up included),
records per second and peak resident memory (``ru_maxrss`` of the child).
Several record counts show whether memory stays bounded as the input grows.
Then ``duckdb-vsa search`` runs once over the largest Parquet output.

Run: python benchmarks/cli_encode.py [--records 50000,200000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
import workloads

ROOT = Path(__file__).resolve().parent.parent
HEADERS = [
    "workload",
    "records",
    "output",
    "chunk",
    "input MiB",
    "wall s",
    "records/s",
    "peak RSS MiB",
    "output MiB",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--records", default="50000,200000", help="comma-separated record counts (largest last)"
    )
    parser.add_argument("--workloads", default="flat", help="comma-separated: flat,nested,text")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--chunk-size", type=int, default=4096)
    parser.add_argument("--outputs", default="parquet,duckdb", help="parquet and/or duckdb")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="small run for tests")
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.dim, args.outputs = "500,2000", 256, "parquet,duckdb"
    return args


def write_jsonl(path: Path, workload: str, n: int, seed: int) -> None:
    """The records of ``workloads.records(workload, n, seed)``, generated one at a time."""
    with path.open("w", encoding="utf-8") as f:
        for record in workloads.iter_records(workload, n, seed):
            f.write(json.dumps(record) + "\n")


def run_child(args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB and stderr of a child process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{text}")
    return wall, usage.ru_maxrss / 1024, text


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    counts = [int(x) for x in args.records.split(",")]
    harness.print_header(
        "duckdb-vsa encode (command line, one process)",
        [
            f"D = {args.dim}, chunk {args.chunk_size} rows, JSON Lines input; wall time includes "
            "Python start-up and writing the output",
            "peak RSS is ru_maxrss of the encode process",
        ],
    )
    rows = []
    search_row = None
    with tempfile.TemporaryDirectory(prefix="cli_encode_") as tmp:
        tmpdir = Path(tmp)
        for workload in args.workloads.split(","):
            for n in counts:
                src = tmpdir / f"{workload}_{n}.jsonl"
                write_jsonl(src, workload, n, args.seed)
                for output in args.outputs.split(","):
                    out = (
                        tmpdir / f"{workload}_{n}.{'parquet' if output == 'parquet' else 'duckdb'}"
                    )
                    command = [
                        sys.executable, "-m", "duckdb_vsa", "encode", str(src), "-o", str(out),
                        "--dim", str(args.dim), "--chunk-size", str(args.chunk_size),
                        "--overwrite", "-q",
                    ]  # fmt: skip
                    wall, rss, _ = run_child(command)
                    rows.append(
                        [
                            workload,
                            f"{n:,}",
                            output,
                            args.chunk_size,
                            f"{src.stat().st_size / 2**20:,.1f}",
                            f"{wall:.1f}",
                            f"{n / wall:,.0f}",
                            f"{rss:,.0f}",
                            f"{out.stat().st_size / 2**20:,.1f}",
                        ]
                    )
                    print(harness.markdown_table(HEADERS, rows[-1:]).splitlines()[-1], flush=True)
                    if output == "parquet" and n == counts[-1] and search_row is None:
                        query = json.dumps(workloads.records(workload, 1, args.seed)[0])
                        command = [
                            sys.executable, "-m", "duckdb_vsa", "search", str(out),
                            "--query", query, "-k", "10", "--format", "csv",
                        ]  # fmt: skip
                        wall, rss, _ = run_child(command)
                        search_row = [workload, f"{n:,}", f"{wall:.1f}", f"{rss:,.0f}"]
                src.unlink()
    print()
    print(harness.markdown_table(HEADERS, rows))
    if search_row:
        print()
        print("duckdb-vsa search (one query, k = 10, streaming the Parquet file):\n")
        print(harness.markdown_table(["workload", "rows", "wall s", "peak RSS MiB"], [search_row]))


if __name__ == "__main__":
    main()
