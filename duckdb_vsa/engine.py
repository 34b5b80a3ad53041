"""The batch engine: many documents to unit vectors with a few matrix operations.

A group of documents is flattened into leaf terms ``(row, chain, leaf,
weight)`` (:mod:`duckdb_vsa.terms`); the distinct leaves get their vectors
once, the distinct ``(chain, basis vector)`` pairs are bound once, and one
sparse-times-dense product sums every row. Each row's terms are summed in an
order that depends only on its own document, so a document's vector never
depends on what else is in the batch. Documents beyond the term engine's
limits go to the tree evaluator (:mod:`duckdb_vsa.tree`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from itertools import compress
from typing import Any

import numpy as np
import scipy.sparse as sp

from duckdb_vsa.arrays import compact, expand_ranges
from duckdb_vsa.basis import Basis
from duckdb_vsa.errors import DocumentError
from duckdb_vsa.leafkeys import (
    LIT_ARRAY,
    LIT_OBJECT,
    array_scale,
    hinted_leaf,
    leaf_key,
    object_scale,
    plain,
    sorted_members,
)
from duckdb_vsa.limits import DEPTH_MESSAGE, MAX_DEPTH
from duckdb_vsa.roles import POSITION_ROLE
from duckdb_vsa.terms import Flattener

#: Terms per group of rows: bounds the bound-pair matrix (GROUP_TERMS x D floats).
GROUP_TERMS = 16_384
#: Children of a container beyond the engine's limits that are encoded together.
SLICE = 1024


@dataclasses.dataclass(eq=False)
class _Frame:
    """An open container of a document beyond the engine's limits."""

    label: Any
    factor: float
    path: tuple[Any, ...]
    kind: Any
    depth: int
    is_object: bool
    children: list[tuple[Any, Any]]
    acc_s: np.ndarray
    acc_c: np.ndarray
    acc_pos: np.ndarray
    next: int = 0
    deferred: list[tuple[Any, Any, float, Any]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class ChainTerms:
    """One term per (leaf occurrence, chain of its chain set).

    Attributes
    ----------
    occurrence : ndarray of int64
        The leaf occurrence (index into the flattener's ``occ_set``/``occ_leaf``).
    chain : ndarray of int64
        The chain the term is bound through (0 is the identity).
    weight : ndarray of float64
        Its structural weight.
    """

    occurrence: np.ndarray
    chain: np.ndarray
    weight: np.ndarray


class Engine:
    """Encodes groups of parsed documents for one configuration.

    Parameters
    ----------
    basis : Basis
        The leaf vectors, role chains and key bags of the configuration.
    """

    def __init__(self, basis: Basis) -> None:
        self.basis = basis
        self.config = basis.config
        self.dim = basis.dim
        #: Terms per group of rows (see :data:`GROUP_TERMS`); the vectors do not depend on it.
        self.group_terms = GROUP_TERMS

    def new_flattener(self, root_path: tuple[Any, ...] = (), **limits: int) -> Flattener:
        """A :class:`~duckdb_vsa.terms.Flattener` for this configuration.

        ``limits`` override ``max_position``, ``max_chain_depth``, ``max_expansion`` or
        ``max_terms``.
        """
        cfg, roles = self.config, self.basis.roles
        return Flattener(
            cfg.w_bag,
            cfg.w_seq,
            max_position=limits.pop("max_position", roles.max_position),
            max_chain_depth=limits.pop("max_chain_depth", roles.max_chain_depth),
            hints=self.basis.hints,
            root_path=root_path,
            **limits,
        )

    def encode_values(
        self, values: Sequence[Any], root_path: tuple[Any, ...] = (), *, strict: bool = False
    ) -> np.ndarray:
        """Unit vectors of parsed documents; float32, shape (len(values), D).

        Parameters
        ----------
        values : sequence
            Parsed JSON values.
        root_path : tuple, default ()
            The path the documents sit at (for field hints).
        strict : bool, default False
            The structure vector ``S`` alone (``alpha = beta = 0``), as a probe
            recovers it.

        Raises
        ------
        DocumentError
            For a document nested too deep or with too many leaves; ``.row``
            is its position in ``values``.
        """
        out = np.empty((len(values), self.dim), dtype=np.float32)
        start = 0
        while start < len(values):
            flat = self.new_flattener(root_path)
            end, skipped = flat.add_many(values, start, self.group_terms)
            for i in skipped:
                try:
                    out[i] = self.encode_large(values[i], root_path, strict=strict)
                except DocumentError as err:
                    raise DocumentError(str(err), row=i) from None
            if flat.n_rows:
                rows = (
                    np.setdiff1d(np.arange(start, end), skipped) if skipped else slice(start, end)
                )
                out[rows] = self.encode_group(flat, strict=strict)
            start = end
        return out

    def chain_terms(self, flat: Flattener) -> ChainTerms:
        """Expand every leaf occurrence of ``flat`` into one term per chain of its chain set."""
        set_size = np.asarray(flat.set_size, dtype=np.int64)
        set_ptr = np.zeros(len(set_size) + 1, dtype=np.int64)
        np.cumsum(set_size, out=set_ptr[1:])
        total = int(set_ptr[-1])
        set_chain = np.fromiter(
            (c for pairs in flat.set_pairs for c, _ in pairs), dtype=np.int64, count=total
        )
        set_weight = np.fromiter(
            (w for pairs in flat.set_pairs for _, w in pairs), dtype=np.float64, count=total
        )
        occ_set = np.asarray(flat.occ_set, dtype=np.int64)
        per_occ = set_size[occ_set]
        slot = expand_ranges(set_ptr[occ_set], per_occ)
        occurrence = np.repeat(np.arange(len(occ_set), dtype=np.int64), per_occ)
        return ChainTerms(occurrence, set_chain[slot], set_weight[slot])

    def encode_group(self, flat: Flattener, *, strict: bool = False) -> np.ndarray:
        """Unit vectors of the rows recorded in ``flat``; float32, shape (flat.n_rows, D)."""
        cfg = self.config
        if strict:
            return self.basis.unit_rows(self.term_sums(flat, alpha=0.0, beta=0.0))
        return self.basis.document_rows(self.term_sums(flat, alpha=cfg.alpha, beta=cfg.beta))

    def term_sums(
        self, flat: Flattener, *, alpha: float, beta: float, bound: bool = True
    ) -> np.ndarray:
        """The unnormalised vector of every row recorded in ``flat``; float32.

        Every leaf occurrence contributes ``w (R(chain) + alpha I) leaf`` for each
        ``(chain, w)`` of its chain set, and a row with keys ``beta K``. With
        ``bound=False`` no role is applied (every chain is the identity), which
        with ``alpha = 0`` gives the unbound shadow ``C`` of each row.
        """
        n_rows = flat.n_rows
        bases = self.basis.leaf_bases(flat.leaf_keys)
        n_bases = len(bases.matrix)

        # Since a chain set's weights add up to the leaf's structural weight, the
        # alpha part of the terms is the unbound shadow C.
        terms = self.chain_terms(flat)
        occ_leaf = np.asarray(flat.occ_leaf, dtype=np.int64)
        occ_row = np.repeat(np.arange(n_rows), np.asarray(flat.row_leaves, dtype=np.int64))
        term_leaf = occ_leaf[terms.occurrence]

        # Each leaf term becomes one term per basis vector of its leaf (numbers have two).
        per_term = bases.ptr[term_leaf + 1] - bases.ptr[term_leaf]
        slot = expand_ranges(bases.ptr[term_leaf], per_term)
        term_basis = bases.basis[slot]
        term_chain = np.repeat(terms.chain if bound else terms.chain * 0, per_term)
        term_weight = (np.repeat(terms.weight, per_term) * bases.coef[slot]).astype(np.float32)
        row_terms = np.bincount(np.repeat(occ_row[terms.occurrence], per_term), minlength=n_rows)

        # Distinct (chain, basis) pairs, each bound once.
        pairs, term_pair = _distinct(term_chain * n_bases + term_basis)
        pair_chain, pair_basis = np.divmod(pairs, n_bases)

        # Key bags, one per distinct signature, as rows after the pairs.
        signatures = flat.key_signatures
        has_bag = np.fromiter(map(bool, signatures), dtype=bool, count=n_rows)
        if beta == 0:
            has_bag[:] = False
        bag_signatures = list(compress(signatures, has_bag.tolist()))
        distinct = list(dict.fromkeys(bag_signatures))
        sig_ids = {s: j for j, s in enumerate(distinct)}
        bags = self.basis.key_bags(distinct)
        bound_pairs = self.bind_pairs(
            flat, bases.matrix, pair_chain, pair_basis, alpha=alpha, tail=bags
        )

        # One CSR row per document.
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(row_terms + has_bag, out=indptr[1:])
        total = int(indptr[-1])
        indices = np.empty(total, dtype=np.int64)
        data = np.empty(total, dtype=np.float32)
        bag_slots = indptr[1:][has_bag] - 1
        is_term = np.ones(total, dtype=bool)
        is_term[bag_slots] = False
        indices[is_term] = term_pair.reshape(-1)
        data[is_term] = term_weight
        indices[bag_slots] = len(pairs) + np.fromiter(
            (sig_ids[s] for s in bag_signatures), dtype=np.int64, count=len(bag_signatures)
        )
        data[bag_slots] = np.float32(beta)
        weights = sp.csr_matrix((data, indices, indptr), shape=(n_rows, len(pairs) + len(bags)))
        return np.asarray(weights @ bound_pairs)

    def bind_pairs(
        self,
        flat: Flattener,
        rows: np.ndarray,
        pair_chain: np.ndarray,
        pair_row: np.ndarray,
        *,
        alpha: float,
        tail: np.ndarray | None = None,
    ) -> np.ndarray:
        """``(R(chain) + alpha I) @ rows[row]`` for every pair, pairs sorted by chain.

        Parameters
        ----------
        flat : Flattener
            Where the chains were interned.
        rows : ndarray, shape (m, D)
            The vectors to bind (float32 or float64; the result has their type).
        pair_chain, pair_row : ndarray of int64
            The pairs, sorted by chain.
        alpha : float
            Weight of the unbound shadow.
        tail : ndarray, optional
            Rows that follow the bound pairs in the same matrix.
        """
        dtype = rows.dtype
        alpha_t = dtype.type(alpha)
        n_tail = 0 if tail is None else len(tail)
        out = np.empty((len(pair_row) + n_tail, self.dim), dtype=dtype)
        bound = out[: len(pair_row)]
        # Valid indices: "wrap" spares the bounds check and the buffer "raise" uses with out=.
        np.take(rows, pair_row, axis=0, out=bound, mode="wrap")
        if n_tail:
            out[len(pair_row) :] = tail
        if not len(pair_chain):
            return out
        chains, block_start = np.unique(pair_chain, return_index=True)
        block_end = np.append(block_start[1:], len(pair_chain))
        nonroot = chains != 0
        roles = self.basis.roles
        ops = roles.chains(flat.chain_parent, flat.chain_step, chains[nonroot].tolist())
        for op, start, end in zip(ops, block_start[nonroot].tolist(), block_end[nonroot].tolist()):
            roles.apply_plus(op, bound[start:end], alpha_t)
        if not nonroot[0]:  # chain 0: the identity, so (1 + alpha) @ row
            bound[block_start[0] : block_end[0]] *= dtype.type(1.0) + alpha_t
        return out

    # -- documents beyond the term engine's limits ---------------------------------
    def encode_large(
        self, doc: Any, root_path: tuple[Any, ...] = (), *, strict: bool = False
    ) -> np.ndarray:
        """The unit vector of one document beyond the term engine's limits; float32, (D,).

        The document is evaluated container by container, from the root down to
        the parts the term engine takes whole: the children of a container are
        encoded :data:`SLICE` at a time as documents of their own (their
        unnormalised ``S`` and ``C``), bound to their key or position and summed
        into the container. Memory stays within a few ``SLICE x D`` blocks per
        open container and time grows linearly with the leaves.

        Raises
        ------
        DocumentError
            For a document nested deeper than :data:`~duckdb_vsa.limits.MAX_DEPTH`
            or with more leaves than the role family's ``max_leaves``.
        """
        s, c, keys = self._large_terms(doc, tuple(root_path))
        cfg = self.config
        total = s if strict else s + cfg.alpha * c
        if not strict and cfg.beta and keys:
            total = total + cfg.beta * self.basis.key_bag(keys).astype(np.float64)
        rows = total[None, :].astype(np.float32)
        return (self.basis.unit_rows(rows) if strict else self.basis.document_rows(rows))[0]

    def _large_terms(
        self, doc: Any, root_path: tuple[Any, ...]
    ) -> tuple[np.ndarray, np.ndarray, Counter]:
        """``S`` and ``C`` of a document (float64) and the count of each of its keys."""
        hints = self.basis.hints
        keys: Counter = Counter()
        budget = [self.basis.roles.max_leaves, self.basis.roles.max_leaves]
        kind = hints.kind_at(root_path) if hints is not None else None
        top = self._open(doc, None, 1.0, root_path, kind, 0, keys, budget)
        if not isinstance(top, _Frame):
            return top[0], top[1], keys
        stack = [top]
        while True:
            frame = stack[-1]
            if frame.deferred:
                label, value, factor, kind = frame.deferred.pop()
                child = self._open(
                    value, label, factor, (*frame.path, label), kind, frame.depth + 1, keys, budget
                )
                if isinstance(child, _Frame):
                    stack.append(child)
                else:
                    self._absorb(frame, [label], child[0][None], child[1][None], [factor])
            elif frame.next < len(frame.children):
                run = frame.children[frame.next : frame.next + SLICE]
                frame.next += len(run)
                self._absorb_run(frame, run, keys, budget)
            else:
                stack.pop()
                s, c = self._close(frame)
                if not stack:
                    return s, c, keys
                self._absorb(stack[-1], [frame.label], s[None], c[None], [frame.factor])

    def _open(
        self,
        value: Any,
        label: Any,
        factor: float,
        path: tuple[Any, ...],
        kind: Any,
        depth: int,
        keys: Counter,
        budget: list[int],
    ) -> _Frame | tuple[np.ndarray, np.ndarray]:
        """A frame for a container, or ``(S, C)`` of one whose members are all ignored."""
        if depth >= MAX_DEPTH:
            raise DocumentError(DEPTH_MESSAGE)
        if type(value) not in (dict, list):
            value = plain(value)
        is_object = type(value) is dict
        children = sorted_members(value)[::-1] if is_object else list(enumerate(value))
        hints = self.basis.hints
        if hints is not None:
            children = [(k, v) for k, v in children if not hints.resolve((*path, k), None)[2]]
            if not is_object:
                children = list(enumerate(v for _, v in children))
        if not children:
            _spend(budget, 1)
            leaf = self.basis.leaf_matrix([LIT_OBJECT if is_object else LIT_ARRAY])[0]
            leaf64 = leaf.astype(np.float64)
            return leaf64, leaf64
        if is_object:
            keys.update(k for k, _ in children)
        zero = np.zeros(self.dim)
        return _Frame(
            label, factor, path, kind, depth, is_object, children, zero, zero.copy(), zero.copy()
        )

    def _absorb_run(
        self, frame: _Frame, run: list[tuple[Any, Any]], keys: Counter, budget: list[int]
    ) -> None:
        """Encode a run of a frame's children and add them to it (deferring the too complex)."""
        hints = self.basis.hints
        labels = [label for label, _ in run]
        values = [value for _, value in run]
        if hints is None:
            factors, kinds = [1.0] * len(run), [None] * len(run)
        else:
            resolved = [hints.resolve((*frame.path, label), frame.kind) for label in labels]
            factors = [r[0] for r in resolved]
            kinds = [r[1] for r in resolved]
        nested = [i for i, v in enumerate(values) if isinstance(v, (dict, list, tuple)) and len(v)]
        if len(nested) < len(values):
            # Scalars (and empty containers) are their own leaf vector, for S and C alike.
            taken = set(nested)
            scalars = [i for i in range(len(values)) if i not in taken]
            leaf_keys = [_leaf_or_empty(values[i]) for i in scalars]
            if hints is not None:
                leaf_keys = [hinted_leaf(kinds[i], k) for i, k in zip(scalars, leaf_keys)]
            _spend(budget, len(scalars))
            rows = self.basis.leaf_rows(leaf_keys)
            self._absorb(
                frame, [labels[i] for i in scalars], rows, rows, [factors[i] for i in scalars]
            )
        if not nested:
            return
        # The children sit one level below the frame: the term engine may go as deep
        # as the role family allows, but not past the document's depth limit.
        depth = min(self.basis.roles.max_chain_depth, MAX_DEPTH - frame.depth - 1)
        if hints is None:
            groups = [(self.new_flattener(max_chain_depth=depth), nested)]
        else:
            groups = [
                (self.new_flattener((*frame.path, labels[i]), max_chain_depth=depth), [i])
                for i in nested
            ]
        recorded: list[int] = []
        s_rows, c_rows = [], []
        for flat, members in groups:
            _, skipped = flat.add_many([values[i] for i in members])
            for j in skipped:
                i = members[j]
                frame.deferred.append((labels[i], values[i], factors[i], kinds[i]))
            if not flat.n_rows:
                continue
            _spend(budget, len(flat.occ_leaf))
            for signature in flat.key_signatures:
                keys.update(signature)
            skipped_set = set(skipped)
            recorded.extend(members[j] for j in range(len(members)) if j not in skipped_set)
            s = self.term_sums(flat, alpha=0.0, beta=0.0)
            s_rows.append(s)
            # With no role on any path, S is already the unbound shadow.
            bound = len(flat.chain_parent) > 1
            c_rows.append(self.term_sums(flat, alpha=0.0, beta=0.0, bound=False) if bound else s)
        if recorded:
            self._absorb(
                frame,
                [labels[i] for i in recorded],
                np.concatenate(s_rows),
                np.concatenate(c_rows),
                [factors[i] for i in recorded],
            )

    def _absorb(
        self,
        frame: _Frame,
        labels: list[Any],
        s_rows: np.ndarray,
        c_rows: np.ndarray,
        factors: list[float],
    ) -> None:
        """Add children's ``S`` and ``C`` (rows, in label order) to their container.

        Rows arrive in float32 (from the term engine) or float64 (a closed
        container); each block is summed in its own type and accumulated in float64.
        """
        if any(f != 1.0 for f in factors):
            weights = np.asarray(factors, dtype=s_rows.dtype)[:, None]
            s_rows, c_rows = s_rows * weights, c_rows * weights
        roles = self.basis.roles
        frame.acc_c += c_rows.sum(axis=0)
        if frame.is_object:
            frame.acc_s += roles.apply_each(roles.steps(labels), s_rows).sum(axis=0)
            return
        frame.acc_s += s_rows.sum(axis=0)
        offsets = np.asarray(labels, dtype=np.int64)
        base = int(offsets[0])
        part = roles.positional_sum(s_rows, offsets - base)
        if base:
            part = roles.apply(roles.power(POSITION_ROLE, base), part[None, :])[0]
        frame.acc_pos += part

    def _close(self, frame: _Frame) -> tuple[np.ndarray, np.ndarray]:
        """``S`` and ``C`` of a container whose children are all absorbed."""
        n = len(frame.children)
        if frame.is_object:
            scale = object_scale(n)
            return frame.acc_s * scale, frame.acc_c * scale
        w_bag, w_seq = self.config.w_bag, self.config.w_seq
        norm = array_scale(n, w_bag, w_seq)
        s = norm * (w_bag * frame.acc_s + w_seq * frame.acc_pos)
        return s, norm * (w_bag + w_seq) * frame.acc_c


def _leaf_or_empty(value: Any) -> Any:
    """The leaf key of a scalar or of an empty container."""
    if isinstance(value, dict):
        return LIT_OBJECT
    if isinstance(value, (list, tuple)):
        return LIT_ARRAY
    return leaf_key(value)


def _spend(budget: list[int], leaves: int) -> None:
    """Count leaves against a document's budget ``[left, limit]``; refuse it beyond."""
    budget[0] -= leaves
    if budget[0] < 0:
        raise DocumentError(
            f"The document has more than {budget[1]:,} leaves, the most one document may "
            "have with this configuration; encode its parts as separate documents."
        )


def _distinct(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(codes, return_inverse=True)`` for non-negative int64 codes.

    Codes within a small range go through a presence table instead of a sort.
    """
    if not len(codes):
        return codes, codes
    bound = int(codes.max()) + 1
    if bound <= max(8 * len(codes), 1 << 20):
        inverse, distinct = compact(codes, bound)
        return distinct, inverse
    distinct, inverse = np.unique(codes, return_inverse=True)
    return distinct, inverse.reshape(-1)
