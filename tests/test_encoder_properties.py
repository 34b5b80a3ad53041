"""Properties of the Encoder and its vectors that must hold for every role family.

Each test runs for ``perm`` and for ``haar``; ``haar`` at a small dimension
because every role is a dense D x D matrix. See docs/design.md, "Structure",
"Document vector" and "Exactness". The batch engine against the tree evaluator
is in tests/test_engine.py.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pyarrow as pa
import pytest
from conftest import CORPUS, SMALL_DIM

import duckdb_vsa
from duckdb_vsa.config import ENCODER_VERSION, EncoderConfig
from duckdb_vsa.encoder import SHARED_ENCODERS, forget_shared_encoders, shared_encoder

BINDINGS = [
    pytest.param(("perm", SMALL_DIM), id="perm"),
    pytest.param(("haar", 96), id="haar"),
]


def _encoder(binding: str, dim: int) -> duckdb_vsa.Encoder:
    return duckdb_vsa.Encoder(dim=dim, binding=binding)


@pytest.fixture(params=BINDINGS, scope="module")
def enc(request) -> duckdb_vsa.Encoder:
    binding, dim = request.param
    return _encoder(binding, dim)


def cos(enc: duckdb_vsa.Encoder, a, b) -> float:
    va = enc.encode(a).astype(np.float64)
    vb = enc.encode(b).astype(np.float64)
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))


def text(s: str) -> str:
    """A Python str as a JSON string document (a bare str is parsed as JSON text)."""
    return json.dumps(s)


# -- unit length and shape --------------------------------------------------------


def test_vectors_are_unit_float32_of_the_configured_dimension(enc) -> None:
    vectors = enc.encode_batch(CORPUS)
    assert vectors.shape == (len(CORPUS), enc.dim)
    assert vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-6)


def test_default_encoder_is_1024_dimensional_perm_seed_0() -> None:
    enc = duckdb_vsa.Encoder()
    assert (enc.dim, enc.seed, enc.binding) == (1024, 0, "perm")
    v = enc.encode({"a": [1, "two", None]})
    assert v.shape == (1024,)
    assert v.dtype == np.float32
    assert abs(float(np.linalg.norm(v.astype(np.float64))) - 1.0) < 1e-6


# -- determinism -------------------------------------------------------------------


def test_bit_identical_in_a_separate_process(enc, run_python) -> None:
    """A fresh interpreter (fresh caches, fresh hash seed) gives the same bytes."""
    script = (
        "import json, sys, duckdb_vsa\n"
        "enc = duckdb_vsa.Encoder(dim=int(sys.argv[1]), binding=sys.argv[2])\n"
        "docs = json.loads(sys.stdin.read())\n"
        "sys.stdout.write(enc.encode_batch(docs).tobytes().hex())\n"
    )
    result = run_python(
        "-c",
        script,
        str(enc.dim),
        enc.binding,
        stdin=json.dumps(CORPUS),
        env={"PYTHONHASHSEED": "12345"},  # a different str hash than this process's
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    other = np.frombuffer(bytes.fromhex(result.stdout), dtype=np.float32).reshape(len(CORPUS), -1)
    here = enc.encode_batch(CORPUS)
    assert other.shape == here.shape
    mismatched = [i for i in range(len(CORPUS)) if other[i].tobytes() != here[i].tobytes()]
    assert not mismatched, f"documents encoded differently in another process: {mismatched}"


def test_bit_identical_alone_and_anywhere_in_a_batch(enc) -> None:
    alone = np.stack([enc.encode(doc) for doc in CORPUS])
    batch = enc.encode_batch(CORPUS)
    reverse = enc.encode_batch(CORPUS[::-1])[::-1]
    # The same documents again, each surrounded by different neighbours.
    rng = np.random.default_rng(3)
    order = rng.permutation(len(CORPUS))
    shuffled = enc.encode_batch([CORPUS[i] for i in order])
    unshuffled = np.empty_like(shuffled)
    unshuffled[order] = shuffled
    padded = enc.encode_batch([{"filler": i} for i in range(7)] + CORPUS + [[9, 9, 9]])[7:-1]
    for name, other in [
        ("batch", batch),
        ("reverse", reverse),
        ("shuffled", unshuffled),
        ("padded", padded),
    ]:
        mismatched = [i for i in range(len(CORPUS)) if other[i].tobytes() != alone[i].tobytes()]
        assert not mismatched, f"{name}: documents differ from their solo encoding: {mismatched}"


def test_fresh_encoder_gives_the_same_bytes_as_a_warm_one(enc) -> None:
    warm = enc.encode_batch(CORPUS)
    fresh = _encoder(enc.binding, enc.dim)
    assert fresh.encode_batch(CORPUS[::-1]).tobytes() == warm[::-1].tobytes()


def test_json_text_and_python_object_give_the_same_vector(enc) -> None:
    for doc in (d for d in CORPUS if not isinstance(d, str)):
        assert enc.encode(json.dumps(doc)).tobytes() == enc.encode(doc).tobytes(), doc


# -- structure ---------------------------------------------------------------------


def test_key_order_does_not_matter(enc) -> None:
    a = '{"a": 1, "b": [1, 2, {"x": "y", "z": null}], "c": {"p": true, "q": "text"}}'
    b = '{"c": {"q": "text", "p": true}, "b": [1, 2, {"z": null, "x": "y"}], "a": 1}'
    assert cos(enc, a, b) >= 0.999999


def test_swapping_key_and_value_changes_the_vector(enc) -> None:
    assert cos(enc, {"a": "b"}, {"b": "a"}) < 0.3


def test_swapping_nesting_order_changes_the_vector(enc) -> None:
    assert cos(enc, {"a": {"b": 1}}, {"b": {"a": 1}}) < 0.3


def test_same_content_under_different_keys_is_distinguished(enc) -> None:
    record = {"first": "alice", "last": "smith"}
    swapped = {"first": "smith", "last": "alice"}
    changed = {"first": "alice", "last": "smyth"}
    assert cos(enc, record, changed) > cos(enc, record, swapped)


# -- numbers -----------------------------------------------------------------------


def test_integer_and_float_of_equal_value_are_identical(enc) -> None:
    pairs = [
        (3, 3.0),
        ("3", "3.0"),
        ({"x": 3}, {"x": 3.0}),
        ('{"x": 3, "y": [1, 2]}', '{"x": 3.0, "y": [1.0, 2e0]}'),
        ([0, -5], [0.0, -5.0]),
    ]
    for a, b in pairs:
        assert enc.encode(a).tobytes() == enc.encode(b).tobytes(), (a, b)


def test_nearer_numbers_are_more_similar(enc) -> None:
    base = 100.0
    others = [100.5, 102.0, 105.0, 110.0, 120.0, 150.0]
    for wrap in (lambda x: x, lambda x: {"price": x}):
        sims = [cos(enc, wrap(base), wrap(x)) for x in others]
        assert all(a > b for a, b in itertools.pairwise(sims)), sims
        # A number far away on the log scale is no closer than chance.
        assert cos(enc, wrap(base), wrap(1e6)) < sims[-1]


def test_numbers_are_similar_on_a_log_scale(enc) -> None:
    """5 % apart is about as similar for 1 and for 1,000,000."""
    small = cos(enc, 1.0, 1.05)
    large = cos(enc, 1e6, 1.05e6)
    assert small > 0.8
    assert large > 0.8
    assert abs(small - large) < 0.1


# -- strings -----------------------------------------------------------------------


def test_typo_keeps_more_similarity_than_an_unrelated_string(enc) -> None:
    word = text("wireless noise cancelling headphones")
    typo = text("wireless noise cancelling headphnoes")
    unrelated = text("stainless steel kitchen knife")
    assert cos(enc, word, typo) > cos(enc, word, unrelated) + 0.3
    assert cos(enc, {"name": word}, {"name": typo}) > cos(enc, {"name": word}, {"name": unrelated})


def test_case_differences_keep_most_of_the_similarity(enc) -> None:
    assert cos(enc, text("Red Shoe"), text("red shoe")) > 0.5


# -- arrays ---------------------------------------------------------------------------


def test_a_singleton_array_equals_its_element(enc) -> None:
    """S([x]) = S(x) (docs/design.md, "Structure"): producers often wrap scalars."""
    for x in (5, '"text"', {"a": 1, "b": [2]}, [1, 2]):
        value = json.loads(x) if isinstance(x, str) else x
        assert cos(enc, x, [value]) >= 0.999999, x


def test_reordered_array_stays_similar(enc) -> None:
    items = ["apple", "banana", "cherry", "damson"]
    same = cos(enc, items, list(items))
    reordered = cos(enc, items, items[::-1])
    different = cos(enc, items, ["elder", "fig", "grape", "hazel"])
    assert same >= 0.999999
    assert 0.5 < reordered < 0.99
    assert different < 0.3


def test_position_matters_in_arrays_of_pairs(enc) -> None:
    assert cos(enc, [[1, 2], [3, 4]], [[2, 1], [4, 3]]) < cos(
        enc, [[1, 2], [3, 4]], [[1, 2], [3, 4]]
    )


# -- configuration ----------------------------------------------------------------------


def test_different_seeds_give_unrelated_vectors(enc) -> None:
    other = duckdb_vsa.Encoder(dim=enc.dim, binding=enc.binding, seed=1)
    doc = {"name": "red shoe", "tags": ["a", "b"], "n": 3}
    a = enc.encode(doc).astype(np.float64)
    b = other.encode(doc).astype(np.float64)
    assert abs(float(a @ b)) < 4 / np.sqrt(enc.dim)
    assert other.fingerprint != enc.fingerprint


def test_fingerprint_reflects_every_option() -> None:
    base = duckdb_vsa.Encoder(dim=64)
    assert duckdb_vsa.Encoder(dim=64).fingerprint == base.fingerprint
    for options in (
        {"dim": 128},
        {"seed": 2},
        {"binding": "haar"},
        {"alpha": 0.31},
        {"beta": 0.0},
        {"number_scale": 0.02},
        {"w_gram": 0.9},
        {"w_num_exact": 0.5},
        {"max_text_chars": 100},
    ):
        config = {"dim": 64, **options}
        assert duckdb_vsa.Encoder(**config).fingerprint != base.fingerprint, options


def test_encoding_does_not_change_the_input(enc) -> None:
    doc = {"b": [3, {"z": 1, "a": [None, True]}], "a": "x", "n": float("inf")}
    snapshot = json.dumps(doc)
    order = list(doc)
    enc.encode(doc)
    enc.encode_batch([doc, doc])
    enc.encode_tree(doc)
    assert json.dumps(doc) == snapshot
    assert list(doc) == order


def test_encode_arrow_equals_encode_batch(enc) -> None:
    texts = [json.dumps(d) for d in CORPUS if not isinstance(d, str)]
    expected = enc.encode_batch(texts)
    for array in (
        pa.array(texts),
        pa.array(texts, type=pa.large_string()),
        pa.chunked_array([texts[:5], texts[5:]]),
    ):
        out = enc.encode_arrow(array)
        assert isinstance(out, pa.FixedSizeListArray)
        assert out.type.list_size == enc.dim
        assert out.type.value_type == pa.float32()
        assert out.null_count == 0
        flat = out.flatten().to_numpy().reshape(len(texts), enc.dim)
        assert flat.tobytes() == expected.tobytes()
    nulls = enc.encode_arrow(pa.array([None, None]))
    assert len(nulls) == 2 and nulls.null_count == 2


# -- the facade ----------------------------------------------------------------------


def test_an_encoder_is_its_configuration(enc) -> None:
    same = duckdb_vsa.Encoder.from_config(enc.config, cache_bytes=1 << 20)
    assert same.config == enc.config
    assert same.encode_batch(CORPUS).tobytes() == enc.encode_batch(CORPUS).tobytes()
    assert enc.info() == {
        "version": ENCODER_VERSION,
        "dim": enc.dim,
        "seed": 0,
        "binding": enc.binding,
        "fingerprint": enc.config.fingerprint,
    }
    assert repr(enc) == (
        f"Encoder(dim={enc.dim}, seed=0, binding={enc.binding!r}, fingerprint={enc.fingerprint!r})"
    )
    with pytest.raises(TypeError, match="alpah"):
        duckdb_vsa.Encoder(dim=64, alpah=0.3)


def test_shared_encoders_are_one_per_configuration_and_bounded() -> None:
    forget_shared_encoders()
    configs = [EncoderConfig(dim=64, seed=s) for s in range(SHARED_ENCODERS + 1)]
    first = shared_encoder(configs[0])
    assert shared_encoder(EncoderConfig(dim=64, seed=0)) is first
    second = shared_encoder(configs[1])
    for config in configs[2:SHARED_ENCODERS]:
        shared_encoder(config)
    shared_encoder(configs[0])  # the most recently used again
    shared_encoder(configs[SHARED_ENCODERS])  # evicts the least recently used: the second
    assert shared_encoder(configs[0]) is first
    rebuilt = shared_encoder(configs[1])
    assert rebuilt is not second and rebuilt.config == configs[1]
    assert rebuilt.encode({"a": 1}).tobytes() == second.encode({"a": 1}).tobytes()
    assert shared_encoder(configs[0], cache_bytes=1 << 20) is not first  # another budget
    forget_shared_encoders()
    assert shared_encoder(configs[0]) is not first
    forget_shared_encoders()


def test_document_errors_name_their_row(enc) -> None:
    docs = ['{"a": 1}', {"b": 2}, "{broken", "[]"]
    with pytest.raises(duckdb_vsa.DocumentError, match="broken") as excinfo:
        enc.encode_batch(docs)
    assert excinfo.value.row == 2
    array = pa.chunked_array([['{"a": 1}', None], ["[1]", "", "{}"]])
    with pytest.raises(duckdb_vsa.DocumentError, match="empty") as excinfo:
        enc.encode_arrow(array)
    assert excinfo.value.row == 3
    assert "Cannot encode document" in str(excinfo.value)
