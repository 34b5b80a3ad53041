"""The README's promises: its example runs and prints what it shows, and every SQL
object in its reference exists after register()."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import duckdb

import duckdb_vsa

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


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
