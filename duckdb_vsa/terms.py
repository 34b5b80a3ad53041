"""Documents to leaf terms: the walk that makes the encoding linear.

:class:`Flattener` walks documents iteratively (object keys in sorted order,
arrays in position order) and records every leaf term of docs/design.md,
"Structure", as ``(row, chain, leaf, weight)``: ``chain`` is the interned path
of roles from the root, ``leaf`` the interned leaf key. The terms of a row are
recorded contiguously and in an order that depends only on that document.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from duckdb_vsa.errors import DocumentError, WrongTypeError
from duckdb_vsa.leafkeys import (
    LIT_ARRAY,
    LIT_OBJECT,
    array_scale,
    hinted_leaf,
    object_scale,
    plain,
    present,
    scalar_leaf,
    sorted_members,
)
from duckdb_vsa.limits import DEPTH_MESSAGE, MAX_DEPTH
from duckdb_vsa.paths import ANY_INDEX, FieldHints, format_path


class TooComplex(Exception):
    """A document the term engine should not expand; the tree evaluator takes it."""


class Flattener:
    """Records the leaf terms of a group of documents (the encoding made linear).

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
                raise WrongTypeError(f"Object keys must be strings, got {step!r}.")
            scale = object_scale(n)
            child = tuple((self._chain(c, step), w * scale) for c, w in pairs)
        else:
            n = -n
            w_bag, w_seq = self.w_bag, self.w_seq
            norm = array_scale(n, w_bag, w_seq)
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
            A DocumentError's ``row`` is the offending document's index in ``docs``.
        """
        if self.hints is not None:
            return self._add_hinted(docs, start, stop_terms)
        # The encoder's hot loop, one document after another without a call per
        # document: locals, exact type checks and interned plans on purpose. Scalars
        # take their key from scalar_leaf, the one rule the tree evaluator uses too.
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
        leaf_of = scalar_leaf
        present_members = present
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
                    if kind is dict:
                        value = present_members(value)
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
                    else:
                        leaf = leaf_of(value)
                        if leaf is None:
                            # Tuples, subclasses and numpy scalars: dispatch again as plain values.
                            stack.append((plain(value), cs))
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
            except DocumentError as err:
                del occ_set[mark:], occ_leaf[mark:]
                self.n_terms = n_terms
                raise DocumentError(str(err), row=i - 1) from None
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
            except DocumentError as err:
                del self.occ_set[mark:], self.occ_leaf[mark:]
                raise DocumentError(str(err), row=i - 1) from None
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
        members = sorted_members(value)
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
                members = [(k, v) for k, v in sorted_members(value) if not ignored(cs, k)]
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
                leaf = scalar_leaf(value)
                if leaf is None:
                    stack.append((plain(value), cs, depth))
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


def _too_deep(depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise DocumentError(DEPTH_MESSAGE)
    raise TooComplex
