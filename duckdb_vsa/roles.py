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

POSITION_ROLE = "pos"

#: Chains up to this depth are cached by their path.
CACHED_CHAIN_DEPTH = 64


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
        self._cache: ByteBoundedCache[Any] = ByteBoundedCache(cache_bytes, self.op_nbytes)

    # -- family-specific primitives -------------------------------------------------
    @abstractmethod
    def _generate(self, role: str) -> Any:
        """Draw the op of a named role."""

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

    def role(self, role: str) -> Any:
        """The op of a named role, cached."""
        key = ("role", role)
        op = self._cache.get(key)
        if op is None:
            op = self._generate(role)
            self._cache.put(key, op)
        return op

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
                step_op = self.step(step[c])
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
    """

    name = "perm"

    def _generate(self, role: str) -> tuple[np.ndarray, np.ndarray]:
        d = prng.digest(self.seed, "role", role)
        perm = prng.permutation(d, self.dim).astype(np.int32)
        signs = prng.signs(prng.digest(self.seed, "role-sign", role), self.dim)
        return perm, signs

    def identity(self) -> tuple[np.ndarray, np.ndarray]:
        return np.arange(self.dim, dtype=np.int32), np.ones(self.dim, dtype=np.float32)

    def compose(self, outer, inner):
        # (A B y)_j = sA_j (B y)[pA_j] = sA_j sB[pA_j] y[pB[pA_j]]
        p_outer, s_outer = outer
        p_inner, s_inner = inner
        return p_inner[p_outer], s_outer * s_inner[p_outer]

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

    def _generate(self, role: str) -> np.ndarray:
        gauss = prng.gaussians([prng.digest(self.seed, "role", role)], self.dim * self.dim)
        q, r = np.linalg.qr(gauss.reshape(self.dim, self.dim))
        q *= np.sign(np.diag(r))[None, :]
        return q.astype(np.float32)

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
