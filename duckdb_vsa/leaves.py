"""Leaf vectors: numbers, strings and literals (DESIGN §2, "Leaves").

Every leaf vector is a unit float32 row that depends only on the encoder
configuration and the leaf's value, never on what else is in the batch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from duckdb_vsa import prng
from duckdb_vsa.atoms import AtomSource
from duckdb_vsa.cache import ByteBoundedCache
from duckdb_vsa.config import EncoderConfig

#: ``t = asinh(x / s)`` is clamped to this magnitude: beyond every finite float64.
T_LIMIT = 750.0

_WORD = re.compile(r"\w+")
_PAD_START = "\x02"
_PAD_END = "\x03"

# Longer strings are rarely repeated; caching them would only evict useful entries.
_MAX_CACHED_CHARS = 1024

_BLOCK_ROWS = 1024

#: Grid points of number level vectors per bandwidth h.
LEVELS_PER_BANDWIDTH = 4

LITERALS = ("true", "false", "null", "{}", "[]", "NaN")


def number_to_t(values: np.ndarray, scale: float) -> np.ndarray:
    """Map numbers to the log-like axis ``t = asinh(x / s)``, clamped to ±T_LIMIT.

    ``±inf`` maps to ``±T_LIMIT``; NaN must be handled by the caller.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        t = np.arcsinh(np.asarray(values, dtype=np.float64) / scale)
    return np.clip(t, -T_LIMIT, T_LIMIT)


def to_float(x: int | float) -> float:
    """Convert a JSON number to float64, mapping integers beyond its range to ±inf."""
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def text_features(text: str, max_chars: int) -> tuple[list[str], list[str]]:
    """Return the casefolded word tokens and boundary-padded character trigrams.

    Only the first ``max_chars`` characters are read.

    Examples
    --------
    >>> text_features("Red shoe", 100)[0]
    ['red', 'shoe']
    >>> len(text_features("ab", 100)[1])
    2
    """
    folded = text[:max_chars].casefold()
    tokens = _WORD.findall(folded)
    padded = _PAD_START + folded + _PAD_END
    grams = [padded[i : i + 3] for i in range(len(padded) - 2)]
    return tokens, grams


class LeafEncoder:
    """Computes leaf vectors for one configuration, caching string leaves.

    Parameters
    ----------
    config : EncoderConfig
    atoms : AtomSource
    cache_bytes : int
        Budget of the string-leaf and atom caches.
    """

    def __init__(self, config: EncoderConfig, atoms: AtomSource, cache_bytes: int) -> None:
        self.config = config
        self.atoms = atoms
        self.dim = config.dim
        half = max(cache_bytes // 2, 0)
        self._strings: ByteBoundedCache[np.ndarray] = ByteBoundedCache(half, _nbytes)
        self._atoms: ByteBoundedCache[np.ndarray] = ByteBoundedCache(half, _nbytes)
        seed = config.seed
        # Random Fourier features of the Gaussian kernel exp(-dt^2 / 2h^2).
        omega = prng.gaussians([prng.digest(seed, "num", "omega")], self.dim)[0]
        self._omega = omega / config.number_bandwidth
        self._phase = 2.0 * np.pi * prng.uniforms([prng.digest(seed, "num", "phase")], self.dim)[0]
        self._level_step = config.number_bandwidth / LEVELS_PER_BANDWIDTH
        self._level_dot_cache: ByteBoundedCache[float] = ByteBoundedCache(2**24, lambda _: 64)
        self._literals = {name: atoms.atom("lit", name) for name in LITERALS}

    def literal(self, name: str) -> np.ndarray:
        """The atom of a literal: ``true``, ``false``, ``null``, ``{}``, ``[]`` or ``NaN``."""
        return self._literals[name]

    def number_levels(self, values: Sequence[float] | np.ndarray) -> tuple[np.ndarray, ...]:
        """Express numbers as weighted pairs of level vectors.

        On the axis ``t = asinh(x / s)``, *level vectors* ``V_j`` are random
        Fourier features ``cos(omega * t_j + b)`` of the Gaussian kernel
        ``exp(-dt^2 / 2 h^2)`` at grid points ``t_j = j * h / 4``. A number is the
        normalised linear interpolation ``a V_j + b V_{j+1}`` of the two levels
        around its ``t``. Two numbers so have similarity close to
        ``exp(-(t1 - t2)^2 / 2 h^2)`` and equal numbers equal vectors; and the
        batch engine can sum two cached levels instead of computing D cosines.

        Parameters
        ----------
        values : array-like of float
            Finite or infinite numbers (not NaN).

        Returns
        -------
        lower : ndarray of int64
            ``j`` for every number.
        coef_lower, coef_upper : ndarray of float64
            ``a`` and ``b``, with ``||a V_j + b V_{j+1}|| = 1``.
        """
        position = number_to_t(values, self.config.number_scale) / self._level_step
        lower = np.floor(position)
        frac = position - lower
        lower = lower.astype(np.int64)
        dots = self._level_dots(lower)
        norm = np.sqrt((1.0 - frac) ** 2 + frac**2 + 2.0 * frac * (1.0 - frac) * dots)
        return lower, (1.0 - frac) / norm, frac / norm

    def numbers(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        """Unit vectors of finite or infinite numbers (not NaN); see :meth:`number_levels`."""
        values = np.asarray(values, dtype=np.float64)
        if len(values) > _BLOCK_ROWS:
            # Blocks keep the float64 temporaries small.
            blocks = range(0, len(values), _BLOCK_ROWS)
            return np.concatenate([self.numbers(values[i : i + _BLOCK_ROWS]) for i in blocks])
        if len(values) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        lower, coef_lower, coef_upper = self.number_levels(values)
        needed = np.unique(np.concatenate([lower, lower + 1]))
        levels = self.levels(needed)
        feats = levels[np.searchsorted(needed, lower)] * coef_lower[:, None]
        feats += levels[np.searchsorted(needed, lower + 1)] * coef_upper[:, None]
        if self.config.w_num_exact > 0:
            exact = self.atoms.atoms("num", [repr(float(v)) for v in values])
            feats += self.config.w_num_exact * exact.astype(np.float64)
            feats /= np.sqrt(np.square(feats).sum(axis=1))[:, None]
        return feats.astype(np.float32)

    def levels(self, indices: np.ndarray) -> np.ndarray:
        """Level vectors ``V_j`` (unit float32 rows) for grid indices ``j``."""
        out = np.empty((len(indices), self.dim), dtype=np.float32)
        missing = []
        for i, j in enumerate(indices.tolist()):
            cached = self._atoms.get(("level", j))
            if cached is None:
                missing.append(i)
            else:
                out[i] = cached
        if missing:
            t = indices[missing].astype(np.float64) * self._level_step
            feats = np.cos(np.multiply.outer(t, self._omega) + self._phase)
            feats /= np.sqrt(np.square(feats).sum(axis=1))[:, None]
            fresh = feats.astype(np.float32)
            out[missing] = fresh
            for i, row in zip(missing, fresh):
                self._atoms.put(("level", int(indices[i])), row.copy())
        return out

    def _level_dots(self, lower: np.ndarray) -> np.ndarray:
        """``<V_j, V_{j+1}>`` in float64 for every ``j`` in ``lower``."""
        distinct, inverse = np.unique(lower, return_inverse=True)
        dots = np.empty(len(distinct))
        missing = []
        for i, j in enumerate(distinct.tolist()):
            cached = self._level_dot_cache.get(j)
            if cached is None:
                missing.append(i)
            else:
                dots[i] = cached
        if missing:
            js = distinct[missing]
            pair = self.levels(np.concatenate([js, js + 1])).astype(np.float64)
            fresh = (pair[: len(js)] * pair[len(js) :]).sum(axis=1)
            dots[missing] = fresh
            for j, dot in zip(js.tolist(), fresh.tolist()):
                self._level_dot_cache.put(j, dot)
        return dots[inverse.reshape(-1)]

    def strings(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of strings: whole-string atom + token bag + trigram bag."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: list[int] = []
        for i, text in enumerate(texts):
            cached = self._strings.get(text)
            if cached is None:
                missing.append(i)
            else:
                out[i] = cached
        if missing:
            fresh = self._compute_strings([texts[i] for i in missing])
            out[missing] = fresh
            for i, row in zip(missing, fresh):
                if len(texts[i]) <= _MAX_CACHED_CHARS:
                    self._strings.put(texts[i], row.copy())
        return out

    def _compute_strings(self, texts: list[str]) -> np.ndarray:
        cfg = self.config
        atom_ids: dict[tuple[str, str], int] = {}
        indptr = [0]
        indices: list[int] = []
        weights: list[float] = []

        def add(namespace: str, name: str, weight: float) -> None:
            key = (namespace, name)
            idx = atom_ids.get(key)
            if idx is None:
                idx = atom_ids[key] = len(atom_ids)
            indices.append(idx)
            weights.append(weight)

        for text in texts:
            tokens, grams = text_features(text, cfg.max_text_chars)
            if cfg.w_str:
                add("str", text, cfg.w_str)
            if tokens and cfg.w_tok:
                w = cfg.w_tok / math.sqrt(len(tokens))
                for tok in tokens:
                    add("tok", tok, w)
            if grams and cfg.w_gram:
                w = cfg.w_gram / math.sqrt(len(grams))
                for gram in grams:
                    add("gram", gram, w)
            if len(indices) == indptr[-1]:
                # Only w_str could describe it and it is 0: the string is its atom.
                add("str", text, 1.0)
            indptr.append(len(indices))

        basis = self._atom_matrix(list(atom_ids))
        weights_matrix = sp.csr_matrix(
            (np.asarray(weights, dtype=np.float32), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(texts), len(atom_ids)),
        )
        vectors = (weights_matrix @ basis).astype(np.float64)
        vectors /= np.sqrt(np.square(vectors).sum(axis=1))[:, None]
        return vectors.astype(np.float32)

    def _atom_matrix(self, keys: list[tuple[str, str]]) -> np.ndarray:
        """Atoms for ``(namespace, name)`` keys; tokens and trigrams are cached."""
        out = np.empty((len(keys), self.dim), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            cached = self._atoms.get(key) if key[0] != "str" else None
            if cached is None:
                todo.setdefault(key[0], []).append(i)
            else:
                out[i] = cached
        for namespace, rows in todo.items():
            fresh = self.atoms.atoms(namespace, [keys[i][1] for i in rows])
            out[rows] = fresh
            if namespace != "str":
                for i, row in zip(rows, fresh):
                    self._atoms.put(keys[i], row.copy())
        return out


def _nbytes(arr: np.ndarray) -> int:
    # Charge the array object's overhead too, so many small rows stay bounded.
    return arr.nbytes + 112
