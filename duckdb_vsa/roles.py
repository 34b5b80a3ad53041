"""Roles: random orthogonal matrices that bind content to structure.

A role ``R(name)`` depends only on ``(seed, name)``. Two families share one
interface:

- :class:`SignedPermutationRoles` (``binding="perm"``): ``(R y)_i = s_i y_{p_i}``
  with a random permutation ``p`` and random signs ``s``. O(D) to store and apply,
  exactly orthogonal, exact in floating point (a gather and a sign flip), so
  bound vectors are bit-identical on every machine.
- :class:`HaarRoles` (``binding="haar"``): dense Haar-random orthogonal matrices,
  the QR factor of a Gaussian matrix with the sign correction (Mezzadri 2007),
  as in Gallant's MBAT paper. O(D^2) to apply and 4 D^2 bytes each. QR runs in
  LAPACK, so these are reproducible on one machine but not promised
  bit-identical across BLAS builds.

Vectors are rows: binding a batch ``Y`` (m x D) by ``R`` gives ``Y @ R.T``.
An *op* is a family-specific representation of one orthogonal matrix: a role,
a power of a role, or the product of the roles along a JSON path (a chain).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from duckdb_vsa import prng
from duckdb_vsa.cache import ByteBoundedCache
from duckdb_vsa.limits import MAX_LEAVES

POSITION_ROLE = "pos"

#: Chains up to this depth are cached by their path.
CACHED_CHAIN_DEPTH = 64
#: Signed permutations drawn together (bounds the temporary random keys).
_DRAW_BLOCK = 256


def key_role(name: str) -> str:
    """Name of the role that binds the value of object key ``name``."""
    return "key:" + name


class RoleFamily(ABC):
    """Orthogonal matrices for roles, their powers and products.

    Parameters
    ----------
    dim : int
        Vector dimension D.
    seed : int
        Encoder seed.
    cache_bytes : int
        Budget of the cache of role and chain matrices.
    """

    name: str = ""
    #: Documents nested deeper than this are encoded by the tree evaluator.
    max_chain_depth: int = 10_000
    #: Documents with a longer array are encoded by the tree evaluator.
    max_position: int = 1024

    def __init__(self, dim: int, seed: int, cache_bytes: int) -> None:
        self.dim = dim
        self.seed = seed
        #: Leaves a document may have under this family (see :meth:`leaf_limit`).
        self.max_leaves = self.leaf_limit(dim)
        self._cache: ByteBoundedCache[Any] = ByteBoundedCache(cache_bytes, self.op_nbytes)

    @classmethod
    def leaf_limit(cls, dim: int) -> int:
        """The most leaves a document may have: :data:`~duckdb_vsa.limits.MAX_LEAVES`."""
        return MAX_LEAVES

    # -- family-specific primitives -------------------------------------------------
    @abstractmethod
    def _generate(self, roles: Sequence[str]) -> list[Any]:
        """Draw the ops of named roles."""

    @abstractmethod
    def identity(self) -> Any:
        """The op of the identity matrix."""

    @abstractmethod
    def compose(self, outer: Any, inner: Any) -> Any:
        """The op of the matrix product ``outer @ inner``."""

    @abstractmethod
    def transpose(self, op: Any) -> Any:
        """The op of the transpose (the inverse)."""

    @abstractmethod
    def apply(self, op: Any, rows: np.ndarray) -> np.ndarray:
        """Bind every row of ``rows`` (m x D): ``rows @ M.T``, in the dtype of ``rows``."""

    @abstractmethod
    def op_nbytes(self, op: Any) -> int:
        """Memory an op holds."""

    @abstractmethod
    def matrix(self, op: Any) -> np.ndarray:
        """The dense D x D float64 matrix of an op (for tests and inspection)."""

    # -- shared machinery -----------------------------------------------------------
    def apply_plus(self, op: Any, rows: np.ndarray, alpha: np.float32) -> None:
        """Replace every row ``y`` of float32 ``rows`` (in place) by ``M y + alpha y``.

        The result equals ``apply(op, rows) + alpha * rows`` bit for bit.
        """
        moved = self.apply(op, rows)
        if alpha:
            rows *= alpha
            rows += moved
        else:
            rows[...] = moved

    def clear_cache(self) -> None:
        """Forget every cached role, power and chain."""
        self._cache.clear()

    def apply_each(self, ops: Sequence[Any], rows: np.ndarray) -> np.ndarray:
        """Bind row ``i`` of ``rows`` by ``ops[i]``; an array of the shape and type of ``rows``."""
        out = np.empty_like(rows)
        for i, op in enumerate(ops):
            out[i] = self.apply(op, rows[i : i + 1])[0]
        return out

    def positional_sum(self, rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """``sum_i R(pos)^offsets[i] @ rows[i]``, for distinct ascending ``offsets``.

        By halving: ``sum_j R^j y_j = sum_k (R^2)^k (y_2k + R y_2k+1)``, so each
        level binds half as many rows as the last by one power ``R^(2^level)``
        (cached), in bulk. The caller keeps the offsets small (a slice of an
        array's positions): the work and a temporary ``(offsets[-1] + 1) x D``
        matrix grow with the largest offset.
        """
        if int(offsets[-1]) == len(offsets) - 1:  # every position of the slice
            dense = rows
        else:
            dense = np.zeros((int(offsets[-1]) + 1, rows.shape[1]), dtype=rows.dtype)
            dense[offsets] = rows
        step = 1
        while len(dense) > 1:
            if len(dense) % 2:
                dense = np.concatenate([dense, np.zeros_like(dense[:1])])
            dense = dense[0::2] + self.apply(self.power(POSITION_ROLE, step), dense[1::2])
            step *= 2
        return dense[0]

    def role(self, role: str) -> Any:
        """The op of a named role, cached."""
        return self.roles([role])[0]

    def roles(self, names: Sequence[str]) -> list[Any]:
        """The ops of named roles, cached; those not cached are drawn together."""
        found = self._cache.get_many([("role", name) for name in names])
        missing = list(dict.fromkeys(n for n, op in zip(names, found) if op is None))
        if not missing:
            return found
        fresh = dict(zip(missing, self._generate(missing)))
        self._cache.put_many([(("role", name), op) for name, op in fresh.items()])
        return [op if op is not None else fresh[n] for n, op in zip(names, found)]

    def steps(self, steps: Sequence[str | int]) -> list[Any]:
        """The op of every path step (see :meth:`step`), key roles drawn together."""
        keys = [key_role(s) for s in steps if isinstance(s, str)]
        key_ops = iter(self.roles(keys))
        return [
            next(key_ops) if isinstance(s, str) else self.power(POSITION_ROLE, s) for s in steps
        ]

    def power(self, role: str, exponent: int) -> Any:
        """The op of ``R(role) ** exponent`` by binary powering, cached."""
        if exponent < 0:
            raise ValueError(f"A role power must be >= 0, got {exponent}.")
        if exponent == 0:
            return self.identity()
        if exponent == 1:
            return self.role(role)
        key = ("power", role, exponent)
        op = self._cache.get(key)
        if op is None:
            half = self.power(role, exponent // 2)
            op = self.compose(half, half)
            if exponent % 2:
                op = self.compose(op, self.role(role))
            self._cache.put(key, op)
        return op

    def step(self, step: str | int) -> Any:
        """The op of one path step: ``R(key:step)`` for a key, ``R(pos)^step`` for a position."""
        if isinstance(step, str):
            return self.role(key_role(step))
        return self.power(POSITION_ROLE, step)

    def chains(
        self, parent: Sequence[int], step: Sequence[str | int | None], wanted: Sequence[int]
    ) -> list[Any]:
        """The op of every chain in ``wanted``, for chains given as a tree.

        Chain ``c`` is ``chain(parent[c]) @ step_op(step[c])``; chain 0 is the
        identity and every parent is numbered below its children. Chains up to
        :data:`CACHED_CHAIN_DEPTH` steps are cached by their path, so documents
        of one schema compose each chain once.

        Parameters
        ----------
        parent, step : sequences indexed by chain number
            The tree of chains (as :class:`~duckdb_vsa.terms.Flattener` interns them).
        wanted : sequence of int
            Chains (non-zero) whose ops are returned.

        Returns
        -------
        list
            One op per chain of ``wanted``.
        """
        needed: set[int] = set()
        for c in wanted:
            while c > 0 and c not in needed:
                needed.add(c)
                c = parent[c]
        # Draw the key roles of every needed chain at once (cached ones are looked up),
        # and hold them here: composing many new chains may evict them from the cache.
        names = list(dict.fromkeys(step[c] for c in needed if isinstance(step[c], str)))
        key_ops = dict(zip(names, self.roles([key_role(name) for name in names])))
        ops: dict[int, Any] = {}
        paths: dict[int, tuple[Any, ...] | None] = {0: ()}
        for c in sorted(needed):
            p = parent[c]
            parent_path = paths[p]
            path = (*parent_path, step[c]) if parent_path is not None else None
            if path is not None and len(path) > CACHED_CHAIN_DEPTH:
                path = None
            paths[c] = path
            op = self._cache.get(("chain", path)) if path is not None else None
            if op is None:
                s = step[c]
                step_op = key_ops[s] if isinstance(s, str) else self.power(POSITION_ROLE, s)
                op = step_op if p == 0 else self.compose(ops[p], step_op)
                if path is not None and p != 0:
                    self._cache.put(("chain", path), op)
            ops[c] = op
        return [ops[c] for c in wanted]

    def chain(self, path: Sequence[str | int]) -> Any:
        """The op of the product of the step ops along ``path`` (the identity for ``()``)."""
        if not path:
            return self.identity()
        n = len(path)
        return self.chains(list(range(-1, n)), [None, *path], [n])[0]

    def bind(self, role: str, rows: np.ndarray) -> np.ndarray:
        """Bind a vector (or rows) by a named role: ``R(role) @ y`` for each row ``y``."""
        out = self.apply(self.role(role), _as_rows(rows, self.dim))
        return out[0] if np.ndim(rows) == 1 else out

    def unbind(self, role: str, rows: np.ndarray) -> np.ndarray:
        """Undo :meth:`bind`: exactly for ``perm``, to float32 rounding for ``haar``."""
        out = self.apply(self.transpose(self.role(role)), _as_rows(rows, self.dim))
        return out[0] if np.ndim(rows) == 1 else out


class SignedPermutationRoles(RoleFamily):
    """Random signed permutations: ``(R y)_i = s_i * y[p_i]``.

    An op is a pair ``(p, s)``: ``p`` an int32 permutation, ``s`` float32 signs.
    A role's signs are its own, drawn from its name; its permutation is one of
    :data:`BASE_PERMUTATIONS` random permutations of the seed, chosen by its
    name. Two roles with the same permutation still bind a vector to nearly
    orthogonal vectors (their signs differ at random), and a new role costs one
    row of random signs instead of a sort of D random keys, which matters when
    documents have many distinct keys (maps keyed by ids, dates or hashes).
    """

    name = "perm"
    #: Permutations the roles of one seed share (each role picks one by its name).
    BASE_PERMUTATIONS = 64

    def __init__(self, dim: int, seed: int, cache_bytes: int) -> None:
        super().__init__(dim, seed, cache_bytes)
        self._bases: np.ndarray | None = None

    def _base_permutations(self) -> np.ndarray:
        if self._bases is None:
            digests = [
                prng.digest(self.seed, "role-permutation", str(i))
                for i in range(self.BASE_PERMUTATIONS)
            ]
            self._bases = prng.permutation_rows(digests, self.dim).astype(np.int32)
        return self._bases

    def _generate(self, roles):
        bases = self._base_permutations()
        out = []
        for lo in range(0, len(roles), _DRAW_BLOCK):
            block = roles[lo : lo + _DRAW_BLOCK]
            digests = [prng.digest(self.seed, "role", r) for r in block]
            which = [
                int.from_bytes(prng.digest(self.seed, "role-choice", r)[:4], "little")
                % self.BASE_PERMUTATIONS
                for r in block
            ]
            signs = prng.sign_rows(digests, self.dim).astype(np.float32)
            out.extend((bases[w], s) for w, s in zip(which, signs))
        return out

    def identity(self) -> tuple[np.ndarray, np.ndarray]:
        return np.arange(self.dim, dtype=np.int32), np.ones(self.dim, dtype=np.float32)

    def compose(self, outer, inner):
        # (A B y)_j = sA_j (B y)[pA_j] = sA_j sB[pA_j] y[pB[pA_j]]
        p_outer, s_outer = outer
        p_inner, s_inner = inner
        return p_inner.take(p_outer, mode="wrap"), s_outer * s_inner.take(p_outer, mode="wrap")

    def transpose(self, op):
        perm, signs = op
        inverse = np.empty_like(perm)
        inverse[perm] = np.arange(self.dim, dtype=perm.dtype)
        return inverse, signs[inverse]

    def apply(self, op, rows):
        perm, signs = op
        # A permutation's indices are valid: "wrap" skips the bounds check per element.
        out = rows.take(perm, axis=1, mode="wrap")
        out *= signs
        return out

    def op_nbytes(self, op) -> int:
        return op[0].nbytes + op[1].nbytes

    def apply_each(self, ops, rows):
        out = np.empty_like(rows)
        for i, (perm, signs) in enumerate(ops):
            np.multiply(rows[i].take(perm, mode="wrap"), signs, out=out[i])
        return out

    def matrix(self, op) -> np.ndarray:
        perm, signs = op
        m = np.zeros((self.dim, self.dim))
        m[np.arange(self.dim), perm] = signs
        return m


class HaarRoles(RoleFamily):
    """Dense Haar-random orthogonal matrices (float32, applied in float64)."""

    name = "haar"
    # Every new chain or power costs a D x D x D product: deep documents and long
    # arrays go to the tree evaluator, which needs only D x D products.
    max_chain_depth = 32
    max_position = 16
    #: Work budget of one document, in multiply-adds: every leaf beyond the batch
    #: engine's limits costs a D x D product.
    WORK_BUDGET = 1 << 34

    @classmethod
    def leaf_limit(cls, dim: int) -> int:
        """Fewer leaves than :data:`~duckdb_vsa.limits.MAX_LEAVES` when D is large.

        ``min(MAX_LEAVES, 2**34 / D**2)``: 16,384 leaves at D = 1024.
        """
        return max(1, min(MAX_LEAVES, cls.WORK_BUDGET // (dim * dim)))

    def _generate(self, roles):
        out = []
        for role in roles:
            gauss = prng.gaussians([prng.digest(self.seed, "role", role)], self.dim * self.dim)
            q, r = np.linalg.qr(gauss.reshape(self.dim, self.dim))
            q *= np.sign(np.diag(r))[None, :]
            out.append(q.astype(np.float32))
        return out

    def identity(self) -> np.ndarray:
        return np.eye(self.dim, dtype=np.float32)

    def compose(self, outer, inner):
        return (outer.astype(np.float64) @ inner.astype(np.float64)).astype(np.float32)

    def transpose(self, op):
        return np.ascontiguousarray(op.T)

    def apply(self, op, rows):
        return (rows.astype(np.float64) @ op.T.astype(np.float64)).astype(rows.dtype)

    def op_nbytes(self, op) -> int:
        return op.nbytes

    def matrix(self, op) -> np.ndarray:
        return op.astype(np.float64)


FAMILIES: dict[str, type[RoleFamily]] = {
    SignedPermutationRoles.name: SignedPermutationRoles,
    HaarRoles.name: HaarRoles,
}


def make_roles(binding: str, dim: int, seed: int, cache_bytes: int) -> RoleFamily:
    """Return the role family named ``binding``."""
    try:
        family = FAMILIES[binding]
    except KeyError:
        raise ValueError(
            f"Unknown binding {binding!r}; use one of {', '.join(map(repr, FAMILIES))}."
        ) from None
    return family(dim, seed, cache_bytes)


def _as_rows(rows: np.ndarray, dim: int) -> np.ndarray:
    arr = np.asarray(rows, dtype=np.float32)
    two_d = arr.reshape(-1, dim) if arr.ndim == 1 else arr
    if two_d.shape[-1] != dim:
        raise ValueError(f"Expected vectors of length {dim}, got shape {arr.shape}.")
    return two_d
