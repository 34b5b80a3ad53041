"""The shape of the package: small modules, imports at the top, no reaching into private names.

The layers themselves are an import-linter contract (pyproject.toml), checked by
``lint-imports`` in CI; these tests hold the rules it does not check.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "duckdb_vsa"
MODULES = sorted(PACKAGE.rglob("*.py"))
#: Imported only where used: optional dependencies.
OPTIONAL = {"faiss", "pandas", "dask", "distributed"}
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_modules_are_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module_name(path)} has {lines} lines; split it by job."


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_imports_are_at_the_top_except_optional_dependencies(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in OPTIONAL, (
                    f"{module_name(path)}:{node.lineno} imports {name} inside "
                    f"{function.name}(); import it at the top of the module."
                )


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_imports_a_private_name_of_another(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("duckdb_vsa"):
            private = [a.name for a in node.names if a.name.startswith("_")]
            assert not [p for p in private if p != "__version__"], (
                f"{module_name(path)}:{node.lineno} imports {private} from {node.module}."
            )


def test_the_checks_see_every_module() -> None:
    names = {module_name(p) for p in MODULES}
    assert {"duckdb_vsa.engine", "duckdb_vsa.db.names", "duckdb_vsa.index.exact"} <= names
