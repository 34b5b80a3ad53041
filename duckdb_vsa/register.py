"""Registration of the SQL surface on a DuckDB connection.

DuckDB keeps Python UDFs in the database instance's system catalog, shared by
all its connections, and removes one only through the connection object that
created it. So the encoder is registered under a name of its own,
``__vsa_encode_<fingerprint>_<on_error>[_w<workers>]``, once per instance and never removed;
``vsa_encode`` and every other object are TEMP macros of the connection that
``register`` is called on, the ``vsa_encode`` macro calling that connection's
encoder. Connections to one database can so use different configurations, and
``replace=True`` only repoints one connection's macros.

The functions hold a configuration, not an encoder: each call takes the
encoder from :func:`duckdb_vsa.encoder.shared_encoder`, so the process keeps at
most ``SHARED_ENCODERS`` encoders (and their caches) however many
configurations were ever registered.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import duckdb
import pyarrow as pa

from duckdb_vsa.arrays import text_values, vectors_from_arrow, vectors_to_arrow
from duckdb_vsa.config import ENCODER_VERSION, EncoderConfig
from duckdb_vsa.db.changes import repair_watches
from duckdb_vsa.db.columns import COMMENT_PREFIX, ensure_guard_function, recorded_sql
from duckdb_vsa.db.encoders import (
    describe_registration,
    encode_function_name,
    ensure_encode_function,
    registered_encoder,
    registration,
    remember,
)
from duckdb_vsa.db.udf import ensure_function
from duckdb_vsa.dispatch import check_workers
from duckdb_vsa.encoder import ON_ERROR, Encoder, shared_encoder
from duckdb_vsa.errors import (
    ConfigMismatchError,
    DocumentError,
    InvalidArgumentError,
    NotRegisteredError,
    VectorShapeError,
    mismatch_message,
)
from duckdb_vsa.index.catalog import ensure_index_functions
from duckdb_vsa.marker import FOREIGN, REMEDY, check_vectors, foreign_sql
from duckdb_vsa.parse import parse_json
from duckdb_vsa.sqltext import quote_literal
from duckdb_vsa.version import __version__

__all__ = ["SQL_FILES", "SQL_OBJECTS", "macro_sql", "register", "registered_encoder"]

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
    "vsa_version",
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
    "vsa_create_index",
    "vsa_drop_index",
    "vsa_indexes",
)

_EXPLAIN_TYPE = pa.list_(pa.struct([("path", pa.string()), ("contribution", pa.float32())]))

# One registration at a time: functions first, then the check, then the macros.
_LOCK = threading.RLock()


def _sql_dir() -> Path:
    packaged = resources.files("duckdb_vsa") / "sql"
    if packaged.is_dir():
        return Path(str(packaged))
    # A source checkout: the macros live in the repository's top-level sql/.
    return Path(__file__).resolve().parent.parent / "sql"


@dataclasses.dataclass(frozen=True)
class _Sql:
    """A SQL expression standing in for one part of a message."""

    expr: str


def _mismatch_sql(subject: _Sql, recorded: _Sql, current: str | _Sql, remedy: str) -> str:
    """:func:`~duckdb_vsa.errors.mismatch_message` as a SQL string expression.

    The parts given as :class:`_Sql` are computed by SQL; the rest of the
    wording is the Python template's, as string literals.
    """
    parts = {"subject": subject, "recorded": recorded, "current": current, "remedy": remedy}
    exprs = {name: p.expr for name, p in parts.items() if isinstance(p, _Sql)}
    text = mismatch_message(
        **{name: f"\x00{name}\x00" if name in exprs else p for name, p in parts.items()}
    )
    sql = []
    for i, piece in enumerate(re.split("\x00(\\w+)\x00", text)):
        if i % 2:
            sql.append(f"({exprs[piece]})")
        elif piece:
            sql.append(quote_literal(piece))
    return " || ".join(sql)


def _guard_values(config: EncoderConfig) -> dict[str, str]:
    """The texts vsa_guard.sql is filled in with."""
    strip = f"^{COMMENT_PREFIX}[0-9a-f]+ "

    def column(col: str, tbl: str) -> str:
        return f"__vsa_who::VARCHAR || ': column ' || {col}::VARCHAR || ' of ' || {tbl}::VARCHAR"

    def configuration(comment: str) -> _Sql:
        return _Sql(f"regexp_replace({comment}, '{strip}', '')")

    here = f"this connection's encoder is {config.describe()}"
    again = (
        "register this connection with the column's configuration, or re-encode the column "
        "with duckdb_vsa.encode_column()."
    )
    return {
        "foreign": foreign_sql("__vsa_v", config.fingerprint, config.dim),
        "vector_mismatch": _mismatch_sql(
            _Sql("__vsa_who::VARCHAR || ': ' || __vsa_what::VARCHAR"), FOREIGN, here, REMEDY
        ),
        "recorded": recorded_sql("__vsa_tbl::VARCHAR", "__vsa_col::VARCHAR"),
        "column_mismatch": _mismatch_sql(
            _Sql(column("__vsa_col", "__vsa_tbl")), configuration("__vsa_c"), here, again
        ),
        "left_mismatch": _mismatch_sql(
            _Sql(column("__vsa_lcol", "__vsa_ltbl")), configuration("__vsa_l"), here, again
        ),
        "right_mismatch": _mismatch_sql(
            _Sql(column("__vsa_rcol", "__vsa_rtbl")), configuration("__vsa_r"), here, again
        ),
        "pair_mismatch": _mismatch_sql(
            _Sql(column("__vsa_lcol", "__vsa_ltbl")),
            configuration("__vsa_l"),
            _Sql(
                "'column ' || __vsa_rcol::VARCHAR || ' of ' || __vsa_rtbl::VARCHAR || ' with ' "
                f"|| regexp_replace(__vsa_r, '{strip}', '')"
            ),
            "re-encode one column with duckdb_vsa.encode_column() on a connection registered "
            "like the other.",
        ),
    }


def macro_sql(config: EncoderConfig, on_error: str = "raise", workers: int = 0) -> str:
    """The text of every macro file, filled in for ``config``.

    Parameters
    ----------
    config : EncoderConfig
        The configuration of the connection's ``vsa_encode``.
    on_error : {"raise", "null"}, default "raise"
    workers : int, default 0
        Worker processes of the function ``vsa_encode`` calls.

    Returns
    -------
    str
        SQL statements creating every TEMP macro of :data:`SQL_OBJECTS`.
    """
    values = {
        "dim": config.dim,
        "version": ENCODER_VERSION,
        "seed": config.seed,
        "binding": config.binding,
        "fingerprint": config.fingerprint,
        "package_version": __version__,
        **_guard_values(config),
    }
    directory = _sql_dir()
    # The CASE gives an untyped literal (vsa_encode(42)) its own type, which has one
    # cast to the function's parameters; the bare literal would match both equally,
    # and DuckDB's error would name the internal function.
    function = encode_function_name(config.fingerprint, on_error, workers)
    encode = (
        f"CREATE OR REPLACE TEMP MACRO vsa_encode(doc) AS {function}(CASE WHEN true THEN doc END);"
    )
    return "\n".join(
        [encode]
        + [
            Template((directory / name).read_text(encoding="utf-8")).substitute(values)
            for name in SQL_FILES
        ]
    )


def _ensure_feature_functions(
    con: duckdb.DuckDBPyConnection, config: EncoderConfig, cache_bytes: int | None
) -> None:
    """Create the functions behind vsa_probe, vsa_field_similarity and vsa_explain."""
    dim, fp = config.dim, config.fingerprint
    vector_type = f"FLOAT[{dim}]"

    def probe(vectors: pa.ChunkedArray, paths: pa.ChunkedArray) -> pa.Array:
        try:
            rows, _ = vectors_from_arrow(vectors, dim)
        except VectorShapeError as err:
            raise VectorShapeError(
                f"Expected vectors of length {dim} (as this connection's encoder makes), got "
                f"{'a NULL element' if err.length is None else f'length {err.length}'}. Probe "
                "vectors made by the same configuration.",
                err.length,
            ) from None
        check_vectors(rows, config, "vsa_probe: a vector probed")
        encoder = shared_encoder(config, cache_bytes)
        return vectors_to_arrow(encoder.probe_many(rows, text_values(paths)))

    def field_value(paths: pa.ChunkedArray, values: pa.ChunkedArray) -> pa.Array:
        path_list, texts = text_values(paths), text_values(values)
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
        encoder = shared_encoder(config, cache_bytes)
        vectors = encoder.field_vectors([p for p, _ in distinct], parsed)
        where = {pair: i for i, pair in enumerate(distinct)}
        order = [where[pair] for pair in zip(path_list, texts)]
        return vectors_to_arrow(vectors[order])

    def explain(docs_a: pa.ChunkedArray, docs_b: pa.ChunkedArray) -> pa.Array:
        encoder = shared_encoder(config, cache_bytes)
        out = []
        for a, b in zip(text_values(docs_a), text_values(docs_b)):
            parts = encoder.explain(a, b)
            out.append([{"path": p, "contribution": c} for p, c in parts])
        return pa.array(out, type=_EXPLAIN_TYPE)

    ensure_function(con, f"__vsa_probe_{fp}", probe, [[vector_type, "VARCHAR"]], vector_type)
    ensure_function(
        con,
        f"__vsa_field_value_{fp}",
        field_value,
        [["VARCHAR", "VARCHAR"], ["VARCHAR", "JSON"]],
        vector_type,
    )
    ensure_function(
        con,
        f"__vsa_explain_{fp}",
        explain,
        [["VARCHAR", "VARCHAR"], ["JSON", "JSON"]],
        "STRUCT(path VARCHAR, contribution FLOAT)[]",
    )


def register(
    con: duckdb.DuckDBPyConnection,
    *,
    dim: int = 1024,
    seed: int = 0,
    binding: str = "perm",
    on_error: str = "raise",
    replace: bool = False,
    cache_bytes: int | None = None,
    workers: int | str | None = None,
    **options: Any,
) -> Encoder:
    """Register duckdb_vsa's SQL functions and macros on a DuckDB connection.

    Memory: the database functions of every configuration registered stay in
    the database for the process's life, but they hold only the configuration;
    the encoders and their caches come from the process's bounded registry
    (:func:`duckdb_vsa.encoder.shared_encoder`), which keeps at most
    ``duckdb_vsa.encoder.SHARED_ENCODERS`` of them, the most recently used. An
    evicted encoder is rebuilt on its next use, with the same vectors.

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
        Budget of each encoder cache (see :class:`~duckdb_vsa.Encoder`: with
        ``binding="haar"`` the default role cache holds at least 128 dense matrices).
    workers : int or "auto", optional
        Worker processes for ``vsa_encode``: 0 (the default, None) encodes in
        this process; ``"auto"`` uses the usable cores when there are two or
        more. Each DuckDB chunk of at least ``duckdb_vsa.dispatch.MIN_POOL_ROWS``
        rows is cut into slices the workers encode, while the DuckDB thread
        waits without holding the interpreter lock; the first such chunk
        starts the workers in the background (about a second) and is encoded
        in this process, as are smaller chunks. The vectors are the same
        whatever ``workers`` is, so connections registered with different
        numbers of workers may share columns. Each worker holds its own
        encoder caches of ``cache_bytes``. Registering again with another
        ``workers`` (even without ``replace``) only changes where encoding runs.

    Returns
    -------
    Encoder
        The encoder behind ``vsa_encode``, for use from Python; it encodes in
        this process (``workers=0``).

    Raises
    ------
    ConfigMismatchError
        If this connection already has duckdb_vsa registered with a different
        configuration and ``replace`` is False.
    InvalidArgumentError
        If ``on_error`` is not one of those above.
    NotRegisteredError
        If the macros cannot be created inside the caller's open transaction
        (call ``register`` before ``BEGIN``).
    ValueError, TypeError
        If an encoder option is invalid or unknown.

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
        raise InvalidArgumentError(f"on_error must be 'raise' or 'null', got {on_error!r}.")
    config = EncoderConfig.from_options(dim=dim, seed=seed, binding=binding, **options)
    workers = check_workers(workers)
    budget = None if cache_bytes is None else int(cache_bytes)
    encoder = shared_encoder(config, budget)
    remember(config, budget)
    with _LOCK:
        # Functions first: this connection's queries below may open its snapshot.
        ensure_encode_function(con, config, budget, on_error, workers)
        _ensure_feature_functions(con, config, budget)
        ensure_guard_function(con)
        ensure_index_functions(con)
        # A database file copied, renamed or attached under another name: its change
        # triggers still name the old database, and every write of the table fails.
        repair_watches(con)
        current = registration(con)
        wanted = (config.fingerprint, on_error)
        if current is not None and current != wanted and not replace:
            raise ConfigMismatchError(
                mismatch_message(
                    "Every vector vsa_encode returns on this connection",
                    describe_registration(*current),
                    f"this call asks for {describe_registration(*wanted)}",
                    "use the same configuration, or pass replace=True to switch this "
                    "connection to the new one.",
                )
            )
        try:
            con.execute(macro_sql(config, on_error, workers)).fetchall()
        except duckdb.CatalogException as err:
            raise NotRegisteredError(
                "duckdb_vsa could not create its macros inside this connection's open "
                "transaction, which had already read the function catalog before the "
                f"functions were added ({err}). Call register() before BEGIN, or after COMMIT."
            ) from None
    return encoder
