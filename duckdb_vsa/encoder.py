"""The batch engine and :class:`Encoder` (DESIGN §1 and §3).

A batch is flattened into leaf terms ``(row, chain, leaf, weight)``; the
distinct leaves get their vectors once, the distinct ``(chain, leaf)`` pairs
are bound once, and one sparse-times-dense product sums every row. Each row's
terms are summed in an order that depends only on its own document, so a
document's vector never depends on what else is in the batch.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import compress
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from duckdb_vsa.atoms import AtomSource
from duckdb_vsa.cache import ByteBoundedCache
from duckdb_vsa.config import ENCODER_VERSION, EncoderConfig
from duckdb_vsa.explain import explain
from duckdb_vsa.flatten import (
    LIT_ARRAY,
    LIT_FALSE,
    LIT_NAN,
    LIT_NULL,
    LIT_OBJECT,
    LIT_TRUE,
    DocumentError,
    Flattener,
    parse_json,
)
from duckdb_vsa.leaves import LeafEncoder, compact, expand_ranges, linear_t, number_to_t
from duckdb_vsa.paths import FieldHints
from duckdb_vsa.probe import Prober
from duckdb_vsa.reference import encode_tree
from duckdb_vsa.roles import POSITION_ROLE, RoleFamily, key_role, make_roles

__all__ = ["ON_ERROR", "DocumentError", "Encoder"]


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


def _types(keys: Sequence[Any]) -> np.ndarray:
    """The exact type of every key, as an object array (compare with ``np.equal``)."""
    return np.fromiter(map(type, keys), dtype=object, count=len(keys))


def _is_number_key(key: Any) -> bool:
    return isinstance(key, float) or (type(key) is tuple and key[0] == "lin")


ON_ERROR = ("raise", "null")

DEFAULT_CACHE_BYTES = 256 * 2**20
#: With ``binding="haar"`` and the default ``cache_bytes``, the role cache holds at
#: least this many D x D matrices (roles and chains): a nested schema needs ~100.
HAAR_DEFAULT_MATRICES = 128
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


#: Encoders shared in this process, by configuration and cache budget, least recently
#: used first. Each may hold a few times its ``cache_bytes`` in caches, so only the
#: most recently used are kept; one evicted is rebuilt on its next use (its vectors
#: are the same: an encoder is a function of its configuration).
_SHARED: dict[tuple[EncoderConfig, int | None], Encoder] = {}
#: Encoders :func:`shared_encoder` keeps alive at once.
SHARED_ENCODERS = 4
_SHARED_LOCK = threading.Lock()


def shared_encoder(config: EncoderConfig, cache_bytes: int | None = None) -> Encoder:
    """The process's encoder of ``config`` (one set of caches per configuration).

    Parameters
    ----------
    config : EncoderConfig
        The configuration.
    cache_bytes : int, optional
        The cache budget (see :class:`Encoder`); None for the default.

    Returns
    -------
    Encoder
        The same object for the same arguments as long as it is among the
        :data:`SHARED_ENCODERS` most recently used.
    """
    key = (config, None if cache_bytes is None else int(cache_bytes))
    with _SHARED_LOCK:
        encoder = _SHARED.pop(key, None)
        if encoder is None:
            encoder = Encoder.from_config(config, cache_bytes=cache_bytes)
        while len(_SHARED) >= SHARED_ENCODERS:
            del _SHARED[next(iter(_SHARED))]
        _SHARED[key] = encoder
        return encoder


def _unpickle_encoder(options: dict[str, Any], cache_bytes: int | None) -> Encoder:
    """The process's encoder of this configuration (see :meth:`Encoder.__reduce__`)."""
    return shared_encoder(EncoderConfig(**options), cache_bytes)


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
        Left at its default with ``binding="haar"``, the role cache gets at least
        ``HAAR_DEFAULT_MATRICES`` dense matrices (512 MiB at D = 1024).
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
        cache_bytes: int | None = None,
        **options: Any,
    ) -> None:
        self.config = EncoderConfig.from_options(dim=dim, seed=seed, binding=binding, **options)
        self._cache_option = None if cache_bytes is None else int(cache_bytes)
        self.cache_bytes = DEFAULT_CACHE_BYTES if cache_bytes is None else int(cache_bytes)
        role_bytes = self.cache_bytes
        if cache_bytes is None and self.config.binding == "haar":
            # Dense roles are 4 D^2 bytes each: size the default by D, not in bytes.
            role_bytes = max(role_bytes, HAAR_DEFAULT_MATRICES * 4 * self.config.dim**2)
        self.atoms = AtomSource(self.config.dim, self.config.seed)
        self.roles: RoleFamily = make_roles(
            self.config.binding, self.config.dim, self.config.seed, role_bytes
        )
        self.leaves = LeafEncoder(self.config, self.atoms, self.cache_bytes)
        self._key_bags: ByteBoundedCache[np.ndarray] = ByteBoundedCache(
            self.cache_bytes // 4, lambda v: v.nbytes + 112
        )
        self.hints = FieldHints(self.config.fields) if self.config.fields else None
        self._structure: Encoder | None = None
        self._prober: Any = None

    @classmethod
    def from_config(cls, config: EncoderConfig, *, cache_bytes: int | None = None) -> Encoder:
        """The encoder of a configuration.

        Examples
        --------
        >>> Encoder.from_config(EncoderConfig(dim=64)).dim
        64
        """
        options = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        return cls(cache_bytes=cache_bytes, **options)

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

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle the configuration only; the receiving process rebuilds its own caches.

        So an encoder travels cheaply to a worker process (Dask, Ray, Spark,
        multiprocessing): a few hundred bytes, whatever its caches hold. In the
        receiving process, equal configurations unpickle to one shared encoder,
        so the caches stay warm from one task to the next.
        """
        options = {f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)}
        return (_unpickle_encoder, (options, self._cache_option))

    def clear_caches(self, *, structure: bool = True) -> None:
        """Empty the caches, so that the next documents are encoded from scratch.

        Vectors do not change; only speed does. Benchmarks use it to measure
        documents whose values were never seen.

        Parameters
        ----------
        structure : bool, default True
            Also forget role and chain matrices and key bags, which depend on the
            documents' keys rather than their values. With False, only caches
            keyed by values (strings, tokens, trigrams, number levels) are emptied.
        """
        self.leaves.clear_caches()
        if structure:
            self.roles.clear_cache()
            self._key_bags.clear()

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
                    raise DocumentError(f"Cannot encode document: {err}", row=i) from None
                valid[i] = False
        vectors = self._encode_values(values)
        if len(vectors) == len(texts):
            flat, mask = vectors, None
        else:
            flat = np.zeros((len(texts), self.dim), dtype=np.float32)
            flat[valid] = vectors
            mask = pa.array(~valid)
        return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), self.dim, mask=mask)

    def encode_tree(self, doc: Any) -> np.ndarray:
        """Encode one document by the node-by-node tree evaluator (the reference path).

        Agrees with :meth:`encode` to float32 rounding; used for documents the
        batch engine does not expand, and by tests.
        """
        value = parse_json(doc) if isinstance(doc, str) else doc
        return encode_tree(self, value).astype(np.float32)

    # -- probing and explaining ----------------------------------------------------
    def _structure_encoder(self) -> Encoder:
        """This encoder with ``alpha = beta = 0`` (strict structure), sharing the caches."""
        if self._structure is None:
            cfg = self.config
            if cfg.alpha == 0 and cfg.beta == 0:
                self._structure = self
            else:
                options = {
                    f.name: getattr(cfg, f.name)
                    for f in dataclasses.fields(cfg)
                    if f.name not in ("alpha", "beta")
                }
                structure = Encoder(cache_bytes=0, alpha=0.0, beta=0.0, **options)
                structure.atoms, structure.roles = self.atoms, self.roles
                structure.leaves, structure._key_bags = self.leaves, self._key_bags
                self._structure = structure
        return self._structure

    @property
    def prober(self) -> Prober:
        """The :class:`~duckdb_vsa.probe.Prober` of this encoder."""
        if self._prober is None:
            self._prober = Prober(self)
        return self._prober

    def probe(self, vector: np.ndarray, path: str) -> np.ndarray:
        """Unbind a field's content from a document vector.

        Parameters
        ----------
        vector : ndarray, shape (dim,)
            A document vector of this encoder.
        path : str
            ``$.a.b``, ``$.items[2]``, or ``$.items[*]`` for the bag part of an array.

        Returns
        -------
        ndarray of float32, shape (dim,)
            ``R(chain)^T vector``: the field's structure vector (scaled) plus noise.

        Examples
        --------
        >>> enc = Encoder(dim=1024)
        >>> v = enc.encode({"color": "red", "size": 42, "name": "trail shoe"})
        >>> p = enc.probe(v, "$.color")
        >>> red, blue = enc.field_vector("$.color", "red"), enc.field_vector("$.color", "blue")
        >>> bool(p @ red > 0.3 > p @ blue)
        True
        """
        rows = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if rows.shape[1] != self.dim:
            raise ValueError(f"Expected a vector of length {self.dim}, got {rows.shape[1]}.")
        return self.prober.probe(rows, [path])[0]

    def probe_many(self, vectors: np.ndarray, paths: Sequence[str]) -> np.ndarray:
        """:meth:`probe` for many vectors (n x dim), each along its own path; float32 (n x dim)."""
        return self.prober.probe(vectors, paths)

    def field_vectors(self, paths: Sequence[str], values: Sequence[Any]) -> np.ndarray:
        """:meth:`field_vector` for many (path, parsed value) pairs; float32 (n x dim)."""
        return self.prober.values(paths, values)

    def field_vector(self, path: str, value: Any) -> np.ndarray:
        """The unit structure vector of ``value`` (a Python value) as the field at ``path``.

        ``value`` is a Python value (a ``str`` is a string here, not JSON text).
        """
        return self.prober.values([path], [value])[0]

    def field_similarity(self, vector: np.ndarray, path: str, value: Any) -> float:
        """Cosine of ``probe(vector, path)`` and ``field_vector(path, value)``.

        How well ``value`` fits the field at ``path`` of the encoded document:
        about ``1 / sqrt(fields)`` for the true value, about 0 (± 1/sqrt(D)) otherwise.
        """
        probed = self.probe(vector, path).astype(np.float64)
        candidate = self.field_vector(path, value).astype(np.float64)
        norm = np.linalg.norm(probed) * np.linalg.norm(candidate)
        return float(probed @ candidate / norm) if norm > 0 else 0.0

    def decode(
        self, vector: np.ndarray, path: str, candidates: Sequence[Any], k: int = 5
    ) -> list[tuple[Any, float]]:
        """The ``k`` candidates (Python values) that best fit the field at ``path``.

        Returns
        -------
        list of (candidate, score)
            Best first; ties keep the candidates' order.
        """
        probed = self.probe(vector, path).astype(np.float64)
        vectors = self.prober.values([path] * len(candidates), list(candidates))
        scores = vectors.astype(np.float64) @ probed / max(np.linalg.norm(probed), 1e-30)
        order = sorted(range(len(candidates)), key=lambda i: (-scores[i], i))[:k]
        return [(candidates[i], float(scores[i])) for i in order]

    def explain(
        self, doc_a: Any, doc_b: Any, *, positions: bool = False
    ) -> list[tuple[str, float]]:
        """Which fields make two documents similar.

        Parameters
        ----------
        doc_a, doc_b : str or object
            JSON text or Python values, as for :meth:`encode`.
        positions : bool, default False
            Name array elements by position (``$.items[2].sku``) instead of
            gathering them under ``[*]``.

        Returns
        -------
        list of (str, float)
            ``(path, contribution)``, largest first, adding up to the cosine of
            the two vectors: one entry per leaf path the documents share,
            ``(keys)`` for the key-name bags and ``(other)`` for the rest
            (cross terms between different paths).

        Examples
        --------
        >>> enc = Encoder(dim=1024)
        >>> parts = enc.explain({"name": "red shoe", "size": 42}, {"name": "red shoe", "size": 9})
        >>> parts[0][0]
        '$.name'
        >>> bool(abs(sum(c for _, c in parts) - enc.encode('{"name": "red shoe", "size": 42}')
        ...     @ enc.encode('{"name": "red shoe", "size": 9}')) < 1e-5)
        True
        """
        a = parse_json(doc_a) if isinstance(doc_a, str) else doc_a
        b = parse_json(doc_b) if isinstance(doc_b, str) else doc_b
        return explain(self, a, b, positions=positions)

    # -- the batch engine ----------------------------------------------------------
    def _new_flattener(self, root_path: tuple[Any, ...] = (), **limits: int) -> Flattener:
        cfg = self.config
        return Flattener(
            cfg.w_bag,
            cfg.w_seq,
            max_position=limits.pop("max_position", self.roles.max_position),
            max_chain_depth=self.roles.max_chain_depth,
            hints=self.hints,
            root_path=root_path,
            **limits,
        )

    def _encode_values(self, values: Sequence[Any], root_path: tuple[Any, ...] = ()) -> np.ndarray:
        out = np.empty((len(values), self.dim), dtype=np.float32)
        start = 0
        while start < len(values):
            flat = self._new_flattener(root_path)
            end, skipped = flat.add_many(values, start, GROUP_TERMS)
            for i in skipped:
                out[i] = encode_tree(self, values[i], root_path)
            if flat.n_rows:
                rows = (
                    np.setdiff1d(np.arange(start, end), skipped) if skipped else slice(start, end)
                )
                out[rows] = self._encode_group(flat)
            start = end
        return out

    def _encode_group(self, flat: Flattener) -> np.ndarray:
        cfg = self.config
        n_rows = flat.n_rows
        basis_matrix, leaf_ptr, leaf_basis, leaf_coef = self._leaf_bases(flat.leaf_keys)
        n_bases = len(basis_matrix)

        # Chain sets as CSR arrays.
        set_size = np.asarray(flat.set_size, dtype=np.int64)
        set_ptr = np.zeros(len(set_size) + 1, dtype=np.int64)
        np.cumsum(set_size, out=set_ptr[1:])
        set_chain = np.fromiter(
            (c for pairs in flat.set_pairs for c, _ in pairs), dtype=np.int64, count=set_ptr[-1]
        )
        set_weight = np.fromiter(
            (w for pairs in flat.set_pairs for _, w in pairs), dtype=np.float64, count=set_ptr[-1]
        )

        # Every leaf occurrence contributes w * (R(chain) + alpha I) @ leaf for each
        # (chain, w) of its chain set: S and, since a set's weights add up to the
        # leaf's structural weight, the unbound shadow C too.
        occ_set = np.asarray(flat.occ_set, dtype=np.int64)
        occ_leaf = np.asarray(flat.occ_leaf, dtype=np.int64)
        row_leaves = np.asarray(flat.row_leaves, dtype=np.int64)
        per_occ = set_size[occ_set]
        s_slot = expand_ranges(set_ptr[occ_set], per_occ)
        term_row = np.repeat(np.repeat(np.arange(n_rows), row_leaves), per_occ)
        term_chain = set_chain[s_slot]
        term_weight = set_weight[s_slot]
        term_leaf = np.repeat(occ_leaf, per_occ)

        # Each leaf term becomes one term per basis vector of its leaf (numbers have two).
        per_term = leaf_ptr[term_leaf + 1] - leaf_ptr[term_leaf]
        slot = expand_ranges(leaf_ptr[term_leaf], per_term)
        term_basis = leaf_basis[slot]
        term_chain = np.repeat(term_chain, per_term)
        term_weight = (np.repeat(term_weight, per_term) * leaf_coef[slot]).astype(np.float32)
        row_terms = np.bincount(np.repeat(term_row, per_term), minlength=n_rows)

        # Distinct (chain, basis) pairs, each bound once.
        pairs, term_pair = _distinct(term_chain * n_bases + term_basis)
        pair_chain, pair_basis = np.divmod(pairs, n_bases)

        # Key bags, one per distinct signature, as rows after the pairs.
        signatures = flat.key_signatures
        has_bag = np.fromiter(map(bool, signatures), dtype=bool, count=n_rows)
        if cfg.beta == 0:
            has_bag[:] = False
        bag_signatures = list(compress(signatures, has_bag.tolist()))
        distinct = list(dict.fromkeys(bag_signatures))
        sig_ids = {s: j for j, s in enumerate(distinct)}
        bags = self._key_bag_matrix(distinct)
        bound = self._bind_pairs(flat, basis_matrix, pair_chain, pair_basis, tail=bags)

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
        summed = weights @ bound
        return self._unit_rows(np.asarray(summed))

    def _bind_pairs(
        self,
        flat: Flattener,
        basis_matrix: np.ndarray,
        pair_chain: np.ndarray,
        pair_basis: np.ndarray,
        tail: np.ndarray | None = None,
    ) -> np.ndarray:
        """``(R(chain) + alpha I) @ basis`` for every distinct pair, pairs sorted by chain.

        Rows of ``tail``, if given, follow the pairs in the same matrix.
        """
        alpha = np.float32(self.config.alpha)
        n_tail = 0 if tail is None else len(tail)
        out = np.empty((len(pair_basis) + n_tail, self.dim), dtype=np.float32)
        bound = out[: len(pair_basis)]
        # Valid indices: "wrap" spares the bounds check and the buffer "raise" uses with out=.
        np.take(basis_matrix, pair_basis, axis=0, out=bound, mode="wrap")
        if n_tail:
            out[len(pair_basis) :] = tail
        chains, block_start = np.unique(pair_chain, return_index=True)
        block_end = np.append(block_start[1:], len(pair_chain))
        nonroot = chains != 0
        ops = self._chain_ops(flat, chains[nonroot])
        apply_plus = self.roles.apply_plus
        for op, start, end in zip(ops, block_start[nonroot].tolist(), block_end[nonroot].tolist()):
            apply_plus(op, bound[start:end], alpha)
        if not nonroot[0]:  # chain 0: the identity, so (1 + alpha) @ basis
            bound[block_start[0] : block_end[0]] *= np.float32(1.0) + alpha
        return out

    def _leaf_bases(self, leaf_keys: Sequence[Any]) -> tuple[np.ndarray, ...]:
        """Leaves as weighted sums of basis vectors.

        Strings and literals are one basis vector each; a number is two level
        vectors (see :meth:`LeafEncoder.number_levels`) unless exact-value atoms
        are on. Returns the basis matrix and, CSR-style, each leaf's basis rows
        and coefficients: ``leaf_ptr``, ``leaf_basis``, ``leaf_coef``.
        """
        n = len(leaf_keys)
        types = _types(leaf_keys)
        is_number = np.equal(types, float)
        if self.hints is not None and np.equal(types, tuple).any():
            is_number = np.fromiter(map(_is_number_key, leaf_keys), dtype=bool, count=n)
        if not is_number.any() or self.config.w_num_exact > 0:
            ptr = np.arange(n + 1, dtype=np.int64)
            return self._leaf_matrix(leaf_keys), ptr, np.arange(n, dtype=np.int64), np.ones(n)
        numbers = np.flatnonzero(is_number)
        others = np.flatnonzero(~is_number)
        number_keys = list(compress(leaf_keys, is_number.tolist()))
        if self.hints is not None and any(type(key) is tuple for key in number_keys):
            values, t = self._number_axis(number_keys)
            lower, coef_lower, coef_upper = self.leaves.number_levels(values, t)
        else:
            lower, coef_lower, coef_upper = self.leaves.number_levels(number_keys)
        levels = np.unique(np.concatenate([lower, lower + 1]))
        basis_matrix = np.empty((len(others) + len(levels), self.dim), dtype=np.float32)
        self._leaf_matrix(
            list(compress(leaf_keys, (~is_number).tolist())), out=basis_matrix[: len(others)]
        )
        basis_matrix[len(others) :] = self.leaves.levels(levels)
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
        """Scale every row to unit length, in place when ``rows`` is a float32 array.

        Each row's squared norm is one float32 reduction over that row alone, so
        the result does not depend on the other rows.
        """
        rows = np.require(rows, dtype=np.float32, requirements=("C", "W"))
        squares = np.einsum("ij,ij->i", rows, rows)
        fine = (squares > 1e-30) & (squares < 1e30)
        if not fine.all():
            # Tiny, huge or zero rows: float64, and never return zero (weights can
            # cancel only in contrived configurations).
            bad = np.flatnonzero(~fine)
            rows64 = rows[bad].astype(np.float64)
            norms = np.sqrt(np.square(rows64).sum(axis=1))
            degenerate = ~(norms > 1e-30)
            rows64[degenerate] = self.leaves.literal("null")
            norms[degenerate] = 1.0
            rows[bad] = rows64 / norms[:, None]
            squares[bad] = 1.0
        rows *= (1.0 / np.sqrt(squares)).astype(np.float32)[:, None]
        return rows

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

    def _leaf_matrix(self, leaf_keys: Sequence[Any], out: np.ndarray | None = None) -> np.ndarray:
        """Unit vectors of leaf keys: str, float, a literal marker, or a hinted leaf.

        Written into ``out`` (len(leaf_keys) x D float32) if given.
        """
        if out is None:
            out = np.empty((len(leaf_keys), self.dim), dtype=np.float32)
        types = _types(leaf_keys)
        is_string, is_number = np.equal(types, str), np.equal(types, float)
        hinted: dict[str, list[int]] = {}
        for i in np.flatnonzero(~(is_string | is_number)).tolist():
            key = leaf_keys[i]
            if key in _LITERAL_NAMES:
                out[i] = self.leaves.literal(_LITERAL_NAMES[key])
            else:
                hinted.setdefault(key[0], []).append(i)
        if is_string.any():
            self.leaves.strings(
                list(compress(leaf_keys, is_string.tolist())), out=out, at=np.flatnonzero(is_string)
            )
        if is_number.any():
            out[is_number] = self.leaves.numbers(list(compress(leaf_keys, is_number.tolist())))
        for tag, rows in hinted.items():
            keys = [leaf_keys[i] for i in rows]
            if tag == "lin":
                out[rows] = self.leaves.numbers(*self._number_axis(keys))
            elif tag == "cat":
                out[rows] = self.atoms.atoms("str", [k[1] for k in keys])
            elif tag == "catnum":
                out[rows] = self.atoms.atoms("num", [repr(float(k[1])) for k in keys])
            else:  # "text"
                out[rows] = self.leaves.texts([k[1] for k in keys])
        return out

    def _number_axis(self, keys: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Values and axis positions of plain and ``("lin", scale, x)`` number keys."""
        linear = np.fromiter((type(k) is tuple for k in keys), dtype=bool, count=len(keys))
        values = np.fromiter(
            (k[2] if type(k) is tuple else k for k in keys), dtype=np.float64, count=len(keys)
        )
        scales = np.fromiter(
            (k[1] if type(k) is tuple else 1.0 for k in keys), dtype=np.float64, count=len(keys)
        )
        t = np.empty(len(keys))
        t[~linear] = number_to_t(values[~linear], self.config.number_scale)
        t[linear] = linear_t(values[linear], scales[linear], self.config.number_bandwidth)
        return values, t

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
