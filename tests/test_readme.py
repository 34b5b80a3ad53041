"""The README's promises: its example runs and prints what it shows, and every SQL
object in its reference exists after register()."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import duckdb
from conftest import run_python

import duckdb_vsa

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_example_prints_what_the_readme_shows() -> None:
    code = next(b for b in _blocks("python") if "register(con)" in b and "vsa_search" in b)
    shown = next(b for b in _blocks("text") if "Alan Turing" in b)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue().strip() == shown.strip()


def test_every_sql_object_in_the_reference_is_registered() -> None:
    section = README.split("## SQL reference")[1].split("\n## ")[0]
    documented = set(re.findall(r"^\| `(vsa_\w+)` \|", section, flags=re.MULTILINE))
    assert documented == set(duckdb_vsa.SQL_OBJECTS)
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=64)
    names = {
        row[0]
        for row in con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE function_name LIKE 'vsa_%'"
        ).fetchall()
    }
    assert documented <= names


def test_the_two_commands_are_in_the_readme() -> None:
    assert "pip install . && python examples/quickstart.py" in README
    assert 'pip install ".[test]" && pytest' in README


def test_every_example_with_shown_output_prints_it() -> None:
    pairs = re.findall(
        r"```python\n((?:(?!```).)*?)```\n\nprints\n\n```text\n((?:(?!```).)*?)```",
        README,
        flags=re.DOTALL,
    )
    assert len(pairs) >= 5
    for code, shown in pairs:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {})
        assert out.getvalue().strip() == shown.strip(), code


def _run_cli_block(block: str, cwd: Path) -> str:
    """Run every ``duckdb-vsa`` line of a README shell block; return their joined stdout."""
    out = []
    for line in block.strip().splitlines():
        argv = shlex.split(line)
        assert argv[0] == "duckdb-vsa", line
        result = run_python("-m", "duckdb_vsa", *argv[1:], cwd=cwd, timeout=300)
        assert result.returncode == 0, f"{line}\n{result.stderr}"
        out.append(result.stdout)
    return "".join(out)


def test_command_line_example_prints_what_the_readme_shows(tmp_path) -> None:
    section = README.split("### Command line")[1].split("\n### ")[0]
    block, shown = re.findall(
        r"```sh\n(.*?)```\n\nwrites to stdout[^\n]*\n\n```text\n(.*?)```", section, re.DOTALL
    )[0]
    (tmp_path / "examples").symlink_to(EXAMPLES)
    assert _run_cli_block(block, tmp_path).strip() == shown.strip()
    # The last command wrote a DuckDB table that the SQL macros search directly.
    con = duckdb.connect(str(tmp_path / "shop.duckdb"))
    duckdb_vsa.register(con)
    info = con.execute("SELECT vsa_column_info('products', 'vec')").fetchone()[0]
    assert info["comparable"] is True
    top = con.execute(
        "SELECT line FROM vsa_search('products', 'vec',"
        ' vsa_encode(\'{"name": "navy sandal"}\'), k := 1)'
    ).fetchall()
    assert len(top) == 1


def test_dask_recipe_prints_what_the_readme_shows(tmp_path) -> None:
    section = README.split("### Across worker processes (Dask)")[1].split("\n### ")[0]
    code, shown = re.findall(
        r"```python\n(.*?)```\n\nThe search at the end shows[^\n]*\n\n```text\n(.*?)```",
        section,
        re.DOTALL,
    )[0]
    (tmp_path / "examples").symlink_to(EXAMPLES)
    (tmp_path / "recipe.py").write_text(code, encoding="utf-8")
    result = run_python("recipe.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == shown.strip()
    assert list((tmp_path / "vectors").glob("*.parquet"))
