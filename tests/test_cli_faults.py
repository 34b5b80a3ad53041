"""``duckdb-vsa encode`` under faults: signals, the leftovers of a killed run, a full disk.

Every test runs ``python -m duckdb_vsa`` as a subprocess on real files. A run is
stopped at a known point by feeding it JSON Lines through a pipe: its first
progress line means the first chunk is in the output, and it then waits for
more input.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import subprocess
from pathlib import Path

import duckdb
import pytest
from conftest import CLI_DIM, cli, cli_popen

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and resource limits")


def start_encode(output: Path, *args: str) -> subprocess.Popen:
    """An encode into ``output`` that has written its first chunk and waits for more input."""
    proc = cli_popen(
        "encode", "-", "-o", output, "--dim", CLI_DIM, "--chunk-size", 1, "--progress", *args
    )
    proc.stdin.write('{"a": 1}\n{"a": 2}\n')
    proc.stdin.flush()
    ready, _, _ = select.select([proc.stderr], [], [], 120)
    assert ready, "encode printed no progress"
    line = proc.stderr.readline()
    assert "records" in line, line
    return proc


def staging_tables(db: Path) -> list[str]:
    con = duckdb.connect(str(db))
    try:
        rows = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '\\_\\_vsa\\_staging%' "
            "ESCAPE '\\' ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def table_names(db: Path) -> set[str]:
    con = duckdb.connect(str(db))
    try:
        return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    finally:
        con.close()


def hidden_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


@pytest.fixture
def small_input(tmp_path) -> Path:
    src = tmp_path / "small.jsonl"
    src.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(5)), encoding="utf-8")
    return src


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")],
)
@pytest.mark.parametrize("suffix", [".duckdb", ".parquet"])
def test_a_signal_removes_what_encode_wrote(signum, code, said, suffix, tmp_path) -> None:
    out = tmp_path / ("store" + suffix)
    proc = start_encode(out)
    proc.send_signal(signum)
    proc.wait(timeout=120)  # stdin stays open: the signal, not the end of input, stops it
    _, err = proc.communicate()
    assert proc.returncode == code, err
    assert f"duckdb-vsa: {said}" in err
    if suffix == ".duckdb":
        assert table_names(out) == set()
    else:
        assert not out.exists()
        assert hidden_files(tmp_path) == []


def test_staging_table_of_a_killed_run_is_dropped_by_the_next(tmp_path, small_input) -> None:
    db = tmp_path / "store.duckdb"
    proc = start_encode(db, "--table", "first")
    proc.kill()
    proc.communicate(timeout=120)
    left = staging_tables(db)
    assert len(left) == 1
    result = cli("encode", small_input, "-o", db, "--table", "second", "--dim", CLI_DIM, "-q")
    assert f"dropped the staging table {left[0]}" in result.stderr
    assert f"(process {proc.pid})" in result.stderr
    assert table_names(db) == {"second", "duckdb_vsa_columns"}


def test_temporary_file_of_a_killed_run_is_removed_by_the_next(tmp_path, small_input) -> None:
    out = tmp_path / "out.parquet"
    proc = start_encode(out)
    proc.kill()
    proc.communicate(timeout=120)
    assert hidden_files(tmp_path) == [f".out.parquet.{proc.pid}.tmp"]
    result = cli("encode", small_input, "-o", out, "--dim", CLI_DIM, "-q")
    assert f"removed {tmp_path / f'.out.parquet.{proc.pid}.tmp'}" in result.stderr
    assert hidden_files(tmp_path) == []
    assert out.exists()


def test_leftovers_of_a_live_process_are_kept(tmp_path, small_input) -> None:
    """What carries the id of a process that still exists (this one) is not removed."""
    db = tmp_path / "store.duckdb"
    mine = f"__vsa_staging_{os.getpid()}_0123abcd"
    con = duckdb.connect(str(db))
    con.execute(f"CREATE TABLE {mine} AS SELECT 1 AS x")
    con.close()
    result = cli("encode", small_input, "-o", db, "--dim", CLI_DIM, "-q")
    assert mine in staging_tables(db)
    assert f"process {os.getpid()}, which still exists" in result.stderr
    out = tmp_path / "out.parquet"
    tmp = tmp_path / f".out.parquet.{os.getpid()}.tmp"
    tmp.write_bytes(b"partial")
    cli("encode", small_input, "-o", out, "--dim", CLI_DIM, "-q")
    assert tmp.read_bytes() == b"partial"


def run_with_file_size_limit(limit: int, *args: str | Path) -> subprocess.CompletedProcess:
    """Run the CLI where no file may grow beyond ``limit`` bytes (as on a full disk)."""

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = cli_popen(*args, preexec_fn=limit_files)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("suffix", [".parquet", ".duckdb"])
def test_a_write_error_names_the_file(suffix, tmp_path) -> None:
    src = tmp_path / "many.jsonl"
    src.write_text(
        "".join(json.dumps({"id": i, "name": f"item {i}"}) + "\n" for i in range(400)),
        encoding="utf-8",
    )
    out = tmp_path / ("out" + suffix)
    args = ("encode", src, "-o", out, "--dim", 1024, "--chunk-size", 50)
    result = run_with_file_size_limit(300_000, *args)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("duckdb-vsa: error: Cannot write"), last
    assert str(out.name) in last
    if suffix == ".parquet":
        assert not out.exists()
        assert hidden_files(tmp_path) == []
    else:
        assert table_names(out) == set()


def test_leftovers_are_removed_even_by_a_run_that_is_refused(tmp_path, small_input) -> None:
    out = tmp_path / "out.parquet"
    cli("encode", small_input, "-o", out, "--dim", CLI_DIM, "-q")
    proc = start_encode(out, "--overwrite")
    proc.kill()
    proc.communicate(timeout=120)
    assert hidden_files(tmp_path) == [f".out.parquet.{proc.pid}.tmp"]
    refused = cli("encode", small_input, "-o", out, "--dim", CLI_DIM, check=False)
    assert refused.returncode == 1 and "--overwrite" in refused.stderr
    assert hidden_files(tmp_path) == []
