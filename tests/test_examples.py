"""The examples in examples/ run and print what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart_runs_and_finds_matches() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    out = result.stdout
    assert "encoded 252 products and 40 order lines" in out
    accuracy = int(out.split("top-1 match accuracy over all 40 orders: ")[1].split("%")[0])
    assert accuracy >= 90
    # Every planted near-duplicate (a typo in the name) is listed.
    assert out.count("P02") >= 12
