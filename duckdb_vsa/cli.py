"""The ``duckdb-vsa`` command line: encode files, search them, find near-duplicates.

Commands (``duckdb-vsa COMMAND --help`` for each):

- ``encode INPUT -o OUTPUT``: JSON Lines, a JSON array, or Parquet/CSV with a JSON
  column, to Parquet with a vector column or to a table of a DuckDB database
  file. Streams the input in chunks (``--chunk-size`` rows at a time, so memory
  stays bounded whatever the input's size) and shows a progress bar on stderr.
- ``search STORE --query DOC``: the ``k`` rows most similar to a query document.
- ``dedup STORE``: pairs of rows whose vectors score at least ``--threshold``.
- ``explain DOC_A DOC_B``: which fields make two documents similar.
- ``info [STORE]``: an encoder's configuration, or the one recorded for a store.

A *store* is what ``encode`` writes: a Parquet file, or a DuckDB database file
(``--table``). ``encode`` records the encoder configuration with the vectors (in
the Parquet schema metadata under ``duckdb_vsa``; in a DuckDB database as
:func:`duckdb_vsa.encode_column` does), so ``search`` encodes the query with the
same configuration and refuses options that would make incomparable vectors.

JSON Lines are read by Python line by line, and each line's text is encoded
exactly as written (blank lines are skipped; the output keeps the 1-based
``line`` number). JSON arrays, Parquet and CSV are read by DuckDB
(``read_json_objects``, ``read_parquet``, ``read_csv``); a JSON array's elements
keep their text as written and their 0-based ``index``. Errors are one line on
stderr, ``duckdb-vsa: error: ...``, with exit code 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from duckdb_vsa.config import ENCODER_VERSION, EncoderConfig
from duckdb_vsa.db.columns import METADATA_TABLE, column_info, record_column
from duckdb_vsa.encoder import DEFAULT_CACHE_BYTES, Encoder
from duckdb_vsa.errors import DocumentError
from duckdb_vsa.index import ExactIndex
from duckdb_vsa.parse import parse_json
from duckdb_vsa.version import __version__

PROG = "duckdb-vsa"
#: Key of the Parquet schema metadata that records the encoder configuration.
PARQUET_METADATA_KEY = b"duckdb_vsa"
DEFAULT_CHUNK = 4096
DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
#: DuckDB's buffer budget when encode writes a database (it spills beyond it).
DUCKDB_MEMORY_LIMIT = "256MB"
INPUT_FORMATS = ("auto", "jsonl", "json", "parquet", "csv")
OUTPUT_FORMATS = ("table", "csv", "jsonl")
_DOC = "__vsa_doc"


class CLIError(Exception):
    """An expected failure: printed as one line, exit code 1."""


# -- small helpers ---------------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _read_arg(value: str, what: str) -> str:
    """``value`` itself, or the text of a file for ``@path`` (``@-`` is stdin)."""
    if not value.startswith("@"):
        return value
    path = value[1:]
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise CLIError(f"Cannot read {what} from {path}: {err.strerror or err}.") from None


def _parse_doc(text: str, what: str) -> Any:
    try:
        return parse_json(text.strip())
    except DocumentError as err:
        raise CLIError(f"The {what} is not a JSON document: {err}") from None


def _duration(seconds: float) -> str:
    seconds = max(round(seconds), 0)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# -- encoder options -------------------------------------------------------------------


def _add_encoder_options(parser: argparse.ArgumentParser, note: str = "") -> None:
    group = parser.add_argument_group(
        "encoder options" + (f" ({note})" if note else ""),
    )
    group.add_argument("--dim", type=int, help="vector dimension (default 1024)")
    group.add_argument("--seed", type=int, help="seed of every atom and role (default 0)")
    group.add_argument("--binding", choices=("perm", "haar"), help="role matrices (default perm)")
    group.add_argument(
        "--fields",
        metavar="JSON",
        help='field hints as a JSON object, e.g. \'{"$.year": {"kind": "number", '
        '"scale": 2}}\', or @FILE',
    )
    group.add_argument(
        "--config",
        metavar="JSON",
        help="any encoder options as a JSON object (e.g. '{\"alpha\": 0.5}'), or @FILE; "
        "the output of 'info --format json' is accepted; --dim, --seed, --binding and "
        "--fields override it",
    )


def _requested_options(args: argparse.Namespace) -> dict[str, Any]:
    """The encoder options given on the command line (empty if none)."""
    options: dict[str, Any] = {}
    if getattr(args, "config", None):
        try:
            loaded = json.loads(_read_arg(args.config, "--config"))
        except json.JSONDecodeError as err:
            raise CLIError(f"--config is not a JSON object: {err}.") from None
        if isinstance(loaded, dict) and isinstance(loaded.get("config"), dict):
            loaded = loaded["config"]
        if not isinstance(loaded, dict):
            raise CLIError("--config must be a JSON object such as '{\"dim\": 256}'.")
        options.update(loaded)
    for name in ("dim", "seed", "binding"):
        if getattr(args, name, None) is not None:
            options[name] = getattr(args, name)
    if getattr(args, "fields", None):
        try:
            options["fields"] = json.loads(_read_arg(args.fields, "--fields"))
        except json.JSONDecodeError as err:
            raise CLIError(f"--fields is not a JSON object: {err}.") from None
    return options


def _make_config(options: dict[str, Any], recorded_in: str | None = None) -> EncoderConfig:
    """The configuration of command-line options, or of one recorded in a store."""
    options = dict(options)
    version = options.pop("version", ENCODER_VERSION)
    where = f"The configuration recorded in {recorded_in}" if recorded_in else "--config"
    if version != ENCODER_VERSION:
        raise CLIError(
            f"{where} is for encoder version {version}, but this duckdb_vsa encodes version "
            f"{ENCODER_VERSION}: re-encode the data with this version of duckdb_vsa."
        )
    try:
        return EncoderConfig.from_options(**options)
    except (TypeError, ValueError) as err:
        what = f"{where} is invalid" if recorded_in else "Invalid encoder option"
        raise CLIError(f"{what}: {_one_line(err)}") from None


def _make_encoder(config: EncoderConfig, cache_bytes: int = DEFAULT_CACHE_BYTES) -> Encoder:
    values = config.as_dict()
    del values["version"]
    return Encoder(cache_bytes=cache_bytes, **values)


# -- progress --------------------------------------------------------------------------


class Progress:
    """A progress bar on stderr: records done, records/s and the time left.

    On a terminal one line is redrawn at most five times a second; elsewhere
    (``--progress`` into a file or pipe) a line is printed at most every five
    seconds, and always at the end.
    """

    def __init__(self, label: str, total: int | None, enabled: bool, stream: Any = None):
        self.label = label
        self.total = total
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last = -math.inf
        self._interval = 0.2 if self.tty else 5.0
        self._printed = ""

    def line(self, done: int, final: bool = False) -> str:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = done / elapsed
        if self.total:
            frac = min(done / self.total, 1.0)
            width = 24
            filled = int(frac * width)
            bar = "#" * filled + "." * (width - filled)
            left = (self.total - done) / rate if rate > 0 else math.inf
            eta = _duration(left) if math.isfinite(left) else "?"
            when = f"in {_duration(elapsed)}" if final else f"ETA {eta}"
            return (
                f"{self.label} [{bar}] {done:,}/{self.total:,} records ({frac:.0%}), "
                f"{rate:,.0f} records/s, {when}"
            )
        return f"{self.label} {done:,} records, {rate:,.0f} records/s, {_duration(elapsed)}"

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < self._interval:
            return
        self._last = now
        self._printed = self.line(done)
        self._write(self._printed, final=False)

    def finish(self, done: int) -> None:
        if self.enabled:
            if self.total is not None:
                self.total = done  # the count may have been an estimate (blank lines)
            text = self.line(done, final=True)
            if self.tty or text != self._printed:
                self._write(text, final=True)

    def _write(self, text: str, final: bool) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _progress_enabled(args: argparse.Namespace) -> bool:
    if args.quiet:
        return False
    return bool(args.progress or sys.stderr.isatty())


# -- reading the input -----------------------------------------------------------------


class Chunk:
    """Rows of the input: the columns to keep, and each row's JSON text."""

    def __init__(
        self,
        columns: pa.Table,
        docs: pa.Array,
        where: Callable[[int], str],
        hint: Callable[[str], str] | None = None,
    ):
        self.columns = columns
        self.docs = docs
        self.where = where
        self.hint = hint


def _detect_format(path: str, given: str) -> str:
    if given != "auto":
        return given
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".jsonl", ".ndjson", ".jsonlines")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if path == "-":
        return "jsonl"
    head = _head(path, 4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{") or name.endswith(".json"):
        # One document per line, unless the first line is not a whole document
        # (a document printed over several lines).
        first, newline, _ = text.partition(b"\n")
        if not newline:
            return "jsonl"
        try:
            parse_json(first.decode("utf-8", "replace"))
        except DocumentError:
            return "json"
        return "jsonl"
    raise CLIError(f"Cannot tell the format of {path}: pass --format jsonl, json, parquet or csv.")


def _head(path: str, n: int) -> bytes:
    try:
        opener = gzip.open if path.lower().endswith(".gz") else open
        with opener(path, "rb") as f:
            return f.read(n)
    except FileNotFoundError:
        raise CLIError(f"No such file: {path}.") from None
    except OSError as err:
        raise CLIError(f"Cannot read {path}: {err.strerror or err}.") from None


def _check_readable(path: str) -> None:
    if path != "-" and not Path(path).is_file():
        if Path(path).exists():
            raise CLIError(f"{path} is not a file; give the path of a file to encode.")
        raise CLIError(f"No such file: {path}.")


def _count_lines(path: str) -> int:
    """Lines of a text file, blank ones too (the progress bar's estimate of the documents)."""
    opener = gzip.open if path.lower().endswith(".gz") else open
    count, last = 0, b"\n"
    with opener(path, "rb") as f:
        while block := f.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


class JsonLinesSource:
    """JSON Lines read line by line by Python; each line's text is a document."""

    def __init__(self, path: str, doc_column: str, chunk_size: int):
        self.path = path
        self.name = "<stdin>" if path == "-" else path
        self.doc_column = doc_column
        self.chunk_size = chunk_size
        self.schema = pa.schema([("line", pa.int64()), (doc_column, pa.string())])
        self.source_column = doc_column

    def count(self) -> int | None:
        return None if self.path == "-" else _count_lines(self.path)

    def _open(self) -> Any:
        if self.path == "-":
            return sys.stdin.buffer
        if self.path.lower().endswith(".gz"):
            return gzip.open(self.path, "rb")
        return open(self.path, "rb")

    def chunks(self) -> Iterator[Chunk]:
        f = self._open()
        try:
            lines: list[int] = []
            texts: list[str | None] = []
            for number, raw in enumerate(f, start=1):
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                if not raw.strip():
                    continue
                try:
                    text = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as err:
                    raise CLIError(
                        f"{self.name}, line {number}: not UTF-8 text ({err.reason} at byte "
                        f"{err.start}); convert the file to UTF-8."
                    ) from None
                lines.append(number)
                texts.append(text)
                if len(texts) == self.chunk_size:
                    yield self._chunk(lines, texts)
                    lines, texts = [], []
            if texts:
                yield self._chunk(lines, texts)
        finally:
            if f is not sys.stdin.buffer:
                f.close()

    def _chunk(self, lines: list[int], texts: list[str | None]) -> Chunk:
        docs = pa.array(texts, type=pa.string())
        table = pa.Table.from_arrays([pa.array(lines, type=pa.int64()), docs], schema=self.schema)
        name = self.name
        return Chunk(table, docs, lambda i: f"{name}, line {lines[i]}", _jsonl_hint)


def _jsonl_hint(text: str) -> str:
    stripped = text.strip()
    if stripped in ("{", "[") or (stripped.startswith("[") and not stripped.endswith("]")):
        return (
            " JSON Lines hold one whole document per line; for a JSON array or documents over"
            " several lines, pass --format json."
        )
    return ""


class DuckDBSource:
    """JSON arrays, Parquet and CSV, read and streamed by DuckDB."""

    def __init__(self, path: str, fmt: str, json_column: str | None, chunk_size: int):
        self.path = path
        self.name = path
        self.fmt = fmt
        self.chunk_size = chunk_size
        self.con = duckdb.connect()
        self.con.execute("SET enable_progress_bar = false").fetchall()
        if fmt == "json":
            # A JSON array, or documents one after another (each may span lines).
            array = _head(path, 4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")
            layout = "array" if array else "unstructured"
            self.relation = f"read_json_objects({_literal(path)}, format = '{layout}')"
        elif fmt == "parquet":
            self.relation = f"read_parquet({_literal(path)})"
        else:
            self.relation = f"read_csv({_literal(path)})"
        try:
            described = self.con.execute(f"DESCRIBE SELECT * FROM {self.relation}").fetchall()
        except duckdb.Error as err:
            raise CLIError(f"Cannot read {path} as {fmt}: {_one_line(err)}") from None
        types = {row[0]: row[1] for row in described}
        if fmt == "json":
            self.source_column = json_column or "doc"
            select = f"json::VARCHAR AS {_quote(self.source_column)}"
            self.query = f"SELECT {select}, json::VARCHAR AS {_DOC} FROM {self.relation}"
        else:
            column = json_column or self._guess_column(types)
            if column not in types:
                raise CLIError(
                    f"{path} has no column {column!r}; its columns are "
                    f"{', '.join(types)}. Choose the JSON column with --json-column."
                )
            self.source_column = column
            kind = types[column]
            expr = (
                _quote(column)
                if kind == "VARCHAR"
                else f"{_quote(column)}::VARCHAR"
                if kind == "JSON"
                else f"to_json({_quote(column)})::VARCHAR"
            )
            self.query = f"SELECT *, {expr} AS {_DOC} FROM {self.relation}"
        self.index = fmt == "json"
        reader = self.con.sql(self.query).to_arrow_reader(1)
        schema = reader.schema
        reader.close()
        if self.index:
            schema = pa.schema([pa.field("index", pa.int64()), *list(schema)])
        self.schema = schema.remove(schema.get_field_index(_DOC))

    def _guess_column(self, types: dict[str, str]) -> str:
        for name in ("doc", "json", "document"):
            if name in types:
                return name
        text = [n for n, t in types.items() if t in ("VARCHAR", "JSON")]
        if len(text) == 1:
            return text[0]
        raise CLIError(
            f"Cannot tell which column of {self.path} holds the JSON documents (columns: "
            f"{', '.join(types)}): name it with --json-column."
        )

    def count(self) -> int | None:
        return int(self.con.execute(f"SELECT count(*) FROM {self.relation}").fetchall()[0][0])

    def chunks(self) -> Iterator[Chunk]:
        try:
            reader = self.con.sql(self.query).to_arrow_reader(self.chunk_size)
            start = 0
            for batch in reader:
                if not len(batch):
                    continue
                table = pa.Table.from_batches([batch])
                docs = table.column(_DOC).combine_chunks()
                if isinstance(docs.type, pa.ExtensionType):
                    docs = docs.cast(docs.type.storage_type)
                table = table.drop_columns([_DOC])
                if self.index:
                    positions = pa.array(np.arange(start, start + len(table)), pa.int64())
                    table = table.add_column(0, "index", positions)
                yield Chunk(table, docs, self._where(start))
                start += len(table)
        except duckdb.Error as err:
            raise CLIError(f"Cannot read {self.path}: {_one_line(err)}") from None

    def _where(self, start: int) -> Callable[[int], str]:
        label = "element" if self.fmt == "json" else "row"
        return lambda i: f"{self.path}, {label} {start + i + (self.fmt != 'json')}"


# -- writing the output ----------------------------------------------------------------


def _encoding_metadata(
    config: EncoderConfig, vector_column: str, source_column: str
) -> dict[str, Any]:
    return {
        "fingerprint": config.fingerprint,
        "configuration": config.describe(),
        "config": config.as_dict(),
        "vector_column": vector_column,
        "source_column": source_column,
    }


class ParquetSink:
    """Writes to a temporary file next to the output, renamed on success."""

    def __init__(self, path: str, schema: pa.Schema, metadata: dict[str, Any], overwrite: bool):
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise CLIError(f"{path} exists; pass --overwrite to replace it.")
        if not self.path.parent.is_dir():
            raise CLIError(f"No such directory: {self.path.parent}.")
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        meta = dict(schema.metadata or {})
        meta[PARQUET_METADATA_KEY] = json.dumps(metadata, sort_keys=True).encode()
        self.schema = schema.with_metadata(meta)
        self.writer = pq.ParquetWriter(self.tmp, self.schema)
        self.where = str(path)

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table.cast(self.schema))

    def close(self, ok: bool, rows: int) -> None:
        self.writer.close()
        if ok:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


class DuckDBSink:
    """Creates a table in a DuckDB database file; records the configuration at the end."""

    def __init__(
        self,
        path: str,
        table: str,
        schema: pa.Schema,
        config: EncoderConfig,
        source_column: str,
        vector_column: str,
        overwrite: bool,
    ):
        self.table, self.config = table, config
        self.source_column, self.vector_column = source_column, vector_column
        self.where = f"table {table} of {path}"
        try:
            self.con = duckdb.connect(path)
        except duckdb.Error as err:
            raise CLIError(f"Cannot open the database {path}: {_one_line(err)}") from None
        exists = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE lower(table_name) = lower(?) "
            "AND schema_name = 'main'",
            [table],
        ).fetchall()[0][0]
        if exists and not overwrite:
            self.con.close()
            raise CLIError(f"{path} already has a table {table}; pass --overwrite to replace it.")
        # Rows go to a staging table, which replaces the table only once all are in, so
        # a failure leaves the database as it was. Each chunk is committed on its own (one
        # transaction for all would hold more memory), within DuckDB's memory limit.
        self.final = _quote(table)
        self.target = _quote(f"__vsa_staging_{table}")
        self.con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'").fetchall()
        self.con.execute("SET enable_progress_bar = false").fetchall()
        self.con.execute(f"DROP TABLE IF EXISTS {self.target}").fetchall()
        empty = schema.empty_table()
        self.con.register("__vsa_batch", empty)
        self.con.execute(f"CREATE TABLE {self.target} AS SELECT * FROM __vsa_batch").fetchall()
        self.con.unregister("__vsa_batch")
        self.schema = schema

    def write(self, table: pa.Table) -> None:
        self.con.register("__vsa_batch", table)
        try:
            self.con.execute(f"INSERT INTO {self.target} SELECT * FROM __vsa_batch").fetchall()
        finally:
            self.con.unregister("__vsa_batch")

    def close(self, ok: bool, rows: int) -> None:
        try:
            if ok:
                self.con.execute("BEGIN TRANSACTION").fetchall()
                self.con.execute(f"DROP TABLE IF EXISTS {self.final}").fetchall()
                self.con.execute(f"ALTER TABLE {self.target} RENAME TO {self.final}").fetchall()
                record_column(
                    self.con, self.table, self.source_column, self.vector_column, self.config, rows
                )
                self.con.execute("COMMIT").fetchall()
                self.con.execute("CHECKPOINT").fetchall()
            else:
                self.con.execute(f"DROP TABLE IF EXISTS {self.target}").fetchall()
        finally:
            self.con.close()


# -- encode ----------------------------------------------------------------------------


def _encode_chunk(encoder: Encoder, chunk: Chunk, on_error: str) -> tuple[pa.Table, pa.Array, int]:
    """The chunk's kept columns, its vectors, and how many documents failed."""
    try:
        vectors = encoder.encode_arrow(
            chunk.docs, on_error="raise" if on_error == "raise" else "null"
        )
    except DocumentError:
        for i, text in enumerate(chunk.docs.to_pylist()):
            if text is None:
                continue
            try:
                parse_json(text)
            except DocumentError as err:
                hint = chunk.hint(text) if chunk.hint else ""
                raise CLIError(
                    f"{chunk.where(i)}: {err}{hint} Fix the document, or pass --on-error null "
                    "(keep the row with a NULL vector) or --on-error skip (drop the row)."
                ) from None
        raise
    failed = np.asarray(vectors.is_null().to_numpy(zero_copy_only=False), dtype=bool) & ~np.asarray(
        chunk.docs.is_null().to_numpy(zero_copy_only=False), dtype=bool
    )
    n_failed = int(failed.sum())
    columns = chunk.columns
    if n_failed and on_error == "skip":
        keep = pa.array(~failed)
        columns, vectors = columns.filter(keep), vectors.filter(keep)
    return columns, vectors, n_failed


def cmd_encode(args: argparse.Namespace) -> int:
    config = _make_config(_requested_options(args))
    if args.cache_mb < 0:
        raise CLIError(f"--cache-mb must be a number of megabytes >= 0, got {args.cache_mb}.")
    encoder = _make_encoder(config, args.cache_mb << 20)
    _check_readable(args.input)
    if args.chunk_size < 1:
        raise CLIError(f"--chunk-size must be a positive number of rows, got {args.chunk_size}.")
    fmt = _detect_format(args.input, args.format)
    if fmt == "jsonl":
        source: Any = JsonLinesSource(args.input, args.json_column or "doc", args.chunk_size)
    else:
        if args.input == "-":
            raise CLIError(
                "Only JSON Lines can be read from stdin; give a file for --format " + fmt
            )
        source = DuckDBSource(args.input, fmt, args.json_column, args.chunk_size)
    vcol = args.vector_column
    if vcol in source.schema.names:
        raise CLIError(
            f"The input already has a column {vcol!r}; name the vector column with --vector-column."
        )
    vector_type = pa.list_(pa.float32(), config.dim)
    schema = source.schema.append(pa.field(vcol, vector_type))
    to_duckdb = args.output.lower().endswith(DUCKDB_SUFFIXES)
    if args.table is not None and not to_duckdb:
        raise CLIError(
            "--table applies to a DuckDB database output: name the output file with the "
            f"suffix {', '.join(DUCKDB_SUFFIXES)}."
        )
    if to_duckdb:
        sink: Any = DuckDBSink(
            args.output,
            args.table or "docs",
            schema,
            config,
            source.source_column,
            vcol,
            args.overwrite,
        )
    else:
        metadata = _encoding_metadata(config, vcol, source.source_column)
        sink = ParquetSink(args.output, schema, metadata, args.overwrite)
    show = _progress_enabled(args)
    total = source.count() if show else None
    progress = Progress("encode", total, show)
    done = failed = 0
    ok = False
    try:
        for chunk in source.chunks():
            columns, vectors, n_failed = _encode_chunk(encoder, chunk, args.on_error)
            sink.write(columns.append_column(vcol, vectors))
            done += len(chunk.docs)
            failed += n_failed
            progress.update(done)
        ok = True
    finally:
        sink.close(ok, done - (failed if args.on_error == "skip" else 0))
    progress.finish(done)
    elapsed = time.perf_counter() - progress.start
    if not args.quiet:
        notes = ""
        if failed:
            what = "skipped" if args.on_error == "skip" else "kept with a NULL vector"
            notes = f"; {failed:,} invalid documents {what}"
        print(
            f"{PROG}: encoded {done:,} record{'s' * (done != 1)} into {sink.where} in "
            f"{elapsed:.1f} s "
            f"({done / max(elapsed, 1e-9):,.0f} records/s), {config.describe()}{notes}",
            file=sys.stderr,
        )
    return 0


# -- stores of encoded vectors ---------------------------------------------------------


def _is_duckdb_file(path: str) -> bool:
    if path.lower().endswith(DUCKDB_SUFFIXES):
        return True
    head = _head(path, 16)
    return head[8:12] == b"DUCK"


class Store:
    """Encoded vectors: a Parquet file or a table of a DuckDB database file."""

    def __init__(self, path: str, table: str | None, vector_column: str | None):
        if not Path(path).is_file():
            raise CLIError(f"No such file: {path}.")
        self.path = path
        self.config: dict[str, Any] | None = None
        self.con: Any = None
        if _is_duckdb_file(path):
            self._open_duckdb(table, vector_column)
        else:
            if table is not None:
                raise CLIError(f"{path} is not a DuckDB database; --table applies to those only.")
            self._open_parquet(vector_column)
        dtype = self.schema.field(self.vector_column).type
        if not (pa.types.is_fixed_size_list(dtype) or pa.types.is_list(dtype)):
            raise CLIError(
                f"Column {self.vector_column!r} of {self.label} holds {dtype}, not vectors; "
                "name the vector column with --vector-column."
            )
        self.dim = dtype.list_size if pa.types.is_fixed_size_list(dtype) else None
        self.columns = [n for n in self.schema.names if n != self.vector_column]

    def _open_parquet(self, vector_column: str | None) -> None:
        try:
            # Without pre-buffering, reading holds about one row group at a time.
            self.file = pq.ParquetFile(self.path, pre_buffer=False, buffer_size=1 << 20)
        except (pa.ArrowException, OSError) as err:
            raise CLIError(
                f"Cannot read {self.path} as Parquet or a DuckDB database: {_one_line(err)}"
            ) from None
        self.kind = "parquet"
        self.label = self.path
        self.schema = self.file.schema_arrow
        self.rows = self.file.metadata.num_rows
        recorded = (self.schema.metadata or {}).get(PARQUET_METADATA_KEY)
        meta = json.loads(recorded) if recorded else {}
        self.config = meta.get("config")
        self.encoded_with = meta.get("configuration")
        self.vector_column = self._vector_column(vector_column, meta.get("vector_column"))

    def _open_duckdb(self, table: str | None, vector_column: str | None) -> None:
        try:
            self.con = duckdb.connect(self.path, read_only=True)
        except duckdb.Error as err:
            raise CLIError(f"Cannot open the database {self.path}: {_one_line(err)}") from None
        self.con.execute("SET enable_progress_bar = false").fetchall()
        self.kind = "duckdb"
        tables = [
            r[0]
            for r in self.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                "AND table_name <> ? ORDER BY table_name",
                [METADATA_TABLE],
            ).fetchall()
        ]
        if table is None:
            if len(tables) != 1:
                raise CLIError(
                    f"{self.path} has {len(tables)} tables ({', '.join(tables) or 'none'}); "
                    "choose one with --table."
                )
            table = tables[0]
        elif table.lower() not in {t.lower() for t in tables}:
            raise CLIError(
                f"{self.path} has no table {table!r} (tables: {', '.join(tables) or 'none'})."
            )
        self.table = table
        self.label = f"table {table} of {self.path}"
        self.relation = _quote(table)
        reader = self.con.sql(f"SELECT * FROM {self.relation}").to_arrow_reader(1)
        self.schema = reader.schema
        reader.close()
        self.rows = int(self.con.execute(f"SELECT count(*) FROM {self.relation}").fetchall()[0][0])
        recorded_column = None
        has_meta = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [METADATA_TABLE]
        ).fetchall()[0][0]
        if has_meta and vector_column is None:
            found = self.con.execute(
                f"SELECT column_name FROM {METADATA_TABLE} WHERE lower(table_name) = lower(?)",
                [table],
            ).fetchall()
            if len(found) == 1:
                recorded_column = found[0][0]
        self.vector_column = self._vector_column(vector_column, recorded_column)
        info = column_info(self.con, table, self.vector_column)
        self.config = info["config"] if info else None
        self.encoded_with = info["configuration"] if info else None

    def _vector_column(self, given: str | None, recorded: str | None) -> str:
        names = self.schema.names
        if given is not None:
            if given not in names:
                raise CLIError(
                    f"{self.label} has no column {given!r}; its columns are {', '.join(names)}."
                )
            return given
        if recorded in names:
            return recorded
        if "vec" in names:
            return "vec"
        lists = [f.name for f in self.schema if pa.types.is_fixed_size_list(f.type)]
        if len(lists) == 1:
            return lists[0]
        raise CLIError(
            f"Cannot tell which column of {self.label} holds the vectors: name it with "
            "--vector-column."
        )

    def batches(self, columns: list[str], chunk_size: int) -> Iterator[pa.RecordBatch]:
        if self.kind == "parquet":
            yield from self.file.iter_batches(batch_size=chunk_size, columns=columns)
        else:
            select = ", ".join(_quote(c) for c in columns)
            yield from self.con.sql(f"SELECT {select} FROM {self.relation}").to_arrow_reader(
                chunk_size
            )

    def close(self) -> None:
        if self.con is not None:
            self.con.close()


def _store_encoder(store: Store, args: argparse.Namespace) -> Encoder:
    """The encoder that made the store's vectors; options may only agree with it."""
    requested = _requested_options(args)
    if store.config is not None:
        recorded = _make_config(store.config, store.label)
        if requested:
            wanted = _make_config(requested)
            if wanted.fingerprint != recorded.fingerprint:
                raise CLIError(
                    f"{store.label} was encoded with {recorded.describe()}, but the options ask "
                    f"for {wanted.describe()}. Vectors of different configurations are not "
                    "comparable: drop the encoder options, or re-encode the data with them."
                )
        config = recorded
    else:
        config = _make_config(requested)
    if store.dim is not None and store.dim != config.dim:
        raise CLIError(
            f"Column {store.vector_column!r} of {store.label} holds vectors of length "
            f"{store.dim}, but the encoder makes {config.dim}; no configuration is recorded "
            "with them, so pass the options they were encoded with (--dim, --seed, ...)."
        )
    return _make_encoder(config)


def _matrix(column: pa.Array | pa.ChunkedArray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectors as an (n, dim) float32 array (NULL rows zero) and the mask of valid rows."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    n = len(column)
    valid = ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_fixed_size_list(column.type):
        values = column.values.slice(column.offset * dim, n * dim)
        out = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(n, dim)
        if not valid.all():
            out = out.copy()
            out[~valid] = 0
    else:
        out = np.zeros((n, dim), dtype=np.float32)
        if valid.any():
            lengths = np.asarray(column.value_lengths().to_numpy(zero_copy_only=False))
            if (lengths[valid] != dim).any():
                bad = int(lengths[valid][lengths[valid] != dim][0])
                raise CLIError(f"A vector has length {bad}, but the encoder makes {dim}.")
            flat = np.asarray(column.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
            out[valid] = flat.reshape(-1, dim)
    return out, valid


# -- printing results ------------------------------------------------------------------


def _cell(value: Any, width: int) -> str:
    if value is None:
        text = "NULL"
    elif isinstance(value, float):
        text = f"{value:.4f}"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = " ".join(text.split()) if "\n" in text or "\t" in text else text
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def print_rows(rows: list[dict[str, Any]], columns: list[str], fmt: str, max_width: int) -> None:
    out = sys.stdout
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps({c: row[c] for c in columns}, ensure_ascii=False, default=str))
            out.write("\n")
        return
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                [
                    json.dumps(row[c], ensure_ascii=False)
                    if isinstance(row[c], (dict, list))
                    else row[c]
                    for c in columns
                ]
            )
        return
    cells = [[_cell(row[c], max_width) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [
        all(isinstance(row[c], (int, float)) or row[c] is None for row in rows) for c in columns
    ]

    def fit(text: str, i: int) -> str:
        return text.rjust(widths[i]) if numeric[i] else text.ljust(widths[i])

    out.write("  ".join(fit(c, i) for i, c in enumerate(columns)).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for r in cells:
        out.write("  ".join(fit(t, i) for i, t in enumerate(r)).rstrip() + "\n")


def _shown_columns(store: Store, given: str | None) -> list[str]:
    if not given:
        return store.columns
    names = [c.strip() for c in given.split(",") if c.strip()]
    missing = [c for c in names if c not in store.columns]
    if missing:
        raise CLIError(
            f"{store.label} has no column {missing[0]!r}; choose among {', '.join(store.columns)}."
        )
    return names


# -- search ----------------------------------------------------------------------------


def cmd_search(args: argparse.Namespace) -> int:
    if (args.query is None) == (args.query_file is None):
        raise CLIError("Give the query document with --query JSON or --query-file FILE.")
    if args.k < 1:
        raise CLIError(f"-k must be a positive integer, got {args.k}.")
    if args.query is not None:
        text = _read_arg(args.query, "the query")
    elif args.query_file == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.query_file).read_text(encoding="utf-8")
        except OSError as err:
            raise CLIError(
                f"Cannot read the query from {args.query_file}: {err.strerror or err}."
            ) from None
    store = Store(args.store, args.table, args.vector_column)
    try:
        encoder = _store_encoder(store, args)
        query = encoder.encode(_parse_doc(text, "query"))
        shown = _shown_columns(store, args.columns)
        best: list[tuple[float, int, dict[str, Any]]] = []
        offset = 0
        for batch in store.batches([*shown, store.vector_column], args.chunk_size):
            vectors, valid = _matrix(batch.column(store.vector_column), encoder.dim)
            scores = vectors @ query
            candidates = np.flatnonzero(valid)
            if len(candidates) > args.k:
                part = np.argpartition(-scores[candidates], args.k - 1)[: args.k]
                floor = scores[candidates[part]].min()
                candidates = candidates[scores[candidates] >= floor]
            if len(candidates) and (len(best) < args.k or scores[candidates].max() >= best[-1][0]):
                rows = batch.select(shown).take(pa.array(candidates)).to_pylist()
                best.extend(
                    (float(scores[i]), offset + int(i), row) for i, row in zip(candidates, rows)
                )
                best.sort(key=lambda t: (-t[0], t[1]))
                del best[args.k :]
            offset += len(batch)
    finally:
        store.close()
    rows = [{"rank": r, "score": s, **row} for r, (s, _, row) in enumerate(best, start=1)]
    print_rows(rows, ["rank", "score", *shown], args.format, args.max_width)
    return 0


# -- dedup -----------------------------------------------------------------------------


def cmd_dedup(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise CLIError(f"-k must be a positive integer, got {args.k}.")
    if not -1.0 <= args.threshold <= 1.0:
        raise CLIError(f"--threshold is a cosine between -1 and 1, got {args.threshold}.")
    store = Store(args.store, args.table, args.vector_column)
    try:
        encoder = _store_encoder(store, args)
        dim = encoder.dim
        matrix = np.empty((store.rows, dim), dtype=np.float32)
        ids = np.empty(store.rows, dtype=np.int64)
        n = offset = 0
        for batch in store.batches([store.vector_column], args.chunk_size):
            vectors, valid = _matrix(batch.column(store.vector_column), dim)
            m = int(valid.sum())
            matrix[n : n + m] = vectors[valid]
            ids[n : n + m] = offset + np.flatnonzero(valid)
            n += m
            offset += len(batch)
        index = ExactIndex(matrix[:n], ids[:n], copy=False)
        pairs: dict[tuple[int, int], float] = {}
        for lo in range(0, n, 2048):
            block = slice(lo, min(lo + 2048, n))
            hits = index.search_ragged(matrix[block], args.k, exclude=ids[block])
            queries = np.repeat(ids[block], hits.counts)
            keep = hits.scores >= np.float32(args.threshold)
            for a, b, s in zip(queries[keep], hits.ids[keep], hits.scores[keep]):
                key = (int(min(a, b)), int(max(a, b)))
                pairs[key] = max(pairs.get(key, -2.0), float(s))
        del index, matrix
        ordered = sorted(pairs.items(), key=lambda p: (-p[1], p[0]))
        if args.limit is not None:
            ordered = ordered[: args.limit]
        shown = _shown_columns(store, args.columns)
        wanted = np.array(sorted({i for (a, b), _ in ordered for i in (a, b)}), dtype=np.int64)
        found: dict[int, dict[str, Any]] = {}
        offset = 0
        if len(wanted) and shown:
            for batch in store.batches(shown, args.chunk_size):
                lo, hi = np.searchsorted(wanted, [offset, offset + len(batch)])
                if hi > lo:
                    local = wanted[lo:hi] - offset
                    for i, row in zip(wanted[lo:hi], batch.take(pa.array(local)).to_pylist()):
                        found[int(i)] = row
                offset += len(batch)
    finally:
        store.close()
    columns = ["score"] + [f"{side}.{c}" for side in ("l", "r") for c in shown]
    rows = []
    for (a, b), score in ordered:
        row: dict[str, Any] = {"score": score}
        for side, i in (("l", a), ("r", b)):
            for c in shown:
                row[f"{side}.{c}"] = found.get(i, {}).get(c)
        rows.append(row)
    print_rows(rows, columns, args.format, args.max_width)
    if not args.quiet:
        print(
            f"{PROG}: {len(pairs):,} pairs with score >= {args.threshold} among {n:,} vectors"
            + (f" (showing {len(rows):,})" if len(rows) < len(pairs) else ""),
            file=sys.stderr,
        )
    return 0


# -- explain ---------------------------------------------------------------------------


def cmd_explain(args: argparse.Namespace) -> int:
    if args.like:
        store = Store(args.like, args.table, args.vector_column)
        try:
            encoder = _store_encoder(store, args)
        finally:
            store.close()
    else:
        encoder = _make_encoder(_make_config(_requested_options(args)))
    a = _parse_doc(_read_arg(args.doc_a, "DOC_A"), "first document")
    b = _parse_doc(_read_arg(args.doc_b, "DOC_B"), "second document")
    parts = encoder.explain(a, b, positions=args.positions)
    similarity = float(encoder.encode(a).astype(np.float64) @ encoder.encode(b).astype(np.float64))
    rows = [{"path": p, "contribution": float(c)} for p, c in parts]
    if args.format == "table":
        rows.append({"path": "similarity", "contribution": similarity})
        print_rows(rows[:-1], ["path", "contribution"], "table", args.max_width)
        print(f"similarity {similarity:.4f} ({encoder.config.describe()})")
    else:
        print_rows(rows, ["path", "contribution"], args.format, args.max_width)
    return 0


# -- info ------------------------------------------------------------------------------


def cmd_info(args: argparse.Namespace) -> int:
    info: dict[str, Any]
    if args.store is None:
        config = _make_config(_requested_options(args))
        info = {
            "fingerprint": config.fingerprint,
            "configuration": config.describe(),
            "config": config.as_dict(),
        }
    else:
        store = Store(args.store, args.table, args.vector_column)
        try:
            info = {
                "store": store.path,
                "kind": store.kind,
                **({"table": store.table} if store.kind == "duckdb" else {}),
                "rows": store.rows,
                "vector_column": store.vector_column,
                "dim": store.dim,
                "columns": store.columns,
            }
            if store.config is None:
                info["configuration"] = None
                info["note"] = (
                    "no encoder configuration is recorded with these vectors; search and dedup "
                    "need the options they were encoded with"
                )
            else:
                config = _make_config(store.config, store.label)
                info["fingerprint"] = config.fingerprint
                info["configuration"] = config.describe()
                info["config"] = config.as_dict()
                requested = _requested_options(args)
                if requested:
                    wanted = _make_config(requested)
                    info["comparable"] = wanted.fingerprint == config.fingerprint
        finally:
            store.close()
    if args.format == "json":
        print(json.dumps(info, indent=2, default=str))
    else:
        width = max(len(k) for k in info)
        for key, value in info.items():
            if key == "config":
                text = ", ".join(f"{k}={json.dumps(v)}" for k, v in value.items())
            elif isinstance(value, list):
                text = ", ".join(value)
            else:
                text = "-" if value is None else str(value)
            print(f"{key.ljust(width)}  {text}")
    return 0


# -- the parser ------------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "store", metavar="STORE", help="a Parquet file or DuckDB database written by encode"
    )
    parser.add_argument("--table", help="the table, in a DuckDB database (default: its only table)")
    parser.add_argument(
        "--vector-column",
        metavar="NAME",
        help="the vector column (default: the recorded one, else vec)",
    )


def _add_output_arguments(parser: argparse.ArgumentParser, chunk: bool = True) -> None:
    parser.add_argument(
        "--format", choices=OUTPUT_FORMATS, default="table", help="output format (default table)"
    )
    parser.add_argument(
        "--max-width",
        type=int,
        default=60,
        metavar="N",
        help="longest cell of a table, in characters (default 60)",
    )
    if chunk:
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=DEFAULT_CHUNK,
            metavar="ROWS",
            help=f"rows read at a time (default {DEFAULT_CHUNK})",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=_Formatter,
        description="Encode JSON documents into vectors (MBAT) and find similar ones.",
        epilog=(
            "examples:\n"
            "  duckdb-vsa encode docs.jsonl -o docs.parquet\n"
            '  duckdb-vsa search docs.parquet --query \'{"name": "Alan Turin"}\' -k 5\n'
            "  duckdb-vsa dedup docs.parquet --threshold 0.95\n"
            '  duckdb-vsa explain \'{"a": 1, "b": "x"}\' \'{"a": 1, "b": "y"}\'\n'
            "  duckdb-vsa info docs.parquet"
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "encode",
        formatter_class=_Formatter,
        help="encode JSON Lines, a JSON array, Parquet or CSV into vectors",
        description=(
            "Encode every document of INPUT and write the rows with a vector column to a\n"
            "Parquet file, or to a table of a DuckDB database file (OUTPUT ending in .duckdb,\n"
            ".db or .ddb). The input is streamed in chunks, so memory stays bounded. The\n"
            "encoder configuration is recorded with the vectors.\n\n"
            "Columns written: JSON Lines give line (1-based line number) and doc (the line's\n"
            "text as written); a JSON array gives index (0-based) and doc (each element's\n"
            "text); Parquet and CSV keep every input column. Then the vector column."
        ),
    )
    p.add_argument("input", metavar="INPUT", help="input file ('-': JSON Lines on stdin)")
    p.add_argument("-o", "--output", required=True, help="output .parquet or .duckdb file")
    p.add_argument(
        "--format",
        choices=INPUT_FORMATS,
        default="auto",
        help="input format (default: from the file name or its first bytes); json is a "
        "JSON array, or documents one after another that may span several lines",
    )
    p.add_argument(
        "--json-column",
        metavar="NAME",
        help="Parquet/CSV: the column of JSON documents (default doc, json, or the only text "
        "column); JSON Lines and arrays: the name of the document column written (default doc)",
    )
    p.add_argument(
        "--vector-column",
        "--column",
        default="vec",
        metavar="NAME",
        help="name of the vector column written (default vec)",
    )
    p.add_argument("--table", help="table to create in a DuckDB database (default docs)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing output file or table"
    )
    p.add_argument(
        "--on-error",
        choices=("raise", "null", "skip"),
        default="raise",
        help="an invalid document: stop with an error naming its line (default), keep the "
        "row with a NULL vector, or drop the row",
    )
    p.add_argument(
        "--chunk-size",
        type=int,
        default=DEFAULT_CHUNK,
        metavar="ROWS",
        help=f"documents encoded at a time (default {DEFAULT_CHUNK}); memory grows with it",
    )
    p.add_argument(
        "--progress",
        action="store_true",
        help="show progress even when stderr is not a terminal",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress and no summary")
    p.add_argument(
        "--cache-mb",
        type=int,
        default=DEFAULT_CACHE_BYTES >> 20,
        metavar="MB",
        help=f"budget of each encoder cache (default {DEFAULT_CACHE_BYTES >> 20}); speed only, "
        "the vectors do not change",
    )
    _add_encoder_options(p)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser(
        "search",
        formatter_class=_Formatter,
        help="the rows most similar to a query document",
        description=(
            "Print the k rows of STORE most similar to a query document, best first, with\n"
            "their score (cosine). The query is encoded with the configuration recorded in\n"
            "STORE; the vectors are streamed in chunks, so memory stays bounded."
        ),
    )
    _add_store_arguments(p)
    p.add_argument("--query", metavar="JSON", help="the query document (or @FILE)")
    p.add_argument("--query-file", metavar="FILE", help="a file holding the query ('-': stdin)")
    p.add_argument("-k", type=int, default=10, help="rows to print (default 10)")
    p.add_argument("--columns", metavar="A,B", help="columns to print (default: all but vectors)")
    _add_output_arguments(p)
    _add_encoder_options(p, "only needed when STORE records none; must match it otherwise")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser(
        "dedup",
        formatter_class=_Formatter,
        help="near-duplicate pairs above a threshold",
        description=(
            "Print the pairs of distinct rows of STORE whose vectors score at least\n"
            "--threshold, each pair once (l the earlier row), best first; each row\n"
            "contributes at most its k best partners (as vsa_near_duplicates in SQL).\n"
            "Holds every vector in memory: rows x dim x 4 bytes."
        ),
    )
    _add_store_arguments(p)
    p.add_argument("--threshold", type=float, default=0.9, help="lowest score (default 0.9)")
    p.add_argument("-k", type=int, default=10, help="partners per row at most (default 10)")
    p.add_argument("--limit", type=int, help="print at most this many pairs")
    p.add_argument("--columns", metavar="A,B", help="columns to print (default: all but vectors)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line on stderr")
    _add_output_arguments(p)
    _add_encoder_options(p, "only needed when STORE records none; must match it otherwise")
    p.set_defaults(func=cmd_dedup)

    p = sub.add_parser(
        "explain",
        formatter_class=_Formatter,
        help="which fields make two documents similar",
        description=(
            "Split the similarity of two documents into per-field contributions, largest\n"
            "first; they add up to the similarity. (keys) is the key-name bags, (other) the\n"
            "cross terms between different fields. Documents are JSON text, or @FILE."
        ),
    )
    p.add_argument("doc_a", metavar="DOC_A", help="first document (JSON, or @FILE)")
    p.add_argument("doc_b", metavar="DOC_B", help="second document (JSON, or @FILE)")
    p.add_argument(
        "--positions", action="store_true", help="name array elements by position, not [*]"
    )
    p.add_argument(
        "--like", metavar="STORE", help="use the configuration recorded in an encoded file"
    )
    p.add_argument("--table", help=argparse.SUPPRESS)
    p.add_argument("--vector-column", help=argparse.SUPPRESS)
    _add_output_arguments(p, chunk=False)
    _add_encoder_options(p)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "info",
        formatter_class=_Formatter,
        help="an encoder's configuration, or the one recorded for encoded vectors",
        description=(
            "Without STORE: the configuration and fingerprint of the encoder the options\n"
            "make. With STORE: its rows, vector column and the configuration recorded with\n"
            "the vectors (and whether the options, if any, match it)."
        ),
    )
    p.add_argument("store", metavar="STORE", nargs="?", help="a Parquet or DuckDB file")
    p.add_argument("--table", help="the table, in a DuckDB database (default: its only table)")
    p.add_argument(
        "--vector-column", metavar="NAME", help="the vector column (default: the recorded one)"
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="default text")
    _add_encoder_options(p)
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (0 success, 1 error, 2 usage)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 2
    try:
        return int(args.func(args) or 0)
    except CLIError as err:
        message = str(err)
    except DocumentError as err:
        message = f"{err}"
    except duckdb.Error as err:
        message = f"DuckDB: {err}"
    except (ValueError, TypeError) as err:
        message = str(err)
    except MemoryError:
        message = "Out of memory; lower --chunk-size, or use a machine with more memory."
    except OSError as err:
        if isinstance(err, BrokenPipeError):
            _silence_stdout()
            return 1
        where = f" {err.filename}" if getattr(err, "filename", None) else ""
        message = f"Cannot access{where}: {err.strerror or err}."
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)
    return 1


def _silence_stdout() -> None:
    # Output went to a closed pipe (| head): don't let the final flush complain.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


if __name__ == "__main__":
    sys.exit(main())
