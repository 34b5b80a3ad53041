"""The configuration marker every document vector carries, and the rule that checks it.

The last ``m = marker_size(D)`` coordinates of every document vector are
``±MARKER_VALUE`` with signs drawn from the configuration's fingerprint
(:func:`marker_pattern`), so vectors tell which configuration made them
wherever they travel (docs/design.md, "Document vector"). The rule, here and
in its SQL twin :func:`foreign_sql`:

- a vector *carries a marker* when its last ``m`` coordinates all have
  magnitude exactly ``MARKER_VALUE``;
- it carries *this* configuration's marker when their signs are the pattern's;
- a vector that carries another configuration's marker is refused
  (:func:`check_vectors`, :func:`foreign_message`); one without any marker
  (an older encoder version, a vector built by hand) is accepted.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import numpy as np

from duckdb_vsa import prng
from duckdb_vsa.config import EncoderConfig
from duckdb_vsa.errors import ConfigMismatchError, mismatch_message

__all__ = [
    "CONNECTION",
    "FOREIGN",
    "MARKER_COORDINATES",
    "MARKER_VALUE",
    "REMEDY",
    "check_vectors",
    "foreign_keys",
    "foreign_message",
    "foreign_rows",
    "foreign_sql",
    "marker_key",
    "marker_keys",
    "marker_pattern",
    "marker_signs",
    "marker_size",
]

#: The magnitude of every marker coordinate (a power of two: exact in any float format).
MARKER_VALUE = 2.0**-8
#: Most coordinates a marker takes (fewer at small D: see :func:`marker_size`).
MARKER_COORDINATES = 16

#: Whose configuration the vectors are checked against, in the SQL macros.
CONNECTION = "this connection's"
#: What a mismatch message says the vectors were encoded with, in place of a recorded
#: configuration: the marker tells that it is another one, not which.
FOREIGN = f"another configuration than {CONNECTION} (its marker is another configuration's)"
#: What to do about vectors of another configuration.
REMEDY = (
    "re-encode them with this configuration, or register the connection with the configuration "
    "they were encoded with (vsa_info() shows a connection's configuration and fingerprint)."
)


def marker_size(dim: int) -> int:
    """How many coordinates of a D-dimensional vector hold the marker: ``min(16, D // 16)``.

    Examples
    --------
    >>> marker_size(1024), marker_size(64), marker_size(8)
    (16, 4, 1)
    """
    return max(1, min(MARKER_COORDINATES, dim // 16))


def marker_signs(fingerprint: str, dim: int) -> np.ndarray:
    """The marker of the configuration with ``fingerprint`` and dimension ``dim``, float32.

    ``±MARKER_VALUE`` with signs drawn from the fingerprint; two configurations
    share a marker with probability ``2**-marker_size(dim)``.
    """
    signs = prng.sign_rows([prng.digest(0, "marker", fingerprint)], marker_size(dim))[0]
    return signs.astype(np.float32) * np.float32(MARKER_VALUE)


def marker_pattern(config: EncoderConfig) -> np.ndarray:
    """The marker of a configuration (see :func:`marker_signs`)."""
    return marker_signs(config.fingerprint, config.dim)


def marker_key(pattern: np.ndarray) -> bytes:
    """A marker's signs as bytes: what :func:`marker_keys` returns for vectors carrying it."""
    return np.packbits(np.asarray(pattern) > 0).tobytes()


def _tails(rows: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The last ``size`` coordinates of each row, and which rows carry a marker there."""
    rows = np.asarray(rows, dtype=np.float32)
    tail = rows[:, rows.shape[1] - size :]
    marked = (np.abs(tail) == np.float32(MARKER_VALUE)).all(axis=1)
    return tail, marked


def marker_keys(rows: np.ndarray) -> frozenset[bytes]:
    """The distinct markers (as :func:`marker_key`) carried by rows of a (n, D) matrix.

    Rows that carry no marker add nothing.
    """
    rows = np.asarray(rows)
    if rows.ndim != 2 or not len(rows) or not rows.shape[1]:
        return frozenset()
    tail, marked = _tails(rows, marker_size(rows.shape[1]))
    if not marked.any():
        return frozenset()
    packed = np.packbits(tail[marked] > 0, axis=1)
    if (packed == packed[0]).all():
        return frozenset([packed[0].tobytes()])  # a column of one configuration
    rows_as_bytes = np.ascontiguousarray(packed).view(f"V{packed.shape[1]}").ravel()
    return frozenset(bytes(v) for v in np.unique(rows_as_bytes))


@functools.lru_cache(maxsize=256)
def _key_of(fingerprint: str, dim: int) -> bytes:
    return marker_key(marker_signs(fingerprint, dim))


def foreign_keys(keys: Iterable[bytes], fingerprint: str, dim: int) -> frozenset[bytes]:
    """The markers among ``keys`` that are not the one of ``fingerprint`` at ``dim``."""
    return frozenset(keys) - {_key_of(fingerprint, dim)}


def foreign_rows(rows: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Which rows carry a marker other than ``pattern`` (a boolean mask)."""
    rows = np.asarray(rows)
    if rows.ndim != 2 or not len(rows):
        return np.zeros(len(rows), dtype=bool)
    tail, marked = _tails(rows, len(pattern))
    return marked & (tail != np.asarray(pattern, dtype=np.float32)).any(axis=1)


def foreign_message(
    subject: str, describe: str, *, whose: str = CONNECTION, remedy: str = REMEDY
) -> str:
    """The mismatch message for vectors that carry another configuration's marker.

    Parameters
    ----------
    subject : str
        What holds the vectors, such as ``"column vec of items"``.
    describe : str
        The configuration they are used with (``EncoderConfig.describe()``).
    whose : str, default "this connection's"
        Whose configuration that is.
    remedy : str, default :data:`REMEDY`
        What to do, as a sentence.

    Examples
    --------
    >>> foreign_message("column v of t", "dim=8 (fingerprint 0a)")[:60]
    'column v of t was encoded with another configuration than th'
    """
    foreign = FOREIGN.replace(CONNECTION, whose, 1)
    return mismatch_message(subject, foreign, f"{whose} encoder is {describe}", remedy)


def check_vectors(
    rows: np.ndarray,
    config: EncoderConfig,
    subject: str,
    offset: int = 0,
    *,
    whose: str = CONNECTION,
    remedy: str = REMEDY,
) -> None:
    """Refuse rows of a (n, D) matrix that carry another configuration's marker.

    Parameters
    ----------
    rows : numpy.ndarray, shape (n, D)
    config : EncoderConfig
        The configuration the vectors are used with.
    subject : str
        What holds them, for the message (``"column 'vec' of items.parquet"``).
    offset : int, default 0
        The row number of ``rows[0]`` in what holds them.
    whose, remedy : str
        As :func:`foreign_message` takes them.

    Raises
    ------
    ConfigMismatchError
        If a row carries a marker that is not ``config``'s; the message names
        the first such row (0-based).
    """
    bad = np.flatnonzero(foreign_rows(rows, marker_pattern(config)))
    if len(bad):
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        where = f"{subject} (row {offset + int(bad[0])}{more})"
        message = foreign_message(where, config.describe(), whose=whose, remedy=remedy)
        raise ConfigMismatchError(message)


def foreign_sql(expr: str, fingerprint: str, dim: int) -> str:
    """SQL: whether the vector ``expr`` carries another configuration's marker.

    The twin of :func:`foreign_rows` for one vector of this configuration's
    length: true when its last ``m`` elements all have magnitude
    ``MARKER_VALUE`` and their signs are not the pattern's; false otherwise,
    NULL for a NULL vector (a vector of another length is never called
    foreign). The pattern is tested first, element by element, so a vector of
    this configuration costs ``m`` comparisons; only other vectors pay for the
    slice that tests the magnitudes (one expression: a short text binds fast).

    Examples
    --------
    >>> foreign_sql("v", "00", 16).startswith("CASE WHEN v[16] = ")
    True
    """
    pattern = marker_signs(fingerprint, dim)
    first = dim - len(pattern) + 1
    mine = " AND ".join(f"{expr}[{first + i}] = {float(p)!r}" for i, p in enumerate(pattern))
    tail = f"array_slice({expr}, {first}, {dim})"
    marked = (
        f"list_has_all([{MARKER_VALUE!r}, {-MARKER_VALUE!r}]::FLOAT[], {tail}) "
        f"AND list_count({tail}) = {len(pattern)}"
    )
    return f"CASE WHEN {mine} THEN false ELSE {marked} END"
