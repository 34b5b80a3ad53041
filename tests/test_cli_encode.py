"""``duckdb-vsa encode`` into Parquet: every input format, chunking, progress, bad input.

Every test runs ``python -m duckdb_vsa`` as a subprocess on real files.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import CLI_DIM, cli, cli_documents, one_line_error, parquet_vectors

import duckdb_vsa


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_encode_formats_are_bit_identical_to_encode_batch(
    fmt, cli_files, cli_expected, tmp_path
) -> None:
    out = tmp_path / "out.parquet"
    result = cli("encode", cli_files[fmt], "-o", out, "--dim", CLI_DIM)
    assert "encoded 60 records" in result.stderr
    table = pq.read_table(out)
    assert np.array_equal(parquet_vectors(out), cli_expected)
    assert table.schema.field("vec").type == pa.list_(pa.float32(), CLI_DIM)
    docs = cli_documents()
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
    assert meta["fingerprint"] == duckdb_vsa.Encoder(dim=CLI_DIM).fingerprint
    assert meta["vector_column"] == "vec"


def test_encode_struct_column_and_names(tmp_path) -> None:
    """A Parquet column of STRUCTs is encoded as its JSON; the column names are chosen."""
    src = tmp_path / "records.parquet"
    records = [{"name": f"item {i}", "size": i} for i in range(20)]
    pq.write_table(pa.table({"key": [f"k{i}" for i in range(20)], "rec": records}), src)
    out = tmp_path / "out.parquet"
    hints = {"$.size": {"kind": "category"}}
    cli(
        "encode", src, "-o", out, "--dim", CLI_DIM, "--json-column", "rec", "--column", "v", "-q",
        "--fields", json.dumps(hints), "--cache-mb", "1",
    )  # fmt: skip
    table = pq.read_table(out)
    assert table.column_names == ["key", "rec", "v"]
    assert table.column("rec").to_pylist() == records
    want = duckdb_vsa.Encoder(dim=CLI_DIM, fields=hints).encode_batch(records)
    assert np.array_equal(parquet_vectors(out, "v"), want)
    # search re-creates the encoder with its hints from the file alone.
    found = cli("search", out, "--query", json.dumps(records[4]), "-k", "1", "--format", "jsonl")
    hit = json.loads(found.stdout)
    assert hit["key"] == "k4" and abs(hit["score"] - 1) < 1e-5


def test_chunk_sizes_give_identical_files(cli_files, tmp_path) -> None:
    outputs = []
    for size in (1, 7, 1000):
        out = tmp_path / f"out{size}.parquet"
        cli("encode", cli_files["jsonl"], "-o", out, "--dim", CLI_DIM, "--chunk-size", size, "-q")
        outputs.append(pq.read_table(out))
    for other in outputs[1:]:
        assert other.equals(outputs[0])


def test_progress_bar(cli_files, tmp_path) -> None:
    out = tmp_path / "out.parquet"
    result = cli(
        "encode", cli_files["jsonl"], "-o", out, "--dim", CLI_DIM, "--progress", "--chunk-size", 7
    )
    assert "60/60 records (100%)" in result.stderr
    assert "records/s" in result.stderr and "ETA" in result.stderr
    last_bar, summary = result.stderr.splitlines()[-2:]
    assert "60/60 records (100%)" in last_bar and " in 0:00:" in last_bar
    assert summary.startswith("duckdb-vsa: encoded 60 records")
    quiet = cli("encode", cli_files["jsonl"], "-o", out, "--dim", CLI_DIM, "--overwrite", "-q")
    assert quiet.stderr == ""


def test_encode_from_stdin_and_gzip(cli_files, cli_expected, tmp_path) -> None:
    out = tmp_path / "stdin.parquet"
    text = cli_files["jsonl"].read_text(encoding="utf-8")
    cli("encode", "-", "-o", out, "--dim", CLI_DIM, "-q", stdin=text)
    assert np.array_equal(parquet_vectors(out), cli_expected)
    packed = tmp_path / "docs.jsonl.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    out2 = tmp_path / "gz.parquet"
    cli("encode", packed, "-o", out2, "--dim", CLI_DIM, "-q", "--progress")
    assert np.array_equal(parquet_vectors(out2), cli_expected)


def test_encode_documents_over_several_lines(tmp_path) -> None:
    docs = ['{"a": 1.0,  "b": "x"}', '{\n  "n": 1\n}', "[1, 2]", '"s"']
    src = tmp_path / "docs.json"
    src.write_text("\n".join(docs) + "\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    # The first line is a whole document: JSON Lines, and line 2 is not one.
    one_line_error(cli("encode", src, "-o", out, check=False), "line 2", "--format json")
    cli("encode", src, "-o", out, "--format", "json", "--dim", CLI_DIM, "-q")
    table = pq.read_table(out)
    assert table.column("index").to_pylist() == [0, 1, 2, 3]
    assert table.column("doc").to_pylist() == docs
    assert np.array_equal(parquet_vectors(out), duckdb_vsa.Encoder(dim=CLI_DIM).encode_batch(docs))
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps({"a": [1, 2], "b": {"c": None}}, indent=2), encoding="utf-8")
    result = cli("encode", pretty, "-o", tmp_path / "p.parquet")  # found by itself
    assert "encoded 1 record into" in result.stderr


def test_invalid_json_line(tmp_path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text('{"a": 1}\n{"a": 2\n{"a": 3}\n', encoding="utf-8")
    out = tmp_path / "out.parquet"
    one_line_error(cli("encode", src, "-o", out, check=False), "line 2", "--on-error")
    assert not out.exists()
    assert not list(tmp_path.glob(".*.tmp"))
    cli("encode", src, "-o", out, "--on-error", "null", "-q", "--dim", CLI_DIM)
    table = pq.read_table(out)
    assert table.column("line").to_pylist() == [1, 2, 3]
    assert table.column("vec").is_null().to_pylist() == [False, True, False]
    result = cli("encode", src, "-o", out, "--on-error", "skip", "--overwrite", "--dim", CLI_DIM)
    assert "1 invalid documents skipped" in result.stderr
    assert pq.read_table(out).column("line").to_pylist() == [1, 3]


def test_a_line_that_is_not_utf8_follows_on_error(tmp_path) -> None:
    src = tmp_path / "latin1.jsonl"
    src.write_bytes(b'{"a": 1}\n{"name": "caf\xe9"}\n{"a": 3}\n')
    out = tmp_path / "out.parquet"
    one_line_error(cli("encode", src, "-o", out, check=False), "line 2", "UTF-8", "--on-error")
    assert not out.exists()
    cli("encode", src, "-o", out, "--on-error", "null", "-q", "--dim", CLI_DIM)
    table = pq.read_table(out)
    assert table.column("line").to_pylist() == [1, 2, 3]
    assert table.column("doc").to_pylist() == ['{"a": 1}', None, '{"a": 3}']
    assert table.column("vec").is_null().to_pylist() == [False, True, False]
    want = duckdb_vsa.Encoder(dim=CLI_DIM).encode_batch(['{"a": 1}', '{"a": 3}'])
    assert np.array_equal(parquet_vectors(out)[[0, 2]], want)
    result = cli("encode", src, "-o", out, "--on-error", "skip", "--overwrite", "--dim", CLI_DIM)
    assert "1 invalid documents skipped" in result.stderr
    assert pq.read_table(out).column("line").to_pylist() == [1, 3]
