"""The batch engine: it agrees with the tree evaluator, and its speed-only choices
(groups, caches, threads, which documents it hands to the tree evaluator) never
change a vector. See docs/design.md, "Exactness" and "Limits".
"""

from __future__ import annotations

import json
import random
import threading

import numpy as np
import pytest
from conftest import CORPUS, SMALL_DIM

import duckdb_vsa
from duckdb_vsa.basis import Basis
from duckdb_vsa.config import EncoderConfig
from duckdb_vsa.engine import Engine
from duckdb_vsa.errors import DocumentError
from duckdb_vsa.parse import MAX_DEPTH, parse_json
from duckdb_vsa.tree import encode_tree

BINDINGS = [
    pytest.param(("perm", SMALL_DIM), id="perm"),
    pytest.param(("haar", 96), id="haar"),
]


@pytest.fixture(params=BINDINGS, scope="module")
def enc(request) -> duckdb_vsa.Encoder:
    binding, dim = request.param
    return duckdb_vsa.Encoder(dim=dim, binding=binding)


# -- batch engine vs tree evaluator -------------------------------------------

ENGINE_CORPUS = [
    *CORPUS,
    [[[1, [2, [3, {"a": [4, 5]}]]], "x"], [[{"b": [[], {}]}]]],
    {"arr_of_arr": [[1, 2, 3], [4, 5, 6], [7, 8, [9, 10]]]},
    [{"a": [{"b": [{"c": [1, 2]}, {"c": [3]}]}, {"b": []}]}, {"a": {}}],
    list(range(30)),
    [["x"] * 5] * 5,
    {"k" + str(i): {"v": i, "w": [i, str(i)]} for i in range(25)},
    {"unicode": ["\u00e9", "e\u0301", "\U0001f600", "\u6771\u4eac"], "": "empty key"},
    {"lone": "\ud800 surrogate", "\udfff": 1},
    [None, True, False, {}, [], "", 0, -0.0, float("inf"), float("-inf"), float("nan")],
]


@pytest.mark.parametrize("index", range(len(ENGINE_CORPUS)))
def test_batch_engine_agrees_with_the_tree_evaluator(enc, index) -> None:
    doc = ENGINE_CORPUS[index]
    batch = enc.encode_batch([doc])[0].astype(np.float64)
    tree = enc.encode_tree(doc).astype(np.float64)
    assert tree.shape == batch.shape == (enc.dim,)
    np.testing.assert_allclose(batch, tree, rtol=0, atol=1e-5)


def test_batch_engine_agrees_with_the_tree_evaluator_on_a_whole_batch(enc) -> None:
    batch = enc.encode_batch(ENGINE_CORPUS).astype(np.float64)
    tree = np.stack([enc.encode_tree(doc) for doc in ENGINE_CORPUS]).astype(np.float64)
    np.testing.assert_allclose(batch, tree, rtol=0, atol=1e-5)


def parsed(docs: list) -> list:
    return [parse_json(d) if isinstance(d, str) else d for d in docs]


def test_strict_vectors_agree_with_the_tree_evaluator(enc) -> None:
    values = parsed(ENGINE_CORPUS)
    batch = enc.engine.encode_values(values, strict=True).astype(np.float64)
    tree = np.stack([encode_tree(enc.basis, v, strict=True) for v in values])
    np.testing.assert_allclose(batch, tree, rtol=0, atol=1e-5)
    # Strict structure leaves out the shadow and the key bag: another vector.
    assert not np.allclose(batch[0], enc.engine.encode_values(values[:1])[0], atol=1e-3)


@pytest.mark.parametrize("binding", ["perm", "haar"])
def test_values_at_a_root_path_agree_with_the_tree_evaluator(binding) -> None:
    enc = duckdb_vsa.Encoder(
        dim=64,
        binding=binding,
        fields={
            "$.items[*].price": {"kind": "number", "scale": 10},
            "$.items[*].sku": "category",
            "$.items[*].note": "ignore",
            "$.items[1]": {"weight": 2},
        },
    )
    values = [
        {"price": 120, "sku": "AB-1", "note": "x", "n": 3},
        {"sku": "AB-1"},
        [{"price": 5}, {"note": "only"}],
        130,
        # Beyond the term engine's limits: the tree evaluator, at the same root path.
        [{"price": i, "sku": str(i % 3)} for i in range(enc.roles.max_position + 1)],
    ]
    for root in [("items", 1), ("items", 0, "price"), ("items",), ()]:
        batch = enc.engine.encode_values(values, root_path=root)
        tree = np.stack([encode_tree(enc.basis, v, root) for v in values])
        np.testing.assert_allclose(batch, tree, rtol=0, atol=1e-5)
    # The hints of the root path apply: a category at $.items[0].sku, a linear number at price.
    sku = enc.engine.encode_values(["AB-1", "AB-2"], root_path=("items", 0, "sku"))
    assert abs(float(sku[0] @ sku[1])) < 0.4
    price = enc.engine.encode_values([120, 125], root_path=("items", 0, "price"))
    plain = enc.engine.encode_values([120, 125])
    # Half a scale apart on the linear axis: about exp(-1/8); on the log axis nearly equal.
    assert float(price[0] @ price[1]) == pytest.approx(np.exp(-1 / 8), abs=0.05)
    assert float(plain[0] @ plain[1]) > 0.95


def test_an_engine_on_a_basis_encodes_as_the_encoder() -> None:
    values = parsed(ENGINE_CORPUS)
    engine = Engine(Basis(EncoderConfig(dim=64), cache_bytes=1 << 24, role_bytes=1 << 24))
    expected = duckdb_vsa.Encoder(dim=64).encode_batch(ENGINE_CORPUS)
    assert engine.encode_values(values).tobytes() == expected.tobytes()
    assert engine.encode_values([]).shape == (0, 64)


# -- documents beyond the term engine's limits --------------------------------------


def binary_tree(depth: int) -> object:
    return [binary_tree(depth - 1), binary_tree(depth - 1)] if depth else 1


def limit_documents(enc: duckdb_vsa.Encoder) -> dict[str, tuple[object, bool]]:
    """Documents at and just beyond each limit, and whether they are beyond it."""
    roles = enc.roles
    docs = {
        "array at the limit": ({"xs": list(range(roles.max_position))}, False),
        "array beyond the limit": ({"xs": list(range(roles.max_position + 1))}, True),
        "64 chains at a node": (binary_tree(6), False),
        "128 chains at a node": (binary_tree(7), True),
    }
    if enc.binding == "perm":
        # An n-element array has 2n - 1 terms: 8 * 2,047 + 7 + 1 = 16,384.
        at_limit = {**{f"a{i}": list(range(1024)) for i in range(8)}, "b": [0, 1, 2, 3], "c": 0}
        docs["16,384 terms"] = (at_limit, False)
        docs["16,385 terms"] = ({**at_limit, "d": 0}, True)
    else:
        below: object = "leaf"
        for _ in range(roles.max_chain_depth):
            below = {"k": below}
        docs["chain depth at the limit"] = (below, False)
        docs["chain depth beyond the limit"] = ({"k": below}, True)
    return docs


def test_documents_beyond_the_limits_are_evaluated_container_by_container(enc) -> None:
    cases = limit_documents(enc)
    docs = [doc for doc, _ in cases.values()]
    flat = enc.engine.new_flattener()
    end, skipped = flat.add_many(docs)
    assert end == len(docs)
    assert skipped == [i for i, (_, beyond) in enumerate(cases.values()) if beyond]
    assert flat.n_rows == len(docs) - len(skipped)
    for name, (doc, beyond) in cases.items():
        vector = enc.engine.encode_values([doc])[0]
        tree = encode_tree(enc.basis, doc).astype(np.float32)
        if beyond:  # the sliced evaluation: its own bytes, whatever the batch
            assert vector.tobytes() == enc.engine.encode_large(doc).tobytes(), name
            assert enc.engine.encode_values([{"a": 1}, doc])[1].tobytes() == vector.tobytes()
        np.testing.assert_allclose(vector, tree, rtol=0, atol=1e-5, err_msg=name)


def test_documents_beyond_the_limits_keep_their_place_in_a_batch() -> None:
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM)
    long_array = {"values": list(range(enc.roles.max_position + 5))}
    docs = [{"a": 1}, long_array, {"b": "x"}, long_array, {"c": [1, 2]}]
    alone = np.stack([enc.encode(doc) for doc in docs])
    assert enc.encode_batch(docs).tobytes() == alone.tobytes()
    np.testing.assert_allclose(alone[1], enc.encode_tree(long_array), atol=1e-6)


def test_nesting_to_the_limit_is_encoded_and_beyond_it_refused() -> None:
    enc = duckdb_vsa.Encoder(dim=64)
    doc: object = "leaf"
    for _ in range(MAX_DEPTH):
        doc = [doc]
    # The innermost array sits at depth MAX_DEPTH - 1: within the limit.
    vector = enc.engine.encode_values([doc])[0]
    assert np.isfinite(vector).all()
    np.testing.assert_allclose(vector, enc.encode('"leaf"'), rtol=0, atol=1e-5)  # S([x]) = S(x)
    with pytest.raises(DocumentError, match=f"nested deeper than {MAX_DEPTH}"):
        enc.engine.encode_values([{"k": doc}])


# -- speed-only choices ------------------------------------------------------------------


def _corpus(n: int, seed: int = 0) -> list[dict]:
    """Varied records: repeated and fresh strings, numbers, arrays, unicode, long text."""
    rng = random.Random(seed)
    words = ["red", "shoe", "Straße", "東京", "emoji 😀", "a", "ab", "x" * 40]
    docs = []
    for i in range(n):
        docs.append(
            {
                "id": f"id-{rng.randrange(10**6)}",
                "name": " ".join(rng.choices(words, k=rng.randint(0, 4))),
                "city": rng.choice(["Oslo", "Lima", "Pune"]),
                "price": round(rng.lognormvariate(3, 1), 2),
                "tags": rng.sample(words, rng.randint(0, 3)),
                "items": [{"sku": f"s{rng.randrange(50)}", "qty": j} for j in range(i % 4)],
                "note": "lorem ipsum " * rng.randint(0, 120),
                "ok": rng.random() < 0.5,
            }
        )
    return docs


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return _corpus(400)


@pytest.fixture(scope="module")
def reference(corpus) -> np.ndarray:
    """Each document encoded alone by a fresh encoder with the default budget."""
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM)
    return np.stack([enc.encode(doc) for doc in corpus])


@pytest.mark.parametrize("cache_bytes", [0, 16 * 1024, 256 * 1024])
def test_tiny_cache_budgets_give_the_same_bytes(corpus, reference, cache_bytes) -> None:
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM, cache_bytes=cache_bytes)
    for _ in range(2):  # the second pass meets whatever the first one left cached
        assert enc.encode_batch(corpus).tobytes() == reference.tobytes()


def test_cleared_caches_give_the_same_bytes(corpus, reference) -> None:
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM)
    enc.encode_batch(corpus[:50])
    for structure in (False, True):
        enc.clear_caches(structure=structure)
        assert enc.leaves.cached_strings == 0
        assert enc.encode_batch(corpus).tobytes() == reference.tobytes()


def test_threads_sharing_one_encoder_give_the_same_bytes(corpus, reference) -> None:
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM, cache_bytes=64 * 1024)
    chunks = [list(range(i, len(corpus), 4)) for i in range(4)]
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for _ in range(3):
                results[t] = enc.encode_batch([corpus[i] for i in chunks[t]])
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for t, rows in enumerate(chunks):
        assert results[t].tobytes() == reference[rows].tobytes()


def test_groups_split_by_the_term_budget_give_the_same_bytes(corpus, reference) -> None:
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM)
    enc.engine.group_terms = 50
    assert enc.encode_batch(corpus).tobytes() == reference.tobytes()


def test_groups_of_one_term_give_the_same_bytes_as_one_group() -> None:
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM)
    texts = [json.dumps(d) for d in ENGINE_CORPUS if not isinstance(d, str)]
    one_group = enc.encode_batch(texts)
    enc.engine.group_terms = 1
    assert enc.encode_batch(texts).tobytes() == one_group.tobytes()


def test_negative_zero_with_exact_value_atoms_does_not_depend_on_the_batch() -> None:
    enc = duckdb_vsa.Encoder(dim=64, w_num_exact=0.5)
    alone = enc.encode_batch([{"x": -0.0}])[0]
    after_zero = enc.encode_batch([{"x": 0.0}, {"x": -0.0}])[1]
    assert alone.tobytes() == after_zero.tobytes()
