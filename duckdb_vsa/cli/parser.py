"""The argument parser: one function per sub-command."""

from __future__ import annotations

import argparse
from typing import Any

from duckdb_vsa.cli.common import DEFAULT_CHUNK, PROG
from duckdb_vsa.cli.inputs import INPUT_FORMATS
from duckdb_vsa.cli.output import OUTPUT_FORMATS
from duckdb_vsa.encoder import DEFAULT_CACHE_BYTES
from duckdb_vsa.version import __version__

_STORE_NOTE = "only needed when STORE records none; must match it otherwise"


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line.

    Returns
    -------
    argparse.ArgumentParser
        Its namespace holds ``command`` (the sub-command's name) and
        ``command_parser`` (the sub-command's parser) beside the options.
    """
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
    _add_encode(sub)
    _add_search(sub)
    _add_dedup(sub)
    _add_explain(sub)
    _add_info(sub)
    return parser


def _command(sub: Any, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, formatter_class=_Formatter, help=summary, description=description)
    # main() reports arguments the sub-command does not take with its own usage.
    parser.set_defaults(command_parser=parser)
    return parser


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


def _add_columns_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--columns",
        metavar="A,B",
        action="append",
        help="columns to print, separated by commas (default: all but vectors); a name in "
        "double quotes may hold commas ('\"a,b\",c'); may be given more than once",
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


def _add_encode(sub: Any) -> None:
    p = _command(
        sub,
        "encode",
        "encode JSON Lines, a JSON array, Parquet or CSV into vectors",
        "Encode every document of INPUT and write the rows with a vector column to a\n"
        "Parquet file, or to a table of a DuckDB database file (OUTPUT ending in .duckdb,\n"
        ".db or .ddb). The input is streamed in chunks, so memory stays bounded. The\n"
        "encoder configuration is recorded with the vectors.\n\n"
        "Columns written: JSON Lines give line (1-based line number) and doc (the line's\n"
        "text as written); a JSON array gives index (0-based) and doc (each element's\n"
        "text); Parquet and CSV keep every input column. Then the vector column.",
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
        "--only-missing",
        action="store_true",
        help="DuckDB output: replace the table, but keep the vectors it holds for documents "
        "of INPUT (same text, same configuration, vector made from it) and encode only the "
        "others",
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
        help=f"budget of the encoder's caches (default {DEFAULT_CACHE_BYTES >> 20}); speed only, "
        "the vectors do not change",
    )
    p.add_argument(
        "--workers",
        metavar="N",
        help="worker processes that encode chunks in parallel, 'auto' for the usable cores "
        "(the default: none on a single core), or 0 for this process alone; each holds its "
        "own caches of --cache-mb; the vectors do not change",
    )
    _add_encoder_options(p)


def _add_search(sub: Any) -> None:
    p = _command(
        sub,
        "search",
        "the rows most similar to a query document",
        "Print the k rows of STORE most similar to a query document, best first, with\n"
        "their score (cosine). The query is encoded with the configuration recorded in\n"
        "STORE; the vectors are streamed in chunks, so memory stays bounded.",
    )
    _add_store_arguments(p)
    p.add_argument("--query", metavar="JSON", help="the query document (or @FILE)")
    p.add_argument("--query-file", metavar="FILE", help="a file holding the query ('-': stdin)")
    p.add_argument("-k", type=int, default=10, help="rows to print (default 10)")
    _add_columns_argument(p)
    _add_output_arguments(p)
    _add_encoder_options(p, _STORE_NOTE)


def _add_dedup(sub: Any) -> None:
    p = _command(
        sub,
        "dedup",
        "near-duplicate pairs above a threshold",
        "Print the pairs of distinct rows of STORE whose vectors score at least\n"
        "--threshold, each pair once (l the earlier row), best first; each row\n"
        "contributes at most its k best partners (as vsa_near_duplicates in SQL).\n"
        "Holds every vector in memory: rows x dim x 4 bytes.",
    )
    _add_store_arguments(p)
    p.add_argument("--threshold", type=float, default=0.9, help="lowest score (default 0.9)")
    p.add_argument("-k", type=int, default=10, help="partners per row at most (default 10)")
    p.add_argument("--limit", type=int, help="print at most this many pairs")
    _add_columns_argument(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line on stderr")
    _add_output_arguments(p)
    _add_encoder_options(p, _STORE_NOTE)


def _add_explain(sub: Any) -> None:
    p = _command(
        sub,
        "explain",
        "which fields make two documents similar",
        "Split the similarity of two documents into per-field contributions, largest\n"
        "first; they add up to the similarity. (keys) is the key-name bags, (other) the\n"
        "cross terms between different fields. Documents are JSON text, or @FILE.",
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


def _add_info(sub: Any) -> None:
    p = _command(
        sub,
        "info",
        "an encoder's configuration, or the one recorded for encoded vectors",
        "Without STORE: the configuration and fingerprint of the encoder the options\n"
        "make. With STORE: its rows, vector column and the configuration recorded with\n"
        "the vectors (and whether the options, if any, match it).",
    )
    p.add_argument("store", metavar="STORE", nargs="?", help="a Parquet or DuckDB file")
    p.add_argument("--table", help="the table, in a DuckDB database (default: its only table)")
    p.add_argument(
        "--vector-column", metavar="NAME", help="the vector column (default: the recorded one)"
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="default text")
    _add_encoder_options(p)
