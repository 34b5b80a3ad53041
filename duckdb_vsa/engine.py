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
from collections.abc import Sequence
from itertools import compress
from typing import Any

import numpy as np
import scipy.sparse as sp

from duckdb_vsa.arrays import compact, expand_ranges
from duckdb_vsa.basis import Basis
from duckdb_vsa.terms import Flattener
from duckdb_vsa.tree import encode_tree

#: Terms per group of rows: bounds the bound-pair matrix (GROUP_TERMS x D floats).
GROUP_TERMS = 16_384


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

        ``limits`` override ``max_position``, ``max_expansion`` or ``max_terms``.
        """
        cfg, roles = self.config, self.basis.roles
        return Flattener(
            cfg.w_bag,
            cfg.w_seq,
            max_position=limits.pop("max_position", roles.max_position),
            max_chain_depth=roles.max_chain_depth,
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
        """
        out = np.empty((len(values), self.dim), dtype=np.float32)
        start = 0
        while start < len(values):
            flat = self.new_flattener(root_path)
            end, skipped = flat.add_many(values, start, self.group_terms)
            for i in skipped:
                out[i] = encode_tree(self.basis, values[i], root_path, strict=strict)
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
        alpha = 0.0 if strict else cfg.alpha
        beta = 0.0 if strict else cfg.beta
        n_rows = flat.n_rows
        bases = self.basis.leaf_bases(flat.leaf_keys)
        n_bases = len(bases.matrix)

        # Every leaf occurrence contributes w * (R(chain) + alpha I) @ leaf for each
        # (chain, w) of its chain set: S and, since a set's weights add up to the
        # leaf's structural weight, the unbound shadow C too.
        terms = self.chain_terms(flat)
        occ_leaf = np.asarray(flat.occ_leaf, dtype=np.int64)
        occ_row = np.repeat(np.arange(n_rows), np.asarray(flat.row_leaves, dtype=np.int64))
        term_leaf = occ_leaf[terms.occurrence]

        # Each leaf term becomes one term per basis vector of its leaf (numbers have two).
        per_term = bases.ptr[term_leaf + 1] - bases.ptr[term_leaf]
        slot = expand_ranges(bases.ptr[term_leaf], per_term)
        term_basis = bases.basis[slot]
        term_chain = np.repeat(terms.chain, per_term)
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
        bound = self.bind_pairs(flat, bases.matrix, pair_chain, pair_basis, alpha=alpha, tail=bags)

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
        summed = weights @ bound
        return self.basis.unit_rows(np.asarray(summed))

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
