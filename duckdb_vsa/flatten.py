"""JSON text to Python values, and Python values to weighted leaf terms.

:func:`parse_json` turns text into Python values with clear errors and no
recursion limit. :class:`Flattener` walks documents iteratively (object keys in
sorted order, arrays in position order) and records every leaf term of
DESIGN §2 as ``(row, chain, leaf, weight)``: ``chain`` is the interned path of
roles from the root, ``leaf`` the interned leaf value. The terms of a row are
recorded contiguously and in an order that depends only on that document.
"""

from __future__ import annotations

import json
import math
import re
from json.decoder import scanstring
from typing import Any

import numpy as np

from duckdb_vsa.leaves import to_float

#: Documents nested deeper than this are refused with a clear error.
MAX_DEPTH = 10_000

LIT_TRUE = ("lit", "true")
LIT_FALSE = ("lit", "false")
LIT_NULL = ("lit", "null")
LIT_OBJECT = ("lit", "{}")
LIT_ARRAY = ("lit", "[]")
LIT_NAN = ("lit", "NaN")

_PREVIEW_CHARS = 60


class DocumentError(ValueError):
    """A value that is not a JSON document the encoder can read."""


class TooComplex(Exception):
    """A document the term engine should not expand; the tree evaluator takes it."""


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
    if not isinstance(text, str):
        raise TypeError(f"Expected JSON text (str), got {type(text).__name__}.")
    if not text.strip():
        raise DocumentError(
            f"An empty string is not a JSON document ({preview(text)}); "
            "pass SQL NULL for a missing document, or valid JSON such as '{}'."
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DocumentError(
            f"Invalid JSON ({err.msg} at line {err.lineno}, column {err.colno}): {preview(text)}."
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
_MAX_INT_DIGITS = 300


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
                    raise DocumentError(
                        f"The document is nested deeper than {MAX_DEPTH} levels: {preview(text)}."
                    )
                stack.append([{} if punct == "{" else [], None])
                expect = "key_or_end" if punct == "{" else "value_or_end"
                continue
            elif quote:
                try:
                    value, pos = scanstring(text, pos)
                except json.JSONDecodeError as err:
                    raise DocumentError(
                        f"Invalid JSON ({err.msg} at character {err.pos}): {preview(text)}."
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
                        f"Invalid JSON ({err.msg} at character {err.pos}): {preview(text)}."
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
            if text[pos:].strip():
                raise fail("extra data")
            return value
        container, key = stack[-1]
        if isinstance(container, dict):
            container[key] = value
        else:
            container.append(value)
        expect = "comma_or_end"


class Flattener:
    """Records the leaf terms of a group of documents (DESIGN §2 made linear).

    A document is ``S + alpha C`` plus a key bag: ``S`` contributes, for every
    leaf and every expansion of its array ancestors into their bag part (same
    chain) and positional part (chain times ``R(pos)^i``), a term
    ``(row, chain, leaf, weight)``; ``C`` contributes one unbound term
    ``(row, 0, leaf, alpha * weight)`` per leaf. Chain 0 is the identity.

    Parameters
    ----------
    alpha, w_bag, w_seq : float
        Encoder weights.
    max_position : int
        Arrays longer than this make the document :class:`TooComplex`.
    max_chain_depth : int
        Deeper documents are :class:`TooComplex`.
    max_expansion : int
        A leaf with more expanded chains than this makes the document :class:`TooComplex`.
    max_terms : int
        A document with more terms than this is :class:`TooComplex`.
    """

    def __init__(
        self,
        alpha: float,
        w_bag: float,
        w_seq: float,
        *,
        max_position: int,
        max_chain_depth: int,
        max_expansion: int = 64,
        max_terms: int = 16_384,
    ) -> None:
        self.alpha = alpha
        self.w_bag = w_bag
        self.w_seq = w_seq
        self.max_position = max_position
        self.max_chain_depth = min(max_chain_depth, MAX_DEPTH)
        self.max_expansion = max_expansion
        self.max_terms = max_terms
        self.chain_index: dict[tuple[int, str | int], int] = {}
        self.chain_parent: list[int] = [-1]
        self.chain_step: list[str | int | None] = [None]
        self.leaf_index: dict[Any, int] = {}
        self.leaf_keys: list[Any] = []
        self.term_row: list[int] = []
        self.term_chain: list[int] = []
        self.term_leaf: list[int] = []
        self.term_weight: list[float] = []
        self.key_signatures: list[tuple[str, ...]] = []
        self.n_rows = 0

    @property
    def n_terms(self) -> int:
        return len(self.term_row)

    def _chain(self, parent: int, step: str | int) -> int:
        key = (parent, step)
        chain = self.chain_index.get(key)
        if chain is None:
            chain = self.chain_index[key] = len(self.chain_parent)
            self.chain_parent.append(parent)
            self.chain_step.append(step)
        return chain

    def _leaf(self, key: Any) -> int:
        leaf = self.leaf_index.get(key)
        if leaf is None:
            leaf = self.leaf_index[key] = len(self.leaf_keys)
            self.leaf_keys.append(key)
        return leaf

    def add(self, doc: Any) -> None:
        """Record the terms of one document as the next row.

        Raises
        ------
        TooComplex
            The document is beyond the term engine's limits; nothing is recorded.
        DocumentError
            The document is nested deeper than :data:`MAX_DEPTH`.
        TypeError
            The document holds a value that is not JSON.
        """
        mark = len(self.term_row)
        try:
            self.key_signatures.append(self._walk(doc, self.n_rows))
        except BaseException:
            del self.term_row[mark:], self.term_chain[mark:]
            del self.term_leaf[mark:], self.term_weight[mark:]
            raise
        self.n_rows += 1

    def _walk(self, doc: Any, row: int) -> tuple[str, ...]:
        alpha, w_bag, w_seq = self.alpha, self.w_bag, self.w_seq
        both = w_bag + w_seq
        max_terms = len(self.term_row) + self.max_terms
        t_row, t_chain = self.term_row, self.term_chain
        t_leaf, t_weight = self.term_leaf, self.term_weight
        keys: list[str] = []
        stack: list[tuple[Any, list[tuple[int, float]], float, int]] = [(doc, [(0, 1.0)], 1.0, 0)]
        while stack:
            value, chains, shadow, depth = stack.pop()
            if isinstance(value, str):
                leaf = value
            elif isinstance(value, dict):
                if not value:
                    leaf = LIT_OBJECT
                else:
                    if depth >= self.max_chain_depth:
                        _too_deep(depth)
                    scale = 1.0 / math.sqrt(len(value))
                    for k in value:
                        if not isinstance(k, str):
                            raise TypeError(f"Object keys must be strings, got {k!r}.")
                    keys.extend(value)
                    for k, child in sorted(value.items(), reverse=True):
                        stack.append(
                            (
                                child,
                                [(self._chain(c, k), w * scale) for c, w in chains],
                                shadow * scale,
                                depth + 1,
                            )
                        )
                    continue
            elif isinstance(value, (list, tuple)):
                n = len(value)
                if not n:
                    leaf = LIT_ARRAY
                else:
                    if depth >= self.max_chain_depth:
                        _too_deep(depth)
                    if n > self.max_position:
                        raise TooComplex
                    norm = 1.0 / math.sqrt(
                        n * (w_bag * w_bag + w_seq * w_seq) + 2.0 * w_bag * w_seq
                    )
                    first = [(c, w * norm * both) for c, w in chains]
                    bag = [(c, w * norm * w_bag) for c, w in chains] if w_bag else []
                    if len(bag) + len(chains) > self.max_expansion and n > 1 and w_seq:
                        raise TooComplex
                    for i in range(n - 1, 0, -1):
                        seq = (
                            [(self._chain(c, i), w * norm * w_seq) for c, w in chains]
                            if w_seq
                            else []
                        )
                        stack.append((value[i], bag + seq, shadow * norm * both, depth + 1))
                    stack.append((value[0], first, shadow * norm * both, depth + 1))
                    continue
            elif value is None:
                leaf = LIT_NULL
            elif value is True:
                leaf = LIT_TRUE
            elif value is False:
                leaf = LIT_FALSE
            elif isinstance(value, float):
                leaf = value if value == value else LIT_NAN
            elif isinstance(value, int):
                leaf = to_float(value)
            elif isinstance(value, (np.floating, np.integer, np.bool_)):
                stack.append((value.item(), chains, shadow, depth))
                continue
            else:
                raise TypeError(
                    f"Cannot encode a {type(value).__name__} ({value!r:.60}); documents hold "
                    "dict, list, str, int, float, bool and None."
                )
            leaf_id = self._leaf(leaf)
            for c, w in chains:
                t_row.append(row)
                t_chain.append(c)
                t_leaf.append(leaf_id)
                t_weight.append(w)
            if alpha:
                t_row.append(row)
                t_chain.append(0)
                t_leaf.append(leaf_id)
                t_weight.append(alpha * shadow)
            if len(t_row) > max_terms:
                raise TooComplex
        keys.sort()
        return tuple(keys)


def _too_deep(depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise DocumentError(f"The document is nested deeper than {MAX_DEPTH} levels.")
    raise TooComplex
