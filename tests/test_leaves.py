"""Leaf keys and leaf vectors: numbers, strings, literals (docs/design.md, "Leaves").

The leaf encoder is checked directly, against the formulas recomputed here from
the atoms and the random streams, and for the similarities the formulas promise.
"""

from __future__ import annotations

import enum
import math
import re

import numpy as np
import pytest
from conftest import assert_unit

from duckdb_vsa import prng
from duckdb_vsa.atoms import AtomSource
from duckdb_vsa.config import EncoderConfig
from duckdb_vsa.leafkeys import (
    LIT_ARRAY,
    LIT_FALSE,
    LIT_NAN,
    LIT_NULL,
    LIT_OBJECT,
    LIT_TRUE,
    array_scale,
    hinted_leaf,
    is_number_key,
    leaf_key,
    object_scale,
    plain,
    scalar_leaf,
    sorted_members,
    to_float,
)
from duckdb_vsa.leaves import (
    LEVELS_PER_BANDWIDTH,
    LITERALS,
    T_LIMIT,
    LeafEncoder,
    linear_t,
    number_to_t,
    text_features,
)

D = 1024


def leaf_encoder(cache_bytes: int = 1 << 24, **options) -> LeafEncoder:
    config = EncoderConfig(dim=options.pop("dim", D), **options)
    return LeafEncoder(config, AtomSource(config.dim, config.seed), cache_bytes)


@pytest.fixture(scope="module")
def leaves() -> LeafEncoder:
    return leaf_encoder()


def cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# -- independent recomputations of docs/design.md, "Leaves" --------------------------------


def reference_string(config: EncoderConfig, text: str) -> np.ndarray:
    """weight * normalise(w_str atom(str) + w_tok bag(tokens) + w_gram bag(trigrams)), float64.

    The weight of a string of ``n`` trigrams is ``clip((n / unit) ** p, 1, max)``.
    """
    atoms = AtomSource(config.dim, config.seed)
    folded = text[: config.max_text_chars].casefold()
    padded = "\x02" + folded + "\x03"
    grams = [padded[i : i + 3] for i in range(len(folded))] if config.w_gram else []
    tokens = re.findall(r"\w+", folded) if config.w_tok else []
    v = np.zeros(config.dim)
    if grams:
        v += config.w_gram / math.sqrt(len(grams)) * atoms.atoms("gram", grams).sum(axis=0)
    if tokens:
        v += config.w_tok / math.sqrt(len(tokens)) * atoms.atoms("tok", tokens).sum(axis=0)
    whole = 1.0 if not grams and not tokens else config.w_str
    v += whole * atoms.atom("str", text)
    n = max(len(folded), 1)
    weight = min(
        max((n / config.string_unit_trigrams) ** config.string_weight_power, 1.0),
        config.string_weight_max,
    )
    return weight * v / np.linalg.norm(v)


def reference_number(config: EncoderConfig, x: float) -> np.ndarray:
    """The interpolated random-Fourier-feature vector of ``x`` on the asinh axis, in float64."""
    h, dim, seed = config.number_bandwidth, config.dim, config.seed
    omega = prng.gaussians([prng.digest(seed, "num", "omega")], dim)[0] / h
    phase = 2 * np.pi * prng.uniforms([prng.digest(seed, "num", "phase")], dim)[0]
    with np.errstate(over="ignore"):
        t = float(np.clip(np.arcsinh(np.float64(x) / config.number_scale), -750, 750))
    step = h / 4
    j = math.floor(t / step)
    f = t / step - j

    def level(i: int) -> np.ndarray:
        c = np.cos(i * step * omega + phase)
        return (c / np.linalg.norm(c)).astype(np.float32).astype(np.float64)

    lower, upper = level(j), level(j + 1)
    norm = math.sqrt((1 - f) ** 2 + f**2 + 2 * f * (1 - f) * float(lower @ upper))
    return ((1 - f) * lower + f * upper) / norm


# -- leaf keys -------------------------------------------------------------------------


class Colour(enum.IntEnum):
    RED = 3


class Name(str):
    pass


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (3, 3.0),
        (3.0, 3.0),
        (-0.0, 0.0),
        (10**400, math.inf),
        (-(10**400), -math.inf),
        (math.inf, math.inf),
        (math.nan, LIT_NAN),
        ("3", "3"),
        ("", ""),
        (True, LIT_TRUE),
        (False, LIT_FALSE),
        (None, LIT_NULL),
        (np.int64(3), 3.0),
        (np.float32(0.5), 0.5),
        (np.bool_(True), LIT_TRUE),
        (Colour.RED, 3.0),
        (Name("red"), "red"),
    ],
)
def test_leaf_keys(value, key) -> None:
    got = leaf_key(value)
    assert got == key
    assert type(got) is type(key)


def test_an_integer_and_a_float_of_equal_value_are_one_key() -> None:
    for n in (0, 1, -5, 2**53, 10**20):
        assert scalar_leaf(n) == scalar_leaf(float(n))
        assert type(scalar_leaf(n)) is float
    # Booleans are literals, not the numbers 1 and 0.
    assert scalar_leaf(True) != scalar_leaf(1)
    assert scalar_leaf(False) != scalar_leaf(0)


def test_scalar_leaf_leaves_containers_and_other_values_to_the_caller() -> None:
    for value in ([1], {"a": 1}, (1,), Colour.RED, np.float64(1.5), b"x"):
        assert scalar_leaf(value) is None


def test_to_float_maps_integers_beyond_float64_to_infinity() -> None:
    assert to_float(3) == 3.0
    assert to_float(2**1023) == 2.0**1023
    assert to_float(2**1024) == math.inf
    assert to_float(-(2**1024)) == -math.inf


def test_values_with_no_json_meaning_are_type_errors() -> None:
    for value in ({1, 2}, object(), b"bytes", 1 + 2j):
        with pytest.raises(TypeError, match=type(value).__name__):
            leaf_key(value)
    assert plain((1, "a")) == [1, "a"]
    assert plain(np.float32(0.5)) == 0.5
    with pytest.raises(TypeError, match="set"):
        plain({1})


def test_sorted_members_are_in_reverse_key_order_and_refuse_other_keys() -> None:
    assert sorted_members({"b": 1, "a": 2, "é": 3, "B": 4}) == [
        ("é", 3),
        ("b", 1),
        ("a", 2),
        ("B", 4),
    ]
    with pytest.raises(TypeError, match="keys must be strings"):
        sorted_members({"a": 1, 2: "b"})


def test_structural_scales() -> None:
    assert object_scale(4) == 0.5
    for w_bag, w_seq in ((1.0, 0.5), (1.0, 1.0), (0.0, 1.0), (2.0, 0.0)):
        # S([x]) = S(x): a one-element array has total weight 1.
        assert (w_bag + w_seq) * array_scale(1, w_bag, w_seq) == pytest.approx(1.0, abs=1e-15)
        n = 7
        expected = 1 / math.sqrt(n * (w_bag**2 + w_seq**2) + 2 * w_bag * w_seq)
        assert array_scale(n, w_bag, w_seq) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    ("kind", "leaf", "key"),
    [
        (None, 12.0, 12.0),
        (None, "red", "red"),
        (("number", 5.0), 12.0, ("lin", 5.0, 12.0)),
        (("number", 5.0), "red", "red"),
        (("number", 5.0), LIT_NULL, LIT_NULL),
        ("category", "red", ("cat", "red")),
        ("category", 12.0, ("catnum", 12.0)),
        ("category", LIT_TRUE, LIT_TRUE),
        ("text", "red", ("text", "red")),
        ("text", 12.0, 12.0),
        ("text", LIT_OBJECT, LIT_OBJECT),
    ],
)
def test_hinted_leaf(kind, leaf, key) -> None:
    assert hinted_leaf(kind, leaf) == key


def test_number_keys() -> None:
    assert is_number_key(1.0)
    assert is_number_key(("lin", 5.0, 1.0))
    for key in ("1", LIT_NAN, ("cat", "x"), ("catnum", 1.0), ("text", "x")):
        assert not is_number_key(key)


# -- numbers ---------------------------------------------------------------------------


NUMBERS = [0.0, 1.0, -1.0, 0.004, 3.25e-7, 39.99, 1815.0, -17.0, 1e6, 1e300, -1e300, 5e-324]


def test_number_vectors_are_the_interpolated_fourier_features(leaves) -> None:
    got = leaves.numbers(NUMBERS)
    assert got.dtype == np.float32 and got.shape == (len(NUMBERS), D)
    for x, row in zip(NUMBERS, got):
        np.testing.assert_allclose(row, reference_number(leaves.config, x), rtol=0, atol=2e-6)


@pytest.mark.parametrize(
    "options", [{}, {"number_scale": 1.0, "number_bandwidth": 0.5}, {"seed": 3, "dim": 64}]
)
def test_number_vectors_under_other_options(options) -> None:
    enc = leaf_encoder(**options)
    values = [0.0, 2.5, -40.0, 1e9]
    for x, row in zip(values, enc.numbers(values)):
        np.testing.assert_allclose(row, reference_number(enc.config, x), rtol=0, atol=2e-6)


def test_number_levels_interpolate_between_grid_points(leaves) -> None:
    values = np.array([0.0, 0.004, 1.0, 100.0, -3.0, math.inf])
    lower, a, b = leaves.number_levels(values)
    step = leaves.config.number_bandwidth / LEVELS_PER_BANDWIDTH
    t = number_to_t(values, leaves.config.number_scale)
    np.testing.assert_array_equal(lower, np.floor(t / step).astype(np.int64))
    assert (a >= 0).all() and (b >= 0).all()
    for j, lo, hi in zip(lower, a, b):
        pair = leaves.levels(np.array([j, j + 1])).astype(np.float64)
        assert np.linalg.norm(lo * pair[0] + hi * pair[1]) == pytest.approx(1.0, abs=1e-6)
    # Zero sits on grid point 0: its vector is that level vector, to the bit.
    assert (lower[0], a[0], b[0]) == (0, 1.0, 0.0)
    assert leaves.numbers([0.0]).tobytes() == leaves.levels(np.array([0])).tobytes()


def test_the_number_axis() -> None:
    s = 0.01
    np.testing.assert_array_equal(number_to_t([0.0], s), [0.0])
    assert number_to_t([1.0], s)[0] == pytest.approx(math.asinh(100.0))
    assert number_to_t([-1.0], s)[0] == pytest.approx(-math.asinh(100.0))
    # Infinity and overflowing x / s land on the ends of the axis; nothing finite reaches them.
    np.testing.assert_array_equal(number_to_t([math.inf, -math.inf, 1e308], s), [750, -750, 750])
    assert T_LIMIT == 750.0
    assert number_to_t([1.7e306], s)[0] < 710.5
    np.testing.assert_array_equal(linear_t([10.0, -1e12], 5.0, 0.2), [0.4, -1e6])


def test_similarity_follows_the_gaussian_kernel_on_the_log_axis(leaves) -> None:
    cfg = leaves.config
    base = 100.0
    others = [100.5, 102.0, 105.0, 110.0, 120.0, 150.0, 200.0]
    vectors = leaves.numbers([base, *others])
    t = number_to_t([base, *others], cfg.number_scale)
    sims = [cos(vectors[0], v) for v in vectors[1:]]
    for sim, dt in zip(sims, t[1:] - t[0]):
        kernel = math.exp(-(dt**2) / (2 * cfg.number_bandwidth**2))
        assert sim == pytest.approx(kernel, abs=0.06), (sim, kernel)
    assert sims == sorted(sims, reverse=True)
    assert sims[-1] < 0.1


def test_numbers_five_percent_apart_are_alike_at_every_magnitude(leaves) -> None:
    sims = [cos(*leaves.numbers([x, 1.05 * x])) for x in (1.0, 1e3, 1e6, 1e12, -1e6)]
    assert min(sims) > 0.9
    assert max(sims) - min(sims) < 0.08


def test_infinite_and_huge_numbers_sit_at_the_ends_of_the_axis(leaves) -> None:
    inf, ninf, big, huge_int = leaves.numbers([math.inf, -math.inf, 1e308, to_float(10**400)])
    assert inf.tobytes() == big.tobytes() == huge_int.tobytes()
    assert abs(cos(inf, ninf)) < 0.15
    assert_unit(inf, D)
    assert_unit(ninf, D)


def test_exact_value_atoms_separate_neighbouring_numbers() -> None:
    smooth = leaf_encoder()
    exact = leaf_encoder(w_num_exact=1.0)
    assert cos(*exact.numbers([5.0, 6.0])) < cos(*smooth.numbers([5.0, 6.0])) - 0.3
    cfg, atoms = exact.config, AtomSource(D, 0)
    for x, row in zip([5.0, -2.5], exact.numbers([5.0, -2.5])):
        u = reference_number(cfg, x) + atoms.atom("num", repr(x))
        np.testing.assert_allclose(row, u / np.linalg.norm(u), rtol=0, atol=2e-6)


def test_a_number_vector_does_not_depend_on_its_batch(leaves) -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(3, 4, 2500) * rng.choice([-1, 1], 2500)  # several blocks
    batch = leaves.numbers(values)
    fresh = leaf_encoder(cache_bytes=0)
    for i in (0, 1023, 1024, 2499):
        assert fresh.numbers(values[i : i + 1]).tobytes() == batch[i].tobytes()


# -- strings ---------------------------------------------------------------------------


STRINGS = [
    "",
    " ",
    "a",
    "red shoe",
    "Red Shoe",
    "Straße",
    "東京 寿司",
    "😀 𝄞",
    "\ud800 lone",
    "!!!",
    "x" * 5000,
    "lorem ipsum dolor sit amet " * 40,
]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"w_str": 1.0},
        {"w_tok": 1.0, "w_gram": 0.0},
        {"w_str": 0.25, "w_tok": 0.5, "w_gram": 1.0},
        {"max_text_chars": 3},
    ],
    ids=["default", "with str", "tokens only", "version 1 weights", "3 chars"],
)
def test_string_vectors_are_the_normalised_sum_of_their_atoms(options) -> None:
    enc = leaf_encoder(**options)
    got = enc.strings(STRINGS)
    for text, row in zip(STRINGS, got):
        np.testing.assert_allclose(row, reference_string(enc.config, text), rtol=0, atol=8e-6)
    flat = leaf_encoder(**options, string_weight_power=0.0).strings(STRINGS)
    for row in flat:
        assert_unit(row, D)


def test_a_string_vector_does_not_depend_on_its_batch() -> None:
    # Many long rows make the trigram sums take the dense product; one alone, the sparse one.
    texts = [
        f"record {i}: " + "the quick brown fox jumps over the lazy dog " * 3 for i in range(60)
    ]
    batch = leaf_encoder(cache_bytes=0).strings(texts)
    for i in (0, 17, 59):
        assert leaf_encoder(cache_bytes=0).strings([texts[i]]).tobytes() == batch[i].tobytes()
    # And the cache hands back the same bytes.
    cached = leaf_encoder()
    cached.strings(texts)
    assert cached.strings(texts[::-1]).tobytes() == batch[::-1].tobytes()


def test_a_typo_keeps_most_of_the_similarity(leaves) -> None:
    word, typo, unrelated = leaves.strings(
        [
            "wireless noise cancelling headphones",
            "wireless noise cancelling headphnoes",
            "stainless steel kitchen knife",
        ]
    )
    assert cos(word, typo) > 0.7
    assert cos(word, typo) > cos(word, unrelated) + 0.5
    assert abs(cos(word, unrelated)) < 0.2


def test_case_is_folded_in_tokens_and_trigrams_but_not_in_the_whole_string_atom() -> None:
    default = leaf_encoder()
    upper, lower, sharp, double = default.strings(["Red Shoe", "red shoe", "STRASSE", "straße"])
    assert upper.tobytes() == lower.tobytes()
    assert sharp.tobytes() == double.tobytes()
    with_atom = leaf_encoder(w_str=1.0)
    upper, lower = with_atom.strings(["Red Shoe", "red shoe"])
    # Equal weights: the shared trigram bag is half of each vector's square norm.
    assert 0.4 < cos(upper, lower) < 0.6


def test_only_the_first_max_text_chars_feed_tokens_and_trigrams() -> None:
    head = "abcdefghij"
    texts = [head + " first tail", head + " other tail", "abcdefghiX second"]
    short = leaf_encoder(max_text_chars=10)
    a, b, c = short.strings(texts)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()
    # The whole-string atom reads all of the string.
    a, b, _ = leaf_encoder(max_text_chars=10, w_str=0.5).strings(texts)
    assert a.tobytes() != b.tobytes()
    a, b, _ = leaf_encoder().strings(texts)
    assert a.tobytes() != b.tobytes()


def test_a_string_without_weighted_features_is_its_whole_string_atom() -> None:
    atoms = AtomSource(D, 0)
    # The empty string has no trigrams: its atom, never a zero vector.
    np.testing.assert_allclose(
        leaf_encoder().strings([""])[0], atoms.atom("str", ""), rtol=0, atol=1e-7
    )
    for w_str in (0.0, 0.5):
        tokens_only = leaf_encoder(w_tok=1.0, w_gram=0.0, w_str=w_str)
        punctuation, word = tokens_only.strings(["!!! ...", "red"])
        # No word character: the atom alone, with weight 1 whatever w_str is.
        np.testing.assert_allclose(punctuation, atoms.atom("str", "!!! ..."), rtol=0, atol=1e-7)
        assert abs(cos(word, atoms.atom("str", "red"))) < (0.9 if w_str else 0.2)
    # Under the text hint (no whole-string atom), the rule still applies.
    texts = leaf_encoder(w_str=1.0).texts(["", "red shoe"])
    np.testing.assert_allclose(texts[0], atoms.atom("str", ""), rtol=0, atol=1e-7)
    np.testing.assert_allclose(
        texts[1], reference_string(EncoderConfig(dim=D, w_str=0.0), "red shoe"), atol=2e-6
    )


def test_text_features() -> None:
    tokens, grams = text_features("Red shoe", 100)
    assert tokens == ["red", "shoe"]
    assert len(grams) == len("red shoe")
    assert grams[0] == "\x02re" and grams[-1] == "oe\x03"
    assert text_features("ab", 100) == (["ab"], ["\x02ab", "ab\x03"])
    assert text_features("", 100) == ([], [])
    # Cut first, then casefolded (which may lengthen the text).
    assert text_features("ABCDEF", 3) == (["abc"], ["\x02ab", "abc", "bc\x03"])
    assert text_features("ßß", 1) == (["ss"], ["\x02ss", "ss\x03"])
    assert text_features("東京, 2024!", 100)[0] == ["東京", "2024"]


def test_string_vectors_are_kept_and_read_back_on_every_path() -> None:
    enc = leaf_encoder(dim=256)
    texts = ["red shoe", "blue hat", "Straße"]
    first = enc.strings(texts)  # no output matrix given
    assert enc.cached_strings == 3
    out = np.zeros((5, 256), dtype=np.float32)
    enc.strings(texts[::-1], out=out, at=np.array([4, 0, 2]))
    np.testing.assert_array_equal(out[[2, 0, 4]], first)
    assert not out[[1, 3]].any()
    assert enc.strings([]).shape == (0, 256)
    enc.clear_caches()
    assert enc.cached_strings == 0
    assert enc.strings(texts).tobytes() == first.tobytes()


# -- literals --------------------------------------------------------------------------


def test_literals_are_their_atoms(leaves) -> None:
    atoms = AtomSource(D, 0)
    assert set(LITERALS) == {"true", "false", "null", "{}", "[]", "NaN"}
    vectors = [leaves.literal(name) for name in LITERALS]
    for name, vector in zip(LITERALS, vectors):
        assert vector.tobytes() == atoms.atom("lit", name).tobytes()
        assert_unit(vector, D)
    gram = np.array(vectors, dtype=np.float64) @ np.array(vectors, dtype=np.float64).T
    assert np.abs(gram - np.eye(len(LITERALS))).max() < 0.2
    assert {LIT_OBJECT, LIT_ARRAY} <= {("lit", name) for name in LITERALS}
