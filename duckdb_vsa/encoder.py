"""The batch engine and :class:`Encoder` (DESIGN §1 and §3).

A batch is flattened into leaf terms ``(row, chain, leaf, weight)``; the
distinct leaves get their vectors once, the distinct ``(chain, leaf)`` pairs
are bound once, and one sparse-times-dense product sums every row. Each row's
terms are summed in an order that depends only on its own document, so a
document's vector never depends on what else is in the batch.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from duckdb_vsa.atoms import AtomSource
from duckdb_vsa.cache import ByteBoundedCache
from duckdb_vsa.config import ENCODER_VERSION, EncoderConfig
from duckdb_vsa.flatten import (
    LIT_ARRAY,
    LIT_FALSE,
    LIT_NAN,
    LIT_NULL,
    LIT_OBJECT,
    LIT_TRUE,
    DocumentError,
    Flattener,
    TooComplex,
    parse_json,
)
from duckdb_vsa.leaves import LeafEncoder, expand_ranges
from duckdb_vsa.reference import encode_tree
from duckdb_vsa.roles import POSITION_ROLE, RoleFamily, key_role, make_roles

__all__ = ["ON_ERROR", "DocumentError", "Encoder"]

ON_ERROR = ("raise", "null")

DEFAULT_CACHE_BYTES = 256 * 2**20
#: Terms per group of rows: bounds the bound-pair matrix (GROUP_TERMS x D floats).
GROUP_TERMS = 16_384
#: Chains up to this depth are cached across batches by their path.
_CACHED_CHAIN_DEPTH = 64

_LITERAL_NAMES = {
    LIT_TRUE: "true",
    LIT_FALSE: "false",
    LIT_NULL: "null",
    LIT_OBJECT: "{}",
    LIT_ARRAY: "[]",
    LIT_NAN: "NaN",
}


class Encoder:
    """Encodes JSON documents into unit float32 vectors with MBAT.

    Parameters
    ----------
    dim : int, default 1024
        Vector dimension.
    seed : int, default 0
        Seed of every atom and role matrix.
    binding : {"perm", "haar"}, default "perm"
        Role family (see :mod:`duckdb_vsa.roles`).
    cache_bytes : int, default 256 MiB
        Budget of each of the caches (role and chain matrices, string leaves and
        atoms, key bags). Not part of the configuration: it changes speed only.
    **options
        Any other field of :class:`~duckdb_vsa.config.EncoderConfig`
        (``alpha``, ``beta``, ``number_bandwidth``...).

    Raises
    ------
    ValueError, TypeError
        For an invalid or unknown option.

    Examples
    --------
    >>> enc = Encoder(dim=256)
    >>> a = enc.encode({"name": "red shoe", "price": 40})
    >>> b = enc.encode('{"price": 40, "name": "red shoe"}')
    >>> a.shape, a.dtype, round(float(a @ b), 6)
    ((256,), dtype('float32'), 1.0)
    """

    def __init__(
        self,
        dim: int = 1024,
        seed: int = 0,
        binding: str = "perm",
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        **options: Any,
    ) -> None:
        self.config = EncoderConfig.from_options(dim=dim, seed=seed, binding=binding, **options)
        self.cache_bytes = int(cache_bytes)
        self.atoms = AtomSource(self.config.dim, self.config.seed)
        self.roles: RoleFamily = make_roles(
            self.config.binding, self.config.dim, self.config.seed, self.cache_bytes
        )
        self.leaves = LeafEncoder(self.config, self.atoms, self.cache_bytes)
        self._key_bags: ByteBoundedCache[np.ndarray] = ByteBoundedCache(
            self.cache_bytes // 4, lambda v: v.nbytes + 112
        )

    # -- identity ------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.config.dim

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def binding(self) -> str:
        return self.config.binding

    @property
    def fingerprint(self) -> str:
        """Digest of the configuration; vectors of different fingerprints don't compare."""
        return self.config.fingerprint

    def info(self) -> dict[str, Any]:
        """Version, dim, seed, binding and fingerprint (what ``vsa_info()`` returns)."""
        return {
            "version": ENCODER_VERSION,
            "dim": self.dim,
            "seed": self.seed,
            "binding": self.binding,
            "fingerprint": self.fingerprint,
        }

    def __repr__(self) -> str:
        return (
            f"Encoder(dim={self.dim}, seed={self.seed}, binding={self.binding!r}, "
            f"fingerprint={self.fingerprint!r})"
        )

    # -- public encoding -----------------------------------------------------------
    def encode(self, doc: Any) -> np.ndarray:
        """Encode one document.

        Parameters
        ----------
        doc : str or object
            JSON text, or a Python value made of dict, list, str, int, float,
            bool and None (``None`` is JSON ``null``).

        Returns
        -------
        ndarray of float32, shape (dim,)
            A unit vector.

        Raises
        ------
        DocumentError
            For empty or invalid JSON text, or nesting beyond 10,000 levels.
        """
        return self.encode_batch([doc])[0]

    def encode_batch(self, docs: Iterable[Any]) -> np.ndarray:
        """Encode many documents (see :meth:`encode`).

        Returns
        -------
        ndarray of float32, shape (n, dim)
        """
        values = [parse_json(d) if isinstance(d, str) else d for d in docs]
        return self._encode_values(values)

    def encode_arrow(
        self, array: pa.Array | pa.ChunkedArray, on_error: str = "raise"
    ) -> pa.FixedSizeListArray:
        """Encode an Arrow array of JSON text; the form DuckDB's UDF calls.

        Parameters
        ----------
        array : pyarrow.Array or pyarrow.ChunkedArray of string
            JSON documents; nulls stay null.
        on_error : {"raise", "null"}, default "raise"
            What an empty or invalid document gives: an error naming the problem
            and showing the start of the value, or a null vector.

        Returns
        -------
        pyarrow.FixedSizeListArray of float32, list size ``dim``

        Raises
        ------
        DocumentError
            For an empty or invalid document, with ``on_error="raise"``.
        """
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be 'raise' or 'null', got {on_error!r}.")
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            if pa.types.is_null(array.type):
                array = array.cast(pa.string())
            else:
                raise TypeError(f"encode_arrow expects an Arrow string array, got {array.type}.")
        texts = array.to_pylist()
        valid = np.ones(len(texts), dtype=bool)
        values: list[Any] = []
        for i, text in enumerate(texts):
            if text is None:
                valid[i] = False
                continue
            try:
                values.append(parse_json(text))
            except DocumentError as err:
                if on_error == "raise":
                    raise DocumentError(f"Cannot encode document: {err}") from None
                valid[i] = False
        vectors = self._encode_values(values)
        flat = np.zeros((len(texts), self.dim), dtype=np.float32)
        flat[valid] = vectors
        mask = None if valid.all() else pa.array(~valid)
        return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), self.dim, mask=mask)

    def encode_tree(self, doc: Any) -> np.ndarray:
        """Encode one document by the node-by-node tree evaluator (the reference path).

        Agrees with :meth:`encode` to float32 rounding; used for documents the
        batch engine does not expand, and by tests.
        """
        value = parse_json(doc) if isinstance(doc, str) else doc
        return encode_tree(self, value).astype(np.float32)

    # -- the batch engine ----------------------------------------------------------
    def _new_flattener(self) -> Flattener:
        cfg = self.config
        return Flattener(
            cfg.w_bag,
            cfg.w_seq,
            max_position=self.roles.max_position,
            max_chain_depth=self.roles.max_chain_depth,
        )

    def _encode_values(self, values: Sequence[Any]) -> np.ndarray:
        out = np.empty((len(values), self.dim), dtype=np.float32)
        flat = self._new_flattener()
        group_rows: list[int] = []
        for i, value in enumerate(values):
            try:
                flat.add(value)
            except TooComplex:
                out[i] = encode_tree(self, value)
                continue
            group_rows.append(i)
            if flat.n_terms >= GROUP_TERMS:
                out[group_rows] = self._encode_group(flat)
                flat = self._new_flattener()
                group_rows = []
        if group_rows:
            out[group_rows] = self._encode_group(flat)
        return out

    def _encode_group(self, flat: Flattener) -> np.ndarray:
        cfg = self.config
        n_rows = flat.n_rows
        basis_matrix, leaf_ptr, leaf_basis, leaf_coef = self._leaf_bases(flat.leaf_keys)
        n_bases = len(basis_matrix)

        # Chain sets as CSR arrays; a set's shadow weight is the sum of its weights.
        set_size = np.asarray(flat.set_size, dtype=np.int64)
        set_ptr = np.zeros(len(set_size) + 1, dtype=np.int64)
        np.cumsum(set_size, out=set_ptr[1:])
        set_chain = np.fromiter(
            (c for pairs in flat.set_pairs for c, _ in pairs), dtype=np.int64, count=set_ptr[-1]
        )
        set_weight = np.fromiter(
            (w for pairs in flat.set_pairs for _, w in pairs), dtype=np.float64, count=set_ptr[-1]
        )
        set_shadow = np.add.reduceat(set_weight, set_ptr[:-1])

        # A row's leaf terms, in this order: S (bound), then C (unbound shadow).
        occ_set = np.asarray(flat.occ_set, dtype=np.int64)
        occ_leaf = np.asarray(flat.occ_leaf, dtype=np.int64)
        row_leaves = np.asarray(flat.row_leaves, dtype=np.int64)
        occ_row = np.repeat(np.arange(n_rows), row_leaves)
        s_slot = expand_ranges(set_ptr[occ_set], set_size[occ_set])
        s_row = np.repeat(occ_row, set_size[occ_set])
        term_chain = set_chain[s_slot]
        term_weight = set_weight[s_slot]
        term_leaf = np.repeat(occ_leaf, set_size[occ_set])
        if cfg.alpha:
            order = np.argsort(np.concatenate([s_row * 2, occ_row * 2 + 1]), kind="stable")
            term_chain = np.concatenate([term_chain, np.zeros(len(occ_leaf), np.int64)])[order]
            term_leaf = np.concatenate([term_leaf, occ_leaf])[order]
            term_weight = np.concatenate([term_weight, cfg.alpha * set_shadow[occ_set]])[order]
            term_row = np.concatenate([s_row, occ_row])[order]
        else:
            term_row = s_row

        # Each leaf term becomes one term per basis vector of its leaf (numbers have two).
        per_term = leaf_ptr[term_leaf + 1] - leaf_ptr[term_leaf]
        slot = expand_ranges(leaf_ptr[term_leaf], per_term)
        term_basis = leaf_basis[slot]
        term_chain = np.repeat(term_chain, per_term)
        term_weight = (np.repeat(term_weight, per_term) * leaf_coef[slot]).astype(np.float32)
        row_terms = np.bincount(np.repeat(term_row, per_term), minlength=n_rows)

        # Distinct (chain, basis) pairs, each bound once.
        pairs, term_pair = np.unique(term_chain * n_bases + term_basis, return_inverse=True)
        pair_chain, pair_basis = np.divmod(pairs, n_bases)
        bound = basis_matrix[pair_basis]
        # np.unique sorted the pairs by chain: each chain binds one contiguous block.
        chains, block_start = np.unique(pair_chain, return_index=True)
        block_end = np.append(block_start[1:], len(pairs))
        ops = self._chain_ops(flat, chains[chains != 0])
        apply = self.roles.apply
        for op, start, end in zip(ops, block_start[chains != 0], block_end[chains != 0]):
            bound[start:end] = apply(op, bound[start:end])

        # Key bags, one per distinct signature, after the pairs.
        signatures = flat.key_signatures
        has_bag = np.fromiter((bool(s) for s in signatures), dtype=bool, count=n_rows)
        if cfg.beta == 0:
            has_bag[:] = False
        bag_signatures = [s for s, h in zip(signatures, has_bag) if h]
        distinct = list(dict.fromkeys(bag_signatures))
        sig_ids = {s: j for j, s in enumerate(distinct)}
        bags = self._key_bag_matrix(distinct)

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
        data[bag_slots] = np.float32(cfg.beta)
        weights = sp.csr_matrix((data, indices, indptr), shape=(n_rows, len(pairs) + len(bags)))
        summed = weights @ (np.concatenate([bound, bags]) if len(bags) else bound)
        return self._unit_rows(np.asarray(summed))

    def _leaf_bases(self, leaf_keys: Sequence[Any]) -> tuple[np.ndarray, ...]:
        """Leaves as weighted sums of basis vectors.

        Strings and literals are one basis vector each; a number is two level
        vectors (see :meth:`LeafEncoder.number_levels`) unless exact-value atoms
        are on. Returns the basis matrix and, CSR-style, each leaf's basis rows
        and coefficients: ``leaf_ptr``, ``leaf_basis``, ``leaf_coef``.
        """
        n = len(leaf_keys)
        numbers = [i for i, key in enumerate(leaf_keys) if isinstance(key, float)]
        if not numbers or self.config.w_num_exact > 0:
            ptr = np.arange(n + 1, dtype=np.int64)
            return self._leaf_matrix(leaf_keys), ptr, np.arange(n, dtype=np.int64), np.ones(n)
        others = [i for i, key in enumerate(leaf_keys) if not isinstance(key, float)]
        lower, coef_lower, coef_upper = self.leaves.number_levels([leaf_keys[i] for i in numbers])
        levels = np.unique(np.concatenate([lower, lower + 1]))
        basis_matrix = np.concatenate(
            [self._leaf_matrix([leaf_keys[i] for i in others]), self.leaves.levels(levels)]
        )
        per_leaf = np.ones(n, dtype=np.int64)
        per_leaf[numbers] = 2
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(per_leaf, out=ptr[1:])
        basis = np.empty(int(ptr[-1]), dtype=np.int64)
        coef = np.ones(int(ptr[-1]))
        basis[ptr[others]] = np.arange(len(others))
        starts = ptr[numbers]
        basis[starts] = len(others) + np.searchsorted(levels, lower)
        basis[starts + 1] = len(others) + np.searchsorted(levels, lower + 1)
        coef[starts] = coef_lower
        coef[starts + 1] = coef_upper
        return basis_matrix, ptr, basis, coef

    def _unit_rows(self, rows: np.ndarray) -> np.ndarray:
        rows64 = rows.astype(np.float64)
        norms = np.sqrt(np.square(rows64).sum(axis=1))
        degenerate = ~(norms > 1e-30)
        if degenerate.any():
            # Weights can cancel only in contrived configurations; never return zero.
            rows64[degenerate] = self.leaves.literal("null")
            norms[degenerate] = 1.0
        return (rows64 / norms[:, None]).astype(np.float32)

    def _chain_ops(self, flat: Flattener, chains: np.ndarray) -> list[Any]:
        """The op of every chain in ``chains`` (and, on the way, of its ancestors)."""
        parent, step = flat.chain_parent, flat.chain_step
        needed: set[int] = set()
        for c in chains.tolist():
            while c > 0 and c not in needed:
                needed.add(c)
                c = parent[c]
        ops: dict[int, Any] = {}
        paths: dict[int, tuple[Any, ...] | None] = {0: ()}
        for c in sorted(needed):  # parents are interned before their children
            p = parent[c]
            parent_path = paths[p]
            path = (*parent_path, step[c]) if parent_path is not None else None
            if path is not None and len(path) > _CACHED_CHAIN_DEPTH:
                path = None
            paths[c] = path
            op = self.roles._cache.get(("chain", path)) if path is not None else None
            if op is None:
                step_op = self._step_op(step[c])
                op = step_op if p == 0 else self.roles.compose(ops[p], step_op)
                if path is not None and p != 0:
                    self.roles._cache.put(("chain", path), op)
            ops[c] = op
        return [ops[c] for c in chains.tolist()]

    def _step_op(self, step: str | int) -> Any:
        if isinstance(step, str):
            return self.roles.role(key_role(step))
        return self.roles.power(POSITION_ROLE, step)

    def _leaf_matrix(self, leaf_keys: Sequence[Any]) -> np.ndarray:
        """Unit vectors of leaf keys: str, float, or a literal marker."""
        out = np.empty((len(leaf_keys), self.dim), dtype=np.float32)
        strings: list[int] = []
        numbers: list[int] = []
        for i, key in enumerate(leaf_keys):
            if isinstance(key, str):
                strings.append(i)
            elif isinstance(key, float):
                numbers.append(i)
            else:
                out[i] = self.leaves.literal(_LITERAL_NAMES[key])
        if strings:
            out[strings] = self.leaves.strings([leaf_keys[i] for i in strings])
        if numbers:
            out[numbers] = self.leaves.numbers([leaf_keys[i] for i in numbers])
        return out

    def _key_bag_matrix(self, signatures: Sequence[tuple[str, ...]]) -> np.ndarray:
        """Unweighted key bags ``(1/sqrt(n)) sum atom(key, k)`` of sorted key tuples."""
        out = np.empty((len(signatures), self.dim), dtype=np.float32)
        for i, signature in enumerate(signatures):
            bag = self._key_bags.get(signature)
            if bag is None:
                counts = Counter(signature)
                atoms = self.atoms.atoms("key", list(counts))
                weights = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
                # Rows are added in sorted-name order: the bag depends on the signature only.
                bag = np.add.reduce(weights[:, None] * atoms, axis=0)
                bag *= np.float32(1.0 / math.sqrt(len(signature)))
                self._key_bags.put(signature, bag)
            out[i] = bag
        return out
