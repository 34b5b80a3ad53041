"""The ``duckdb-vsa`` command line, run as a subprocess on real files.

Every test starts ``python -m duckdb_vsa`` with this checkout on PYTHONPATH, so
it exercises argument parsing, file reading and writing, exit codes and the
messages users see.
"""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_python

import duckdb_vsa

ROOT = Path(__file__).resolve().parent.parent
DIM = 64
COMMANDS = ("encode", "search", "dedup", "explain", "info")


def cli(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = run_python("-m", "duckdb_vsa", *args, stdin=stdin, timeout=300)
    if check:
        assert result.returncode == 0, f"{args}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Assert a failed run printed exactly one error line, containing every needle."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("duckdb-vsa: error: "), lines[0]
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def documents(n: int = 60) -> list[str]:
    """Varied JSON texts, written with unusual spacing so re-serialising would show."""
    names = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov"]
    docs = []
    for i in range(n):
        doc = {
            "id": i,
            "name": f"{names[i % 5]} {i}",
            "born": 1800 + 7 * i,
            "tags": ["x", "y", "z"][: i % 4],
            "nested": {"deep": {"v": i * 0.5, "flag": i % 2 == 0}},
        }
        docs.append(json.dumps(doc, separators=(" ,", ":  "), ensure_ascii=bool(i % 2)))
    docs[7] = '"just a string"'
    docs[8] = '[1, 2, {"a": null}]'
    docs[9] = '{"name": "café 東京 😀", "n": 1e400, "big": 123456789012345678901234567890}'
    return docs


def vectors_of(path: Path, column: str = "vec") -> np.ndarray:
    table = pq.read_table(path)
    return np.asarray(table.column(column).combine_chunks().values, dtype=np.float32).reshape(
        table.num_rows, -1
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The same documents as JSON Lines, a JSON array, CSV and Parquet."""
    root = tmp_path_factory.mktemp("cli")
    docs = documents()
    paths = {
        "jsonl": root / "docs.jsonl",
        "json": root / "docs.json",
        "csv": root / "docs.csv",
        "parquet": root / "docs.parquet",
    }
    # A blank line and CRLF endings must not change anything.
    text = "\r\n".join(docs[:30]) + "\n\n" + "\n".join(docs[30:]) + "\n"
    paths["jsonl"].write_text(text, encoding="utf-8")
    paths["json"].write_text("[\n  " + ",\n  ".join(docs) + "\n]\n", encoding="utf-8")
    with paths["csv"].open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "doc"])
        writer.writerows(enumerate(docs))
    pq.write_table(
        pa.table({"id": pa.array(range(len(docs)), pa.int64()), "doc": docs}), paths["parquet"]
    )
    return paths


@pytest.fixture(scope="module")
def expected() -> np.ndarray:
    return duckdb_vsa.Encoder(dim=DIM).encode_batch(documents())


@pytest.fixture(scope="module")
def encoded(files, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("encoded") / "docs.parquet"
    cli("encode", files["jsonl"], "-o", out, "--dim", DIM, "-q")
    return out


# -- help and usage --------------------------------------------------------------------


def test_help_on_every_command() -> None:
    top = cli("--help")
    for command in COMMANDS:
        assert command in top.stdout
        result = cli(command, "--help")
        assert result.stdout.startswith("usage: duckdb-vsa " + command), result.stdout[:80]
        assert "--help" in result.stdout


def test_usage_errors_exit_2() -> None:
    result = cli("encode", check=False)
    assert result.returncode == 2
    assert "required" in result.stderr
    assert cli("nonsense", check=False).returncode == 2
    assert cli(check=False).returncode == 2


def test_console_script_is_declared() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    assert 'duckdb-vsa = "duckdb_vsa.cli:main"' in section
    from duckdb_vsa.cli import main

    assert main(["info", "--dim", "64", "--format", "json"]) == 0


# -- encode ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_encode_formats_are_bit_identical_to_encode_batch(fmt, files, expected, tmp_path) -> None:
    out = tmp_path / "out.parquet"
    result = cli("encode", files[fmt], "-o", out, "--dim", DIM)
    assert "encoded 60 records" in result.stderr
    table = pq.read_table(out)
    assert np.array_equal(vectors_of(out), expected)
    assert table.schema.field("vec").type == pa.list_(pa.float32(), DIM)
    docs = documents()
    if fmt == "jsonl":
        assert table.column_names == ["line", "doc", "vec"]
        assert table.column("doc").to_pylist() == docs  # the text as written
        assert table.column("line").to_pylist()[29:32] == [30, 32, 33]  # blank line 31
    elif fmt == "json":
        assert table.column_names == ["index", "doc", "vec"]
        assert table.column("index").to_pylist() == list(range(60))
        assert table.column("doc").to_pylist() == docs
    else:
        assert table.column_names == ["id", "doc", "vec"]
        assert table.column("id").to_pylist() == list(range(60))
    meta = json.loads(table.schema.metadata[b"duckdb_vsa"])
    assert meta["fingerprint"] == duckdb_vsa.Encoder(dim=DIM).fingerprint
    assert meta["vector_column"] == "vec"


def test_encode_struct_column_and_names(tmp_path) -> None:
    """A Parquet column of STRUCTs is encoded as its JSON; the column names are chosen."""
    src = tmp_path / "records.parquet"
    records = [{"name": f"item {i}", "size": i} for i in range(20)]
    pq.write_table(pa.table({"key": [f"k{i}" for i in range(20)], "rec": records}), src)
    out = tmp_path / "out.parquet"
    hints = {"$.size": {"kind": "category"}}
    cli(
        "encode", src, "-o", out, "--dim", DIM, "--json-column", "rec", "--column", "v", "-q",
        "--fields", json.dumps(hints), "--cache-mb", "1",
    )  # fmt: skip
    table = pq.read_table(out)
    assert table.column_names == ["key", "rec", "v"]
    assert table.column("rec").to_pylist() == records
    want = duckdb_vsa.Encoder(dim=DIM, fields=hints).encode_batch(records)
    assert np.array_equal(vectors_of(out, "v"), want)
    # search re-creates the encoder with its hints from the file alone.
    found = cli("search", out, "--query", json.dumps(records[4]), "-k", "1", "--format", "jsonl")
    hit = json.loads(found.stdout)
    assert hit["key"] == "k4" and abs(hit["score"] - 1) < 1e-5


def test_chunk_sizes_give_identical_files(files, tmp_path) -> None:
    outputs = []
    for size in (1, 7, 1000):
        out = tmp_path / f"out{size}.parquet"
        cli("encode", files["jsonl"], "-o", out, "--dim", DIM, "--chunk-size", size, "-q")
        outputs.append(pq.read_table(out))
    for other in outputs[1:]:
        assert other.equals(outputs[0])


def test_encode_into_duckdb_records_the_configuration(files, expected, tmp_path) -> None:
    db = tmp_path / "store.duckdb"
    cli("encode", files["csv"], "-o", db, "--dim", DIM, "--table", "items", "-q")
    con = duckdb.connect(str(db))
    duckdb_vsa.register(con, dim=DIM)
    assert con.sql(
        "SELECT data_type FROM duckdb_columns() WHERE column_name = 'vec'"
    ).fetchall() == [(f"FLOAT[{DIM}]",)]
    got = np.array(con.sql("SELECT vec FROM items ORDER BY id").fetchnumpy()["vec"].tolist())
    assert np.array_equal(got.astype(np.float32), expected)
    info = duckdb_vsa.column_info(con, "items", "vec")
    assert info["comparable"] and info["rows"] == 60 and info["source_column"] == "doc"
    # The SQL macros accept the table, and a connection of another configuration is refused.
    hits = con.sql(
        "SELECT id FROM vsa_search('items', 'vec', vsa_encode(?), k := 1)", params=[documents()[3]]
    ).fetchall()
    assert hits == [(3,)]
    other = con.cursor()
    duckdb_vsa.register(other, dim=DIM, seed=5)
    with pytest.raises(duckdb.Error, match="not comparable"):
        other.sql("SELECT * FROM vsa_search('items', 'vec', vsa_encode('1'), k := 1)").fetchall()
    con.close()
    # The table exists: refused without --overwrite, replaced with it.
    result = cli("encode", files["csv"], "-o", db, "--dim", DIM, "--table", "items", check=False)
    one_line_error(result, "--overwrite")
    cli("encode", files["csv"], "-o", db, "--dim", DIM, "--table", "items", "--overwrite", "-q")


def test_progress_bar(files, tmp_path) -> None:
    out = tmp_path / "out.parquet"
    result = cli("encode", files["jsonl"], "-o", out, "--dim", DIM, "--progress", "--chunk-size", 7)
    assert "60/60 records (100%)" in result.stderr
    assert "records/s" in result.stderr and "ETA" in result.stderr
    last_bar, summary = result.stderr.splitlines()[-2:]
    assert "60/60 records (100%)" in last_bar and " in 0:00:" in last_bar
    assert summary.startswith("duckdb-vsa: encoded 60 records")
    quiet = cli("encode", files["jsonl"], "-o", out, "--dim", DIM, "--overwrite", "-q")
    assert quiet.stderr == ""


def test_encode_from_stdin_and_gzip(files, expected, tmp_path) -> None:
    out = tmp_path / "stdin.parquet"
    text = files["jsonl"].read_text(encoding="utf-8")
    cli("encode", "-", "-o", out, "--dim", DIM, "-q", stdin=text)
    assert np.array_equal(vectors_of(out), expected)
    packed = tmp_path / "docs.jsonl.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    out2 = tmp_path / "gz.parquet"
    cli("encode", packed, "-o", out2, "--dim", DIM, "-q", "--progress")
    assert np.array_equal(vectors_of(out2), expected)


def test_encode_documents_over_several_lines(tmp_path) -> None:
    docs = ['{"a": 1.0,  "b": "x"}', '{\n  "n": 1\n}', "[1, 2]", '"s"']
    src = tmp_path / "docs.json"
    src.write_text("\n".join(docs) + "\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    # The first line is a whole document: JSON Lines, and line 2 is not one.
    one_line_error(cli("encode", src, "-o", out, check=False), "line 2", "--format json")
    cli("encode", src, "-o", out, "--format", "json", "--dim", DIM, "-q")
    table = pq.read_table(out)
    assert table.column("index").to_pylist() == [0, 1, 2, 3]
    assert table.column("doc").to_pylist() == docs
    assert np.array_equal(vectors_of(out), duckdb_vsa.Encoder(dim=DIM).encode_batch(docs))
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps({"a": [1, 2], "b": {"c": None}}, indent=2), encoding="utf-8")
    result = cli("encode", pretty, "-o", tmp_path / "p.parquet")  # found by itself
    assert "encoded 1 record into" in result.stderr


# -- bad input -------------------------------------------------------------------------


def test_invalid_json_line(tmp_path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text('{"a": 1}\n{"a": 2\n{"a": 3}\n', encoding="utf-8")
    out = tmp_path / "out.parquet"
    one_line_error(cli("encode", src, "-o", out, check=False), "line 2", "--on-error")
    assert not out.exists()
    assert not list(tmp_path.glob(".*.tmp"))
    cli("encode", src, "-o", out, "--on-error", "null", "-q", "--dim", DIM)
    table = pq.read_table(out)
    assert table.column("line").to_pylist() == [1, 2, 3]
    assert table.column("vec").is_null().to_pylist() == [False, True, False]
    result = cli("encode", src, "-o", out, "--on-error", "skip", "--overwrite", "--dim", DIM)
    assert "1 invalid documents skipped" in result.stderr
    assert pq.read_table(out).column("line").to_pylist() == [1, 3]


def test_other_errors_are_one_line(files, encoded, tmp_path) -> None:
    out = tmp_path / "out.parquet"
    one_line_error(
        cli("encode", tmp_path / "missing.jsonl", "-o", out, check=False), "No such file"
    )
    one_line_error(cli("search", tmp_path / "missing.parquet", "--query", "1", check=False))
    one_line_error(cli("encode", files["jsonl"], "-o", encoded, check=False), "--overwrite")
    one_line_error(
        cli("encode", files["jsonl"], "-o", out, "--dim", "9", check=False), "dim must be even"
    )
    one_line_error(
        cli("encode", files["parquet"], "-o", out, "--json-column", "nope", check=False),
        "--json-column",
    )
    one_line_error(cli("encode", files["jsonl"], "-o", tmp_path / "no" / "x.parquet", check=False))
    one_line_error(cli("search", encoded, "--query", "{oops", check=False), "query")
    one_line_error(cli("search", files["jsonl"], "--query", "1", check=False), "Parquet")
    bad_array = tmp_path / "bad.json"
    bad_array.write_text('[{"a": 1}, {"a": ]', encoding="utf-8")
    one_line_error(cli("encode", bad_array, "-o", out, check=False), "bad.json")
    one_line_error(cli("explain", "{}", "{", check=False), "second document")
    one_line_error(cli("info", "--config", '{"alpha": -1}', check=False), "alpha")


def test_mismatched_configuration_is_refused(encoded, tmp_path) -> None:
    for args in (["--seed", "1"], ["--dim", "128"], ["--config", '{"alpha": 0.5}']):
        line = one_line_error(
            cli("search", encoded, "--query", "{}", *args, check=False), "not comparable"
        )
        assert f"dim={DIM}, seed=0" in line
        one_line_error(cli("dedup", encoded, *args, check=False), "not comparable")
    # Matching options are accepted.
    cli("search", encoded, "--query", "{}", "--dim", DIM, "--seed", "0")
    # Vectors without a recorded configuration need matching options.
    bare = tmp_path / "bare.parquet"
    pq.write_table(pq.read_table(encoded).replace_schema_metadata(None), bare)
    one_line_error(cli("search", bare, "--query", "{}", check=False), "length 64", "--dim")
    cli("search", bare, "--query", "{}", "--dim", DIM)


# -- search, dedup, explain, info ------------------------------------------------------


def test_search_finds_the_planted_nearest(encoded) -> None:
    planted = json.loads(documents()[12])
    planted["name"] = "Grace Hoper 12"  # a typo
    query = json.dumps(planted)
    result = cli("search", encoded, "--query", query, "-k", "3", "--format", "jsonl")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert json.loads(rows[0]["doc"])["id"] == 12
    assert rows[0]["score"] > rows[1]["score"] >= rows[2]["score"]
    enc = duckdb_vsa.Encoder(dim=DIM)
    want = float(enc.encode(query) @ enc.encode(documents()[12]))
    assert abs(rows[0]["score"] - want) < 1e-5
    table = cli("search", encoded, "--query", query, "-k", "2", "--columns", "line").stdout
    lines = table.splitlines()
    assert lines[0].split() == ["rank", "score", "line"]
    assert lines[2].split()[0] == "1" and lines[2].split()[2] == "13"  # line 13: id 12
    assert len(lines) == 4


def test_search_query_file_and_duckdb_store(files, tmp_path) -> None:
    db = tmp_path / "s.duckdb"
    cli("encode", files["json"], "-o", db, "--dim", DIM, "-q")
    query = tmp_path / "q.json"
    query.write_text(json.dumps({"name": "Alan Turing 21", "born": 1947}), encoding="utf-8")
    result = cli("search", db, "--query-file", query, "-k", "1", "--format", "csv")
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert rows[0]["index"] == "21"


def test_dedup_finds_planted_duplicates(tmp_path) -> None:
    docs = [{"sku": f"S{i}", "name": f"product number {i}", "price": 10 + i} for i in range(40)]
    planted = {(3, 40), (17, 41), (25, 42)}
    docs.append({"price": 13, "name": "product number 3", "sku": "S3"})  # keys reordered
    docs.append({"sku": "S17", "name": "product numbr 17", "price": 27})  # a typo
    docs.append({"sku": "S25", "name": "product number 25", "price": 35.2})  # price jitter
    src = tmp_path / "p.jsonl"
    src.write_text("\n".join(json.dumps(d) for d in docs) + "\n", encoding="utf-8")
    out = tmp_path / "p.parquet"
    cli("encode", src, "-o", out, "--dim", "1024", "-q")
    result = cli("dedup", out, "--threshold", "0.9", "--format", "jsonl")
    pairs = [json.loads(line) for line in result.stdout.splitlines()]
    found = {(p["l.line"] - 1, p["r.line"] - 1) for p in pairs}
    assert found == planted
    assert all(p["score"] >= 0.9 for p in pairs)
    assert "3 pairs" in result.stderr
    limited = cli("dedup", out, "--threshold", "0.9", "--limit", "1", "--columns", "line")
    assert len(limited.stdout.splitlines()) == 3  # header, rule, one pair


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


def test_info(encoded, tmp_path) -> None:
    plain = json.loads(cli("info", "--dim", "128", "--format", "json").stdout)
    assert plain["fingerprint"] == duckdb_vsa.Encoder(dim=128).fingerprint
    assert plain["config"]["dim"] == 128
    stored = json.loads(cli("info", encoded, "--format", "json").stdout)
    assert stored["rows"] == 60 and stored["dim"] == DIM and stored["vector_column"] == "vec"
    assert stored["fingerprint"] == duckdb_vsa.Encoder(dim=DIM).fingerprint
    assert stored["columns"] == ["line", "doc"]
    text = cli("info", encoded, "--seed", "3").stdout
    assert "comparable     False" in text
    # The JSON output of info is a --config for another command.
    config = tmp_path / "info.json"
    config.write_text(json.dumps(stored), encoding="utf-8")
    again = json.loads(cli("info", "--config", f"@{config}", "--format", "json").stdout)
    assert again["fingerprint"] == stored["fingerprint"]


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
