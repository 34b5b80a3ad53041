"""Plain numpy vector operations of the MBAT algebra.

The encoder is built from these ideas; they are exposed for users who want to
compose vectors themselves (for example to probe a field of an encoded record).
Roles come from an encoder, so that they match its configuration.
"""

from __future__ import annotations

import numpy as np

from duckdb_vsa.encoder import Encoder
from duckdb_vsa.errors import InvalidArgumentError
from duckdb_vsa.roles import key_role


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Scale vectors (the last axis) to unit length; zero vectors raise.

    Raises
    ------
    ValueError
        If any vector has zero length.
    """
    arr = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    if np.any(norms == 0):
        raise InvalidArgumentError("Cannot normalise a zero vector.")
    return (arr / norms).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Cosine similarity along the last axis (broadcasting).

    Examples
    --------
    >>> float(cosine(np.array([1.0, 0.0]), np.array([1.0, 1.0])))  # doctest: +ELLIPSIS
    0.7071...
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    num = (a * b).sum(axis=-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return num / den


def bundle(vectors: np.ndarray) -> np.ndarray:
    """Superpose vectors (rows) into one, scaled by ``1/sqrt(n)``."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2 or len(arr) == 0:
        raise InvalidArgumentError("bundle expects a non-empty 2-D array of vectors (one per row).")
    return (arr.sum(axis=0) / np.sqrt(len(arr))).astype(np.float32)


def bind(encoder: Encoder, key: str, vectors: np.ndarray) -> np.ndarray:
    """Bind vectors to object key ``key``: ``R(key:<key>) @ v``.

    Examples
    --------
    >>> enc = Encoder(dim=64)
    >>> v = enc.encode('"red"')
    >>> bool(np.allclose(unbind(enc, "color", bind(enc, "color", v)), v))
    True
    """
    return encoder.roles.bind(key_role(key), vectors)


def unbind(encoder: Encoder, key: str, vectors: np.ndarray) -> np.ndarray:
    """Undo :func:`bind` with the transpose: ``R(key:<key>).T @ v``."""
    return encoder.roles.unbind(key_role(key), vectors)
