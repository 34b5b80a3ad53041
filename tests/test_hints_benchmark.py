"""benchmarks/hints_quality.py runs and shows a hint that helps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import duckdb_vsa

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "hints_quality.py"


def test_hints_benchmark_quick() -> None:
    env = dict(os.environ)
    package_root = str(Path(duckdb_vsa.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
        env=env,
    ).stdout
    rows = {
        cells[1]: (float(cells[3]), float(cells[4]))
        for cells in (line.split("|") for line in out.splitlines())
        if len(cells) == 6 and cells[3].strip().replace(".", "").isdigit()
    }
    rows = {name.strip(): scores for name, scores in rows.items()}
    before, after = rows["films: remakes (year)"]
    assert after >= before + 0.1 and after >= 0.95
    before, after = rows["products: SKU variants (sku)"]
    assert after >= before
