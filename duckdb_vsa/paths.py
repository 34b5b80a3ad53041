"""JSON paths and field hints.

A path is written ``$.a.b``, ``$.items[2]``, ``$["key with spaces"]``; field
hints also accept the wildcards ``.*`` (any key) and ``[*]`` (any array
position). Parsed, a path is a tuple of steps: a ``str`` is an object key, an
``int`` an array position, and :data:`ANY_KEY` / :data:`ANY_INDEX` the wildcards.

:class:`FieldHints` resolves, for the node at a concrete path, the weight factor
and the leaf kind that the hints give it (docs/design.md, "Field hints").
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from duckdb_vsa.errors import InvalidArgumentError, WrongTypeError
from duckdb_vsa.limits import MAX_LEAVES


class _Wildcard:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __reduce__(self) -> str:
        return "ANY_KEY" if self.text == ".*" else "ANY_INDEX"


#: ``.*``: any object key.
ANY_KEY = _Wildcard(".*")
#: ``[*]``: any array position (in a probe: the unordered, bag part of an array).
ANY_INDEX = _Wildcard("[*]")

HINT_KINDS = ("number", "category", "text", "ignore")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_STEP = re.compile(
    r"""\.(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)"""
    r"""|\.(?P<star>\*)"""
    r"""|\[(?P<index>[0-9]+)\]"""
    r"""|\[(?P<any>\*)\]"""
    r"""|\[(?P<quoted>"(?:[^"\\]|\\.)*")\]"""
)


def parse_path(text: str) -> tuple[Any, ...]:
    """Parse a JSON path such as ``$.items[2].price`` into steps.

    Parameters
    ----------
    text : str
        ``$`` followed by ``.name``, ``["any key"]``, ``[i]``, ``.*`` or ``[*]`` steps.

    Returns
    -------
    tuple
        ``str`` keys, ``int`` positions and the wildcards :data:`ANY_KEY`, :data:`ANY_INDEX`.

    Raises
    ------
    ValueError
        If ``text`` is not such a path.

    Examples
    --------
    >>> parse_path('$.items[2]["unit price"]')
    ('items', 2, 'unit price')
    """
    if not isinstance(text, str) or not text.startswith("$"):
        raise InvalidArgumentError(
            f"A JSON path starts with '$' (such as '$.color' or '$.items[0].sku'), got {text!r}."
        )
    steps: list[Any] = []
    pos = 1
    while pos < len(text):
        m = _STEP.match(text, pos)
        if m is None:
            raise InvalidArgumentError(
                f"Cannot read the JSON path {text!r} at character {pos}: write steps as "
                """.name, ["any key"], [0] (a position), .* or [*]."""
            )
        if m.group("name") is not None:
            steps.append(m.group("name"))
        elif m.group("star") is not None:
            steps.append(ANY_KEY)
        elif m.group("index") is not None:
            digits = m.group("index")
            if len(digits) > len(str(MAX_LEAVES)) or int(digits) >= MAX_LEAVES:
                raise InvalidArgumentError(
                    f"The array position [{digits[:20]}{'...' if len(digits) > 20 else ''}] in "
                    f"{text[:80]!r} is beyond the longest array a document may have "
                    f"({MAX_LEAVES:,} elements)."
                )
            steps.append(int(digits))
        elif m.group("any") is not None:
            steps.append(ANY_INDEX)
        else:
            steps.append(json.loads(m.group("quoted")))
        pos = m.end()
    return tuple(steps)


def format_path(steps: tuple[Any, ...]) -> str:
    """Write steps back as a JSON path (the inverse of :func:`parse_path`).

    Examples
    --------
    >>> format_path(("items", 2, "unit price"))
    '$.items[2]["unit price"]'
    """
    parts = ["$"]
    for step in steps:
        if isinstance(step, _Wildcard):
            parts.append(step.text)
        elif isinstance(step, int):
            parts.append(f"[{step}]")
        elif _NAME.fullmatch(step):
            parts.append("." + step)
        else:
            parts.append("[" + json.dumps(step, ensure_ascii=False) + "]")
    return "".join(parts)


def normalise_fields(fields: Mapping[str, Any] | None) -> tuple[tuple[str, tuple], ...]:
    """Validate field hints and return their canonical, hashable form.

    Parameters
    ----------
    fields : mapping of str to dict, or None
        JSON path (wildcards allowed) to a hint: ``weight`` (a non-negative
        factor), ``kind`` (``"number"``, ``"category"``, ``"text"`` or
        ``"ignore"``) and, with ``kind="number"``, ``scale`` (positive).

    Returns
    -------
    tuple
        ``((path, ((option, value), ...)), ...)`` sorted by path; empty for no hints.

    Raises
    ------
    ValueError, TypeError
        For a path or hint that is not valid; the message says what to write.
    """
    if not fields:
        return ()
    if isinstance(fields, tuple):  # already normalised
        fields = {path: dict(options) for path, options in fields}
    if not isinstance(fields, Mapping):
        raise WrongTypeError(
            "fields must be a dict mapping JSON paths to hints, such as "
            "{'$.year': {'kind': 'number', 'scale': 1}}."
        )
    out = {}
    for path, hint in fields.items():
        steps = parse_path(path)
        if not steps:
            raise InvalidArgumentError(
                "A field hint applies to a field, not to the whole document ('$'); "
                "use the encoder options (w_str, number_scale...) for the whole document."
            )
        if isinstance(hint, str):
            hint = {"kind": hint}
        if not isinstance(hint, Mapping):
            raise WrongTypeError(
                f"The hint for {path!r} must be a dict such as {{'weight': 2}} or "
                f"{{'kind': 'category'}}, got {hint!r}."
            )
        unknown = sorted(set(hint) - {"weight", "kind", "scale"})
        if unknown:
            raise InvalidArgumentError(
                f"Unknown hint option(s) {', '.join(unknown)} for {path!r}; "
                "use weight, kind and scale."
            )
        options: dict[str, Any] = {}
        if "weight" in hint:
            weight = hint["weight"]
            if (
                isinstance(weight, bool)
                or not isinstance(weight, (int, float))
                or not math.isfinite(weight)
                or weight < 0
            ):
                raise InvalidArgumentError(
                    f"The weight for {path!r} must be a non-negative finite number, got {weight!r}."
                )
            options["weight"] = float(weight)
        kind = hint.get("kind")
        if kind is not None:
            if kind not in HINT_KINDS:
                raise InvalidArgumentError(
                    f"The kind for {path!r} must be one of {', '.join(HINT_KINDS)}, got {kind!r}."
                )
            options["kind"] = kind
        if "scale" in hint:
            scale = hint["scale"]
            if kind != "number":
                raise InvalidArgumentError(
                    f"scale applies to kind='number' only (the hint for {path!r})."
                )
            if (
                isinstance(scale, bool)
                or not isinstance(scale, (int, float))
                or not math.isfinite(scale)
                or scale <= 0
            ):
                raise InvalidArgumentError(
                    f"The scale for {path!r} must be a positive finite number, got {scale!r}."
                )
            options["scale"] = float(scale)
        elif kind == "number":
            raise InvalidArgumentError(
                f"kind='number' needs a scale for {path!r}: the difference between two values "
                "that makes them about 0.6 similar, e.g. {'kind': 'number', 'scale': 5} for years."
            )
        key = format_path(steps)
        if key in out:
            raise InvalidArgumentError(
                f"Two hints name the same path {key!r}; merge them into one."
            )
        out[key] = tuple(sorted(options.items()))
    return tuple(sorted(out.items()))


def _matches(pattern: tuple[Any, ...], path: tuple[Any, ...]) -> bool:
    if len(pattern) != len(path):
        return False
    for want, step in zip(pattern, path):
        if want is ANY_KEY:
            if type(step) is not str:
                return False
        elif want is ANY_INDEX:
            if not (type(step) is int or step is ANY_INDEX):
                return False
        elif want != step or type(want) is not type(step):
            return False
    return True


class FieldHints:
    """Resolves field hints for concrete paths.

    Parameters
    ----------
    fields : tuple
        The output of :func:`normalise_fields`.
    """

    def __init__(self, fields: tuple[tuple[str, tuple], ...]) -> None:
        self.patterns = [(parse_path(path), dict(options)) for path, options in fields]

    def resolve(self, path: tuple[Any, ...], parent_kind: Any) -> tuple[float, Any, bool]:
        """The node at ``path``: its weight factor, its leaf kind and whether it is ignored.

        Weights of hints at enclosing paths are already in the parent's weight, so
        the factor is the product of the hints that match ``path`` itself; the
        kind is the innermost one (the parent's unless a hint here names one).
        A kind is ``None``, ``("number", scale)``, ``"category"`` or ``"text"``.
        """
        factor = 1.0
        kind = parent_kind
        ignored = False
        for pattern, options in self.patterns:
            if _matches(pattern, path):
                factor *= options.get("weight", 1.0)
                new = options.get("kind")
                if new == "ignore":
                    ignored = True
                elif new == "number":
                    kind = ("number", options["scale"])
                elif new is not None:
                    kind = new
        return factor, kind, ignored

    def kind_at(self, path: tuple[Any, ...]) -> Any:
        """The leaf kind of the node at ``path`` (every prefix resolved in turn)."""
        kind = None
        for i in range(1, len(path) + 1):
            kind = self.resolve(path[:i], kind)[1]
        return kind
