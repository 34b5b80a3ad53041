"""Shared fixtures and helpers: real DuckDB connections, encoders, test documents."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

import duckdb_vsa

SMALL_DIM = 256
ROOT = Path(__file__).resolve().parent.parent

_WORDS = [
    "red", "blue", "green", "running", "trail", "shoe", "jacket", "linen", "shirt",
    "café", "naïve", "東京", "😀", "bag", "wool", "merino", "sandal", "leather",
]  # fmt: skip


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection with duckdb_vsa registered at D = 256."""
    connection = duckdb.connect()
    duckdb_vsa.register(connection, dim=SMALL_DIM)
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def encoder() -> duckdb_vsa.Encoder:
    """The default encoder at D = 256."""
    return duckdb_vsa.Encoder(dim=SMALL_DIM)


def varied_documents(n: int, seed: int = 0) -> list[str]:
    """``n`` JSON texts of many shapes: records, nested arrays, scalars, unicode."""
    rng = random.Random(seed)

    def words(k: int) -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(k))

    docs: list[object] = []
    for i in range(n):
        kind = i % 8
        if kind in (0, 1, 2):
            doc: object = {
                "id": i,
                "name": words(rng.randint(1, 4)),
                "price": round(rng.uniform(1, 500), 2),
                "tags": [rng.choice(_WORDS) for _ in range(rng.randint(0, 4))],
            }
        elif kind == 3:
            doc = [i, {"a": {"b": [i % 7, None, True]}}, [], {}]
        elif kind == 4:
            doc = {"nested": {"deep": {"x": i * 0.5, "y": {}}}, "flag": i % 2 == 0}
        elif kind == 5:
            doc = rng.choice([i, -i * 1.5, True, False, None, words(2)])
        elif kind == 6:
            doc = {f"k{i % 13}": [[i], [i + 1, [i + 2, {"z": words(1)}]]]}
        else:
            doc = [{"sku": f"S{i}", "qty": rng.randint(1, 9)} for _ in range(rng.randint(1, 5))]
        docs.append(doc)
    return [json.dumps(d, ensure_ascii=bool(i % 2)) for i, d in enumerate(docs)]


def fetch_vectors(con: duckdb.DuckDBPyConnection, sql: str, dim: int) -> np.ndarray:
    """The last column of ``sql`` (FLOAT[dim]) as an (n, dim) float32 array; NULL rows are NaN."""
    relation = con.sql(sql)
    table = relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()
    column = table.column(table.num_columns - 1).combine_chunks()
    valid = ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    out = np.full((len(column), dim), np.nan, dtype=np.float32)
    flat = column.flatten().to_numpy(zero_copy_only=False)
    out[valid] = np.asarray(flat, dtype=np.float32).reshape(-1, dim)
    return out


def run_python(
    *args: str | Path, cwd: Path | None = None, stdin: str | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` with this checkout first on PYTHONPATH, capturing text output.

    The child imports this checkout's ``duckdb_vsa``, not an installed copy; the caller
    checks the return code.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        input=stdin,
        timeout=timeout,
        check=False,
    )
