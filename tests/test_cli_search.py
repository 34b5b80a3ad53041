"""``duckdb-vsa search`` and ``dedup``: results, configuration checks, the SQL macros agree.

Every test runs ``python -m duckdb_vsa`` as a subprocess on real files.
"""

from __future__ import annotations

import csv
import json

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import CLI_DIM, ROOT, cli, cli_documents, one_line_error

import duckdb_vsa


def test_mismatched_configuration_is_refused(cli_encoded, tmp_path) -> None:
    for args in (["--seed", "1"], ["--dim", "128"], ["--config", '{"alpha": 0.5}']):
        line = one_line_error(
            cli("search", cli_encoded, "--query", "{}", *args, check=False), "not comparable"
        )
        assert f"dim={CLI_DIM}, seed=0" in line
        one_line_error(cli("dedup", cli_encoded, *args, check=False), "not comparable")
    # Matching options are accepted.
    cli("search", cli_encoded, "--query", "{}", "--dim", CLI_DIM, "--seed", "0")
    # Vectors without a recorded configuration need matching options.
    bare = tmp_path / "bare.parquet"
    pq.write_table(pq.read_table(cli_encoded).replace_schema_metadata(None), bare)
    one_line_error(cli("search", bare, "--query", "{}", check=False), "length 64", "--dim")
    cli("search", bare, "--query", "{}", "--dim", CLI_DIM)


def test_search_finds_the_planted_nearest(cli_encoded) -> None:
    planted = json.loads(cli_documents()[12])
    planted["name"] = "Grace Hoper 12"  # a typo
    query = json.dumps(planted)
    result = cli("search", cli_encoded, "--query", query, "-k", "3", "--format", "jsonl")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert json.loads(rows[0]["doc"])["id"] == 12
    assert rows[0]["score"] > rows[1]["score"] >= rows[2]["score"]
    enc = duckdb_vsa.Encoder(dim=CLI_DIM)
    want = float(enc.encode(query) @ enc.encode(cli_documents()[12]))
    assert abs(rows[0]["score"] - want) < 1e-5
    table = cli("search", cli_encoded, "--query", query, "-k", "2", "--columns", "line").stdout
    lines = table.splitlines()
    assert lines[0].split() == ["rank", "score", "line"]
    assert lines[2].split()[0] == "1" and lines[2].split()[2] == "13"  # line 13: id 12
    assert len(lines) == 4


def test_search_query_file_and_duckdb_store(cli_files, tmp_path) -> None:
    db = tmp_path / "s.duckdb"
    cli("encode", cli_files["json"], "-o", db, "--dim", CLI_DIM, "-q")
    query = tmp_path / "q.json"
    # Record 21 itself, its keys in another order and one tag dropped.
    record = {"nested": {"deep": {"flag": False, "v": 10.5}}, "tags": ["x"], "born": 1947}
    query.write_text(json.dumps({**record, "name": "Alan Turing 21", "id": 21}), encoding="utf-8")
    result = cli("search", db, "--query-file", query, "-k", "1", "--format", "csv")
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert rows[0]["index"] == "21"


#: Distinct words, so that products differ in their names by more than a digit.
WORDS = [
    *("amber", "birch", "cobalt", "delta", "ember", "fjord", "garnet", "harbor", "indigo"),
    *("juniper", "kelp", "lumen", "maple", "nimbus", "onyx", "pine", "quartz", "raven"),
    *("sable", "tundra", "umber", "violet", "willow", "xenon", "yarrow", "zephyr", "aspen"),
    *("basalt", "cedar", "dune", "echo", "flint", "glacier", "heath", "iris", "jade"),
    *("kestrel", "lotus", "moss", "nectar"),
]


def product_name(i: int) -> str:
    return f"{WORDS[i]} {WORDS[(i * 7 + 3) % 40]} table lamp"


def test_dedup_finds_planted_duplicates(tmp_path) -> None:
    docs = [{"sku": f"S{i}", "name": product_name(i), "price": 10 + i} for i in range(40)]
    planted = {(3, 40), (17, 41), (25, 42)}
    docs.append({"price": 13, "name": product_name(3), "sku": "S3"})  # keys reordered
    typo = product_name(17).replace("table", "tabel")
    docs.append({"sku": "S17", "name": typo, "price": 27})  # a typo
    docs.append({"sku": "S25", "name": product_name(25), "price": 35.2})  # price jitter
    src = tmp_path / "p.jsonl"
    src.write_text("\n".join(json.dumps(d) for d in docs) + "\n", encoding="utf-8")
    out = tmp_path / "p.parquet"
    cli("encode", src, "-o", out, "--dim", "1024", "-q")
    result = cli("dedup", out, "--threshold", "0.85", "--format", "jsonl")
    pairs = [json.loads(line) for line in result.stdout.splitlines()]
    found = {(p["l.line"] - 1, p["r.line"] - 1) for p in pairs}
    assert found == planted
    assert all(p["score"] >= 0.85 for p in pairs)
    assert "3 pairs" in result.stderr
    limited = cli("dedup", out, "--threshold", "0.85", "--limit", "1", "--columns", "line")
    assert len(limited.stdout.splitlines()) == 3  # header, rule, one pair


def test_search_and_dedup_agree_with_the_sql_macros(tmp_path) -> None:
    db = tmp_path / "shop.duckdb"
    cli("encode", ROOT / "examples" / "data" / "products.jsonl", "-o", db, "--table", "p", "-q")
    query = '{"name": "red linen shirt", "category": "shirts"}'
    found = cli("search", db, "--query", query, "-k", "5", "--format", "jsonl", "--columns", "line")
    dups = cli("dedup", db, "--threshold", "0.85", "--format", "jsonl", "--columns", "line", "-q")
    con = duckdb.connect(str(db), read_only=True)
    duckdb_vsa.register(con)
    want = con.execute(
        "SELECT line, score FROM vsa_search('p', 'vec', vsa_encode(?), k := 5)", [query]
    ).fetchall()
    got = [json.loads(line) for line in found.stdout.splitlines()]
    assert [r["line"] for r in got] == [line for line, _ in want]
    assert np.allclose([r["score"] for r in got], [s for _, s in want], atol=1e-5)
    want_pairs = con.execute(
        "SELECT l.line, r.line FROM vsa_near_duplicates('p', 'vec', threshold := 0.85)"
    ).fetchall()
    got_pairs = [json.loads(line) for line in dups.stdout.splitlines()]
    assert len(want_pairs) > 3
    assert [(p["l.line"], p["r.line"]) for p in got_pairs] == want_pairs


def test_columns_with_commas_in_their_names(tmp_path) -> None:
    src = tmp_path / "people.parquet"
    docs = [json.dumps({"name": f"person {i}", "age": 20 + i}) for i in range(12)]
    names = [f"Last{i}, First{i}" for i in range(12)]
    pq.write_table(pa.table({"id": list(range(12)), "last, first": names, "doc": docs}), src)
    out = tmp_path / "people_vec.parquet"
    cli("encode", src, "-o", out, "--dim", CLI_DIM, "-q")
    query = ("--query", docs[4], "-k", "1", "--format", "jsonl")
    for columns in (['"last, first",id'], ['"last, first"', "--columns", "id"]):
        found = cli("search", out, *query, "--columns", *columns)
        assert json.loads(found.stdout) == {
            "rank": 1,
            "score": pytest.approx(1.0, abs=1e-5),
            "last, first": "Last4, First4",
            "id": 4,
        }
    pairs = cli("dedup", out, "--threshold", "-1", "--limit", "1", "--format", "jsonl", "-q",
                "--columns", '"last, first"')  # fmt: skip
    assert set(json.loads(pairs.stdout)) == {"score", "l.last, first", "r.last, first"}
    # Unquoted, the name is two names; the error says how to quote it.
    line = one_line_error(cli("search", out, *query, "--columns", "last, first", check=False))
    assert "no column 'last'" in line and "'\"last, first\"'" in line


def test_a_store_without_recorded_configuration_is_noted(cli_encoded, tmp_path) -> None:
    bare = tmp_path / "bare.parquet"
    pq.write_table(pq.read_table(cli_encoded).replace_schema_metadata(None), bare)
    for command in (["search", bare, "--query", "{}"], ["dedup", bare, "-q"]):
        result = cli(*command, "--dim", CLI_DIM)
        assert result.stderr.startswith(
            f"duckdb-vsa: no encoder configuration is recorded with {bare}; using the options "
            f"given (dim={CLI_DIM}, seed=0"
        ), result.stderr
    assert cli("search", cli_encoded, "--query", "{}").stderr == ""


def test_a_file_that_is_not_an_encoded_store(cli_files) -> None:
    for command in (["dedup"], ["search", "--query", "{}"]):
        line = one_line_error(cli(command[0], cli_files["jsonl"], *command[1:], check=False))
        assert "not an encoded store" in line and "encode it first" in line, line
        assert f"duckdb-vsa encode {cli_files['jsonl']} -o" in line
    # Parquet without vectors: encode it too.
    line = one_line_error(cli("dedup", cli_files["parquet"], check=False), "no vector column")
    assert "encode" in line
