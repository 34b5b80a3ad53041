"""Counter-based random streams that are identical on every machine.

numpy only promises the same random stream within one numpy build, so the
streams the encoder depends on are defined here by algorithm: Philox4x32-10
(Salmon et al., SC'11) keyed by a blake2b digest of ``(seed, namespace, text)``,
53-bit uniforms, Box-Muller Gaussians computed in float64, and permutations by a
stable argsort of 64-bit random keys. All integer work is exact; the only
floating-point steps are ``log``, ``sqrt``, ``cos`` and ``sin`` in float64,
whose last-ulp differences between libm builds vanish when the result is
rounded to float32 (except with vanishing probability).
"""

from __future__ import annotations

import hashlib

import numpy as np

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)

DIGEST_BYTES = 16


def digest(seed: int, namespace: str, text: str) -> bytes:
    """Return the 16-byte blake2b digest that keys the stream of one object.

    Parameters
    ----------
    seed : int
        The encoder seed.
    namespace : str
        What kind of object the stream is for (``"str"``, ``"key"``, ``"role"``...).
    text : str
        The object's name. Lone surrogates are allowed (JSON permits them).

    Returns
    -------
    bytes
        16 bytes.
    """
    h = hashlib.blake2b(digest_size=DIGEST_BYTES, person=b"duckdb_vsa")
    h.update(str(int(seed)).encode("ascii"))
    h.update(b"\x00")
    h.update(namespace.encode("utf-8"))
    h.update(b"\x00")
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.digest()


def philox4x32(counters: np.ndarray, keys: np.ndarray, rounds: int = 10) -> np.ndarray:
    """Philox4x32 block function, vectorised over rows.

    Parameters
    ----------
    counters : ndarray of uint32, shape (..., 4)
        Counter blocks.
    keys : ndarray of uint32, shape (..., 2)
        Keys, broadcast against ``counters``.
    rounds : int, default 10
        Number of rounds.

    Returns
    -------
    ndarray of uint32, shape (..., 4)
        The random blocks.
    """
    counters = np.asarray(counters, dtype=np.uint32)
    keys = np.asarray(keys, dtype=np.uint32)
    shape = np.broadcast_shapes(counters.shape[:-1], keys.shape[:-1])
    c0, c1, c2, c3 = (
        np.broadcast_to(counters[..., i], shape).astype(np.uint64).ravel() for i in range(4)
    )
    k0 = np.broadcast_to(keys[..., 0], shape).astype(np.uint64).ravel()
    k1 = np.broadcast_to(keys[..., 1], shape).astype(np.uint64).ravel()
    p0 = np.empty_like(c0)
    p1 = np.empty_like(c0)
    for r in range(rounds):
        if r:
            k0 += _W0
            k0 &= _MASK32
            k1 += _W1
            k1 &= _MASK32
        np.multiply(c0, _M0, out=p0)
        np.multiply(c2, _M1, out=p1)
        # (c0, c1, c2, c3) <- (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0); old c1, c3 read first.
        np.right_shift(p1, _SHIFT32, out=c0)
        c0 ^= c1
        c0 ^= k0
        np.bitwise_and(p1, _MASK32, out=c1)
        np.right_shift(p0, _SHIFT32, out=c2)
        c2 ^= c3
        c2 ^= k1
        np.bitwise_and(p0, _MASK32, out=c3)
    return np.stack([c0, c1, c2, c3], axis=-1).astype(np.uint32).reshape(*shape, 4)


def _keys_and_counters(digests: list[bytes], n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    words = np.frombuffer(b"".join(digests), dtype="<u4").reshape(len(digests), 4)
    keys = words[:, None, :2]
    counters = np.empty((len(digests), n_blocks, 4), dtype=np.uint32)
    counters[..., 0] = np.arange(n_blocks, dtype=np.uint32)[None, :]
    counters[..., 1] = 0
    counters[..., 2] = words[:, None, 2]
    counters[..., 3] = words[:, None, 3]
    return keys, counters


def uniforms(digests: list[bytes], n: int) -> np.ndarray:
    """Return ``n`` uniforms in [0, 1) with 53 random bits for each digest.

    Each Philox block gives two 53-bit uniforms (``(a >> 5) * 2**26 + (b >> 6)``
    over ``2**53``, as in MT19937's ``genrand_res53``).

    Returns
    -------
    ndarray of float64, shape (len(digests), n)
    """
    n_blocks = (n + 1) // 2
    keys, counters = _keys_and_counters(digests, n_blocks)
    blocks = philox4x32(counters, keys).astype(np.uint64)
    hi = (blocks[..., 0::2] >> np.uint64(5)) * np.uint64(1 << 26) + (
        blocks[..., 1::2] >> np.uint64(6)
    )
    u = hi.astype(np.float64) * (1.0 / (1 << 53))
    return u.reshape(len(digests), -1)[:, :n]


def gaussians(digests: list[bytes], n: int) -> np.ndarray:
    """Return ``n`` standard normal draws for each digest (Box-Muller, float64).

    With uniforms ``u1, u2`` from consecutive pairs,
    ``r = sqrt(-2 log(1 - u1))``, ``g = (r cos(2 pi u2), r sin(2 pi u2))``.

    Returns
    -------
    ndarray of float64, shape (len(digests), n)
    """
    m = (n + 1) // 2
    u = uniforms(digests, 2 * m)
    r = np.sqrt(-2.0 * np.log1p(-u[:, 0::2]))
    theta = (2.0 * np.pi) * u[:, 1::2]
    out = np.empty((len(digests), 2 * m), dtype=np.float64)
    out[:, 0::2] = r * np.cos(theta)
    out[:, 1::2] = r * np.sin(theta)
    return out[:, :n]


def random_key_rows(digests: list[bytes], n: int) -> np.ndarray:
    """Return ``n`` random uint64 values from each digest's stream; shape (len(digests), n)."""
    keys, counters = _keys_and_counters(digests, (n + 1) // 2)
    blocks = philox4x32(counters, keys).astype(np.uint64)
    words = (blocks[..., 0::2] << _SHIFT32) | blocks[..., 1::2]
    return words.reshape(len(digests), -1)[:, :n]


def random_keys(digest_bytes: bytes, n: int) -> np.ndarray:
    """Return ``n`` random uint64 values from one digest's stream."""
    return random_key_rows([digest_bytes], n)[0]


def permutation_rows(digests: list[bytes], n: int) -> np.ndarray:
    """One uniformly random permutation of ``range(n)`` per digest; int64 rows.

    Each is a stable argsort of 64-bit random keys: exact on every machine,
    ties (probability about ``n**2 / 2**65``) broken by position.
    """
    return np.argsort(random_key_rows(digests, n), axis=1, kind="stable")


def permutation(digest_bytes: bytes, n: int) -> np.ndarray:
    """A uniformly random permutation of ``range(n)`` (see :func:`permutation_rows`)."""
    return permutation_rows([digest_bytes], n)[0]


def sign_vectors(digests: list[bytes], n: int) -> np.ndarray:
    """``n`` random signs (+1.0 / -1.0, float32) per digest: the low bit of each random key."""
    bits = random_key_rows(digests, n) & np.uint64(1)
    return np.where(bits == 1, np.float32(-1.0), np.float32(1.0))


def signs(digest_bytes: bytes, n: int) -> np.ndarray:
    """Return ``n`` random signs (+1.0 / -1.0) as float32 (see :func:`sign_vectors`)."""
    return sign_vectors([digest_bytes], n)[0]


def sign_rows(digests: list[bytes], n: int) -> np.ndarray:
    """Return one row of ``n`` random signs (+1 / -1, int8) for each digest.

    One Philox block gives 128 signs, so a row costs ``n / 128`` blocks: far
    cheaper than ``n`` Gaussians, and exact integer arithmetic throughout.

    Returns
    -------
    ndarray of int8, shape (len(digests), n)
    """
    n_blocks = (n + 127) // 128
    keys, counters = _keys_and_counters(digests, n_blocks)
    blocks = philox4x32(counters, keys)
    bits = np.unpackbits(blocks.reshape(len(digests), -1).view(np.uint8), axis=1, bitorder="little")
    return (1 - 2 * bits[:, :n].astype(np.int8)).astype(np.int8)
