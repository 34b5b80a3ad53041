"""The engine names the profiling benchmarks time exist, and a missing one stops them by name."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from conftest import SMALL_DIM

import duckdb_vsa

HOOKS_FILE = Path(__file__).resolve().parent.parent / "benchmarks" / "engine_hooks.py"


@pytest.fixture(scope="module")
def hooks():
    spec = importlib.util.spec_from_file_location("engine_hooks", HOOKS_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("engine_hooks", module)
    spec.loader.exec_module(module)
    return module


def test_every_hook_exists_on_the_encoder(hooks) -> None:
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM)
    hooks.check(enc)
    flattener = hooks.new_flattener(enc)
    for hook in hooks.HOOKS:
        assert callable(getattr(hooks.owner_of(hook, enc, flattener), hook.name)), hook


def test_a_missing_name_raises_naming_it(hooks) -> None:
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM)
    table = (
        *hooks.HOOKS,
        hooks.Hook(hooks.NORMALISE, "encoder", "_no_such_stage"),
        hooks.Hook(hooks.STRINGS, "encoder.no_such_owner", "strings"),
        hooks.Hook(hooks.PARSE, "module:duckdb_vsa.no_such_module", "parse_json"),
    )
    with pytest.raises(hooks.MissingHook) as caught:
        hooks.check(enc, table)
    message = str(caught.value)
    for name in (
        "encoder._no_such_stage",
        "encoder.no_such_owner.strings",
        "module:duckdb_vsa.no_such_module.parse_json",
    ):
        assert name in message
    assert "engine_hooks.py" in message
