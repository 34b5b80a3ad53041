"""Which encoder configuration a connection uses, and the encoder for it.

``register`` makes ``vsa_encode`` a TEMP macro of the connection that calls a
database-wide Python function named after the configuration's fingerprint,
``on_error`` and number of worker processes (:func:`encode_function_name`),
created by :func:`ensure_encode_function`. The macro's text is therefore the
per-connection record of the registration, read back by :func:`registration`
and :func:`registered_workers`.

Encoders come from :func:`duckdb_vsa.encoder.shared_encoder`, the process's
bounded registry: nothing here keeps an encoder alive. What is remembered per
fingerprint is the configuration and cache budget (a few hundred bytes), so
that an encoder evicted from the registry can be rebuilt, with the same
vectors, the next time it is used.
"""

from __future__ import annotations

import re
import threading

import duckdb
import pyarrow as pa

from duckdb_vsa.arrays import combine
from duckdb_vsa.config import EncoderConfig
from duckdb_vsa.db.udf import ensure_function
from duckdb_vsa.dispatch import encode_arrow
from duckdb_vsa.encoder import Encoder, shared_encoder

__all__ = [
    "configuration",
    "describe_registration",
    "encode_function_name",
    "ensure_encode_function",
    "registered_config",
    "registered_encoder",
    "registered_workers",
    "registration",
    "remember",
]

_NAME = re.compile(r"__vsa_encode_([0-9a-f]+)_(raise|null)(?:_w([0-9]+))?")

# Fingerprint -> (configuration, cache budget) of every configuration registered.
_CONFIGS: dict[str, tuple[EncoderConfig, int | None]] = {}
_LOCK = threading.Lock()


def encode_function_name(fingerprint: str, on_error: str, workers: int = 0) -> str:
    """The database-wide name of the Python function behind ``vsa_encode``.

    Examples
    --------
    >>> encode_function_name("0123abcd", "null")
    '__vsa_encode_0123abcd_null'
    >>> encode_function_name("0123abcd", "raise", 2)
    '__vsa_encode_0123abcd_raise_w2'
    """
    suffix = f"_w{workers}" if workers else ""
    return f"__vsa_encode_{fingerprint}_{on_error}{suffix}"


def ensure_encode_function(
    con: duckdb.DuckDBPyConnection,
    config: EncoderConfig,
    cache_bytes: int | None,
    on_error: str,
    workers: int = 0,
) -> str:
    """Create the Python function behind ``vsa_encode`` once per database instance.

    With ``workers > 0``, each call (one DuckDB chunk) of at least
    ``duckdb_vsa.dispatch.MIN_POOL_ROWS`` rows is cut into slices encoded by
    the process's shared worker pool of this configuration, while the calling
    DuckDB thread waits without holding the interpreter lock; calls from
    several DuckDB threads share the workers. Smaller calls, and calls made
    while the workers start, are encoded in this process.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    config : EncoderConfig
    cache_bytes : int or None
    on_error : {"raise", "null"}
    workers : int, default 0

    Returns
    -------
    str
        The function's name (:func:`encode_function_name`).
    """
    name = encode_function_name(config.fingerprint, on_error, workers)

    def encode(docs: pa.ChunkedArray) -> pa.Array:
        here = shared_encoder(config, cache_bytes)
        return encode_arrow(
            combine(docs),
            on_error,
            config=config,
            cache_bytes=cache_bytes,
            workers=workers,
            local=here.encode_arrow,
        )

    # VARCHAR lets invalid text reach the encoder (so on_error applies); JSON also
    # accepts STRUCTs. NULLs are handled by the encoder, which may also return them.
    ensure_function(
        con,
        name,
        encode,
        [["VARCHAR"], ["JSON"]],
        f"FLOAT[{config.dim}]",
        null_handling="special",
    )
    return name


def remember(config: EncoderConfig, cache_bytes: int | None) -> None:
    """Record the configuration (and cache budget) of a registration, by fingerprint."""
    with _LOCK:
        _CONFIGS[config.fingerprint] = (config, cache_bytes)


def configuration(fingerprint: str) -> tuple[EncoderConfig, int | None] | None:
    """The configuration and cache budget registered under ``fingerprint``, or None."""
    with _LOCK:
        return _CONFIGS.get(fingerprint)


def registration(con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """``(fingerprint, on_error)`` of the function this connection's ``vsa_encode`` calls.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection

    Returns
    -------
    tuple of (str, str), or None if duckdb_vsa is not registered on ``con``.
    """
    found = _encode_macro_call(con)
    return None if found is None else (found.group(1), found.group(2))


def registered_workers(con: duckdb.DuckDBPyConnection) -> int | None:
    """The worker processes this connection's ``vsa_encode`` uses (0: none), or None.

    None if duckdb_vsa is not registered on ``con``.
    """
    found = _encode_macro_call(con)
    return None if found is None else int(found.group(3) or 0)


def _encode_macro_call(con: duckdb.DuckDBPyConnection) -> re.Match[str] | None:
    """The function name in the text of this connection's ``vsa_encode`` macro, matched."""
    rows = con.execute(
        "SELECT macro_definition FROM duckdb_functions() "
        "WHERE function_name = 'vsa_encode' AND function_type = 'macro'"
    ).fetchall()
    for (definition,) in rows:
        found = _NAME.search(definition or "")
        if found:
            return found
    return None


def describe_registration(fingerprint: str, on_error: str) -> str:
    """A readable configuration for messages: options, ``on_error`` and fingerprint.

    Examples
    --------
    >>> describe_registration("feed", "raise")
    "on_error='raise' (fingerprint feed)"
    """
    known = configuration(fingerprint)
    what = known[0].describe().split(" (fingerprint")[0] + ", " if known else ""
    return f"{what}on_error={on_error!r} (fingerprint {fingerprint})"


def registered_config(con: duckdb.DuckDBPyConnection) -> EncoderConfig | None:
    """The configuration of this connection's ``vsa_encode``, or None.

    As :func:`registered_encoder`, but never builds an encoder.
    """
    current = registration(con)
    known = None if current is None else configuration(current[0])
    return None if known is None else known[0]


def registered_encoder(con: duckdb.DuckDBPyConnection) -> Encoder | None:
    """The encoder behind this connection's ``vsa_encode``, or None.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection

    Returns
    -------
    Encoder or None
        None if duckdb_vsa is not registered on ``con`` (or was registered by
        another copy of the package).

    Examples
    --------
    >>> import duckdb
    >>> registered_encoder(duckdb.connect()) is None
    True
    """
    current = registration(con)
    known = None if current is None else configuration(current[0])
    if known is None:
        return None
    return shared_encoder(*known)
