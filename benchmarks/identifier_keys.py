"""Documents whose keys are identifiers: encoding rate and memory against the same with fixed keys.

Maps keyed by ids (``{"user_88120417": {...}, "user_90211003": {...}}``) give nearly
every document keys no other document has, so every key is a new role and every
path a new chain. This script encodes the same values twice, once under
identifier keys (drawn from a range of a hundred million, so nearly all distinct)
and once under fixed keys (``user_a``, ``user_b``, ``repo``), each in a fresh
process with a fresh encoder and its default cache budget, through
``Encoder.encode_arrow`` in chunks of 2,048 documents. It reports the rate, the
ratio of the two, and the process's peak resident memory above what it held
before encoding, beside the encoder's ``cache_bytes``.

Usage::

    python benchmarks/identifier_keys.py                     # 200,000 documents, D = 1024
    python benchmarks/identifier_keys.py --records 20000 --dim 256
    python benchmarks/identifier_keys.py --quick             # 2,000 documents, D = 256
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from harness import markdown_table, print_header

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, random, resource, sys, time
import pyarrow as pa
from duckdb_vsa import Encoder

def rss_mib():
    import os
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20

keys, n, dim, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), 2048
rng = random.Random(0)
names = ["ada", "bo", "cy", "di", "ed", "flo", "gus", "hal"]

def document(i):
    if keys == "identifier":
        a, b, r = (f"{p}_{rng.randrange(10**8):08d}" for p in ("user", "user", "repo"))
    else:
        a, b, r = "user_a", "user_b", "repo"
    user = lambda: {"name": rng.choice(names), "score": rng.randrange(1000),
                    "active": rng.random() < 0.5}
    return json.dumps({a: user(), b: user(), r: {"stars": rng.randrange(10**5),
                                                  "lang": rng.choice(names)}})

texts = [document(i) for i in range(n)]
encoder = Encoder(dim=dim)
before = rss_mib()
peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
for lo in range(0, n, chunk):
    encoder.encode_arrow(pa.array(texts[lo:lo + chunk]))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "before_mib": before,
                  "growth_mib": max(peak, peak_before) - before,
                  "cache_mib": encoder.cache_bytes / 2**20}))
"""


def run_case(keys: str, records: int, dim: int) -> dict[str, float]:
    """Encode ``records`` documents with ``keys`` in a fresh process; its figures."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, keys, str(records), str(dim)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--quick", action="store_true", help="2,000 documents, D = 256")
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.dim = 2_000, 256

    print_header(
        "duckdb_vsa: documents keyed by identifiers",
        [f"{args.records:,} documents of 14 leaves, D = {args.dim}, Encoder.encode_arrow"],
    )
    rows = []
    rates = {}
    for keys in ("fixed", "identifier"):
        figures = run_case(keys, args.records, args.dim)
        rates[keys] = args.records / figures["seconds"]
        rows.append(
            [
                keys,
                f"{rates[keys]:,.0f}",
                f"{figures['seconds']:.1f}",
                f"{figures['growth_mib']:.0f}",
                f"{figures['cache_mib']:.0f}",
            ]
        )
    print(
        markdown_table(
            ["keys", "documents/s", "seconds", "peak growth MiB", "cache_bytes MiB"], rows
        )
    )
    print(f"\nfixed ÷ identifier rate: {rates['fixed'] / rates['identifier']:.2f}")


if __name__ == "__main__":
    main()
