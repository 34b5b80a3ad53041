"""Documents to encode: JSON Lines read by Python, JSON arrays, Parquet and CSV read by DuckDB.

A source yields :class:`Chunk` objects of at most ``chunk_size`` rows, so the
input is never held whole in memory. JSON Lines keep each line's text exactly
as written (blank lines are skipped; rows keep their 1-based ``line``); JSON
arrays keep each element's text and its 0-based ``index``; Parquet and CSV keep
every column.
"""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from duckdb_vsa.arrays import combine
from duckdb_vsa.cli.common import CLIError, one_line
from duckdb_vsa.errors import DocumentError
from duckdb_vsa.parse import parse_json
from duckdb_vsa.sqltext import quote_ident, quote_literal

INPUT_FORMATS = ("auto", "jsonl", "json", "parquet", "csv")
#: The column of JSON text a DuckDB query adds beside the columns it keeps.
_DOC = "__vsa_doc"


class Chunk:
    """Rows of the input: the columns to keep, and each row's JSON text.

    Parameters
    ----------
    columns : pyarrow.Table
        The columns written beside the vectors.
    docs : pyarrow.Array of string
        The JSON text of each row.
    where : callable
        Row position in the chunk -> where the row is in the input, for messages.
    hint : callable, optional
        JSON text that failed -> a sentence of advice ("" when none fits).
    unreadable : numpy.ndarray of bool, optional
        The rows whose document could not be read as text (their ``docs`` entry
        is NULL); they count as invalid documents.
    """

    def __init__(
        self,
        columns: pa.Table,
        docs: pa.Array,
        where: Callable[[int], str],
        hint: Callable[[str], str] | None = None,
        unreadable: np.ndarray | None = None,
    ):
        self.columns = columns
        self.docs = docs
        self.where = where
        self.hint = hint
        self.unreadable = unreadable


def read_head(path: str, n: int) -> bytes:
    """The first ``n`` bytes of a file (uncompressed, for ``.gz``)."""
    try:
        opener = gzip.open if path.lower().endswith(".gz") else open
        with opener(path, "rb") as f:
            return f.read(n)
    except FileNotFoundError:
        raise CLIError(f"No such file: {path}.") from None
    except OSError as err:
        raise CLIError(f"Cannot read {path}: {err.strerror or err}.") from None


def detect_format(path: str, given: str) -> str:
    """The input format: ``given``, or for "auto" the one the name or first bytes show."""
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
    head = read_head(path, 4096)
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


def check_readable(path: str) -> None:
    """Refuse a path that is not a readable file (``-`` is stdin)."""
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


def open_source(
    path: str, fmt: str, json_column: str | None, chunk_size: int, on_error: str = "raise"
) -> Any:
    """The source that reads ``path`` in format ``fmt`` (see :func:`detect_format`).

    ``on_error`` is what a line of JSON Lines that is not UTF-8 text gives: an
    error naming the line ("raise"), or a row with a NULL document.
    """
    if fmt == "jsonl":
        return JsonLinesSource(path, json_column or "doc", chunk_size, on_error)
    if path == "-":
        raise CLIError("Only JSON Lines can be read from stdin; give a file for --format " + fmt)
    return DuckDBSource(path, fmt, json_column, chunk_size)


class JsonLinesSource:
    """JSON Lines read line by line by Python; each line's text is a document.

    Attributes
    ----------
    schema : pyarrow.Schema
        The columns of every chunk: ``line`` and the document column.
    source_column : str
        The name of the document column.
    """

    def __init__(self, path: str, doc_column: str, chunk_size: int, on_error: str = "raise"):
        self.path = path
        self.name = "<stdin>" if path == "-" else path
        self.doc_column = doc_column
        self.chunk_size = chunk_size
        self.on_error = on_error
        self.schema = pa.schema([("line", pa.int64()), (doc_column, pa.string())])
        self.source_column = doc_column

    def count(self) -> int | None:
        """An estimate of the documents (lines, blank ones included); None if unknown."""
        if self.path == "-":
            return None
        try:
            return _count_lines(self.path)
        except (OSError, EOFError, zlib.error):
            return None  # reading the documents reports the problem

    def _open(self) -> Any:
        if self.path == "-":
            return sys.stdin.buffer
        if self.path.lower().endswith(".gz"):
            return gzip.open(self.path, "rb")
        return open(self.path, "rb")

    def chunks(self) -> Iterator[Chunk]:
        """The documents, ``chunk_size`` lines at a time."""
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
                    text: str | None = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as err:
                    if self.on_error == "raise":
                        raise CLIError(
                            f"{self.name}, line {number}: not UTF-8 text ({err.reason} at byte "
                            f"{err.start}). Convert the file to UTF-8, or pass --on-error null "
                            "(keep the row with a NULL vector) or --on-error skip (drop the row)."
                        ) from None
                    text = None
                lines.append(number)
                texts.append(text)
                if len(texts) == self.chunk_size:
                    yield self._chunk(lines, texts)
                    lines, texts = [], []
            if texts:
                yield self._chunk(lines, texts)
        except (EOFError, zlib.error) as err:
            raise CLIError(f"Cannot read {self.name}: {err} (a damaged gzip file?)") from None
        finally:
            if f is not sys.stdin.buffer:
                f.close()

    def _chunk(self, lines: list[int], texts: list[str | None]) -> Chunk:
        docs = pa.array(texts, type=pa.string())
        table = pa.Table.from_arrays([pa.array(lines, type=pa.int64()), docs], schema=self.schema)
        name = self.name
        # Every line holds text, so a NULL document is a line that is not UTF-8.
        unreadable = np.asarray(docs.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        return Chunk(
            table,
            docs,
            lambda i: f"{name}, line {lines[i]}",
            _jsonl_hint,
            unreadable if unreadable.any() else None,
        )


def _jsonl_hint(text: str) -> str:
    stripped = text.strip()
    if stripped in ("{", "[") or (stripped.startswith("[") and not stripped.endswith("]")):
        return (
            " JSON Lines hold one whole document per line; for a JSON array or documents over"
            " several lines, pass --format json."
        )
    return ""


class DuckDBSource:
    """JSON arrays, Parquet and CSV, read and streamed by DuckDB.

    Attributes
    ----------
    schema : pyarrow.Schema
        The columns of every chunk (``index`` first for a JSON array).
    source_column : str
        The column of JSON documents.
    """

    def __init__(self, path: str, fmt: str, json_column: str | None, chunk_size: int):
        self.path = path
        self.name = path
        self.fmt = fmt
        self.chunk_size = chunk_size
        self.con = duckdb.connect()
        self.con.execute("SET enable_progress_bar = false").fetchall()
        if fmt == "json":
            # A JSON array, or documents one after another (each may span lines).
            array = read_head(path, 4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")
            layout = "array" if array else "unstructured"
            self.relation = f"read_json_objects({quote_literal(path)}, format = '{layout}')"
        elif fmt == "parquet":
            self.relation = f"read_parquet({quote_literal(path)})"
        else:
            self.relation = f"read_csv({quote_literal(path)})"
        try:
            described = self.con.execute(f"DESCRIBE SELECT * FROM {self.relation}").fetchall()
        except duckdb.Error as err:
            raise CLIError(f"Cannot read {path} as {fmt}: {one_line(err)}") from None
        types = {row[0]: row[1] for row in described}
        if fmt == "json":
            self.source_column = json_column or "doc"
            select = f"json::VARCHAR AS {quote_ident(self.source_column)}"
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
                quote_ident(column)
                if kind == "VARCHAR"
                else f"{quote_ident(column)}::VARCHAR"
                if kind == "JSON"
                else f"to_json({quote_ident(column)})::VARCHAR"
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
        """The number of documents."""
        return int(self.con.execute(f"SELECT count(*) FROM {self.relation}").fetchall()[0][0])

    def chunks(self) -> Iterator[Chunk]:
        """The documents, ``chunk_size`` rows at a time."""
        try:
            reader = self.con.sql(self.query).to_arrow_reader(self.chunk_size)
            start = 0
            for batch in reader:
                if not len(batch):
                    continue
                table = pa.Table.from_batches([batch])
                docs = combine(table.column(_DOC))
                table = table.drop_columns([_DOC])
                if self.index:
                    positions = pa.array(np.arange(start, start + len(table)), pa.int64())
                    table = table.add_column(0, "index", positions)
                yield Chunk(table, docs, self._where(start))
                start += len(table)
        except duckdb.Error as err:
            raise CLIError(f"Cannot read {self.path}: {one_line(err)}") from None

    def _where(self, start: int) -> Callable[[int], str]:
        label = "element" if self.fmt == "json" else "row"
        return lambda i: f"{self.path}, {label} {start + i + (self.fmt != 'json')}"
