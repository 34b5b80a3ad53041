"""``duckdb-vsa explain`` and ``info``.

Every test runs ``python -m duckdb_vsa`` as a subprocess on real files.
"""

from __future__ import annotations

import json

from conftest import CLI_DIM, cli

import duckdb_vsa


def test_explain(tmp_path) -> None:
    a = {"name": "Ada Lovelace", "born": 1815, "langs": ["en", "fr"]}
    b = {"name": "Ada King", "born": 1815, "langs": ["fr", "en"]}
    result = cli("explain", json.dumps(a), json.dumps(b), "--dim", "256", "--format", "jsonl")
    parts = [json.loads(line) for line in result.stdout.splitlines()]
    enc = duckdb_vsa.Encoder(dim=256)
    want = enc.explain(a, b)
    assert [p["path"] for p in parts] == [p for p, _ in want]
    assert abs(sum(p["contribution"] for p in parts) - float(enc.encode(a) @ enc.encode(b))) < 1e-4
    doc = tmp_path / "a.json"
    doc.write_text(json.dumps(a), encoding="utf-8")
    table = cli("explain", f"@{doc}", json.dumps(b), "--dim", "256").stdout
    assert "$.born" in table and "similarity" in table.splitlines()[-1]


def test_info(cli_encoded, tmp_path) -> None:
    plain = json.loads(cli("info", "--dim", "128", "--format", "json").stdout)
    assert plain["fingerprint"] == duckdb_vsa.Encoder(dim=128).fingerprint
    assert plain["config"]["dim"] == 128
    stored = json.loads(cli("info", cli_encoded, "--format", "json").stdout)
    assert stored["rows"] == 60 and stored["dim"] == CLI_DIM and stored["vector_column"] == "vec"
    assert stored["fingerprint"] == duckdb_vsa.Encoder(dim=CLI_DIM).fingerprint
    assert stored["columns"] == ["line", "doc"]
    text = cli("info", cli_encoded, "--seed", "3").stdout
    assert "comparable     False" in text
    # The JSON output of info is a --config for another command.
    config = tmp_path / "info.json"
    config.write_text(json.dumps(stored), encoding="utf-8")
    again = json.loads(cli("info", "--config", f"@{config}", "--format", "json").stdout)
    assert again["fingerprint"] == stored["fingerprint"]
