"""The vectors a document is built from: leaves, role chains and key bags.

:class:`Basis` holds, for one configuration, the atom source, the role family,
the leaf encoder and the key-bag cache, and answers in bulk: the unit vectors
of leaf keys, leaves as weighted sums of basis vectors (numbers are two level
vectors), the ops of role chains and the key bags of key signatures. Both the
batch engine and the tree evaluator read every vector through it, so the two
paths build documents from the same parts (docs/design.md, "Document vector").
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import compress
from typing import Any

import numpy as np
import scipy.sparse as sp

from duckdb_vsa.atoms import AtomSource
from duckdb_vsa.cache import ByteBoundedCache
from duckdb_vsa.config import EncoderConfig
from duckdb_vsa.leafkeys import LIT_NULL, LITERAL_NAMES, is_number_key
from duckdb_vsa.leaves import LeafEncoder, linear_t, number_to_t
from duckdb_vsa.marker import (
    MARKER_COORDINATES,
    MARKER_VALUE,
    marker_pattern,
    marker_size,
)
from duckdb_vsa.paths import FieldHints
from duckdb_vsa.roles import RoleFamily, make_roles


@dataclasses.dataclass(frozen=True)
class LeafBases:
    """Leaves as weighted sums of basis vectors, CSR style.

    Leaf ``i`` is ``sum(coef[j] * matrix[basis[j]] for j in range(ptr[i], ptr[i + 1]))``.

    Attributes
    ----------
    matrix : ndarray of float32, shape (bases, D)
        The distinct basis vectors.
    ptr : ndarray of int64, shape (leaves + 1,)
    basis : ndarray of int64
        Rows of ``matrix``.
    coef : ndarray of float64
        Their coefficients.
    """

    matrix: np.ndarray
    ptr: np.ndarray
    basis: np.ndarray
    coef: np.ndarray


class Basis:
    """Leaf vectors, role chains and key bags of one configuration, cached.

    Parameters
    ----------
    config : EncoderConfig
    cache_bytes : int
        Budget of the leaf caches.
    role_bytes : int
        Budget of the role and chain cache.
    bag_bytes : int, optional
        Budget of the key-bag cache; a quarter of ``cache_bytes`` if not given.
    """

    def __init__(
        self,
        config: EncoderConfig,
        cache_bytes: int,
        role_bytes: int,
        bag_bytes: int | None = None,
    ) -> None:
        self.config = config
        self.dim = config.dim
        self.atoms = AtomSource(config.dim, config.seed)
        self.roles: RoleFamily = make_roles(config.binding, config.dim, config.seed, role_bytes)
        self.leaves = LeafEncoder(config, self.atoms, cache_bytes)
        self.hints = FieldHints(config.fields) if config.fields else None
        self._key_bags: ByteBoundedCache[np.ndarray] = ByteBoundedCache(
            cache_bytes // 4 if bag_bytes is None else bag_bytes, lambda v: v.nbytes + 112
        )
        #: The last ``marker_size`` coordinates of every document vector hold
        #: ``marker``, a pattern of the configuration's fingerprint.
        self.marker_size = marker_size(config.dim)
        self.marker = marker_pattern(config)

    def clear_caches(self, *, structure: bool = True) -> None:
        """Empty the value caches, and with ``structure`` the role, chain and key-bag caches."""
        self.leaves.clear_caches()
        if structure:
            self.roles.clear_cache()
            self._key_bags.clear()

    # -- leaves --------------------------------------------------------------------
    def leaf_matrix(self, leaf_keys: Sequence[Any], out: np.ndarray | None = None) -> np.ndarray:
        """Unit vectors of leaf keys (see :mod:`duckdb_vsa.leafkeys`), float32.

        Written into ``out`` (``len(leaf_keys)`` x D) if given.
        """
        if out is None:
            out = np.empty((len(leaf_keys), self.dim), dtype=np.float32)
        types = _types(leaf_keys)
        is_string, is_number = np.equal(types, str), np.equal(types, float)
        hinted: dict[str, list[int]] = {}
        for i in np.flatnonzero(~(is_string | is_number)).tolist():
            key = leaf_keys[i]
            if key in LITERAL_NAMES:
                out[i] = self.leaves.literal(LITERAL_NAMES[key])
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
                out[rows] = self.leaves.numbers(*self.number_axis(keys))
            elif tag == "cat":
                out[rows] = self.atoms.atoms("str", [k[1] for k in keys])
            elif tag == "catnum":
                out[rows] = self.atoms.atoms("num", [repr(float(k[1])) for k in keys])
            else:  # "text"
                out[rows] = self.leaves.texts([k[1] for k in keys])
        return out

    def leaf_bases(self, leaf_keys: Sequence[Any]) -> LeafBases:
        """Leaves as weighted sums of basis vectors.

        Strings and literals are one basis vector each; a number is two level
        vectors (see :meth:`LeafEncoder.number_levels`) unless exact-value atoms
        are on, so numbers share their levels instead of each computing D cosines.
        """
        n = len(leaf_keys)
        types = _types(leaf_keys)
        is_number = np.equal(types, float)
        if self.hints is not None and np.equal(types, tuple).any():
            is_number = np.fromiter(map(is_number_key, leaf_keys), dtype=bool, count=n)
        if not is_number.any() or self.config.w_num_exact > 0:
            ptr = np.arange(n + 1, dtype=np.int64)
            return LeafBases(
                self.leaf_matrix(leaf_keys), ptr, np.arange(n, dtype=np.int64), np.ones(n)
            )
        numbers = np.flatnonzero(is_number)
        others = np.flatnonzero(~is_number)
        number_keys = list(compress(leaf_keys, is_number.tolist()))
        if self.hints is not None and any(type(key) is tuple for key in number_keys):
            values, t = self.number_axis(number_keys)
            lower, coef_lower, coef_upper = self.leaves.number_levels(values, t)
        else:
            lower, coef_lower, coef_upper = self.leaves.number_levels(number_keys)
        levels = np.unique(np.concatenate([lower, lower + 1]))
        matrix = np.empty((len(others) + len(levels), self.dim), dtype=np.float32)
        self.leaf_matrix(
            list(compress(leaf_keys, (~is_number).tolist())), out=matrix[: len(others)]
        )
        matrix[len(others) :] = self.leaves.levels(levels)
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
        return LeafBases(matrix, ptr, basis, coef)

    def leaf_rows(self, leaf_keys: Sequence[Any]) -> np.ndarray:
        """Unit vectors of leaf keys through :meth:`leaf_bases` (numbers from shared levels).

        Equal to :meth:`leaf_matrix` to float32 rounding, and cheaper for many
        numbers: a number is a sum of two cached level vectors rather than D
        cosines; float32, shape (len(leaf_keys), D).
        """
        bases = self.leaf_bases(leaf_keys)
        mixing = sp.csr_matrix(
            (bases.coef.astype(np.float32), bases.basis, bases.ptr),
            shape=(len(leaf_keys), len(bases.matrix)),
        )
        return np.asarray(mixing @ bases.matrix)

    def number_axis(self, keys: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
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

    # -- key bags ------------------------------------------------------------------
    def key_bags(self, signatures: Sequence[tuple[str, ...]]) -> np.ndarray:
        """Unweighted key bags ``(1/sqrt(n)) sum atom(key, k)`` of sorted key tuples; float32.

        The atoms of every name the uncached signatures hold are drawn together.
        """
        out = np.empty((len(signatures), self.dim), dtype=np.float32)
        found = self._key_bags.get_many(list(signatures))
        missing = list(dict.fromkeys(s for s, bag in zip(signatures, found) if bag is None))
        fresh: dict[tuple[str, ...], np.ndarray] = {}
        if missing:
            names = sorted(set().union(*missing))
            rows = dict(zip(names, self.atoms.atoms("key", names)))
            for signature in missing:
                fresh[signature] = self.key_bag(
                    Counter(signature), lambda block: np.stack([rows[k] for k in block])
                )
            self._key_bags.put_many(list(fresh.items()))
        for i, (signature, bag) in enumerate(zip(signatures, found)):
            out[i] = fresh[signature] if bag is None else bag
        return out

    def key_bag(
        self, counts: Counter, atoms: Callable[[list[str]], np.ndarray] | None = None
    ) -> np.ndarray:
        """The key bag of key names counted with multiplicity; float32, uncached.

        Atoms are added in sorted-name order, a block of names at a time (the
        running sum first in each block), so the bag depends on the counts only
        and its memory on the block size, not on the number of names. ``atoms``
        gives the atoms of a block of names, if they are at hand.
        """
        names = sorted(counts)
        total = sum(counts.values())
        bag = None
        for lo in range(0, len(names), _KEY_BLOCK):
            block = names[lo : lo + _KEY_BLOCK]
            weights = np.fromiter((counts[k] for k in block), dtype=np.float32, count=len(block))
            block_atoms = self.atoms.atoms("key", block) if atoms is None else atoms(block)
            terms = weights[:, None] * block_atoms
            if bag is not None:
                terms = np.concatenate([bag[None, :], terms])
            bag = np.add.reduce(terms, axis=0)
        if bag is None:
            return np.zeros(self.dim, dtype=np.float32)
        bag *= np.float32(1.0 / math.sqrt(total))
        return bag

    # -- document vectors ----------------------------------------------------------
    def document_rows(self, sums: np.ndarray) -> np.ndarray:
        """Document vectors from unnormalised sums (float32, in place when possible).

        The first ``D - marker_size`` coordinates are the sum's, scaled to norm
        ``sqrt(1 - marker_size * MARKER_VALUE**2)``; the last hold the marker, so
        every document vector has unit length and carries its configuration.
        Each row is scaled by a float32 reduction over that row alone.
        """
        head = self.dim - self.marker_size
        rows = np.require(sums, dtype=np.float32, requirements=("C", "W"))
        rows[:, :head] = self.unit_rows(np.ascontiguousarray(rows[:, :head]))
        rows[:, :head] *= _HEAD_NORM[self.marker_size]
        rows[:, head:] = self.marker
        return rows

    def has_marker(self, rows: np.ndarray) -> np.ndarray:
        """Which rows carry this configuration's marker (see :mod:`duckdb_vsa.marker`)."""
        rows = np.asarray(rows)
        tail = rows[:, self.dim - self.marker_size :]
        return (tail == self.marker).all(axis=1)

    def unit_rows(self, rows: np.ndarray) -> np.ndarray:
        """Scale every row to unit length, in place when ``rows`` is a float32 array.

        Each row's squared norm is one float32 reduction over that row alone, so
        the result does not depend on the other rows. A row that sums to zero
        (possible only in contrived configurations) becomes the ``null`` atom:
        a document vector is never zero.
        """
        rows = np.require(rows, dtype=np.float32, requirements=("C", "W"))
        squares = np.einsum("ij,ij->i", rows, rows)
        fine = (squares > 1e-30) & (squares < 1e30)
        if not fine.all():
            # Tiny, huge or zero rows: float64.
            bad = np.flatnonzero(~fine)
            rows64 = rows[bad].astype(np.float64)
            norms = np.sqrt(np.square(rows64).sum(axis=1))
            degenerate = ~(norms > 1e-30)
            null = self.leaves.literal(LITERAL_NAMES[LIT_NULL])[: rows.shape[1]].astype(np.float64)
            rows64[degenerate] = null
            norms[degenerate] = np.sqrt(np.square(null).sum())
            rows[bad] = rows64 / norms[:, None]
            squares[bad] = 1.0
        rows *= (1.0 / np.sqrt(squares)).astype(np.float32)[:, None]
        return rows


#: Key names whose atoms are generated at once for a key bag.
_KEY_BLOCK = 4096

#: The norm of a document vector's head, by marker size.
_HEAD_NORM = {
    size: np.float32(math.sqrt(1.0 - size * MARKER_VALUE**2))
    for size in range(MARKER_COORDINATES + 1)
}


def _types(keys: Sequence[Any]) -> np.ndarray:
    """The exact type of every key, as an object array (compare with ``np.equal``)."""
    return np.fromiter(map(type, keys), dtype=object, count=len(keys))
