"""benchmarks/quality.py --quick runs end to end and prints every table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "quality.py"


def _run(tmp_path: Path, *args: str) -> str:
    env = dict(os.environ)
    # The script imports duckdb_vsa: make the checkout importable without an install.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_quick_run_prints_every_table(tmp_path: Path) -> None:
    out = _run(tmp_path)
    for header in (
        "## Label retrieval",
        "## Near-duplicate retrieval",
        "## Near-duplicate retrieval: events",
        "## Near-duplicate retrieval: pull requests",
        "## Binding",
        "## Invariances",
        "## Capacity",
    ):
        assert header in out
    methods = "| duckdb_vsa | feature hashing | exact path=value | TF-IDF 3-grams |"
    assert "| set " in out and "| metric | duckdb_vsa" in out
    assert out.count(methods) == 6
    for row in (
        "| iris",
        "| digits",
        "| orders: strings",
        "| events: numbers",
        "| pull requests: strings",
        "| 3 vs 3.0",
        "| duckdb_vsa D=256",
    ):
        assert row in out
    assert "| 1-2 typos in every string" in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "capacity.png").stat().st_size > 0


def test_quick_sweep_prints_its_tables(tmp_path: Path) -> None:
    out = _run(tmp_path, "--sweep")
    assert "## Sweep results" in out
    assert "## Sweep recommendation" in out
    assert "| current defaults" in out
