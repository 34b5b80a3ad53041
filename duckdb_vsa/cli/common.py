"""What every command shares: the error type, option values read from files, encoder options."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from duckdb_vsa.config import ENCODER_VERSION, EncoderConfig
from duckdb_vsa.encoder import DEFAULT_CACHE_BYTES, Encoder
from duckdb_vsa.errors import DocumentError, VsaError
from duckdb_vsa.parse import parse_json
from duckdb_vsa.sqltext import read_quoted

PROG = "duckdb-vsa"
#: Rows read, encoded or scored at a time unless --chunk-size says otherwise.
DEFAULT_CHUNK = 4096


class CLIError(VsaError):
    """An expected failure: printed as one line, exit code 1."""


def one_line(text: object) -> str:
    """``text`` with every run of white space (newlines included) as one space."""
    return " ".join(str(text).split())


def read_arg(value: str, what: str) -> str:
    """``value`` itself, or the text of a file for ``@path`` (``@-`` is stdin)."""
    if not value.startswith("@"):
        return value
    return read_text_file(value[1:], what)


def read_text_file(path: str, what: str) -> str:
    """The text of a UTF-8 file (``-`` is stdin); ``what`` names it in the errors."""
    try:
        if path == "-":
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise CLIError(f"Cannot read {what} from {path}: {err.strerror or err}.") from None
    except UnicodeDecodeError as err:
        where = "stdin" if path == "-" else path
        raise CLIError(
            f"Cannot read {what} from {where}: not UTF-8 text ({err.reason} at byte {err.start})."
        ) from None


def parse_doc(text: str, what: str) -> Any:
    """The JSON document ``text``; ``what`` names it in the error."""
    try:
        return parse_json(text.strip())
    except DocumentError as err:
        raise CLIError(f"The {what} is not a JSON document: {err}") from None


def split_names(text: str, option: str) -> list[str]:
    """The names of a comma-separated list such as ``a, "b,c", d`` (``["a", "b,c", "d"]``).

    A name in double quotes is taken as written, commas and spaces included
    (``""`` inside is one quote); others are stripped of surrounding spaces.
    Empty names are dropped.

    Raises
    ------
    CLIError
        If a quoted name is not closed, or is followed by something else than a comma.

    Examples
    --------
    >>> split_names('id, "last, first", we"ird', "--columns")
    ['id', 'last, first', 'we"ird']
    """
    names: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] == '"':
            quoted = read_quoted(text, i)
            if quoted is None:
                raise CLIError(
                    f"{option} {text!r} has an unbalanced double quote; write a quote "
                    'inside a quoted name twice, as in "we""ird".'
                )
            name, i = quoted
            names.append(name)
            while i < n and text[i].isspace():
                i += 1
            if i < n and text[i] != ",":
                raise CLIError(
                    f"{option} {text!r}: a quoted name must be followed by a comma or the end."
                )
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            name = text[i:end].strip()
            if name:
                names.append(name)
            i = end
        i += 1
    return names


# -- encoder options -------------------------------------------------------------------


def requested_options(args: argparse.Namespace) -> dict[str, Any]:
    """The encoder options given on the command line (empty if none)."""
    options: dict[str, Any] = {}
    if getattr(args, "config", None):
        try:
            loaded = json.loads(read_arg(args.config, "--config"))
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
            options["fields"] = json.loads(read_arg(args.fields, "--fields"))
        except json.JSONDecodeError as err:
            raise CLIError(f"--fields is not a JSON object: {err}.") from None
    return options


def make_config(options: dict[str, Any], recorded_in: str | None = None) -> EncoderConfig:
    """The configuration of command-line options, or of one recorded in a store.

    Parameters
    ----------
    options : dict
        Encoder options, with or without ``version``.
    recorded_in : str, optional
        The store that recorded them, for the messages; None for options of
        the command line.

    Raises
    ------
    CLIError
        If the options are for another encoder version, or are not valid.
    """
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
        # EncoderConfig validates the options with plain TypeError / ValueError.
        what = f"{where} is invalid" if recorded_in else "Invalid encoder option"
        raise CLIError(f"{what}: {one_line(err)}") from None


def make_encoder(
    config: EncoderConfig, cache_bytes: int = DEFAULT_CACHE_BYTES, workers: int = 0
) -> Encoder:
    """The encoder of ``config``, with caches of ``cache_bytes`` each and ``workers`` workers."""
    return Encoder.from_config(config, cache_bytes=cache_bytes, workers=workers)
