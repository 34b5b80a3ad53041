"""Registration of the SQL surface on a DuckDB connection.

``register(con)`` creates the ``vsa_encode`` UDF (once per database instance:
DuckDB keeps Python UDFs in the instance-wide system catalog) and the TEMP
macros of ``sql/*.sql`` (on every connection or cursor it is called with:
TEMP macros are per connection).
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import duckdb
import pyarrow as pa

from duckdb_vsa.config import ENCODER_VERSION
from duckdb_vsa.encoder import DEFAULT_CACHE_BYTES, ON_ERROR, Encoder

#: SQL files loaded, in order, by :func:`register`.
SQL_FILES = ("vsa_functions.sql", "vsa_search.sql", "vsa_topk_join.sql", "vsa_near_duplicates.sql")

#: Every SQL object :func:`register` creates.
SQL_OBJECTS = (
    "vsa_encode",
    "vsa_cosine",
    "vsa_similarity",
    "vsa_info",
    "vsa_search",
    "vsa_topk_join",
    "vsa_near_duplicates",
)

_TOKEN_FUNCTION = "__vsa_registration"
_ENCODE_TYPES = ("VARCHAR", "JSON")


@dataclasses.dataclass
class _Registration:
    """UDFs registered on one database instance, and what keeps them alive."""

    token: str
    encoder: Encoder
    on_error: str
    # DuckDB frees a UDF's callable with the connection object that created it,
    # while other connections may still call it: keep both for the process's life.
    cursors: list[Any]
    callables: list[Any]

    def describe(self) -> str:
        cfg = self.encoder.config
        return (
            f"dim={cfg.dim}, seed={cfg.seed}, binding={cfg.binding!r}, on_error={self.on_error!r} "
            f"(fingerprint {self.encoder.fingerprint})"
        )


_REGISTRATIONS: dict[str, _Registration] = {}
_RETIRED: list[_Registration] = []
_ENCODERS: dict[tuple[str, int], Encoder] = {}
_LOCK = threading.RLock()


def _shared_encoder(cache_bytes: int, **config: Any) -> Encoder:
    """One encoder (and one set of caches) per configuration in this process."""
    candidate = Encoder(cache_bytes=cache_bytes, **config)
    key = (candidate.fingerprint, candidate.cache_bytes)
    return _ENCODERS.setdefault(key, candidate)


def _sql_dir() -> Path:
    packaged = resources.files("duckdb_vsa") / "sql"
    if packaged.is_dir():
        return Path(str(packaged))
    # A source checkout: the macros live in the repository's top-level sql/.
    return Path(__file__).resolve().parent.parent / "sql"


def macro_sql(encoder: Encoder) -> str:
    """The text of every macro file, filled in for ``encoder``."""
    values = {
        "dim": encoder.dim,
        "version": ENCODER_VERSION,
        "seed": encoder.seed,
        "binding": encoder.binding,
        "fingerprint": encoder.fingerprint,
    }
    directory = _sql_dir()
    return "\n".join(
        Template((directory / name).read_text(encoding="utf-8")).substitute(values)
        for name in SQL_FILES
    )


def _existing(con: duckdb.DuckDBPyConnection) -> _Registration | None:
    probe = con.cursor()
    try:
        found = probe.execute(
            "SELECT count(*) FROM duckdb_functions() WHERE function_name = ?", [_TOKEN_FUNCTION]
        ).fetchone()[0]
        if not found:
            return None
        token = probe.execute(f"SELECT {_TOKEN_FUNCTION}()").fetchone()[0]
    finally:
        probe.close()
    registration = _REGISTRATIONS.get(token)
    if registration is None:
        raise RuntimeError(
            "This DuckDB database has duckdb_vsa functions registered by another copy of the "
            "package in this process; register on a fresh connection."
        )
    return registration


def _create_udfs(con: duckdb.DuckDBPyConnection, encoder: Encoder, on_error: str) -> _Registration:
    token = uuid.uuid4().hex
    vector_type = f"FLOAT[{encoder.dim}]"

    def vsa_encode(docs: pa.ChunkedArray) -> pa.Array:
        if isinstance(docs.type, pa.ExtensionType):
            docs = docs.cast(docs.type.storage_type)
        return encoder.encode_arrow(docs, on_error=on_error)

    def registration_token() -> str:
        return token

    cursors: list[Any] = []
    # Overloads must come from different connection objects; VARCHAR keeps
    # invalid text reaching us (so on_error applies), JSON accepts JSON and STRUCT.
    for sql_type in _ENCODE_TYPES:
        cursor = con.cursor()
        cursor.create_function(
            "vsa_encode",
            vsa_encode,
            [sql_type],
            vector_type,
            type="arrow",
            null_handling="special",
        )
        cursors.append(cursor)
    cursors[0].create_function(_TOKEN_FUNCTION, registration_token, [], "VARCHAR")
    return _Registration(token, encoder, on_error, cursors, [vsa_encode, registration_token])


def _remove_udfs(registration: _Registration) -> None:
    # Removing a name through the connection that created it drops every overload.
    registration.cursors[0].remove_function("vsa_encode")
    registration.cursors[0].remove_function(_TOKEN_FUNCTION)
    _REGISTRATIONS.pop(registration.token, None)
    _RETIRED.append(registration)


def register(
    con: duckdb.DuckDBPyConnection,
    *,
    dim: int = 1024,
    seed: int = 0,
    binding: str = "perm",
    on_error: str = "raise",
    replace: bool = False,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    **options: Any,
) -> Encoder:
    """Register duckdb_vsa's SQL functions and macros on a DuckDB connection.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection or cursor the caller owns. The ``vsa_encode`` UDF is shared
        by every connection to the same database; the macros are TEMP, so call
        ``register`` on every connection or cursor that uses them.
    dim, seed, binding, **options
        Encoder configuration (see :class:`~duckdb_vsa.Encoder`).
    on_error : {"raise", "null"}, default "raise"
        What ``vsa_encode`` does with empty or invalid JSON: raise an error
        naming the problem, or return NULL.
    replace : bool, default False
        If the database already has duckdb_vsa registered with another
        configuration, replace it (for every connection to that database)
        instead of raising.
    cache_bytes : int, default 256 MiB
        Budget of each encoder cache.

    Returns
    -------
    Encoder
        The encoder behind ``vsa_encode``, for use from Python.

    Raises
    ------
    ValueError
        If the database already has duckdb_vsa registered with a different
        configuration and ``replace`` is False, or an option is invalid.

    Examples
    --------
    >>> import duckdb, duckdb_vsa
    >>> con = duckdb.connect()
    >>> enc = duckdb_vsa.register(con, dim=256)
    >>> con.sql("SELECT vsa_info().dim").fetchone()
    (256,)
    >>> round(con.sql(\"\"\"SELECT vsa_similarity('{"a": 1}', '{"a": 1}')\"\"\").fetchone()[0], 4)
    1.0
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be 'raise' or 'null', got {on_error!r}.")
    encoder = _shared_encoder(cache_bytes, dim=dim, seed=seed, binding=binding, **options)
    with _LOCK:
        current = _existing(con)
        if current is not None and (
            current.encoder.fingerprint != encoder.fingerprint or current.on_error != on_error
        ):
            if not replace:
                raise ValueError(
                    "This DuckDB database already has duckdb_vsa registered with "
                    f"{current.describe()}, and this call asks for "
                    f"dim={encoder.dim}, seed={encoder.seed}, binding={encoder.binding!r}, "
                    f"on_error={on_error!r} (fingerprint {encoder.fingerprint}). Vectors of "
                    "different configurations are not comparable: use the same configuration, "
                    "or pass replace=True to replace it for every connection to this database."
                )
            _remove_udfs(current)
            current = None
        if current is None:
            current = _create_udfs(con, encoder, on_error)
            _REGISTRATIONS[current.token] = current
        else:
            encoder = current.encoder
    con.execute(macro_sql(encoder))
    return encoder


def registered_encoder(con: duckdb.DuckDBPyConnection) -> Encoder | None:
    """The encoder registered on ``con``'s database, or None."""
    with _LOCK:
        current = _existing(con)
    return None if current is None else current.encoder
