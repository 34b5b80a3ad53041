"""The examples in examples/ run and print what they promise."""

from __future__ import annotations

from pathlib import Path

from conftest import run_python

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Products P0241..P0252 are planted near-copies (a typo in the name) of earlier products.
PLANTED = {f"P{i:04d}" for i in range(241, 253)}


def near_duplicate_rows(out: str) -> list[list[str]]:
    """The data rows of the near-duplicate table that the quickstart prints last."""
    section = out.split("3. Near-duplicate listings")[1]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 5 and cells[0].startswith("P"):
            rows.append(cells)
    return rows


def test_quickstart_runs_and_finds_matches() -> None:
    result = run_python(str(EXAMPLES / "quickstart.py"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "encoded 252 products and 40 order lines" in out
    accuracy = int(out.split("top-1 match accuracy over all 40 orders: ")[1].split("%")[0])
    assert accuracy >= 90

    rows = near_duplicate_rows(out)
    id_b = {row[2] for row in rows}
    missing = PLANTED - id_b
    assert not missing, f"planted near-duplicates not listed as id_b: {sorted(missing)}"
    for id_a, _, other, _, score in rows:
        assert id_a < other, (id_a, other)  # each pair once, earlier product first
        assert float(score) >= 0.85
    pairs = [(row[0], row[2]) for row in rows]
    assert len(pairs) == len(set(pairs))


def test_explain_example_runs_and_explains() -> None:
    result = run_python(str(EXAMPLES / "explain.py"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    table = out.split("1. Why")[1].split("the contributions add up")[0]
    contributions = [
        float(line.split("│")[2]) for line in table.splitlines() if line.startswith(("│ $.", "│ ("))
    ]
    total = float(out.split("vsa_similarity = ")[1].split()[0])
    assert abs(sum(contributions) - total) < 0.01
    assert contributions == sorted(contributions, reverse=True)
    decoded = out.split("3. Decode")[1]
    for brand, tag in [("Peak", "running"), ("Urbana", "casual"), ("Peak", "hiking")]:
        assert f'"{brand}"' in decoded and f'"{tag}"' in decoded
    red = out.split("2. Filter")[1].split("3. Decode")[0]
    scores = [float(line.split("│")[2]) for line in red.splitlines() if line.startswith("│     ")]
    assert scores[0] > 0.3 and scores[1] > 0.3 and abs(scores[2]) < 0.15 and abs(scores[3]) < 0.15


def test_distributed_example_encodes_on_two_workers_and_searches(tmp_path) -> None:
    out_dir = tmp_path / "products.parquet"
    result = run_python(str(EXAMPLES / "distributed_encode.py"), "--out", str(out_dir))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    workers = int(out.split(" worker processes")[0].rsplit(" on ", 1)[1])
    assert workers == 2, out
    assert "252 vectors read back from Parquet; 252 of 252 equal vsa_encode(doc) in DuckDB" in out
    assert sorted(p.name for p in out_dir.glob("*.parquet")), "no Parquet files written"

    results = out.split("most similar to")[1]
    rows = [
        [c.strip() for c in line.strip().strip("│").split("│")]
        for line in results.splitlines()
        if line.startswith("│ P")
    ]
    assert len(rows) == 5
    scores = [float(row[3]) for row in rows]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.3
    assert all("shoe" in row[1] or "boot" in row[1] for row in rows[:3]), rows
