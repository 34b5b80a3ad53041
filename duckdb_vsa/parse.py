"""JSON text to Python values: :func:`parse_json` and the limits of what it reads.

Documents are parsed by :mod:`json`'s scanner where it can; deeper nesting
and integers beyond Python's conversion limit go to an iterative parser with
an explicit stack, so no document can exhaust the recursion limit.
"""

from __future__ import annotations

import json
import math
import re
from json.decoder import scanstring
from json.scanner import make_scanner
from typing import Any

from duckdb_vsa.errors import DocumentError, WrongTypeError
from duckdb_vsa.limits import DEPTH_MESSAGE, MAX_DEPTH

_PREVIEW_CHARS = 60

# The scanner json.loads calls, without the Python layers around it; a document
# it does not read exactly to its last character takes the full path.
_scan_value = make_scanner(json.JSONDecoder())


def preview(text: str) -> str:
    """The start of ``text``, quoted, for error messages."""
    if len(text) <= _PREVIEW_CHARS:
        return repr(text)
    return repr(text[:_PREVIEW_CHARS]) + f"... ({len(text)} characters)"


def parse_json(text: str) -> Any:
    """Parse one JSON document.

    Accepts what Python's :mod:`json` accepts (including ``NaN`` and
    ``Infinity``); duplicate keys keep the last value; integers of any length
    are read (those beyond float64 encode as ±infinity); nesting up to
    :data:`MAX_DEPTH` levels is read without recursion.

    Parameters
    ----------
    text : str
        The document.

    Returns
    -------
    object
        dicts, lists, str, int, float, bool and None.

    Raises
    ------
    DocumentError
        If ``text`` is empty or not valid JSON; the message names the problem
        and shows the start of the value.
    """
    if type(text) is str:
        try:
            value, end = _scan_value(text, 0)
        except (StopIteration, ValueError, RecursionError):
            pass
        else:
            if end == len(text):
                return value
    if not isinstance(text, str):
        raise WrongTypeError(f"Expected JSON text (str), got {type(text).__name__}.")
    if not text.strip():
        raise DocumentError(
            f"An empty string is not a JSON document ({preview(text)}); "
            "pass SQL NULL for a missing document, or valid JSON such as '{}'."
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DocumentError(
            f"Invalid JSON ({_problem(err.msg)} at line {err.lineno}, column {err.colno}): "
            f"{preview(text)}."
        ) from None
    except RecursionError:
        return _parse_iteratively(text)
    except ValueError:
        # Integers longer than Python's int/str conversion limit.
        return _parse_iteratively(text)


_TOKEN = re.compile(
    r"[ \t\n\r]*(?:([\[\]{}:,])|(\")|(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?"
    r"|(true|false|null|NaN|Infinity|-Infinity))"
)
_CONSTANTS = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
}
#: Longer integers are beyond float64 (which ends at 309 digits) and below Python's
#: int/str conversion limit: they are read as infinities without converting them.
_MAX_INT_DIGITS = 400
#: What JSON counts as whitespace (str.strip would take any Unicode space).
_JSON_SPACE = " \t\n\r"


def _problem(message: str) -> str:
    """json's description of a problem, without the "at" it ends some with."""
    return message[: -len(" at")] if message.endswith(" at") else message


def _number(integer: str, fraction: str | None, exponent: str | None) -> int | float:
    if fraction or exponent:
        return float(integer + (fraction or "") + (exponent or ""))
    if len(integer) > _MAX_INT_DIGITS:
        return -math.inf if integer.startswith("-") else math.inf
    return int(integer)


def _parse_iteratively(text: str) -> Any:
    """A JSON parser with an explicit stack, for documents :mod:`json` cannot take."""
    stack: list[list[Any]] = []  # [container, pending key]
    pos = 0
    expect = "value"

    def fail(what: str) -> DocumentError:
        return DocumentError(f"Invalid JSON ({what} at character {pos}): {preview(text)}.")

    while True:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise fail("unexpected character" if pos < len(text) else "unexpected end")
        pos = m.end()
        punct, quote, integer, fraction, exponent, constant = m.groups()
        closing = False
        if expect in ("value", "value_or_end"):
            if punct == "]" and expect == "value_or_end":
                closing = True
            elif punct in ("{", "["):
                if len(stack) >= MAX_DEPTH:
                    raise DocumentError(f"{DEPTH_MESSAGE[:-1]}: {preview(text)}.")
                stack.append([{} if punct == "{" else [], None])
                expect = "key_or_end" if punct == "{" else "value_or_end"
                continue
            elif quote:
                try:
                    value, pos = scanstring(text, pos)
                except json.JSONDecodeError as err:
                    raise DocumentError(
                        f"Invalid JSON ({_problem(err.msg)} at character {err.pos}): "
                        f"{preview(text)}."
                    ) from None
            elif integer is not None:
                value = _number(integer, fraction, exponent)
            elif constant is not None:
                value = _CONSTANTS[constant]
            else:
                raise fail("expecting a value")
        elif expect in ("key", "key_or_end"):
            if punct == "}" and expect == "key_or_end":
                closing = True
            elif quote:
                try:
                    stack[-1][1], pos = scanstring(text, pos)
                except json.JSONDecodeError as err:
                    raise DocumentError(
                        f"Invalid JSON ({_problem(err.msg)} at character {err.pos}): "
                        f"{preview(text)}."
                    ) from None
                expect = "colon"
                continue
            else:
                raise fail("expecting a property name in double quotes")
        elif expect == "colon":
            if punct != ":":
                raise fail("expecting ':'")
            expect = "value"
            continue
        else:  # comma_or_end
            container = stack[-1][0]
            if punct == ",":
                expect = "key" if isinstance(container, dict) else "value"
                continue
            if punct == ("}" if isinstance(container, dict) else "]"):
                closing = True
            else:
                raise fail("expecting ',' or the end of the container")
        if closing:
            value = stack.pop()[0]
        if not stack:
            if text[pos:].strip(_JSON_SPACE):
                raise fail("extra data")
            return value
        container, key = stack[-1]
        if isinstance(container, dict):
            container[key] = value
        else:
            container.append(value)
        expect = "comma_or_end"
