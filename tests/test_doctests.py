"""The examples in the package's docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import duckdb_vsa

#: Every module of the package, subpackages included.
MODULES = sorted(
    ["duckdb_vsa"]
    + [m.name for m in pkgutil.walk_packages(duckdb_vsa.__path__, prefix="duckdb_vsa.")]
)


def test_every_module_is_collected() -> None:
    root = Path(duckdb_vsa.__file__).resolve().parent
    files = {
        ".".join(("duckdb_vsa", *path.relative_to(root).with_suffix("").parts)).removesuffix(
            ".__init__"
        )
        for path in root.rglob("*.py")
    }
    assert files == set(MODULES)
    assert {"duckdb_vsa.encoder", "duckdb_vsa.register", "duckdb_vsa.index.exact"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_docstrings_have_examples() -> None:
    attempted = sum(
        doctest.testmod(
            importlib.import_module(name),
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
            report=False,
        ).attempted
        for name in MODULES
    )
    assert attempted >= 10
