"""Atoms: the random unit vectors that every leaf is built from.

``atom(ns, text)`` depends only on ``(seed, ns, text)``. It is a Rademacher
vector, ``±1/sqrt(D)`` in every coordinate, with signs from the Philox stream
keyed by ``blake2b(seed, ns, text)`` (:mod:`duckdb_vsa.prng`). Like Gaussian
atoms, two of them have inner product of mean 0 and variance ``1/D``; unlike
Gaussian atoms they cost ``D/128`` Philox blocks and no transcendental function,
so they are cheap to regenerate and exactly the same on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from duckdb_vsa import prng

NAMESPACES = ("str", "tok", "gram", "key", "lit", "num")


class AtomSource:
    """Generates atoms for one ``(dim, seed)``.

    Parameters
    ----------
    dim : int
        Vector dimension D.
    seed : int
        Encoder seed.
    """

    def __init__(self, dim: int, seed: int) -> None:
        self.dim = dim
        self.seed = seed
        self._scale = np.float32(1.0 / np.sqrt(dim))

    def atoms(self, namespace: str, texts: Sequence[str]) -> np.ndarray:
        """Return the atoms of ``texts`` in ``namespace``.

        Parameters
        ----------
        namespace : str
            One of ``str``, ``tok``, ``gram``, ``key``, ``lit``, ``num``.
        texts : sequence of str
            Names of the atoms.

        Returns
        -------
        ndarray of float32, shape (len(texts), dim)
            Unit rows, ``±1/sqrt(dim)`` in every coordinate.

        Examples
        --------
        >>> a = AtomSource(64, 0).atoms("tok", ["red", "red", "blue"])
        >>> bool((a[0] == a[1]).all()), round(float(a[0] @ a[0]), 5)
        (True, 1.0)
        """
        return self.signs(namespace, texts).astype(np.float32) * self._scale

    def signs(self, namespace: str, texts: Sequence[str]) -> np.ndarray:
        """The signs of the atoms of ``texts``: int8 rows of ``+1`` and ``-1``.

        ``atoms(namespace, texts) == signs(namespace, texts) / sqrt(dim)``; sums of
        sign rows with integer weights are exact in float32, whatever their order.
        """
        if namespace not in NAMESPACES:
            raise ValueError(f"Unknown atom namespace {namespace!r}; use one of {NAMESPACES}.")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.int8)
        seed = self.seed
        digests = [prng.digest(seed, namespace, t) for t in texts]
        return prng.sign_rows(digests, self.dim)

    def atom(self, namespace: str, text: str) -> np.ndarray:
        """Return one atom (see :meth:`atoms`)."""
        return self.atoms(namespace, [text])[0]
