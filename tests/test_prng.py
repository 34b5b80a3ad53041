"""The random streams: Philox4x32-10 and the draws made from it (docs/design.md, "Random streams").

The block function is checked against the Random123 known answers and against a
plain, one-block-at-a-time implementation written here from the specification;
the derived draws (uniforms, Gaussians, keys, permutations, signs) against
their documented formulas on that implementation's output.
"""

from __future__ import annotations

import hashlib
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duckdb_vsa import prng

MASK32 = 0xFFFFFFFF


def philox_reference(
    counter: tuple[int, int, int, int], key: tuple[int, int], rounds: int = 10
) -> tuple[int, int, int, int]:
    """Philox4x32 (Salmon et al., SC'11) on Python integers, one block."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0 = (k0 + 0x9E3779B9) & MASK32
            k1 = (k1 + 0xBB67AE85) & MASK32
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & MASK32
    return c0, c1, c2, c3


def stream_blocks(digest: bytes, n_blocks: int) -> list[tuple[int, int, int, int]]:
    """Blocks 0 .. n_blocks - 1 of a digest's stream: key (d0, d1), counter (i, 0, d2, d3)."""
    d0, d1, d2, d3 = struct.unpack("<4I", digest)
    return [philox_reference((i, 0, d2, d3), (d0, d1)) for i in range(n_blocks)]


def hexwords(text: str) -> list[int]:
    return [int(word, 16) for word in text.split()]


# Random123 tests/kat_vectors, "philox4x32 10" lines: counter, key, expected output.
KNOWN_ANSWERS = [
    (
        "00000000 00000000 00000000 00000000",
        "00000000 00000000",
        "6627e8d5 e169c58d bc57ac4c 9b00dbd8",
    ),
    (
        "ffffffff ffffffff ffffffff ffffffff",
        "ffffffff ffffffff",
        "408f276d 41c83b0e a20bc7c6 6d5451fd",
    ),
    (
        "243f6a88 85a308d3 13198a2e 03707344",
        "a4093822 299f31d0",
        "d16cfe09 94fdcceb 5001e420 24126ea1",
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KNOWN_ANSWERS, ids=["zeros", "ones", "pi"])
def test_philox4x32_10_known_answers(counter, key, expected) -> None:
    got = prng.philox4x32(
        np.array(hexwords(counter), dtype=np.uint32), np.array(hexwords(key), dtype=np.uint32)
    )
    assert got.dtype == np.uint32
    assert got.tolist() == hexwords(expected)
    assert list(philox_reference(tuple(hexwords(counter)), tuple(hexwords(key)))) == hexwords(
        expected
    )


@pytest.mark.parametrize("rounds", [1, 7, 10, 12])
def test_philox4x32_agrees_with_the_plain_implementation(rounds) -> None:
    rng = np.random.default_rng(rounds)
    counters = rng.integers(0, 2**32, size=(200, 4), dtype=np.uint64).astype(np.uint32)
    keys = rng.integers(0, 2**32, size=(200, 2), dtype=np.uint64).astype(np.uint32)
    got = prng.philox4x32(counters, keys, rounds=rounds)
    assert got.shape == (200, 4)
    for c, k, block in zip(counters.tolist(), keys.tolist(), got.tolist()):
        assert block == list(philox_reference(tuple(c), tuple(k), rounds))


def test_philox4x32_broadcasts_one_key_over_many_counters() -> None:
    counters = np.zeros((3, 5, 4), dtype=np.uint32)
    counters[..., 0] = np.arange(15, dtype=np.uint32).reshape(3, 5)
    key = np.array([7, 9], dtype=np.uint32)
    got = prng.philox4x32(counters, key)
    assert got.shape == (3, 5, 4)
    assert got[2, 4].tolist() == list(philox_reference((14, 0, 0, 0), (7, 9)))


# -- the digest -------------------------------------------------------------------------


def test_digest_is_the_documented_blake2b() -> None:
    expected = hashlib.blake2b(b"12\x00str\x00red shoe", digest_size=16, person=b"duckdb_vsa")
    assert prng.digest(12, "str", "red shoe") == expected.digest()
    # Lone surrogates are allowed, as their UTF-8-style bytes.
    lone = hashlib.blake2b(b"0\x00key\x00\xed\xa0\x80", digest_size=16, person=b"duckdb_vsa")
    assert prng.digest(0, "key", "\ud800") == lone.digest()


def test_digests_differ_by_seed_namespace_and_text() -> None:
    digests = {
        prng.digest(seed, ns, text)
        for seed in (0, 1, 10)
        for ns in ("str", "tok", "role")
        for text in ("", "a", "a\x00", "\x00a")
    }
    assert len(digests) == 3 * 3 * 4
    # The separators keep (ns, text) pairs apart.
    assert prng.digest(0, "st", "r\x00x") != prng.digest(0, "str", "x")
    assert prng.digest(1, "0", "x") != prng.digest(10, "", "x")


# -- draws from a stream -------------------------------------------------------------------

DIGESTS = [prng.digest(0, "test", name) for name in ("a", "b", "\u6771\u4eac")]


@settings(max_examples=50, deadline=None)
@given(name=st.text(max_size=12), n=st.integers(1, 9))
def test_uniforms_take_53_bits_from_two_words(name, n) -> None:
    digest = prng.digest(0, "test", name)
    got = prng.uniforms([digest], n)
    assert got.shape == (1, n) and got.dtype == np.float64
    expected = []
    for x0, x1, x2, x3 in stream_blocks(digest, (n + 1) // 2):
        expected.append(((x0 >> 5) * 2**26 + (x1 >> 6)) / 2**53)
        expected.append(((x2 >> 5) * 2**26 + (x3 >> 6)) / 2**53)
    assert got[0].tolist() == expected[:n]


def test_random_keys_and_signs_follow_the_stream() -> None:
    digest = DIGESTS[0]
    keys = prng.random_keys(digest, 7)
    assert keys.dtype == np.uint64
    expected = []
    for x0, x1, x2, x3 in stream_blocks(digest, 4):
        expected += [(x0 << 32) | x1, (x2 << 32) | x3]
    assert keys.tolist() == expected[:7]
    signs = prng.signs(digest, 7)
    assert signs.dtype == np.float32
    assert signs.tolist() == [-1.0 if k % 2 else 1.0 for k in expected[:7]]


def test_a_permutation_is_the_stable_argsort_of_the_keys() -> None:
    for n in (1, 2, 10, 257):
        perm = prng.permutation(DIGESTS[1], n)
        assert sorted(perm.tolist()) == list(range(n))
        keys = prng.random_keys(DIGESTS[1], n).tolist()
        assert perm.tolist() == sorted(range(n), key=lambda i: keys[i])
    assert prng.permutation(DIGESTS[0], 50).tolist() != prng.permutation(DIGESTS[1], 50).tolist()


def test_permutations_are_uniform() -> None:
    # Where element 0 lands, over 3,000 streams: about 1/8 in each of 8 places.
    counts = np.bincount(
        [
            int(np.flatnonzero(prng.permutation(prng.digest(0, "p", str(i)), 8) == 0)[0])
            for i in range(3000)
        ],
        minlength=8,
    )
    assert counts.min() > 300 and counts.max() < 450


@pytest.mark.parametrize("n", [1, 64, 127, 128, 129, 1000])
def test_sign_rows_read_each_words_bits_least_significant_first(n) -> None:
    rows = prng.sign_rows(DIGESTS, n)
    assert rows.shape == (len(DIGESTS), n) and rows.dtype == np.int8
    for digest, row in zip(DIGESTS, rows):
        bits = [
            (word >> b) & 1
            for block in stream_blocks(digest, (n + 127) // 128)
            for word in block
            for b in range(32)
        ]
        assert row.tolist() == [-1 if bit else 1 for bit in bits[:n]]


def test_gaussians_are_box_muller_on_pairs_of_uniforms() -> None:
    for n in (1, 6, 7):
        got = prng.gaussians(DIGESTS, n)
        assert got.shape == (len(DIGESTS), n)
        u = prng.uniforms(DIGESTS, 2 * ((n + 1) // 2))
        for row, uniforms in zip(got, u):
            expected = []
            for u1, u2 in zip(uniforms[0::2], uniforms[1::2]):
                r = math.sqrt(-2.0 * math.log1p(-u1))
                expected += [r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2)]
            np.testing.assert_allclose(row, expected[:n], rtol=1e-14, atol=1e-15)


def test_draws_do_not_depend_on_the_other_digests_or_on_their_length() -> None:
    for draw in (prng.uniforms, prng.gaussians, prng.sign_rows):
        many = draw(DIGESTS, 300)
        alone = draw(DIGESTS[2:], 300)
        np.testing.assert_array_equal(alone[0], many[2])
        np.testing.assert_array_equal(draw(DIGESTS, 33), many[:, :33])
    np.testing.assert_array_equal(
        prng.random_keys(DIGESTS[0], 3), prng.random_keys(DIGESTS[0], 10)[:3]
    )


def test_the_distributions() -> None:
    digests = [prng.digest(0, "dist", str(i)) for i in range(20)]
    u = prng.uniforms(digests, 10_000)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005
    assert abs(u.var() - 1 / 12) < 0.002
    g = prng.gaussians(digests, 10_000)
    assert abs(g.mean()) < 0.01
    assert abs(g.std() - 1.0) < 0.01
    assert abs((np.abs(g) < 1).mean() - 0.6827) < 0.01
    s = prng.sign_rows(digests, 10_000)
    assert set(np.unique(s).tolist()) == {-1, 1}
    assert abs(s.mean()) < 0.01
    # Streams of different digests are uncorrelated.
    corr = np.corrcoef(g[:5])
    assert np.abs(corr - np.eye(5)).max() < 0.05
