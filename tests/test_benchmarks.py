"""The benchmark scripts run in --quick mode and print a table naming every contender.

No timing is asserted: the figures depend on the machine and its load.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"


def run_quick(script: str) -> str:
    env = dict(os.environ)
    # The scripts import duckdb_vsa: measure this checkout, not an installed copy.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    out = result.stdout
    # Every script describes the machine before its results.
    for field in ("| cores", "| cpu", "| python", "| numpy", "| duckdb "):
        assert field in out, f"{script} does not report {field.strip('| ')}"
    return out


def table_rows(out: str, first_header: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header}"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def test_encode_throughput_quick() -> None:
    out = run_quick("encode_throughput.py")
    rows = "\n".join(table_rows(out, "workload"))
    for contender in (
        "duckdb_vsa perm",
        "duckdb_vsa haar",
        "feature hashing (sklearn FeatureHasher)",
        "parse floor",
        "duckdb_vsa parse + flatten only",
    ):
        assert contender in rows, contender
    # Each workload's figures are set against the targets in the same run.
    for workload in ("flat", "nested", "text"):
        assert f"note: {workload}: perm = " in out, workload
        assert f"note: {workload}: parsing and flattening alone" in out, workload
    # torchhd is either measured or skipped with a note.
    assert "torchhd hash_table (MAP)" in out
    for workload in ("flat", "nested", "text"):
        assert f"| {workload} " in rows, workload


def test_sql_encode_quick() -> None:
    out = run_quick("sql_encode.py")
    rows = [cells(r) for r in table_rows(out, "path")]
    assert any("Encoder.encode_arrow" in r[0] for r in rows)
    threads = {r[1] for r in rows if "vsa_encode" in r[0]}
    assert "1" in threads, threads


def test_topk_join_quick() -> None:
    out = run_quick("topk_join.py")
    rows = [cells(r) for r in table_rows(out, "workload")]
    methods = {r[2] for r in rows}
    for contender in ("vsa_topk_join macro", "plain SQL max_by", "numpy BLAS floor"):
        assert any(contender in m for m in methods), contender
    assert {(r[0], r[1]) for r in rows} >= {
        ("random", "256"),
        ("random", "1024"),
        ("records", "256"),
    }


def test_profile_encode_quick() -> None:
    out = run_quick("profile_encode.py")
    rows = "\n".join(table_rows(out, "workload"))
    for stage in ("parse", "flatten", "leaf vectors", "bind", "sparse sum", "Arrow", "total"):
        assert stage in rows, stage


def test_dask_encode_quick() -> None:
    out = run_quick("dask_encode.py")
    rows = [cells(r) for r in table_rows(out, "scenario")]
    assert {(r[0], r[1].split(",")[0]) for r in rows} == {
        ("encode", "1 process (Encoder.encode_arrow)"),
        ("encode", "Dask LocalCluster"),
        ("JSON Lines -> Parquet", "1 process (Encoder.encode_arrow)"),
        ("JSON Lines -> Parquet", "Dask LocalCluster"),
        ("encode, warm caches", "1 process (Encoder.encode_arrow)"),
        ("encode, warm caches", "Dask LocalCluster"),
    }
    assert all(r[2] == "2,000" for r in rows)
    assert any("2 workers" in r[1] for r in rows)
    assert "LocalCluster start-up (2 worker processes)" in out


def test_cli_encode_quick() -> None:
    out = run_quick("cli_encode.py")
    rows = [cells(row) for row in table_rows(out, "workload")]
    assert {(r[1], r[2]) for r in rows} == {
        ("500", "parquet"),
        ("500", "duckdb"),
        ("2,000", "parquet"),
        ("2,000", "duckdb"),
    }
    assert "duckdb-vsa search" in out


def test_ann_topk_quick() -> None:
    out = run_quick("ann_topk.py")
    rows = [cells(r) for r in table_rows(out, "rows")]
    methods = {r[2] for r in rows}
    for contender in ("exact: ExactIndex.search", "exact: vsa_index_topk_join (SQL)"):
        assert contender in methods, contender
    # The optional engines are either measured or skipped with a note.
    engines = (
        ("hnsw (faiss)", "(hnsw faiss skipped"),
        ("ivf (faiss)", "(ivf skipped"),
        ("usearch", "(usearch skipped"),
    )
    for engine, skipped in engines:
        assert any(engine in m for m in methods) or skipped in out, engine
    assert "DuckDB vss (HNSW) extension:" in out
    for row in rows:
        recall = float(row[-1])
        assert 0.0 <= recall <= 1.0, row


def test_encode_memory_quick() -> None:
    out = run_quick("encode_memory.py")
    rows = [cells(r) for r in table_rows(out, "workload")]
    assert len(rows) == 1 and rows[0][0] == "flat"
    assert int(rows[0][1].replace(",", "")) == 5_000
    assert float(rows[0][6].replace(",", "")) > 0  # peak RSS MiB


def test_identifier_keys_quick() -> None:
    out = run_quick("identifier_keys.py")
    rows = {r[0]: r for r in (cells(row) for row in table_rows(out, "keys"))}
    assert set(rows) == {"fixed", "identifier"}
    for row in rows.values():
        assert float(row[1].replace(",", "")) > 0  # documents/s
        assert float(row[4]) == 256  # the default cache budget, MiB
    assert "fixed ÷ identifier rate:" in out


def test_incremental_encode_quick() -> None:
    out = run_quick("incremental_encode.py")
    rows = [cells(r) for r in table_rows(out, "call")]
    by_call = {r[0]: r for r in rows}
    assert by_call["second call, nothing changed"][2] == "0"
    incremental = next(r for r in rows if r[0].endswith("incremental"))
    every = next(r for r in rows if r[0].endswith("every row") and r[0].startswith("after"))
    assert incremental[2] == "40" and every[2] == "2,020"
    assert "load average before:" in out and "load average after:" in out


def test_marker_check_quick() -> None:
    out = run_quick("marker_check.py")
    rows = [cells(r) for r in table_rows(out, "what")]
    rules = {(r[0].split(",")[0], r[1]) for r in rows}
    for rule in ("none", "query + first stored", "query + every stored"):
        assert ("vsa_search", rule) in rules
    assert any(r[1] == "vsa_cosine (both arguments)" for r in rows)
    assert all(float(r[3].replace(",", "")) > 0 for r in rows)
