"""Shared fixtures and helpers: real DuckDB connections, encoders, test documents."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
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


def nested(depth: int, kind: str) -> str:
    """JSON text nested ``depth`` levels around ``"leaf"``: objects, arrays, or alternating."""
    opens, closes = [], []
    for level in range(depth):
        use_object = kind == "object" or (kind == "mixed" and level % 2 == 0)
        opens.append('{"k": ' if use_object else "[")
        closes.append("}" if use_object else "]")
    return "".join(opens) + '"leaf"' + "".join(reversed(closes))


def nested_value(depth: int, kind: str) -> object:
    """The Python value of :func:`nested` ``(depth, kind)``, built without recursion."""
    doc: object = "leaf"
    for level in reversed(range(depth)):
        use_object = kind == "object" or (kind == "mixed" and level % 2 == 0)
        doc = {"k": doc} if use_object else [doc]
    return doc


def arrow_table(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    """A relation's result as an Arrow table, on DuckDB versions before and after 1.4."""
    if hasattr(relation, "to_arrow_table"):
        return relation.to_arrow_table()
    return relation.arrow()


def fetch_vectors(con: duckdb.DuckDBPyConnection, sql: str, dim: int) -> np.ndarray:
    """The last column of ``sql`` (FLOAT[dim]) as an (n, dim) float32 array; NULL rows are NaN."""
    table = arrow_table(con.sql(sql))
    column = table.column(table.num_columns - 1).combine_chunks()
    valid = ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    out = np.full((len(column), dim), np.nan, dtype=np.float32)
    flat = column.flatten().to_numpy(zero_copy_only=False)
    out[valid] = np.asarray(flat, dtype=np.float32).reshape(-1, dim)
    return out


def assert_unit(vector: np.ndarray, dim: int, atol: float = 1e-5) -> None:
    """``vector`` is a finite float32 vector of length ``dim`` and unit norm."""
    assert vector.shape == (dim,)
    assert vector.dtype == np.float32
    assert np.isfinite(vector).all()
    assert abs(float(np.linalg.norm(vector.astype(np.float64))) - 1.0) < atol


# Documents of every JSON type: nesting of objects in arrays and arrays in arrays,
# empty containers, unicode, long arrays. A top-level Python str is JSON text, so
# string documents are written quoted.
CORPUS = [
    {"name": "red running shoe", "price": 39.99, "tags": ["sport", "red"], "stock": 12},
    {"a": {"b": {"c": {"d": [1, 2, {"e": None}]}}}},
    [{"id": 1, "v": "x"}, {"id": 2, "v": "y"}, {"id": 3, "v": ["z", []]}],
    [[1, 2], [3, [4, [5, [6]]]], [], [[]], [{}]],
    {},
    [],
    {"empty_obj": {}, "empty_arr": [], "null": None, "t": True, "f": False},
    '"just a string"',
    '""',
    0,
    -17,
    3.25e-7,
    1e300,
    True,
    None,
    {"ключ": "значение", "東京": ["寿司", "ラーメン"], "emoji": "😀 𝄞 ok"},
    {"tab\tkey": "line\nbreak", 'quote"key': "back\\slash"},
    {"list": list(range(40)), "words": ["a", "b", "a", "c"]},
    [[[[[["deep"]]]]]],
    {"mixed": [1, "one", 1.0, True, None, {"one": 1}, [1]]},
]


def run_python(
    *args: str | Path,
    cwd: Path | str | None = None,
    stdin: str | None = None,
    timeout: float = 600,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` with this checkout first on PYTHONPATH, capturing text output.

    The child imports this checkout's ``duckdb_vsa``, not an installed copy. ``env``
    adds variables to (or overrides them in) this process's environment; PYTHONPATH
    keeps the checkout first even if ``env`` sets it. The caller checks the return code.
    """
    child_env = {**os.environ, **(env or {})}
    child_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), child_env.get("PYTHONPATH")])
    )
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        env=child_env,
        cwd=cwd,
        input=stdin,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(name="run_python")
def run_python_fixture() -> Callable[..., subprocess.CompletedProcess]:
    """:func:`run_python`: ``run_python(*args, cwd=None, stdin=None, timeout=600, env=None)``."""
    return run_python


# -- the command line ------------------------------------------------------------------

#: Vector dimension of the command-line tests (small, so that they run fast).
CLI_DIM = 64


def cli(
    *args: str | Path, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Run ``python -m duckdb_vsa ARGS``; with ``check``, assert it succeeded."""
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


def cli_documents(n: int = 60) -> list[str]:
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


def parquet_vectors(path: Path, column: str = "vec") -> np.ndarray:
    """The vector column of a Parquet file as an (n, dim) float32 array."""
    table = pq.read_table(path)
    return np.asarray(table.column(column).combine_chunks().values, dtype=np.float32).reshape(
        table.num_rows, -1
    )


@pytest.fixture(scope="session")
def cli_files(tmp_path_factory) -> dict[str, Path]:
    """The documents of :func:`cli_documents` as JSON Lines, a JSON array, CSV and Parquet."""
    root = tmp_path_factory.mktemp("cli")
    docs = cli_documents()
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


@pytest.fixture(scope="session")
def cli_expected() -> np.ndarray:
    """The vectors of :func:`cli_documents` at ``CLI_DIM``, from the library."""
    return duckdb_vsa.Encoder(dim=CLI_DIM).encode_batch(cli_documents())


@pytest.fixture(scope="session")
def cli_encoded(cli_files, tmp_path_factory) -> Path:
    """``cli_files["jsonl"]`` encoded by the command line into Parquet (do not change it)."""
    out = tmp_path_factory.mktemp("encoded") / "docs.parquet"
    cli("encode", cli_files["jsonl"], "-o", out, "--dim", CLI_DIM, "-q")
    return out


def cli_popen(*args: str | Path, **options) -> subprocess.Popen:
    """Start ``python -m duckdb_vsa ARGS`` with this checkout first on PYTHONPATH.

    stdin, stdout and stderr are pipes of text unless ``options`` say otherwise;
    the caller waits for the process.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    options = {
        "stdin": subprocess.PIPE,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.PIPE,
        "text": True,
        "env": env,
        **options,
    }
    return subprocess.Popen([sys.executable, "-m", "duckdb_vsa", *map(str, args)], **options)
