"""Registration of the SQL surface on a DuckDB connection.

DuckDB keeps Python UDFs in the database instance's system catalog, shared by
all its connections, and removes one only through the connection object that
created it. So the encoder is registered under a name of its own,
``__vsa_encode_<fingerprint>_<on_error>``, once per instance and never removed;
``vsa_encode`` and every other object are TEMP macros of the connection that
``register`` is called on, the ``vsa_encode`` macro calling that connection's
encoder. Connections to one database can so use different configurations, and
``replace=True`` only repoints one connection's macros.
"""

from __future__ import annotations

import re
import threading
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import duckdb
import pyarrow as pa

from duckdb_vsa.arrays import vectors_from_arrow, vectors_to_arrow
from duckdb_vsa.config import ENCODER_VERSION
from duckdb_vsa.encoder import ON_ERROR, Encoder
from duckdb_vsa.errors import DocumentError
from duckdb_vsa.index import ensure_index_functions
from duckdb_vsa.parse import parse_json

#: SQL files loaded, in order, by :func:`register`.
SQL_FILES = (
    "vsa_functions.sql",
    "vsa_guard.sql",
    "vsa_probe.sql",
    "vsa_search.sql",
    "vsa_topk_join.sql",
    "vsa_near_duplicates.sql",
    "vsa_index.sql",
)

#: Every SQL object :func:`register` creates.
SQL_OBJECTS = (
    "vsa_encode",
    "vsa_cosine",
    "vsa_similarity",
    "vsa_info",
    "vsa_search",
    "vsa_topk_join",
    "vsa_near_duplicates",
    "vsa_probe",
    "vsa_field_similarity",
    "vsa_decode",
    "vsa_explain",
    "vsa_column_info",
    "vsa_index_topk",
    "vsa_index_search",
    "vsa_index_topk_join",
    "vsa_index_near_duplicates",
)


_ENCODERS: dict[tuple[str, int], Encoder] = {}
# DuckDB frees a Python UDF's callable with the connection object that created
# it, while other connections may still call it: keep both for the process's life.
_KEEPALIVE: list[Any] = []
_LOCK = threading.RLock()


def _shared_encoder(cache_bytes: int | None, **config: Any) -> Encoder:
    """One encoder (and one set of caches) per configuration in this process."""
    candidate = Encoder(cache_bytes=cache_bytes, **config)
    key = (candidate.fingerprint, cache_bytes)
    return _ENCODERS.setdefault(key, candidate)


def _sql_dir() -> Path:
    packaged = resources.files("duckdb_vsa") / "sql"
    if packaged.is_dir():
        return Path(str(packaged))
    # A source checkout: the macros live in the repository's top-level sql/.
    return Path(__file__).resolve().parent.parent / "sql"


def _udf_name(encoder: Encoder, on_error: str) -> str:
    """The database-wide name of the Python function behind ``vsa_encode``."""
    return f"__vsa_encode_{encoder.fingerprint}_{on_error}"


def macro_sql(encoder: Encoder, on_error: str = "raise") -> str:
    """The text of every macro file, filled in for ``encoder``."""
    values = {
        "dim": encoder.dim,
        "version": ENCODER_VERSION,
        "seed": encoder.seed,
        "binding": encoder.binding,
        "fingerprint": encoder.fingerprint,
        "describe": encoder.config.describe().replace("'", "''"),
    }
    directory = _sql_dir()
    encode = f"CREATE OR REPLACE TEMP MACRO vsa_encode(doc) AS {_udf_name(encoder, on_error)}(doc);"
    return "\n".join(
        [encode]
        + [
            Template((directory / name).read_text(encoding="utf-8")).substitute(values)
            for name in SQL_FILES
        ]
    )


def _macro_target(con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """Fingerprint and on_error of the UDF this connection's ``vsa_encode`` calls."""
    rows = con.execute(
        "SELECT macro_definition FROM duckdb_functions() "
        "WHERE function_name = 'vsa_encode' AND function_type = 'macro'"
    ).fetchall()
    for (definition,) in rows:
        found = re.search(r"__vsa_encode_([0-9a-f]+)_(raise|null)", definition or "")
        if found:
            return found.group(1), found.group(2)
    return None


def _describe(fingerprint: str, on_error: str) -> str:
    known = next((e for (fp, _), e in _ENCODERS.items() if fp == fingerprint), None)
    what = known.config.describe().split(" (fingerprint")[0] + ", " if known else ""
    return f"{what}on_error={on_error!r} (fingerprint {fingerprint})"


def _ensure_udf(con: duckdb.DuckDBPyConnection, encoder: Encoder, on_error: str) -> None:
    """Create the Python function behind ``vsa_encode`` once per database instance."""

    def encode(docs: pa.ChunkedArray) -> pa.Array:
        if isinstance(docs.type, pa.ExtensionType):
            docs = docs.cast(docs.type.storage_type)
        return encoder.encode_arrow(docs, on_error=on_error)

    # VARCHAR lets invalid text reach the encoder (so on_error applies); JSON also
    # accepts STRUCTs. NULLs are handled by the encoder, which may also return them.
    _create_overloads(
        con,
        _udf_name(encoder, on_error),
        encode,
        [["VARCHAR"], ["JSON"]],
        f"FLOAT[{encoder.dim}]",
        null_handling="special",
    )


def _function_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    # A cursor of its own: reading the function catalog in the caller's open
    # transaction would pin a snapshot without the new function.
    probe = con.cursor()
    try:
        return bool(
            probe.execute(
                "SELECT count(*) FROM duckdb_functions() WHERE function_name = ?", [name]
            ).fetchall()[0][0]
        )
    finally:
        probe.close()


def _create_overloads(
    con: duckdb.DuckDBPyConnection,
    name: str,
    fn: Any,
    overloads: list[list[str]],
    return_type: str,
    null_handling: str = "default",
) -> None:
    if _function_exists(con, name):
        return
    for parameters in overloads:
        # Overloads must come from different connection objects.
        cursor = con.cursor()
        cursor.create_function(
            name, fn, parameters, return_type, type="arrow", null_handling=null_handling
        )
        _KEEPALIVE.append((cursor, fn))


def _plain_strings(array: pa.ChunkedArray) -> list[Any]:
    if isinstance(array.type, pa.ExtensionType):
        array = array.cast(array.type.storage_type)
    return array.to_pylist()


def _ensure_feature_udfs(con: duckdb.DuckDBPyConnection, encoder: Encoder) -> None:
    """Create the functions behind vsa_probe, vsa_field_similarity and vsa_explain."""
    dim, fp = encoder.dim, encoder.fingerprint
    vector_type = f"FLOAT[{dim}]"

    def probe(vectors: pa.ChunkedArray, paths: pa.ChunkedArray) -> pa.Array:
        rows, _ = vectors_from_arrow(vectors, dim)
        return vectors_to_arrow(encoder.probe_many(rows, _plain_strings(paths)))

    def field_value(paths: pa.ChunkedArray, values: pa.ChunkedArray) -> pa.Array:
        path_list, texts = _plain_strings(paths), _plain_strings(values)
        distinct = list(dict.fromkeys(zip(path_list, texts)))
        parsed = []
        for path, text in distinct:
            try:
                parsed.append(parse_json(text))
            except DocumentError as err:
                raise DocumentError(
                    f"Cannot read the value for {path}: {err} Give values as JSON, "
                    """such as '"red"' for a string or '42' for a number."""
                ) from None
        vectors = encoder.field_vectors([p for p, _ in distinct], parsed)
        where = {pair: i for i, pair in enumerate(distinct)}
        order = [where[pair] for pair in zip(path_list, texts)]
        return vectors_to_arrow(vectors[order])

    def explain(docs_a: pa.ChunkedArray, docs_b: pa.ChunkedArray) -> pa.Array:
        out = []
        for a, b in zip(_plain_strings(docs_a), _plain_strings(docs_b)):
            parts = encoder.explain(a, b)
            out.append([{"path": p, "contribution": c} for p, c in parts])
        return pa.array(out, type=_EXPLAIN_TYPE)

    _create_overloads(con, f"__vsa_probe_{fp}", probe, [[vector_type, "VARCHAR"]], vector_type)
    _create_overloads(
        con,
        f"__vsa_field_value_{fp}",
        field_value,
        [["VARCHAR", "VARCHAR"], ["VARCHAR", "JSON"]],
        vector_type,
    )
    _create_overloads(
        con,
        f"__vsa_explain_{fp}",
        explain,
        [["VARCHAR", "VARCHAR"], ["JSON", "JSON"]],
        "STRUCT(path VARCHAR, contribution FLOAT)[]",
    )


_EXPLAIN_TYPE = pa.list_(pa.struct([("path", pa.string()), ("contribution", pa.float32())]))


def register(
    con: duckdb.DuckDBPyConnection,
    *,
    dim: int = 1024,
    seed: int = 0,
    binding: str = "perm",
    on_error: str = "raise",
    replace: bool = False,
    cache_bytes: int | None = None,
    **options: Any,
) -> Encoder:
    """Register duckdb_vsa's SQL functions and macros on a DuckDB connection.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection or cursor the caller owns. The SQL objects are TEMP
        macros, so call ``register`` on every connection or cursor that uses them.
    dim, seed, binding, **options
        Encoder configuration (see :class:`~duckdb_vsa.Encoder`), including the
        field hints ``fields={path: hint}``.
    on_error : {"raise", "null"}, default "raise"
        What ``vsa_encode`` does with empty or invalid JSON: raise an error
        naming the problem, or return NULL.
    replace : bool, default False
        If this connection already has duckdb_vsa registered with another
        configuration, switch it to this one instead of raising.
    cache_bytes : int, default 256 MiB
        Budget of each encoder cache (see :class:`Encoder`: with ``binding="haar"``
        the default role cache holds at least 128 dense matrices).

    Returns
    -------
    Encoder
        The encoder behind ``vsa_encode``, for use from Python.

    Raises
    ------
    ValueError
        If this connection already has duckdb_vsa registered with a different
        configuration and ``replace`` is False, or an option is invalid.

    Examples
    --------
    >>> import duckdb, duckdb_vsa
    >>> con = duckdb.connect()
    >>> enc = duckdb_vsa.register(con, dim=256)
    >>> con.execute("SELECT vsa_info().dim").fetchall()
    [(256,)]
    >>> con.execute(\"\"\"SELECT round(vsa_similarity('{"a": 1}', '{"a": 1}'), 4)\"\"\").fetchall()
    [(1.0,)]
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be 'raise' or 'null', got {on_error!r}.")
    encoder = _shared_encoder(cache_bytes, dim=dim, seed=seed, binding=binding, **options)
    with _LOCK:
        # Functions first: this connection's queries below may open its snapshot.
        _ensure_udf(con, encoder, on_error)
        _ensure_feature_udfs(con, encoder)
        ensure_index_functions(con)
        current = _macro_target(con)
        wanted = (encoder.fingerprint, on_error)
        if current is not None and current != wanted and not replace:
            raise ValueError(
                "This connection already has duckdb_vsa registered with "
                f"{_describe(*current)}, and this call asks for {_describe(*wanted)}. Vectors "
                "of different configurations are not comparable: use the same configuration, "
                "or pass replace=True to switch this connection to the new one."
            )
        try:
            con.execute(macro_sql(encoder, on_error)).fetchall()
        except duckdb.CatalogException as err:
            raise RuntimeError(
                "duckdb_vsa could not create its macros inside this connection's open "
                "transaction, which had already read the function catalog before the "
                f"functions were added ({err}). Call register() before BEGIN, or after COMMIT."
            ) from None
    return encoder


def registered_encoder(con: duckdb.DuckDBPyConnection) -> Encoder | None:
    """The encoder behind this connection's ``vsa_encode``, or None."""
    with _LOCK:
        current = _macro_target(con)
    if current is None:
        return None
    return next((e for (fp, _), e in _ENCODERS.items() if fp == current[0]), None)
