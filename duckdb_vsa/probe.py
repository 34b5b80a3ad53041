"""Probing: unbinding a field's content from a document vector.

MBAT binds a field's content by orthogonal matrices, so the transpose of the
path's chain, ``R(chain)^T``, recovers the content exactly, plus the other
fields' terms as near-orthogonal noise. For ``$.a.b`` that is
``R(key:b)^T R(key:a)^T vec``; ``[i]`` unbinds ``R(pos)^i``; ``[*]`` unbinds
nothing, so it reads the bag part of an array (every element, unordered).

What a probe recovers is the field value's *structure* vector ``S`` (its
``alpha`` shadow and the key bag are noise to it), so a candidate value is
compared through the same encoder with ``alpha = beta = 0``, as if it sat at
that path (which matters only under field hints).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from duckdb_vsa.paths import ANY_INDEX, ANY_KEY, format_path, parse_path

if TYPE_CHECKING:
    from duckdb_vsa.encoder import Encoder

_MAX_CACHED_PATHS = 4096


def probe_steps(path: str) -> tuple[Any, ...]:
    """Parse a probe path: keys, positions and ``[*]`` (``.*`` names no single field).

    Raises
    ------
    ValueError
        If ``path`` is not a JSON path, or uses ``.*``.
    """
    steps = parse_path(path)
    if any(step is ANY_KEY for step in steps):
        raise ValueError(
            f"A probe path names one field; '.*' (any key) is for field hints only, got {path!r}. "
            "Name the key, such as '$.color'."
        )
    return steps


class Prober:
    """Unbinding and candidate vectors for one encoder.

    Parameters
    ----------
    encoder : Encoder
        The encoder whose vectors are probed.
    """

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self._ops: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    def unbind_op(self, steps: tuple[Any, ...]) -> Any:
        """The op of ``R(chain)^T`` for the path ``steps`` (``[*]`` steps bind nothing)."""
        with self._lock:
            op = self._ops.get(steps)
        if op is not None:
            return op
        roles = self.encoder.roles
        chain = None
        for step in steps:
            if step is ANY_INDEX:
                continue
            step_op = self.encoder._step_op(step)
            chain = step_op if chain is None else roles.compose(chain, step_op)
        op = roles.identity() if chain is None else roles.transpose(chain)
        with self._lock:
            if len(self._ops) >= _MAX_CACHED_PATHS:
                self._ops.clear()
            self._ops[steps] = op
        return op

    def probe(self, vectors: np.ndarray, paths: Sequence[str]) -> np.ndarray:
        """Unbind every row of ``vectors`` (n x D) along its path; float32 (n x D)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        out = np.empty_like(vectors)
        for path, rows in _group(paths).items():
            op = self.unbind_op(probe_steps(path))
            out[rows] = self.encoder.roles.apply(op, vectors[rows])
        return out

    def values(self, paths: Sequence[str], values: Sequence[Any]) -> np.ndarray:
        """Unit structure vectors of parsed ``values``, each as if at its path; float32."""
        structure = self.encoder._structure_encoder()
        out = np.empty((len(values), self.encoder.dim), dtype=np.float32)
        for path, rows in _group(paths).items():
            steps = probe_steps(path)
            out[rows] = structure._encode_values([values[i] for i in rows], steps)
        return out


def _group(paths: Sequence[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        groups.setdefault(path, []).append(i)
    return groups


def vectors_from_arrow(array: pa.Array | pa.ChunkedArray, dim: int) -> np.ndarray:
    """A ``FLOAT[dim]`` Arrow column (no nulls) as an (n, dim) float32 array.

    Raises
    ------
    ValueError
        If the vectors are not of length ``dim``.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    if pa.types.is_fixed_size_list(array.type):
        size = array.type.list_size
    else:
        lengths = np.asarray(array.value_lengths().to_numpy(zero_copy_only=False))
        bad = lengths[lengths != dim]
        size = int(bad[0]) if len(bad) else dim
    if size != dim:
        raise ValueError(
            f"Expected vectors of length {dim} (as this connection's encoder makes), got length "
            f"{size}. Probe vectors made by the same configuration."
        )
    flat = array.flatten().to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float32).reshape(-1, dim)


def vectors_to_arrow(rows: np.ndarray, dim: int) -> pa.FixedSizeListArray:
    """An (n, dim) array as a ``FLOAT[dim]`` Arrow column."""
    flat = np.ascontiguousarray(rows, dtype=np.float32).reshape(-1)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat), dim)


def canonical_path(path: str) -> str:
    """``path`` written canonically (``$["a"]`` reads ``$.a``)."""
    return format_path(parse_path(path))
