"""An index in a file database across a restart: its size on disk, the first query after, and
one search through SQL against the index alone and DuckDB's ORDER BY.

Each step runs in a new Python process, so the database is really closed and
opened again:

1. build: ``SELECT vsa_create_index('t', 'v', method := 'ivf')`` on a table of
   clustered unit vectors (``rows / 100`` centres); its time, and the bytes the
   index keeps in the database (``duckdb_vsa_index_data``) and the file's growth;
2. reopen: ``register``, then the first ``vsa_index_search`` (which loads the
   index: reads the column, puts each vector in its stored cell; no k-means),
   then one search side by side with the index's own search plus the query's
   encoding and with ``ORDER BY array_inner_product(...) LIMIT k`` (medians);
3. the alternative not chosen: faiss's own serialisation of the same index,
   written to and read back from a BLOB table of another file (size and times).

Run: python benchmarks/index_restart.py [--rows 1000000] [--dim 256] [--method ivf]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import harness
import numpy as np
import topk

DOC = '{"name": "red running shoe", "size": 42, "tags": ["trail", "sport"]}'

CHILD = r"""
import json, os, sys, time
import duckdb, numpy as np
import duckdb_vsa
path, step, method = sys.argv[1], sys.argv[2], sys.argv[4]
dim, repeat = int(sys.argv[3]), int(sys.argv[5])
DOC = sys.argv[6]
out = {}
t0 = time.perf_counter()
con = duckdb.connect(path)
enc = duckdb_vsa.register(con, dim=dim)
out["connect + register s"] = time.perf_counter() - t0
if step == "build":
    t0 = time.perf_counter()
    sql = f"SELECT vsa_create_index('t', 'v', name := 'idx', method := '{method}')"
    con.execute(sql).fetchall()
    out["build s"] = time.perf_counter() - t0
    out["index data bytes"] = con.execute(
        "SELECT coalesce(sum(octet_length(data)), 0) FROM duckdb_vsa_index_data").fetchall()[0][0]
    con.execute("CHECKPOINT")
elif step == "reopen":
    q = f"vsa_encode('{DOC}')"
    search = f"SELECT * FROM vsa_index_search('idx', {q}, k := 10)"
    t0 = time.perf_counter()
    con.execute(search).fetchall()
    out["first query s (loads the index)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    con.execute(search).fetchall()
    out["second query s"] = time.perf_counter() - t0
    live = duckdb_vsa.get_index(con, "idx")
    plain = f"SELECT * FROM vsa_search('t', 'v', {q}, k := 10)"
    order = f"SELECT * FROM t ORDER BY array_inner_product(v, {q}) DESC LIMIT 10"
    methods = {
        "sql: vsa_search": lambda: con.execute(plain).fetchall(),
        "floor: index.search + encode": lambda: live.search(enc.encode(DOC), 10),
        "order by: array_inner_product": lambda: con.execute(order).fetchall(),
    }
    runs = {k: [] for k in methods}
    for f in methods.values():
        f()
    for _ in range(repeat):
        for k, f in methods.items():
            t0 = time.perf_counter(); f(); runs[k].append(time.perf_counter() - t0)
    out["median s"] = {k: float(np.median(v)) for k, v in runs.items()}
    if method != "exact":
        import faiss
        other = path + ".blob.duckdb"
        blob = con.cursor()
        t0 = time.perf_counter()
        data = faiss.serialize_index(live.base._index).tobytes()
        scratch = duckdb.connect(other)
        scratch.execute("CREATE OR REPLACE TABLE b (part INTEGER, data BLOB)")
        step_ = 256 * 2**20
        for i in range(0, len(data), step_):
            scratch.execute("INSERT INTO b VALUES (?, ?)", [i // step_, data[i:i + step_]])
        scratch.execute("CHECKPOINT")
        out["blob: serialise + write s"] = time.perf_counter() - t0
        out["blob bytes"] = len(data)
        scratch.close()
        t0 = time.perf_counter()
        scratch = duckdb.connect(other)
        parts = scratch.execute("SELECT data FROM b ORDER BY part").fetchall()
        faiss.deserialize_index(np.frombuffer(b"".join(bytes(p[0]) for p in parts), np.uint8))
        out["blob: read + deserialise s"] = time.perf_counter() - t0
        scratch.close()
        os.remove(other)
con.close()
print(json.dumps(out))
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--method", default="ivf", choices=["exact", "ivf", "hnsw"])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", default=None, help="where the database file goes")
    return parser.parse_args(argv)


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 100, 2), dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, 100_000):
        hi = min(lo + 100_000, n)
        x = centres[rng.integers(0, len(centres), hi - lo)]
        x += 0.7 * rng.standard_normal((hi - lo, dim)).astype(np.float32)
        out[lo:hi] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def child(script: Path, path: str, step: str, args: argparse.Namespace) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(
                None, [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")]
            )
        ),
    }
    result = subprocess.run(
        [sys.executable, str(script), path, step, str(args.dim), args.method,
         str(args.repeat), DOC],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import duckdb

    load = os.getloadavg()
    harness.print_header(
        f"A {args.method} index across a restart",
        [
            f"{args.rows:,} × FLOAT[{args.dim}] clustered unit vectors; each step a new process",
            f"load average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
        ],
    )
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = str(Path(tmp) / "restart.duckdb")
        script = Path(tmp) / "child.py"
        script.write_text(CHILD)
        con = duckdb.connect(path)
        topk.load_vectors(con, "t", clustered(args.rows, args.dim, args.seed))
        con.execute("CHECKPOINT").fetchall()
        con.close()
        before = os.path.getsize(path)
        built = child(script, path, "build", args)
        after = os.path.getsize(path)
        print(f"(built: {built})", flush=True)
        reopened = child(script, path, "reopen", args)
    rows = [
        ["build (vsa_create_index)", f"{built['build s']:.1f} s"],
        ["index data kept in the database", f"{built['index data bytes'] / 2**20:.1f} MiB"],
        [
            "database file growth",
            f"{(after - before) / 2**20:.1f} MiB (table alone {before / 2**20:.0f} MiB)",
        ],
        ["connect + register after the restart", f"{reopened['connect + register s']:.3f} s"],
        [
            "first query after the restart (loads)",
            f"{reopened['first query s (loads the index)']:.2f} s",
        ],
        ["second query", f"{reopened['second query s'] * 1000:.1f} ms"],
    ]
    if "blob bytes" in reopened:
        rows += [
            [
                "not chosen: faiss serialisation in a BLOB",
                f"{reopened['blob bytes'] / 2**20:.0f} MiB",
            ],
            ["  serialise + write + checkpoint", f"{reopened['blob: serialise + write s']:.1f} s"],
            ["  read + deserialise", f"{reopened['blob: read + deserialise s']:.1f} s"],
        ]
    print(harness.markdown_table(["step", "value"], rows))
    medians = reopened["median s"]
    floor, order = medians["floor: index.search + encode"], medians["order by: array_inner_product"]
    print()
    print(harness.markdown_table(
        ["one search", "median ms", "× floor", "× order by"],
        [[k, v * 1000, v / floor, v / order] for k, v in medians.items()],
    ))  # fmt: skip
    load = os.getloadavg()
    print(f"\nload average at end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")


if __name__ == "__main__":
    main()
