"""Leaf vectors: numbers, strings and literals (docs/design.md, "Leaves").

Every leaf vector is a unit float32 row that depends only on the encoder
configuration and the leaf's value, never on what else is in the batch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from duckdb_vsa import prng
from duckdb_vsa.arrays import compact, expand_ranges
from duckdb_vsa.atoms import AtomSource
from duckdb_vsa.cache import ByteBoundedCache, RowTable
from duckdb_vsa.config import EncoderConfig

#: ``t = asinh(x / s)`` is clamped to this magnitude: beyond every finite float64.
T_LIMIT = 750.0

_WORD = re.compile(r"\w+")
_PAD_START = "\x02"
_PAD_END = "\x03"

# Longer strings are rarely repeated; caching them would only evict useful entries.
_MAX_CACHED_CHARS = 1024

_BLOCK_ROWS = 1024
#: Rows of float64 squares at a time when normalising strings (about 1 MiB at D = 1024).
_NORM_BLOCK_ROWS = 128

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


def string_weights(folded: Sequence[str], config: EncoderConfig) -> np.ndarray:
    """Weights of string leaves: ``clip((n / unit) ** p, 1, max)`` for ``n`` trigrams.

    ``folded`` are the casefolded strings as their trigram bags see them (the
    first ``max_text_chars`` characters); a string of ``n`` characters has
    ``n`` boundary-padded trigrams. A string of up to ``unit`` trigrams weighs 1
    (as much as a number or a literal, so a short label keeps its share of a
    document and can be probed); a longer one more, up to ``max``.
    """
    n = np.fromiter(map(len, folded), dtype=np.float64, count=len(folded))
    ratio = np.maximum(n, 1.0) / config.string_unit_trigrams
    return np.clip(ratio**config.string_weight_power, 1.0, config.string_weight_max)


class LeafEncoder:
    """Computes leaf vectors for one configuration, caching string leaves.

    Parameters
    ----------
    config : EncoderConfig
    atoms : AtomSource
    cache_bytes : int
        Budget of the leaf caches together: half for string leaves, a quarter
        each for token and trigram sign rows and for number levels.
    """

    def __init__(self, config: EncoderConfig, atoms: AtomSource, cache_bytes: int) -> None:
        self.config = config
        self.atoms = atoms
        self.dim = config.dim
        half, quarter = max(cache_bytes // 2, 0), max(cache_bytes // 4, 0)
        self._strings = RowTable(half, self.dim, np.float32)
        # Token and trigram atoms as float32 sign rows.
        self._token_signs = RowTable(quarter // 2, self.dim, np.float32)
        self._gram_signs = RowTable(quarter // 2, self.dim, np.float32)
        self._atoms: ByteBoundedCache[np.ndarray] = ByteBoundedCache(quarter, _nbytes)
        seed = config.seed
        # Random Fourier features of the Gaussian kernel exp(-dt^2 / 2h^2).
        omega = prng.gaussians([prng.digest(seed, "num", "omega")], self.dim)[0]
        self._omega = omega / config.number_bandwidth
        self._phase = 2.0 * np.pi * prng.uniforms([prng.digest(seed, "num", "phase")], self.dim)[0]
        self._level_step = config.number_bandwidth / LEVELS_PER_BANDWIDTH
        self._level_dot_cache: ByteBoundedCache[float] = ByteBoundedCache(2**24, lambda _: 64)
        self._literals = {name: atoms.atom("lit", name) for name in LITERALS}

    @property
    def cached_strings(self) -> int:
        """How many string vectors the string cache holds."""
        return len(self._strings)

    def clear_caches(self) -> None:
        """Forget every cached string, sign row and number level."""
        for cache in (
            self._strings,
            self._token_signs,
            self._gram_signs,
            self._atoms,
            self._level_dot_cache,
        ):
            cache.clear()

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
        cfg = self.config
        if cfg.w_num_exact > 0:
            exact = self.atoms.atoms("num", [repr(float(v)) for v in values])
            feats += cfg.w_num_exact * exact.astype(np.float64)
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
        """Vectors of strings under the ``text`` hint: tokens and trigrams only.

        Unit vectors, times :func:`string_weights` when ``string_weight_power > 0``.
        """
        return self._cached_strings([("text", t) for t in texts], list(texts), w_str=0.0)

    def strings(
        self, texts: Sequence[str], out: np.ndarray | None = None, at: np.ndarray | None = None
    ) -> np.ndarray:
        """Vectors of distinct strings: whole-string atom + token bag + trigram bag.

        ``weight * normalise(w_str atom(str, s) + w_tok/sqrt(n_t) sum atom(tok, t)
        + w_gram/sqrt(n_g) sum atom(gram, g))`` over the casefolded word tokens
        ``t`` and the boundary-padded character trigrams ``g`` of the first
        ``max_text_chars`` characters; ``weight`` is 1 unless
        ``string_weight_power > 0`` (see :func:`string_weights`).

        With ``out`` (and ``at``, the rows of ``out`` to fill, one per text),
        the vectors are written there and ``out`` is returned.
        """
        texts = list(texts)
        return self._cached_strings(texts, texts, out=out, at=at)

    def _cached_strings(
        self,
        keys: list[object],
        texts: list[str],
        w_str: float | None = None,
        out: np.ndarray | None = None,
        at: np.ndarray | None = None,
    ) -> np.ndarray:
        """String vectors through the string table: found rows gathered, the rest computed."""
        if not keys:
            return np.empty((0, self.dim), dtype=np.float32) if out is None else out
        matrix, rows = self._strings.lookup(keys)
        missing = np.flatnonzero(rows < 0)
        found = np.flatnonzero(rows >= 0)
        fresh = (
            self._compute_strings([texts[i] for i in missing.tolist()], w_str)
            if len(missing)
            else None
        )
        if out is None and not len(found):
            out = fresh
        else:
            if out is None:
                out, at = np.empty((len(rows), self.dim), dtype=np.float32), None
            if at is None:
                at = np.arange(len(rows))
            if len(found):
                out[at[found]] = matrix[rows[found]]
            if fresh is not None:
                out[at[missing]] = fresh
        del matrix  # so that the table may reuse it if it starts over
        if fresh is not None:
            keep = [j for j, i in enumerate(missing.tolist()) if len(texts[i]) <= _MAX_CACHED_CHARS]
            if len(keep) == len(missing):
                self._strings.insert([keys[i] for i in missing.tolist()], fresh)
            elif keep:
                self._strings.insert([keys[missing[j]] for j in keep], fresh[keep])
        return out

    def _compute_strings(self, texts: list[str], w_str: float | None = None) -> np.ndarray:
        cfg = self.config
        if w_str is None:
            w_str = cfg.w_str
        w_tok, w_gram = cfg.w_tok, cfg.w_gram
        n = len(texts)
        folded = [t[: cfg.max_text_chars].casefold() for t in texts]
        # Every component is an integer combination of sign rows (atoms times
        # sqrt(D)): its sum is exact in float32 in any order, so a string's vector
        # cannot depend on how the sum is computed (sparse, dense, or batched).
        out: np.ndarray | None = None

        n_grams = np.fromiter(map(len, folded), dtype=np.int64, count=n)
        if not w_gram:
            n_grams[:] = 0
        elif n_grams.any():
            gram_sum = self._gram_sums(folded, n_grams)
            gram_sum *= (w_gram / np.sqrt(np.maximum(n_grams, 1))).astype(np.float32)[:, None]
            out = gram_sum

        n_tokens = np.zeros(n, dtype=np.int64)
        if w_tok:
            tokens = [_WORD.findall(f) for f in folded]
            n_tokens = np.fromiter(map(len, tokens), dtype=np.int64, count=n)
            if n_tokens.any():
                names = list(dict.fromkeys(t for toks in tokens for t in toks))
                ids = {t: j for j, t in enumerate(names)}
                indices = np.fromiter(
                    (ids[t] for toks in tokens for t in toks),
                    dtype=np.int64,
                    count=int(n_tokens.sum()),
                )
                table, rows = self._cached_signs(names)
                token_sum = _sign_sum(rows[indices], n_tokens, table)
                token_sum *= (w_tok / np.sqrt(np.maximum(n_tokens, 1))).astype(np.float32)[:, None]
                if out is None:
                    out = token_sum
                else:
                    out += token_sum

        # A string with no feature of positive weight is its string atom alone.
        lonely = (n_tokens == 0) & (n_grams == 0)
        use_str = lonely | (w_str > 0)
        if out is None:
            out = np.zeros((n, self.dim), dtype=np.float32)
        if use_str.any():
            rows = np.flatnonzero(use_str)
            signs = self.atoms.signs("str", [texts[i] for i in rows]).astype(np.float32)
            signs *= np.where(lonely[rows], np.float32(1.0), np.float32(w_str))[:, None]
            out[rows] += signs
        # Row by row in float64, a block at a time so the squares stay in cache.
        squares = np.empty(n)
        for b in range(0, n, _NORM_BLOCK_ROWS):
            squares[b : b + _NORM_BLOCK_ROWS] = np.square(
                out[b : b + _NORM_BLOCK_ROWS], dtype=np.float64
            ).sum(axis=1)
        scale = 1.0 / np.sqrt(squares)
        if cfg.string_weight_power > 0:
            scale *= string_weights(folded, cfg)
        out *= scale.astype(np.float32)[:, None]
        return out

    def _gram_sums(self, folded: list[str], n_grams: np.ndarray) -> np.ndarray:
        """Sum of the trigram sign rows of every (casefolded) string, as float32."""
        # Trigrams of every padded string at once, as 63-bit codes of 3 code points.
        padded = "".join(_PAD_START + f + _PAD_END for f in folded)
        points = np.frombuffer(padded.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        lengths = n_grams + 2
        starts = np.cumsum(lengths) - lengths
        at = expand_ranges(starts, n_grams)
        gram_of, gram_codes = _distinct_trigrams(points, at)
        table, rows = self._gram_signs.rows_of(
            gram_codes.tolist(),
            lambda missing: self.atoms.signs("gram", _trigram_names(missing)),
        )
        return _sign_sum(rows[gram_of], n_grams, table)

    def _cached_signs(self, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Sign rows of distinct token ``names`` (which repeat): a table and rows."""
        return self._token_signs.rows_of(names, lambda missing: self.atoms.signs("tok", missing))


#: Rows with at least this many features are summed by a dense product when dense enough.
_DENSE_MIN_FEATURES = 32
#: A dense product wins when its matrix has at most this many cells per nonzero
#: (BLAS fills a dense cell much faster than the sparse product handles a nonzero).
_DENSE_CELLS_PER_NONZERO = 12


#: Cells of a dense count block (bounds its temporary arrays).
_DENSE_BLOCK_CELLS = 1 << 20
#: Alphabets up to this size index trigrams by a table instead of a sort.
_TABLE_ALPHABET = 160


def _distinct_trigrams(points: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trigrams of code points starting at ``at``: an id per trigram and the distinct ones.

    A trigram is named by its code: its three code points packed into 63 bits
    (see :func:`_trigram_names`). Ids number the distinct trigrams in code
    order. Small alphabets (the usual case) go through a lookup table; others
    through a sort.
    """
    if len(points):
        char_of, alphabet = compact(points, int(points.max()) + 1)
        a = len(alphabet)
        if a <= _TABLE_ALPHABET:
            codes = (char_of[at] * a + char_of[at + 1]) * a + char_of[at + 2]
            gram_of, distinct = compact(codes, a * a * a)
            wide = alphabet.astype(np.int64)
            first, rest = np.divmod(distinct, a * a)
            second, third = np.divmod(rest, a)
            packed = (wide[first] << 42) | (wide[second] << 21) | wide[third]
            return gram_of, packed
    wide = points.astype(np.int64)
    codes = (wide[at] << 42) | (wide[at + 1] << 21) | wide[at + 2]
    gram_codes, gram_of = np.unique(codes, return_inverse=True)
    return gram_of.reshape(-1), gram_codes


def _trigram_names(codes: list[int]) -> list[str]:
    """The trigrams of 63-bit codes (three 21-bit code points)."""
    mask = 0x1FFFFF
    return [chr(c >> 42) + chr((c >> 21) & mask) + chr(c & mask) for c in codes]


def _sign_sum(columns: np.ndarray, counts: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Per row, the sum of ``table[c]`` over its ``counts[row]`` consecutive ``columns``.

    Integer sums of +-1 rows (below 2**24) are exact in float32: the result does
    not depend on the method, so long rows go to BLAS (a dense count matrix
    times the signs) when that is dense enough and the others to a sparse product.
    """
    n = len(counts)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    out = np.empty((n, table.shape[1]), dtype=np.float32)
    long_rows = np.flatnonzero(counts >= _DENSE_MIN_FEATURES)
    dense = np.zeros(n, dtype=bool)
    if len(long_rows):
        at = expand_ranges(ptr[long_rows], counts[long_rows])
        local, used = compact(columns[at], len(table))
        m = len(used)
        if len(long_rows) * m <= _DENSE_CELLS_PER_NONZERO * len(at):
            used_table = table[used]
            long_ptr = np.zeros(len(long_rows) + 1, dtype=np.int64)
            np.cumsum(counts[long_rows], out=long_ptr[1:])
            block = max(1, _DENSE_BLOCK_CELLS // m)
            for b in range(0, len(long_rows), block):
                rows = long_rows[b : b + block]
                lo, hi = long_ptr[b], long_ptr[b + len(rows)]
                row_of = np.repeat(np.arange(len(rows)), counts[rows])
                cells = np.bincount(row_of * m + local[lo:hi], minlength=len(rows) * m)
                out[rows] = cells.reshape(len(rows), m).astype(np.float32) @ used_table
            dense[long_rows] = True
    if dense.all():
        return out
    if not dense.any():  # every row sparse: the product is the result, no copy
        return np.asarray(_count_matrix(columns, ptr, len(table)) @ table)
    sparse_rows = np.flatnonzero(~dense)
    at = expand_ranges(ptr[sparse_rows], counts[sparse_rows])
    sub_ptr = np.zeros(len(sparse_rows) + 1, dtype=np.int64)
    np.cumsum(counts[sparse_rows], out=sub_ptr[1:])
    out[sparse_rows] = _count_matrix(columns[at], sub_ptr, len(table)) @ table
    return out


def _count_matrix(columns: np.ndarray, ptr: np.ndarray, n_columns: int) -> sp.csr_matrix:
    """CSR rows of ones: row ``r`` holds ``columns[ptr[r]:ptr[r + 1]]``."""
    ones = np.ones(len(columns), dtype=np.float32)
    return sp.csr_matrix((ones, columns, ptr), shape=(len(ptr) - 1, n_columns))


def _nbytes(arr: np.ndarray) -> int:
    # Charge the array object's overhead too, so many small rows stay bounded.
    return arr.nbytes + 112
