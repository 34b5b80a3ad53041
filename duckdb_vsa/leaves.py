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

#: A linear number axis (the ``number`` field hint) is clamped to this magnitude.
LINEAR_T_LIMIT = 1e6

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


def linear_t(values: np.ndarray, scale: float, bandwidth: float) -> np.ndarray:
    """The axis of a ``number`` field hint: ``t = h x / scale``, clamped.

    Values ``scale`` apart are then ``h`` apart on the axis, so their similarity
    is about ``exp(-1/2)`` whatever their magnitude.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        t = np.asarray(values, dtype=np.float64) * (bandwidth / scale)
    return np.clip(t, -LINEAR_T_LIMIT, LINEAR_T_LIMIT)


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

    def number_levels(
        self, values: Sequence[float] | np.ndarray, t: np.ndarray | None = None
    ) -> tuple[np.ndarray, ...]:
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
        t : ndarray of float64, optional
            Their positions on the axis, if not ``asinh(x / s)`` (field hints).

        Returns
        -------
        lower : ndarray of int64
            ``j`` for every number.
        coef_lower, coef_upper : ndarray of float64
            ``a`` and ``b``, with ``||a V_j + b V_{j+1}|| = 1``.
        """
        if t is None:
            t = number_to_t(values, self.config.number_scale)
        position = t / self._level_step
        lower = np.floor(position)
        frac = position - lower
        lower = lower.astype(np.int64)
        dots = self._level_dots(lower)
        norm = np.sqrt((1.0 - frac) ** 2 + frac**2 + 2.0 * frac * (1.0 - frac) * dots)
        return lower, (1.0 - frac) / norm, frac / norm

    def numbers(
        self, values: Sequence[float] | np.ndarray, t: np.ndarray | None = None
    ) -> np.ndarray:
        """Unit vectors of finite or infinite numbers (not NaN); see :meth:`number_levels`."""
        values = np.asarray(values, dtype=np.float64)
        if len(values) > _BLOCK_ROWS:
            # Blocks keep the float64 temporaries small.
            blocks = range(0, len(values), _BLOCK_ROWS)
            return np.concatenate(
                [
                    self.numbers(
                        values[i : i + _BLOCK_ROWS], None if t is None else t[i : i + _BLOCK_ROWS]
                    )
                    for i in blocks
                ]
            )
        if len(values) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        lower, coef_lower, coef_upper = self.number_levels(values, t)
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

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of strings under the ``text`` hint: tokens and trigrams only."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        keys = [("text", t) for t in texts]
        cached = self._strings.get_many(keys)
        missing = [i for i, row in enumerate(cached) if row is None]
        for i, row in enumerate(cached):
            if row is not None:
                out[i] = row
        if missing:
            fresh = self._compute_strings([texts[i] for i in missing], w_str=0.0)
            out[missing] = fresh
            self._strings.put_many(
                [
                    (keys[i], row.copy())
                    for i, row in zip(missing, fresh)
                    if len(texts[i]) <= _MAX_CACHED_CHARS
                ]
            )
        return out

    def strings(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of strings: whole-string atom + token bag + trigram bag.

        ``normalise(w_str atom(str, s) + w_tok/sqrt(n_t) sum atom(tok, t)
        + w_gram/sqrt(n_g) sum atom(gram, g))`` over the casefolded word tokens
        ``t`` and the boundary-padded character trigrams ``g`` of the first
        ``max_text_chars`` characters.
        """
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        cached = self._strings.get_many(list(texts))
        missing = [i for i, row in enumerate(cached) if row is None]
        for i, row in enumerate(cached):
            if row is not None:
                out[i] = row
        if missing:
            fresh = self._compute_strings([texts[i] for i in missing])
            out[missing] = fresh
            self._strings.put_many(
                [
                    (texts[i], row.copy())
                    for i, row in zip(missing, fresh)
                    if len(texts[i]) <= _MAX_CACHED_CHARS
                ]
            )
        return out

    def _compute_strings(self, texts: list[str], w_str: float | None = None) -> np.ndarray:
        cfg = self.config
        if w_str is None:
            w_str = cfg.w_str
        n = len(texts)
        folded = [t[: cfg.max_text_chars].casefold() for t in texts]

        # Trigrams of every padded string at once, as 63-bit codes of 3 code points.
        padded = "".join(_PAD_START + f + _PAD_END for f in folded)
        points = np.frombuffer(padded.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        lengths = np.fromiter((len(f) + 2 for f in folded), dtype=np.int64, count=n)
        n_grams = lengths - 2
        starts = np.cumsum(lengths) - lengths
        at = expand_ranges(starts, n_grams)
        wide = points.astype(np.uint64)
        codes = (wide[at] << np.uint64(42)) | (wide[at + 1] << np.uint64(21)) | wide[at + 2]
        gram_codes, gram_of = np.unique(codes, return_inverse=True)
        gram_of = gram_of.reshape(-1)

        tokens = [_WORD.findall(f) for f in folded] if cfg.w_tok else [[] for _ in folded]
        token_names = list(dict.fromkeys(t for toks in tokens for t in toks))
        token_ids = {t: j for j, t in enumerate(token_names)}
        n_tokens = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=n)

        # Columns: [string atoms (n) | token atoms | gram atoms]; each row lists its
        # string atom, its tokens in order, then its trigrams in order.
        use_str = np.full(n, w_str > 0)
        use_gram = n_grams if cfg.w_gram else np.zeros(n, dtype=np.int64)
        # A string with no feature of positive weight is its string atom alone.
        lonely = ~use_str & (n_tokens == 0) & (use_gram == 0)
        use_str |= lonely
        counts = use_str + n_tokens + use_gram
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        indices = np.empty(int(indptr[-1]), dtype=np.int64)
        weights = np.empty(int(indptr[-1]), dtype=np.float64)
        str_slots = indptr[:-1][use_str]
        indices[str_slots] = np.flatnonzero(use_str)
        weights[str_slots] = np.where(lonely[use_str], 1.0, w_str)
        tok_slots = expand_ranges(indptr[:-1] + use_str, n_tokens)
        indices[tok_slots] = n + np.fromiter(
            (token_ids[t] for toks in tokens for t in toks), dtype=np.int64, count=len(tok_slots)
        )
        weights[tok_slots] = np.repeat(cfg.w_tok / np.sqrt(np.maximum(n_tokens, 1)), n_tokens)
        if cfg.w_gram:
            gram_slots = expand_ranges(indptr[:-1] + use_str + n_tokens, n_grams)
            indices[gram_slots] = n + len(token_names) + gram_of
            weights[gram_slots] = np.repeat(cfg.w_gram / np.sqrt(np.maximum(n_grams, 1)), n_grams)
        gram_names = [
            chr(c >> 42) + chr((c >> 21) & 0x1FFFFF) + chr(c & 0x1FFFFF)
            for c in gram_codes.tolist()
        ]
        basis = np.concatenate(
            [
                self.atoms.atoms("str", texts)
                if use_str.any()
                else np.zeros((n, self.dim), np.float32),
                self._cached_atoms("tok", token_names),
                self._cached_atoms("gram", gram_names)
                if cfg.w_gram
                else np.zeros((0, self.dim), np.float32),
            ]
        )
        matrix = sp.csr_matrix((weights.astype(np.float32), indices, indptr), shape=(n, len(basis)))
        vectors = np.asarray(matrix @ basis).astype(np.float64)
        vectors /= np.sqrt(np.square(vectors).sum(axis=1))[:, None]
        return vectors.astype(np.float32)

    def _cached_atoms(self, namespace: str, names: list[str]) -> np.ndarray:
        """Atoms of ``names``, through the atom cache (tokens and trigrams repeat)."""
        out = np.empty((len(names), self.dim), dtype=np.float32)
        keys = [(namespace, name) for name in names]
        found = self._atoms.get_many(keys)
        missing = [i for i, row in enumerate(found) if row is None]
        for i, row in enumerate(found):
            if row is not None:
                out[i] = row
        if missing:
            fresh = self.atoms.atoms(namespace, [names[i] for i in missing])
            out[missing] = fresh
            self._atoms.put_many([(keys[i], row.copy()) for i, row in zip(missing, fresh)])
        return out


def expand_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + c)`` for every start ``s`` and count ``c``."""
    counts = np.maximum(counts, 0)
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return offsets + np.arange(int(counts.sum()), dtype=np.int64)


def _nbytes(arr: np.ndarray) -> int:
    # Charge the array object's overhead too, so many small rows stay bounded.
    return arr.nbytes + 112
