"""The tree evaluator: docs/design.md, "Structure", computed node by node in float64.

It is the direct reading of the formulas — ``S`` bottom-up with ``R(pos)``
applied by Horner's rule, the shadow ``C``, the key bag ``K`` — with an explicit
stack instead of recursion. The batch engine (:mod:`duckdb_vsa.engine`) uses it
for documents beyond the term engine's limits (very long arrays, deep nesting
under ``haar``, array nesting whose terms would multiply), and the tests use it
as the reference that the batch engine must agree with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from duckdb_vsa.basis import MARKER_VALUE, Basis
from duckdb_vsa.errors import DocumentError, WrongTypeError
from duckdb_vsa.leafkeys import (
    LIT_ARRAY,
    LIT_NULL,
    LIT_OBJECT,
    array_scale,
    hinted_leaf,
    leaf_key,
    object_scale,
    present,
    sorted_members,
)
from duckdb_vsa.limits import DEPTH_MESSAGE, MAX_DEPTH
from duckdb_vsa.roles import POSITION_ROLE


def _collect_leaves(doc: Any) -> tuple[list[Any], list[str]]:
    """All distinct leaf keys and every key occurrence, without recursion."""
    leaves: dict[Any, None] = {}
    keys: list[str] = []
    stack = [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = present(value)
        if isinstance(value, dict) and value:
            if depth >= MAX_DEPTH:
                raise DocumentError(DEPTH_MESSAGE)
            for k in value:
                if type(k) is not str:
                    raise WrongTypeError(f"Object keys must be strings, got {k!r}.")
            keys.extend(value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, (list, tuple)) and value:
            if depth >= MAX_DEPTH:
                raise DocumentError(DEPTH_MESSAGE)
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, dict):
            leaves[LIT_OBJECT] = None
        elif isinstance(value, (list, tuple)):
            leaves[LIT_ARRAY] = None
        else:
            leaves[leaf_key(value)] = None
    return list(leaves), keys


class _Frame:
    """An open object or array whose children are being absorbed."""

    __slots__ = (
        "acc_c",
        "acc_horner",
        "acc_s",
        "factor",
        "is_object",
        "kind",
        "label",
        "n",
        "path",
        "pending",
    )

    def __init__(self, value: Any, label: str | int | None, dim: int) -> None:
        self.is_object = isinstance(value, dict)
        self.label = label
        # Children are popped from the end: objects in sorted key order, arrays
        # from the last element to the first, as Horner's rule needs.
        self.pending = sorted_members(value) if self.is_object else list(enumerate(value))
        self.n = len(self.pending)
        self.acc_s = np.zeros(dim)
        self.acc_c = np.zeros(dim)
        self.acc_horner: np.ndarray | None = None
        self.path: tuple[Any, ...] = ()
        self.kind: Any = None
        self.factor = 1.0


def tree_terms(
    basis: Basis,
    doc: Any,
    root_path: tuple[Any, ...] = (),
    leaf_filter: Callable[[tuple[Any, ...]], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``S(doc)``, ``C(doc)`` and the unweighted key bag ``K(doc)``, in float64.

    Parameters
    ----------
    basis : Basis
        Supplies the configuration, field hints, leaf vectors and roles.
    doc : object
        A parsed JSON value.
    root_path : tuple, default ()
        The path the document sits at, for field hints.
    leaf_filter : callable, optional
        Given the concrete path of a leaf (keys and positions), whether it
        contributes; the others count in every size and weight but add zero.
        ``S`` and ``C`` are linear in the leaves, so summing the results of
        disjoint filters gives the whole document's.

    Returns
    -------
    tuple of three ndarray of float64, shape (D,)
    """
    cfg = basis.config
    roles = basis.roles
    dim = cfg.dim
    w_bag, w_seq = cfg.w_bag, cfg.w_seq
    hints = basis.hints
    track = hints is not None or leaf_filter is not None
    if hints is None:
        leaf_keys, keys = _collect_leaves(doc)
        leaf_rows = dict(zip(leaf_keys, basis.leaf_matrix(leaf_keys)))
    else:
        keys = []
        leaf_rows = {}
    position = roles.role(POSITION_ROLE)
    zero = np.zeros(dim)

    def bind(op: Any, vector: np.ndarray) -> np.ndarray:
        return roles.apply(op, vector[None, :])[0]

    def leaf_vector(key: Any) -> np.ndarray:
        row = leaf_rows.get(key)
        if row is None:
            row = leaf_rows[key] = basis.leaf_matrix([key])[0]
        return row

    def start(
        value: Any, label: str | int | None, path: tuple[Any, ...], kind: Any, depth: int
    ) -> _Frame | tuple[np.ndarray, np.ndarray]:
        if isinstance(value, dict):
            value = present(value)
        if isinstance(value, (dict, list, tuple)) and value:
            frame = _Frame(value, label, dim)
            frame.path, frame.kind = path, kind
            if hints is None:
                return frame
            if depth >= MAX_DEPTH:
                raise DocumentError(DEPTH_MESSAGE)
            # Ignored members are absent: they count in no size and no key bag.
            kept = [(k, v) for k, v in frame.pending if not hints.resolve((*path, k), None)[2]]
            if kept:
                if frame.is_object:
                    keys.extend(k for k, _ in kept)
                    frame.pending = kept
                else:
                    frame.pending = list(enumerate(v for _, v in kept))
                frame.n = len(kept)
                return frame
            value = {} if frame.is_object else []
        if leaf_filter is not None and not leaf_filter(path):
            return zero, zero
        if isinstance(value, dict):
            key = LIT_OBJECT
        elif isinstance(value, (list, tuple)):
            key = LIT_ARRAY
        else:
            key = leaf_key(value)
            if hints is not None:
                key = hinted_leaf(kind, key)
        leaf64 = leaf_vector(key).astype(np.float64)
        return leaf64, leaf64

    def absorb(frame: _Frame, label: Any, s: np.ndarray, c: np.ndarray, factor: float) -> None:
        if factor != 1.0:
            s, c = s * factor, c * factor
        frame.acc_c += c
        if frame.is_object:
            frame.acc_s += bind(roles.step(label), s)
        else:
            frame.acc_s += s  # the bag part
            frame.acc_horner = (
                s if frame.acc_horner is None else s + bind(position, frame.acc_horner)
            )

    def close(frame: _Frame) -> tuple[np.ndarray, np.ndarray]:
        if frame.is_object:
            scale = object_scale(frame.n)
            return frame.acc_s * scale, frame.acc_c * scale
        norm = array_scale(frame.n, w_bag, w_seq)
        s = norm * (w_bag * frame.acc_s + w_seq * frame.acc_horner)
        return s, norm * (w_bag + w_seq) * frame.acc_c

    root_path = tuple(root_path)
    top = start(doc, None, root_path, hints.kind_at(root_path) if hints else None, 0)
    if isinstance(top, _Frame):
        stack = [top]
        while stack:
            frame = stack[-1]
            if frame.pending:
                label, child = frame.pending.pop()
                path = (*frame.path, label) if track else ()
                if hints is None:
                    kind, factor = None, 1.0
                else:
                    factor, kind, _ = hints.resolve(path, frame.kind)
                node = start(child, label, path, kind, len(stack))
                if isinstance(node, _Frame):
                    node.factor = factor
                    stack.append(node)
                else:
                    absorb(frame, label, *node, factor)
            else:
                stack.pop()
                s, c = close(frame)
                if stack:
                    absorb(stack[-1], frame.label, s, c, frame.factor)
        result = (s, c)
    else:
        result = top
    k = basis.key_bags([tuple(sorted(keys))])[0].astype(np.float64) if keys else zero
    return result[0], result[1], k


def encode_tree(
    basis: Basis, doc: Any, root_path: tuple[Any, ...] = (), *, strict: bool = False
) -> np.ndarray:
    """Encode one parsed document by the tree evaluator; a float64 unit vector.

    With ``strict`` the shadow and the key bag are left out (``alpha = beta =
    0``): the structure vector ``S`` alone, as probing compares it.
    """
    s, c, k = tree_terms(basis, doc, root_path)
    cfg = basis.config
    if strict:
        return _unit(basis, s)
    # The head carries the content, the last coordinates the configuration's marker.
    head = basis.dim - basis.marker_size
    out = np.empty(basis.dim)
    out[:head] = _unit(basis, (s + cfg.alpha * c + cfg.beta * k)[:head])
    out[:head] *= np.sqrt(1.0 - basis.marker_size * MARKER_VALUE**2)
    out[head:] = basis.marker
    return out


def _unit(basis: Basis, vector: np.ndarray) -> np.ndarray:
    """``vector`` scaled to unit length; the null atom's coordinates if it is zero."""
    norm = np.linalg.norm(vector)
    if not norm > 1e-30:
        # As the batch engine: a document vector is never zero.
        null = basis.leaf_matrix([LIT_NULL])[0][: len(vector)].astype(np.float64)
        return null / np.linalg.norm(null)
    return vector / norm
