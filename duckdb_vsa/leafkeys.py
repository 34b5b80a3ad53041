"""Leaf keys and the structural weights that both encoding paths share.

A *leaf key* names the vector of one JSON leaf: a ``str`` is a string, a
``float`` a number (``3`` and ``3.0`` are one key), a ``("lit", name)`` tuple a
literal (``true``, ``false``, ``null``, ``{}``, ``[]``, ``NaN``), and under field
hints a tagged tuple (see :func:`hinted_leaf`). The batch engine and the tree
evaluator compute a document's vector from the same keys and the same weights
(:func:`object_scale`, :func:`array_scale`), so they cannot drift apart; see
docs/design.md, "Leaves" and "Structure".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from duckdb_vsa.errors import WrongTypeError

LIT_TRUE = ("lit", "true")
LIT_FALSE = ("lit", "false")
LIT_NULL = ("lit", "null")
LIT_OBJECT = ("lit", "{}")
LIT_ARRAY = ("lit", "[]")
LIT_NAN = ("lit", "NaN")

#: The literal keys and the atom name of each.
LITERAL_NAMES = {
    LIT_TRUE: "true",
    LIT_FALSE: "false",
    LIT_NULL: "null",
    LIT_OBJECT: "{}",
    LIT_ARRAY: "[]",
    LIT_NAN: "NaN",
}


def to_float(x: int | float) -> float:
    """A JSON number as float64; integers beyond its range become ±inf.

    Examples
    --------
    >>> to_float(3), to_float(-10**400)
    (3.0, -inf)
    """
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def scalar_leaf(value: Any) -> Any:
    """The leaf key of a plain JSON scalar, or None for a container or any other value.

    Examples
    --------
    >>> scalar_leaf(3), scalar_leaf("3"), scalar_leaf(None), scalar_leaf([1])
    (3.0, '3', ('lit', 'null'), None)
    """
    kind = type(value)
    if kind is str:
        return value
    if kind is float:
        # -0.0 is the number 0 (adding 0.0 makes it +0.0): one key, one vector.
        return value + 0.0 if value == value else LIT_NAN
    if kind is int:
        return to_float(value)
    if value is None:
        return LIT_NULL
    if value is True:
        return LIT_TRUE
    if value is False:
        return LIT_FALSE
    return None


def plain(value: Any) -> Any:
    """The plain JSON value of a tuple, a subclass of a JSON type or a numpy scalar.

    Raises
    ------
    TypeError
        For a value that has no JSON meaning.

    Examples
    --------
    >>> plain(np.float32(0.5)), plain((1, 2))
    (0.5, [1, 2])
    """
    if isinstance(value, np.generic):
        return value.item()
    for base in (bool, str, float, int, dict):
        if isinstance(value, base):
            return base(value)
    if isinstance(value, (list, tuple)):
        return list(value)
    raise WrongTypeError(
        f"Cannot encode a {type(value).__name__} ({value!r:.60}); documents hold "
        "dict, list, str, int, float, bool and None."
    )


def leaf_key(value: Any) -> Any:
    """The leaf key of any scalar :func:`plain` accepts (subclasses and numpy scalars too)."""
    leaf = scalar_leaf(value)
    if leaf is None:
        leaf = scalar_leaf(plain(value))
    if leaf is None:
        raise WrongTypeError(f"Cannot encode a {type(value).__name__} ({value!r:.60}) as a leaf.")
    return leaf


def present(obj: dict) -> dict:
    """An object without its null members: a member whose value is null is absent.

    So ``{"a": 1, "b": null}`` encodes as ``{"a": 1}``, and a DuckDB STRUCT (whose
    absent fields read as NULL) as the JSON text it came from. Returns ``obj``
    itself when it has no null member.

    Examples
    --------
    >>> present({"a": 1, "b": None}), present({"c": [None]})
    ({'a': 1}, {'c': [None]})
    """
    try:
        has_null = None in obj.values()
    except (TypeError, ValueError):  # values that do not compare (arrays): looked at one by one
        has_null = any(v is None for v in obj.values())
    if not has_null:
        return obj
    return {k: v for k, v in obj.items() if v is not None}


def sorted_members(obj: dict) -> list[tuple[str, Any]]:
    """An object's present members in reverse key order (a stack pops them in key order).

    Raises
    ------
    TypeError
        If a key is not a string.
    """
    obj = present(obj)
    for key in obj:
        if type(key) is not str:
            raise WrongTypeError(f"Object keys must be strings, got {key!r}.")
    return sorted(obj.items(), reverse=True)


def object_scale(n: int) -> float:
    """The weight of each member of an ``n``-member object: ``1 / sqrt(n)``."""
    return 1.0 / math.sqrt(n)


def array_scale(n: int, w_bag: float, w_seq: float) -> float:
    """The normaliser of an ``n``-element array: ``1 / sqrt(n (w_bag² + w_seq²) + 2 w_bag w_seq)``.

    Element ``i`` contributes ``w_bag S(x_i) + w_seq R(pos)^i S(x_i)`` times this
    factor; the ``2 w_bag w_seq`` term makes ``S([x]) = S(x)``.
    """
    return 1.0 / math.sqrt(n * (w_bag * w_bag + w_seq * w_seq) + 2.0 * w_bag * w_seq)


def hinted_leaf(kind: Any, leaf: Any) -> Any:
    """The leaf key of a leaf under a hint kind.

    ``("lin", scale, x)`` is a number on a linear axis, ``("cat", s)`` and
    ``("catnum", x)`` exact-match atoms, ``("text", s)`` a string without its
    whole-string atom. Leaves a hint does not apply to (a string under
    ``number``, a literal) keep their key.

    Examples
    --------
    >>> hinted_leaf(("number", 5.0), 12.0), hinted_leaf("category", "red")
    (('lin', 5.0, 12.0), ('cat', 'red'))
    """
    if kind is None:
        return leaf
    if type(leaf) is float:
        if type(kind) is tuple:
            return ("lin", kind[1], leaf)
        if kind == "category":
            return ("catnum", leaf)
    elif type(leaf) is str:
        if kind == "category":
            return ("cat", leaf)
        if kind == "text":
            return ("text", leaf)
    return leaf


def is_number_key(key: Any) -> bool:
    """Whether a leaf key stands for a number on an axis (a plain number or a ``lin`` key)."""
    return type(key) is float or (type(key) is tuple and key[0] == "lin")
