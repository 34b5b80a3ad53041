"""The command line's usage: help, usage errors, the entry points, one-line errors.

Every test runs ``python -m duckdb_vsa`` as a subprocess on real files.
"""

from __future__ import annotations

import gzip

from conftest import ROOT, cli, one_line_error

COMMANDS = ("encode", "search", "dedup", "explain", "info")


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


def test_other_errors_are_one_line(cli_files, cli_encoded, tmp_path) -> None:
    out = tmp_path / "out.parquet"
    one_line_error(
        cli("encode", tmp_path / "missing.jsonl", "-o", out, check=False), "No such file"
    )
    one_line_error(cli("search", tmp_path / "missing.parquet", "--query", "1", check=False))
    one_line_error(cli("encode", cli_files["jsonl"], "-o", cli_encoded, check=False), "--overwrite")
    one_line_error(
        cli("encode", cli_files["jsonl"], "-o", out, "--dim", "9", check=False), "dim must be even"
    )
    one_line_error(
        cli("encode", cli_files["parquet"], "-o", out, "--json-column", "nope", check=False),
        "--json-column",
    )
    one_line_error(
        cli("encode", cli_files["jsonl"], "-o", tmp_path / "no" / "x.parquet", check=False)
    )
    one_line_error(cli("search", cli_encoded, "--query", "{oops", check=False), "query")
    one_line_error(cli("search", cli_files["jsonl"], "--query", "1", check=False), "Parquet")
    bad_array = tmp_path / "bad.json"
    bad_array.write_text('[{"a": 1}, {"a": ]', encoding="utf-8")
    one_line_error(cli("encode", bad_array, "-o", out, check=False), "bad.json")
    one_line_error(cli("explain", "{}", "{", check=False), "second document")
    one_line_error(cli("info", "--config", '{"alpha": -1}', check=False), "alpha")


def test_unreadable_text_is_a_one_line_error(cli_files, cli_encoded, tmp_path) -> None:
    """Text that is not UTF-8, and a damaged gzip file, are the user's problem, not a bug."""
    query = tmp_path / "q.json"
    query.write_bytes(b'{"name": "caf\xe9"}')
    line = one_line_error(cli("search", cli_encoded, "--query-file", query, check=False), "UTF-8")
    assert str(query) in line
    one_line_error(cli("search", cli_encoded, "--query", f"@{query}", check=False), "UTF-8")
    damaged = tmp_path / "docs.jsonl.gz"
    damaged.write_bytes(gzip.compress(cli_files["jsonl"].read_bytes())[:-40])
    out = tmp_path / "out.parquet"
    for args in ([], ["--progress"]):
        one_line_error(cli("encode", damaged, "-o", out, *args, check=False), str(damaged))
    assert not out.exists()


def test_a_wrong_option_shows_the_sub_command_usage() -> None:
    result = cli("search", "store.parquet", "--top-k", "3", check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: duckdb-vsa search"), result.stderr
    assert "duckdb-vsa search: error: unrecognized arguments: --top-k 3" in result.stderr
