"""Perturbations of JSON records: the edits every benchmark applies to make queries.

One vocabulary for all benchmarks:

- a **typo** is one random edit of a string (:func:`typo`: substitute, delete,
  insert, or swap two neighbouring characters); :func:`swap_neighbours` and
  :func:`substitute_letter` are the single-kind edits of the benchmarks that
  need exactly one kind;
- record perturbations (:func:`shuffle_keys`, :func:`shuffle_arrays`,
  :func:`jitter_numbers`, :func:`typo_strings`, :func:`drop_fields`,
  :func:`rename_keys`, :func:`ints_to_floats`) return a new record and never
  change their input;
- :data:`PERTURBATIONS` names the near-duplicate settings of the quality
  benchmark, :func:`light_perturbation` the capacity test's query, and
  :func:`binding_triples` the pairs of the binding metric.

Everything is driven by a caller's ``random.Random``, so a seed fixes every query.
"""

from __future__ import annotations

import copy
import math
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

# -- string edits --------------------------------------------------------------------------

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _swap(text: str, i: int) -> str:
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _substitute(text: str, i: int, c: str) -> str:
    return text[:i] + c + text[i + 1 :]


def typo(text: str, rng: random.Random) -> str:
    """One edit: substitute, delete, insert or swap neighbouring characters.

    Never returns ``text`` unchanged.
    """
    for _ in range(20):
        op = rng.randrange(4) if len(text) >= 2 else 2
        i = rng.randrange(len(text)) if text else 0
        if op == 0:
            out = _substitute(text, i, rng.choice(_ALPHABET))
        elif op == 1:
            out = text[:i] + text[i + 1 :]
        elif op == 2:
            out = text[:i] + rng.choice(_ALPHABET) + text[i:]
        else:
            out = _swap(text, min(i, len(text) - 2))
        if out != text:
            return out
    return text + "x"


def swap_neighbours(text: str, rng: random.Random) -> str:
    """Swap two neighbouring characters, never the first one (no-op below 3 characters)."""
    if len(text) < 3:
        return text
    return _swap(text, rng.randrange(1, len(text) - 1))


def substitute_letter(text: str, rng: random.Random) -> str:
    """Replace one character by a random lowercase letter (possibly the same one)."""
    i = rng.randrange(len(text))
    return _substitute(text, i, rng.choice(_LETTERS))


# -- walking records -----------------------------------------------------------------------


def leaf_slots(doc: Any) -> list[tuple[Any, Any]]:
    """``(container, key_or_index)`` of every scalar leaf, in document order."""
    out: list[tuple[Any, Any]] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            if isinstance(v, (dict, list)):
                stack.append(v)
            else:
                out.append((node, k))
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _walk(doc: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """``(path, value)`` of every scalar leaf; array elements share the path ``a[]``."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _walk(v, f"{path}.{k}" if path else k)
    elif isinstance(doc, list):
        for v in doc:
            yield from _walk(v, path + "[]")
    else:
        yield path, doc


def _decimals(x: float) -> int:
    text = repr(float(x))
    if "e" in text:
        return 6
    return len(text.split(".")[1].rstrip("0"))


def number_stats(corpus: list[Any]) -> dict[str, tuple[float, int, bool]]:
    """Per numeric field path: standard deviation over ``corpus``, decimals, never negative."""
    values: dict[str, list[float]] = defaultdict(list)
    decimals: dict[str, int] = defaultdict(int)
    for doc in corpus:
        for path, v in _walk(doc):
            if _is_number(v) and math.isfinite(v):
                values[path].append(float(v))
                if isinstance(v, float):
                    decimals[path] = max(decimals[path], _decimals(v))
    stats = {}
    for path, xs in values.items():
        mean = sum(xs) / len(xs)
        sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / max(len(xs) - 1, 1))
        stats[path] = (sd if sd > 0 else abs(mean) * 0.1 or 1.0, decimals[path], min(xs) >= 0)
    return stats


# -- record perturbations -----------------------------------------------------------------


def _map_leaves(doc: Any, fn: Callable[[str, Any], Any], path: str = "") -> Any:
    if isinstance(doc, dict):
        return {k: _map_leaves(v, fn, f"{path}.{k}" if path else k) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_map_leaves(v, fn, path + "[]") for v in doc]
    return fn(path, doc)


def shuffle_keys(doc: Any, rng: random.Random) -> Any:
    """Every object's keys in a new random order (values unchanged)."""
    if isinstance(doc, dict):
        keys = list(doc)
        if len(keys) > 1:
            original = list(keys)
            for _ in range(10):
                rng.shuffle(keys)
                if keys != original:
                    break
        return {k: shuffle_keys(doc[k], rng) for k in keys}
    if isinstance(doc, list):
        return [shuffle_keys(v, rng) for v in doc]
    return doc


def shuffle_arrays(doc: Any, rng: random.Random) -> Any:
    """Every array with two or more distinct elements in a new random order."""
    if isinstance(doc, dict):
        return {k: shuffle_arrays(v, rng) for k, v in doc.items()}
    if isinstance(doc, list):
        items = [shuffle_arrays(v, rng) for v in doc]
        if len(items) > 1:
            original = list(items)
            for _ in range(10):
                rng.shuffle(items)
                if items != original:
                    break
        return items
    return doc


def jitter_numbers(doc: Any, rng: random.Random, stats: dict[str, tuple], s: float) -> Any:
    """Add N(0, (s * sd_field)^2) to every number, rounded to the field's precision.

    ``stats`` comes from :func:`number_stats`. Integers stay integers, so a
    small jitter often leaves a quantity unchanged, as it would in real data; a
    field that is never negative (a price) stays non-negative.
    """

    def fn(path: str, v: Any) -> Any:
        if not _is_number(v) or path not in stats:
            return v
        sd, decimals, non_negative = stats[path]
        x = v + rng.gauss(0.0, s * sd)
        if non_negative:
            x = max(x, 0.0)
        return round(x) if isinstance(v, int) else round(x, decimals)

    return _map_leaves(doc, fn)


def typo_strings(doc: Any, rng: random.Random, min_typos: int = 1, max_typos: int = 1) -> Any:
    """Between ``min_typos`` and ``max_typos`` typos in every string value (not keys)."""

    def fn(_: str, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        for _ in range(rng.randint(min_typos, max_typos)):
            v = typo(v, rng)
        return v

    return _map_leaves(doc, fn)


def drop_fields(doc: Any, rng: random.Random, n: int = 1) -> Any:
    """Remove ``n`` scalar-valued object members, chosen at any depth."""
    out = copy.deepcopy(doc)
    for _ in range(n):
        slots = [(c, k) for c, k in leaf_slots(out) if isinstance(c, dict) and len(c) > 1]
        if not slots:
            break
        container, key = rng.choice(slots)
        del container[key]
    return out


def _camel(key: str) -> str:
    head, *rest = re.split(r"[_\s]+", key)
    if not rest:
        return key[:1].upper() + key[1:]
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def rename_keys(doc: Any) -> Any:
    """Every key in another naming convention: ``unit_price`` -> ``unitPrice``, ``qty`` -> ``Qty``.

    What the same record looks like from a second producer.
    """
    if isinstance(doc, dict):
        return {_camel(k): rename_keys(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [rename_keys(v) for v in doc]
    return doc


def ints_to_floats(doc: Any) -> Any:
    """Every integer as the equal float (``3`` -> ``3.0``)."""
    return _map_leaves(doc, lambda _, v: float(v) if _is_number(v) and type(v) is int else v)


#: Near-duplicate settings: name -> (description, perturbation(doc, rng, stats)).
PERTURBATIONS: dict[str, tuple[str, Callable[[Any, random.Random, dict], Any]]] = {
    "keys": ("key order shuffled", lambda d, r, st: shuffle_keys(d, r)),
    "arrays": ("arrays shuffled", lambda d, r, st: shuffle_arrays(d, r)),
    "num-0.05": ("numbers + N(0, (0.05 sd)^2)", lambda d, r, st: jitter_numbers(d, r, st, 0.05)),
    "num-0.25": ("numbers + N(0, (0.25 sd)^2)", lambda d, r, st: jitter_numbers(d, r, st, 0.25)),
    "typos": ("1-2 typos in every string", lambda d, r, st: typo_strings(d, r, 1, 2)),
    "drop": ("one field dropped", lambda d, r, st: drop_fields(d, r, 1)),
    "all-light": (
        "all: keys, arrays, numbers 0.05, 1 typo per string, 1 field dropped",
        lambda d, r, st: drop_fields(
            typo_strings(jitter_numbers(shuffle_arrays(shuffle_keys(d, r), r), r, st, 0.05), r),
            r,
            1,
        ),
    ),
    "all-heavy": (
        "all: keys, arrays, numbers 0.25, 1-2 typos per string, 2 fields dropped",
        lambda d, r, st: drop_fields(
            typo_strings(
                jitter_numbers(shuffle_arrays(shuffle_keys(d, r), r), r, st, 0.25), r, 1, 2
            ),
            r,
            2,
        ),
    ),
}

#: Reported next to the near-duplicate settings but not one of them: a renamed key is
#: a different field to a strictly structural encoding (alpha = 0).
EXTRA_PERTURBATIONS: dict[str, tuple[str, Callable[[Any, random.Random, dict], Any]]] = {
    "renamed": ("every key renamed (snake_case -> camelCase)", lambda d, r, st: rename_keys(d)),
}


def light_perturbation(doc: Any, rng: random.Random, stats: dict[str, tuple]) -> Any:
    """The capacity test's query: keys and arrays shuffled, numbers 0.05, one typo per string."""
    return typo_strings(
        jitter_numbers(shuffle_arrays(shuffle_keys(doc, rng), rng), rng, stats, 0.05), rng
    )


# -- binding pairs -------------------------------------------------------------------------


def sibling_pairs(doc: Any, kind: str) -> list[tuple[dict[str, Any], str, str]]:
    """``(object, key_a, key_b)`` for sibling members of one object, both of ``kind``.

    ``kind`` is ``"number"`` or ``"string"``. A pair qualifies when nudging
    ``a`` and swapping ``a`` with ``b`` are different-sized changes: numbers
    with ``a != 0`` whose values differ by at least 25 % of the larger, strings
    of 4+ characters that differ beyond case (duckdb_vsa compares strings
    casefolded: swapping ``Abc`` and ``abc`` changes nothing it can see).
    """
    out = []
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        keys = sorted(node)
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                for x, y, ka, kb in ((node[a], node[b], a, b), (node[b], node[a], b, a)):
                    if kind == "number" and _is_number(x) and _is_number(y):
                        if x != 0 and abs(x - y) >= 0.25 * max(abs(x), abs(y)):
                            out.append((node, ka, kb))
                    elif (
                        kind == "string"
                        and isinstance(x, str)
                        and isinstance(y, str)
                        and min(len(x), len(y)) >= 4
                        and x.casefold() != y.casefold()
                    ):
                        out.append((node, ka, kb))
    return out


def binding_triples(
    docs: list[Any], kind: str, n: int, seed: int = 0
) -> list[tuple[Any, Any, Any]]:
    """``n`` triples ``(record, record with one field nudged, record with two fields swapped)``.

    A number is nudged by +5 %; a string gets one typo. Records are drawn with
    replacement from ``docs`` (those that have a qualifying pair), then one pair.
    """
    rng = random.Random(f"binding:{kind}:{seed}")
    candidates = [d for d in docs if sibling_pairs(d, kind)]
    triples = []
    if not candidates:
        return triples
    for _ in range(n):
        doc = rng.choice(candidates)
        nudged, swapped = copy.deepcopy(doc), copy.deepcopy(doc)
        # Deep copies keep the traversal order, so the same index names the same pair.
        pairs_n = sibling_pairs(nudged, kind)
        pairs_s = sibling_pairs(swapped, kind)
        j = rng.randrange(len(pairs_n))
        obj, a, b = pairs_n[j]
        obj[a] = obj[a] * 1.05 if kind == "number" else typo(obj[a], rng)
        obj, a, b = pairs_s[j]
        obj[a], obj[b] = obj[b], obj[a]
        triples.append((doc, nudged, swapped))
    return triples
