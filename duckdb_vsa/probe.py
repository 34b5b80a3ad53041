"""Probing: unbinding a field's content from a document vector.

MBAT binds a field's content by orthogonal matrices, so the transpose of the
path's chain, ``R(chain)^T``, recovers the content exactly, plus the other
fields' terms as near-orthogonal noise. For ``$.a.b`` that is
``R(key:b)^T R(key:a)^T vec``; ``[i]`` unbinds ``R(pos)^i``; ``[*]`` unbinds
nothing, so it reads the bag part of an array (every element, unordered).

What a probe recovers is the field value's *structure* vector ``S`` (its
``alpha`` shadow and the key bag are noise to it), so a candidate value is
encoded by the same engine in strict mode (``alpha = beta = 0``), as if it sat
at that path (which matters only under field hints).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from duckdb_vsa.engine import Engine
from duckdb_vsa.errors import InvalidArgumentError
from duckdb_vsa.paths import ANY_INDEX, ANY_KEY, format_path, parse_path


def probe_steps(path: str) -> tuple[Any, ...]:
    """Parse a probe path: keys, positions and ``[*]`` (``.*`` names no single field).

    Raises
    ------
    ValueError
        If ``path`` is not a JSON path, or uses ``.*``.

    Examples
    --------
    >>> probe_steps("$.items[2].sku")
    ('items', 2, 'sku')
    """
    steps = parse_path(path)
    if any(step is ANY_KEY for step in steps):
        raise InvalidArgumentError(
            f"A probe path names one field; '.*' (any key) is for field hints only, got {path!r}. "
            "Name the key, such as '$.color'."
        )
    return steps


def canonical_path(path: str) -> str:
    """``path`` written canonically (``$["a"]`` reads ``$.a``)."""
    return format_path(parse_path(path))


class Prober:
    """Unbinding and candidate vectors for one engine.

    Parameters
    ----------
    engine : Engine
        The engine whose vectors are probed.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def unbind_op(self, steps: tuple[Any, ...]) -> Any:
        """The op of ``R(chain)^T`` for the path ``steps`` (``[*]`` steps bind nothing)."""
        roles = self.engine.basis.roles
        return roles.transpose(roles.chain([s for s in steps if s is not ANY_INDEX]))

    def probe(self, vectors: np.ndarray, paths: Sequence[str]) -> np.ndarray:
        """Unbind every row of ``vectors`` (n x D) along its path; float32 (n x D)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        roles = self.engine.basis.roles
        out = np.empty_like(vectors)
        for path, rows in _group(paths).items():
            out[rows] = roles.apply(self.unbind_op(probe_steps(path)), vectors[rows])
        return out

    def values(self, paths: Sequence[str], values: Sequence[Any]) -> np.ndarray:
        """Unit structure vectors of parsed ``values``, each as if at its path; float32."""
        out = np.empty((len(values), self.engine.dim), dtype=np.float32)
        for path, rows in _group(paths).items():
            out[rows] = self.engine.encode_values(
                [values[i] for i in rows], probe_steps(path), strict=True
            )
        return out


def _group(paths: Sequence[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        groups.setdefault(path, []).append(i)
    return groups
