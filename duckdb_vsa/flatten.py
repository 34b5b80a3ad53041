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
from collections.abc import Sequence
from json.decoder import scanstring
from json.scanner import make_scanner
from typing import Any

import numpy as np

from duckdb_vsa.errors import DocumentError
from duckdb_vsa.leaves import to_float
from duckdb_vsa.paths import ANY_INDEX, FieldHints, format_path, hinted_leaf

#: Documents nested deeper than this are refused with a clear error.
MAX_DEPTH = 10_000

LIT_TRUE = ("lit", "true")
LIT_FALSE = ("lit", "false")
LIT_NULL = ("lit", "null")
LIT_OBJECT = ("lit", "{}")
LIT_ARRAY = ("lit", "[]")
LIT_NAN = ("lit", "NaN")

_PREVIEW_CHARS = 60

# The scanner json.loads calls, without the Python layers around it; a document
# it does not read exactly to its last character takes the full path.
_scan_value = make_scanner(json.JSONDecoder())

DEPTH_MESSAGE = (
    f"The document is nested deeper than {MAX_DEPTH} levels (or, for a Python value, "
    "contains itself); flatten it or encode a part of it."
)


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
    if type(text) is str:
        try:
            value, end = _scan_value(text, 0)
        except (StopIteration, ValueError, RecursionError):
            pass
        else:
            if end == len(text):
                return value
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
                    raise DocumentError(f"{DEPTH_MESSAGE[:-1]}: {preview(text)}.")
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

    Every node of a document has a *chain set*: the ``(chain, weight)`` pairs
    through which its content reaches the document vector, where a chain is
    the interned product of role matrices from the root (chain 0 is the
    identity). An object member with key ``k`` maps each pair ``(c, w)`` of its
    parent to ``(c * R(key:k), w / sqrt(n))``; array element ``i`` maps it to
    its bag part ``(c, w * norm * w_bag)`` and positional part
    ``(c * R(pos)^i, w * norm * w_seq)`` (merged for ``i = 0``). A chain set
    depends only on its parent's chain set, the step and the container's size,
    so it is interned on that triple and the walk does one dictionary lookup per
    member. A leaf records only ``(chain set, leaf)``; ``S`` is then the sum
    over the chain set's pairs, and the unbound shadow ``C`` uses the sum of
    the chain set's weights (each array level splits a weight ``w`` into parts
    that add up to ``w * norm * (w_bag + w_seq)``, exactly ``C``'s factor).

    Parameters
    ----------
    w_bag, w_seq : float
        Encoder array weights.
    max_position : int
        Arrays longer than this make the document :class:`TooComplex`.
    max_chain_depth : int
        Deeper documents are :class:`TooComplex`.
    max_expansion : int
        A node with more pairs in its chain set makes the document :class:`TooComplex`.
    max_terms : int
        A document with more ``S`` terms than this is :class:`TooComplex`.
    hints : FieldHints, optional
        Field hints: a chain set's weights carry its hint's weight factor, its
        leaves are keyed by its hint kind, and ignored members are skipped (by a
        slower walk used only when there are hints).
    root_path : tuple, default ()
        The path of the documents' root, for hints (a field value encoded as
        if it sat at that path).
    """

    def __init__(
        self,
        w_bag: float,
        w_seq: float,
        *,
        max_position: int,
        max_chain_depth: int,
        max_expansion: int = 64,
        max_terms: int = 16_384,
        hints: FieldHints | None = None,
        root_path: tuple[Any, ...] = (),
    ) -> None:
        self.w_bag = w_bag
        self.w_seq = w_seq
        self.max_position = max_position
        self.max_chain_depth = min(max_chain_depth, MAX_DEPTH)
        self.max_expansion = max_expansion
        self.max_terms = max_terms
        self.chain_index: dict[tuple[int, str | int], int] = {}
        self.chain_parent: list[int] = [-1]
        self.chain_step: list[str | int | None] = [None]
        self.set_index: dict[tuple[int, str | int, int], int] = {}
        # (chain set, object keys) or (chain set, array length) -> the members' chain sets.
        self._plans: dict[tuple[int, Any], Any] = {}
        self.set_pairs: list[tuple[tuple[int, float], ...]] = [((0, 1.0),)]
        self.set_size: list[int] = [1]
        # A set's parent and step, recorded when it is created, name its path.
        self.set_parent: list[int] = [-1]
        self.set_step: list[str | int | None] = [None]
        # Nesting depth of a set's nodes (the document root is at depth 0).
        self.set_depth: list[int] = [0]
        self.hints = hints
        if hints is not None:
            self.set_path: list[tuple[Any, ...]] = [tuple(root_path)]
            self.set_kind: list[Any] = [hints.kind_at(tuple(root_path))]
            self._ignored: dict[tuple[int, Any], bool] = {}
        self.leaf_index: dict[Any, int] = {}
        self.leaf_keys: list[Any] = []
        self.occ_set: list[int] = []
        self.occ_leaf: list[int] = []
        self.row_leaves: list[int] = []
        self.key_signatures: list[tuple[str, ...]] = []
        self.n_terms = 0

    @property
    def n_rows(self) -> int:
        return len(self.row_leaves)

    def _chain(self, parent: int, step: str | int) -> int:
        key = (parent, step)
        chain = self.chain_index.get(key)
        if chain is None:
            chain = self.chain_index[key] = len(self.chain_parent)
            self.chain_parent.append(parent)
            self.chain_step.append(step)
        return chain

    def _child_set(self, key: tuple[int, str | int, int]) -> int:
        """Intern a member's chain set: ``key = (parent set, step, size)``.

        ``step`` is an object key with ``size = len(object)``, or an array
        position with ``size = -len(array)``.
        """
        parent, step, n = key
        pairs = self.set_pairs[parent]
        if n > 0:  # an object member; array elements carry -len(array)
            if type(step) is not str:
                raise TypeError(f"Object keys must be strings, got {step!r}.")
            scale = 1.0 / math.sqrt(n)
            child = tuple((self._chain(c, step), w * scale) for c, w in pairs)
        else:
            n = -n
            w_bag, w_seq = self.w_bag, self.w_seq
            norm = 1.0 / math.sqrt(n * (w_bag * w_bag + w_seq * w_seq) + 2.0 * w_bag * w_seq)
            if step == 0:
                child = tuple((c, w * norm * (w_bag + w_seq)) for c, w in pairs)
            else:
                bag = tuple((c, w * norm * w_bag) for c, w in pairs) if w_bag else ()
                seq = (
                    tuple((self._chain(c, step), w * norm * w_seq) for c, w in pairs)
                    if w_seq
                    else ()
                )
                child = bag + seq
            if len(child) > self.max_expansion:
                raise TooComplex
        if self.hints is not None:
            path = (*self.set_path[parent], step)
            factor, kind, _ = self.hints.resolve(path, self.set_kind[parent])
            if factor != 1.0:
                child = tuple((c, w * factor) for c, w in child)
            self.set_path.append(path)
            self.set_kind.append(kind)
        self.set_parent.append(parent)
        self.set_step.append(step)
        self.set_depth.append(self.set_depth[parent] + 1)
        set_id = self.set_index[key] = len(self.set_pairs)
        self.set_pairs.append(child)
        self.set_size.append(len(child))
        return set_id

    def add(self, doc: Any) -> None:
        """Record the leaves of one document as the next row.

        Raises
        ------
        TooComplex
            The document is beyond the term engine's limits; nothing is recorded.
        DocumentError
            The document is nested deeper than :data:`MAX_DEPTH`.
        TypeError
            The document holds a value that is not JSON.
        """
        _, skipped = self.add_many([doc])
        if skipped:
            raise TooComplex

    def add_many(
        self, docs: Sequence[Any], start: int = 0, stop_terms: int | None = None
    ) -> tuple[int, list[int]]:
        """Record ``docs[start:]`` as rows, one per document, in order.

        Parameters
        ----------
        docs : sequence
            Documents (Python values).
        start : int, default 0
            The first document to read.
        stop_terms : int, optional
            Stop after the document that brings the group to this many terms.

        Returns
        -------
        next : int
            The index after the last document read.
        skipped : list of int
            Documents read but beyond the term engine's limits (see
            :class:`TooComplex`): they have no row.

        Raises
        ------
        DocumentError, TypeError
            As :meth:`add`; the documents before the offending one stay recorded.
        """
        if self.hints is not None:
            return self._add_hinted(docs, start, stop_terms)
        # The encoder's hot loop, one document after another without a call per
        # document: locals, exact type checks and interned plans on purpose.
        max_depth, max_position = self.max_chain_depth, self.max_position
        max_terms = self.max_terms
        stop = math.inf if stop_terms is None else stop_terms
        plan_get = self._plans.get
        object_plan, array_plan = self._object_plan, self._array_plan
        set_size, set_depth = self.set_size, self.set_depth
        leaf_index = self.leaf_index
        leaf_get = leaf_index.get
        leaf_keys = self.leaf_keys
        occ_set, occ_leaf = self.occ_set, self.occ_leaf
        occ_set_append, occ_leaf_append = occ_set.append, occ_leaf.append
        signature_append = self.key_signatures.append
        row_leaves_append = self.row_leaves.append
        skipped: list[int] = []
        n_terms = self.n_terms
        n_docs = len(docs)
        i = start
        while i < n_docs and n_terms < stop:
            doc = docs[i]
            i += 1
            mark = len(occ_leaf)
            keys: list[str] = []
            terms = 0
            stack: list[tuple[Any, int]] = [(doc, 0)]
            pop, extend = stack.pop, stack.extend
            try:
                while stack:
                    value, cs = pop()
                    kind = type(value)
                    if kind is str:
                        leaf = value
                    elif kind is float:
                        leaf = value if value == value else LIT_NAN
                    elif kind is dict:
                        if not value:
                            leaf = LIT_OBJECT
                        else:
                            if set_depth[cs] >= max_depth:
                                _too_deep(set_depth[cs])
                            keys.extend(value)
                            plan = plan_get((cs, tuple(value)))
                            if plan is None:
                                plan = object_plan(cs, value)
                            extend(zip(map(value.__getitem__, plan[0]), plan[1]))
                            continue
                    elif kind is list:
                        n = len(value)
                        if not n:
                            leaf = LIT_ARRAY
                        else:
                            if set_depth[cs] >= max_depth:
                                _too_deep(set_depth[cs])
                            if n > max_position:
                                raise TooComplex
                            plan = plan_get((cs, n))
                            if plan is None:
                                plan = array_plan(cs, n)
                            extend(zip(reversed(value), plan))
                            continue
                    elif kind is int:
                        leaf = to_float(value)
                    elif value is None:
                        leaf = LIT_NULL
                    elif value is True:
                        leaf = LIT_TRUE
                    elif value is False:
                        leaf = LIT_FALSE
                    else:
                        # Tuples, subclasses and numpy scalars: dispatch again as plain values.
                        stack.append((_plain(value), cs))
                        continue
                    lid = leaf_get(leaf)
                    if lid is None:
                        lid = leaf_index[leaf] = len(leaf_keys)
                        leaf_keys.append(leaf)
                    occ_set_append(cs)
                    occ_leaf_append(lid)
                    terms += set_size[cs]
                    if terms > max_terms:
                        raise TooComplex
            except TooComplex:
                del occ_set[mark:], occ_leaf[mark:]
                skipped.append(i - 1)
                continue
            except BaseException:
                del occ_set[mark:], occ_leaf[mark:]
                self.n_terms = n_terms
                raise
            keys.sort()
            signature_append(tuple(keys))
            row_leaves_append(len(occ_leaf) - mark)
            n_terms += terms
        self.n_terms = n_terms
        return i, skipped

    def _add_hinted(
        self, docs: Sequence[Any], start: int, stop_terms: int | None
    ) -> tuple[int, list[int]]:
        """:meth:`add_many` with field hints, one :meth:`_walk_hinted` per document."""
        skipped: list[int] = []
        stop = math.inf if stop_terms is None else stop_terms
        i = start
        while i < len(docs) and self.n_terms < stop:
            mark = len(self.occ_leaf)
            i += 1
            try:
                signature, terms = self._walk_hinted(docs[i - 1])
            except TooComplex:
                del self.occ_set[mark:], self.occ_leaf[mark:]
                skipped.append(i - 1)
                continue
            except BaseException:
                del self.occ_set[mark:], self.occ_leaf[mark:]
                raise
            self.key_signatures.append(signature)
            self.row_leaves.append(len(self.occ_leaf) - mark)
            self.n_terms += terms
        return i, skipped

    def _object_plan(self, cs: int, value: dict) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """Keys of an object in reverse sorted order and their chain sets, interned.

        A plan depends only on the parent chain set and the object's keys (in
        insertion order), so records of one schema reuse it: no sort and no
        chain-set lookup per member.
        """
        members = _sorted_items(value)
        n = len(members)
        keys = tuple(k for k, _ in members)
        sets = []
        for k in keys:
            key = (cs, k, n)
            child_cs = self.set_index.get(key)
            sets.append(self._child_set(key) if child_cs is None else child_cs)
        plan = self._plans[(cs, tuple(value))] = (keys, tuple(sets))
        return plan

    def _array_plan(self, cs: int, n: int) -> tuple[int, ...]:
        """Chain sets of the positions of an ``n``-element array, last position first."""
        sets = []
        for i in range(n - 1, -1, -1):
            key = (cs, i, -n)
            child_cs = self.set_index.get(key)
            sets.append(self._child_set(key) if child_cs is None else child_cs)
        plan = self._plans[(cs, n)] = tuple(sets)
        return plan

    def set_path_text(self, set_id: int, positions: bool = True) -> str:
        """The JSON path of a chain set, such as ``$.items[2].price``.

        With ``positions=False`` array positions read ``[*]``, so that every
        element of an array shares one path.
        """
        steps: list[Any] = []
        while set_id > 0:
            step = self.set_step[set_id]
            steps.append(step if positions or type(step) is str else ANY_INDEX)
            set_id = self.set_parent[set_id]
        return format_path(tuple(reversed(steps)))

    def _is_ignored(self, cs: int, step: Any) -> bool:
        found = self._ignored.get((cs, step))
        if found is None:
            path = (*self.set_path[cs], step)
            found = self._ignored[(cs, step)] = self.hints.resolve(path, None)[2]
        return found

    def _walk_hinted(self, doc: Any) -> tuple[tuple[str, ...], int]:
        """:meth:`_walk` with field hints: ignored members are absent, leaves take kinds."""
        max_depth, max_position = self.max_chain_depth, self.max_position
        set_get = self.set_index.get
        child_set = self._child_set
        set_kind = self.set_kind
        ignored = self._is_ignored
        keys: list[str] = []
        terms = 0
        stack: list[tuple[Any, int, int]] = [(doc, 0, 0)]
        while stack:
            value, cs, depth = stack.pop()
            kind = type(value)
            if kind is dict:
                members = [(k, v) for k, v in _sorted_items(value) if not ignored(cs, k)]
                n = len(members)
                if not n:
                    leaf = LIT_OBJECT
                else:
                    if depth >= max_depth:
                        _too_deep(depth)
                    keys.extend(k for k, _ in members)
                    depth += 1
                    for k, child in members:
                        key = (cs, k, n)
                        child_cs = set_get(key)
                        stack.append(
                            (child, child_set(key) if child_cs is None else child_cs, depth)
                        )
                    continue
            elif kind is list:
                kept = [v for i, v in enumerate(value) if not ignored(cs, i)]
                n = len(kept)
                if not n:
                    leaf = LIT_ARRAY
                else:
                    if depth >= max_depth:
                        _too_deep(depth)
                    if n > max_position:
                        raise TooComplex
                    depth += 1
                    for i in range(n - 1, -1, -1):
                        key = (cs, i, -n)
                        child_cs = set_get(key)
                        stack.append(
                            (kept[i], child_set(key) if child_cs is None else child_cs, depth)
                        )
                    continue
            else:
                leaf = _scalar_leaf(value)
                if leaf is None:
                    stack.append((_plain(value), cs, depth))
                    continue
            leaf = hinted_leaf(set_kind[cs], leaf)
            lid = self.leaf_index.get(leaf)
            if lid is None:
                lid = self.leaf_index[leaf] = len(self.leaf_keys)
                self.leaf_keys.append(leaf)
            self.occ_set.append(cs)
            self.occ_leaf.append(lid)
            terms += self.set_size[cs]
            if terms > self.max_terms:
                raise TooComplex
        keys.sort()
        return tuple(keys), terms


def _scalar_leaf(value: Any) -> Any:
    """The leaf key of a plain JSON scalar, or None for any other value."""
    kind = type(value)
    if kind is str:
        return value
    if kind is float:
        return value if value == value else LIT_NAN
    if kind is int:
        return to_float(value)
    if value is None:
        return LIT_NULL
    if value is True:
        return LIT_TRUE
    if value is False:
        return LIT_FALSE
    return None


def _sorted_items(obj: dict) -> list[tuple[str, Any]]:
    """Members in reverse key order (a stack pops them in key order)."""
    try:
        return sorted(obj.items(), reverse=True)
    except TypeError:
        bad = next(k for k in obj if type(k) is not str)
        raise TypeError(f"Object keys must be strings, got {bad!r}.") from None


def _plain(value: Any) -> Any:
    """The plain JSON value of a tuple, a subclass of a JSON type or a numpy scalar."""
    if isinstance(value, np.generic):
        return value.item()
    for base in (bool, str, float, int, dict):
        if isinstance(value, base):
            return base(value)
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError(
        f"Cannot encode a {type(value).__name__} ({value!r:.60}); documents hold "
        "dict, list, str, int, float, bool and None."
    )


def _too_deep(depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise DocumentError(DEPTH_MESSAGE)
    raise TooComplex
