"""The tree evaluator: docs/design.md, "Structure" and "Document vector", node by node.

Its results are compared with the formulas evaluated here recursively on dense
role matrices, so that the reference the batch engine is held to is itself held
to the specification.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import duckdb_vsa
from duckdb_vsa import prng
from duckdb_vsa.errors import DocumentError
from duckdb_vsa.leafkeys import LIT_ARRAY, LIT_OBJECT, leaf_key
from duckdb_vsa.parse import MAX_DEPTH
from duckdb_vsa.roles import POSITION_ROLE, key_role
from duckdb_vsa.tree import encode_tree, tree_terms

DIM = 64

DOCUMENTS = [
    {"a": 1, "b": "x"},
    [1, "two", None],
    {"items": [{"sku": "a", "qty": 2}, {"sku": "b"}], "t": True, "": {}},
    [[1, 2], [3], []],
    {"k": {"k": {"k": [False, 0.5, "deep"]}}},
    "just a string",
    42,
    {},
    [],
    [{"z": 1, "a": [1, [2, {"m": None}]]}],
    {"b": [1, 2, 3, 4, 5, 6], "a": "é😀"},
]


@pytest.fixture(params=["perm", "haar"], scope="module")
def enc(request) -> duckdb_vsa.Encoder:
    return duckdb_vsa.Encoder(dim=DIM, binding=request.param)


def reference_terms(enc: duckdb_vsa.Encoder, doc: object) -> tuple[np.ndarray, np.ndarray, list]:
    """S, C and the key occurrences of ``doc``, straight from the formulas (recursive)."""
    cfg, roles, basis = enc.config, enc.roles, enc.basis
    if isinstance(doc, dict):
        doc = {k: v for k, v in doc.items() if v is not None}  # a null member is absent
    if isinstance(doc, dict) and doc:
        s, c, keys = np.zeros(DIM), np.zeros(DIM), list(doc)
        for k, v in doc.items():
            s_v, c_v, keys_v = reference_terms(enc, v)
            s += roles.matrix(roles.role(key_role(k))) @ s_v
            c += c_v
            keys += keys_v
        return s / math.sqrt(len(doc)), c / math.sqrt(len(doc)), keys
    if isinstance(doc, list) and doc:
        position = roles.matrix(roles.role(POSITION_ROLE))
        n, w_bag, w_seq = len(doc), cfg.w_bag, cfg.w_seq
        nu = 1 / math.sqrt(n * (w_bag**2 + w_seq**2) + 2 * w_bag * w_seq)
        s, c, keys = np.zeros(DIM), np.zeros(DIM), []
        for i, v in enumerate(doc):
            s_v, c_v, keys_v = reference_terms(enc, v)
            s += w_bag * s_v + w_seq * np.linalg.matrix_power(position, i) @ s_v
            c += c_v
            keys += keys_v
        return nu * s, nu * (w_bag + w_seq) * c, keys
    key = LIT_OBJECT if doc == {} else LIT_ARRAY if doc == [] else leaf_key(doc)
    leaf = basis.leaf_matrix([key])[0].astype(np.float64)
    return leaf, leaf, []


def reference_bag(enc: duckdb_vsa.Encoder, keys: list) -> np.ndarray:
    if not keys:
        return np.zeros(DIM)
    return enc.atoms.atoms("key", keys).astype(np.float64).sum(axis=0) / math.sqrt(len(keys))


def reference_document(enc: duckdb_vsa.Encoder, total: np.ndarray) -> np.ndarray:
    """The document vector of a sum: its head at norm sqrt(1 - m c^2), then the marker."""
    m, c = min(16, DIM // 16), 2.0**-8
    signs = prng.sign_rows([prng.digest(0, "marker", enc.config.fingerprint)], m)[0]
    head = total[: DIM - m]
    return np.concatenate([math.sqrt(1 - m * c * c) * head / np.linalg.norm(head), c * signs])


@pytest.mark.parametrize("index", range(len(DOCUMENTS)))
def test_tree_terms_are_the_formulas(enc, index) -> None:
    doc = DOCUMENTS[index]
    s, c, k = tree_terms(enc.basis, doc)
    ref_s, ref_c, keys = reference_terms(enc, doc)
    atol = 1e-9 if enc.binding == "perm" else 1e-6
    np.testing.assert_allclose(s, ref_s, rtol=0, atol=atol)
    np.testing.assert_allclose(c, ref_c, rtol=0, atol=atol)
    np.testing.assert_allclose(k, reference_bag(enc, keys), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "options", [{}, {"alpha": 0.0, "beta": 0.0}, {"alpha": 1.0, "beta": 0.7, "w_seq": 1.0}]
)
def test_the_document_vector_is_the_unit_sum(options) -> None:
    for binding in ("perm", "haar"):
        enc = duckdb_vsa.Encoder(dim=DIM, binding=binding, **options)
        for doc in DOCUMENTS:
            s, c, keys = reference_terms(enc, doc)
            total = s + enc.config.alpha * c + enc.config.beta * reference_bag(enc, keys)
            vector = encode_tree(enc.basis, doc)
            assert vector.dtype == np.float64
            np.testing.assert_allclose(vector, reference_document(enc, total), rtol=0, atol=1e-6)
            strict = encode_tree(enc.basis, doc, strict=True)
            np.testing.assert_allclose(strict, s / np.linalg.norm(s), rtol=0, atol=1e-6)


def test_encoder_encode_tree_parses_text_and_rounds_once(enc) -> None:
    doc = DOCUMENTS[2]
    vector = enc.encode_tree(json.dumps(doc))
    assert vector.dtype == np.float32
    assert vector.tobytes() == encode_tree(enc.basis, doc).astype(np.float32).tobytes()


def concrete_leaf_paths(doc: object, prefix: tuple = ()) -> list[tuple]:
    if isinstance(doc, dict):
        doc = {k: v for k, v in doc.items() if v is not None}
    if isinstance(doc, dict) and doc:
        return [p for k, v in doc.items() for p in concrete_leaf_paths(v, (*prefix, k))]
    if isinstance(doc, list) and doc:
        return [p for i, v in enumerate(doc) for p in concrete_leaf_paths(v, (*prefix, i))]
    return [prefix]


@pytest.mark.parametrize("index", range(len(DOCUMENTS)))
def test_leaf_filters_split_the_document_linearly(enc, index) -> None:
    doc = DOCUMENTS[index]
    s, c, k = tree_terms(enc.basis, doc)
    paths = concrete_leaf_paths(doc)
    parts = [
        tree_terms(enc.basis, doc, leaf_filter=lambda p, want=want: p == want) for want in paths
    ]
    np.testing.assert_allclose(sum(p[0] for p in parts), s, rtol=0, atol=1e-9)
    np.testing.assert_allclose(sum(p[1] for p in parts), c, rtol=0, atol=1e-9)
    for part in parts:
        np.testing.assert_array_equal(part[2], k)  # the key bag is not filtered
    nothing = tree_terms(enc.basis, doc, leaf_filter=lambda p: False)
    assert not nothing[0].any() and not nothing[1].any()


def test_tuples_subclasses_and_numpy_scalars_are_their_plain_values(enc) -> None:
    plain = {"a": [1, 2.5, True], "b": "x"}
    exotic = {"a": (np.int64(1), np.float32(2.5), np.bool_(True)), "b": np.str_("x")}
    assert encode_tree(enc.basis, exotic).tobytes() == encode_tree(enc.basis, plain).tobytes()


# -- field hints -----------------------------------------------------------------------


def test_ignored_members_are_absent_and_weights_scale_their_subtree() -> None:
    fields = {"$.meta": "ignore", "$.items[*].note": "ignore", "$.w": {"weight": 3}}
    hinted = duckdb_vsa.Encoder(dim=DIM, fields=fields)
    plain = duckdb_vsa.Encoder(dim=DIM)
    doc = {
        "a": 1,
        "meta": {"x": 1},
        "items": [{"note": "n", "sku": "s"}, {"note": "m"}],
        "w": [1, "y"],
    }
    stripped = {"a": 1, "items": [{"sku": "s"}, {}], "w": [1, "y"]}
    s, c, k = tree_terms(hinted.basis, doc)
    ref_s, ref_c, keys = reference_terms(plain, stripped)
    # The weight of $.w multiplies its member's S and C terms; not the key bag.
    w_s, w_c, _ = reference_terms(plain, stripped["w"])
    scale = 1 / math.sqrt(3)
    r_w = plain.roles.matrix(plain.roles.role(key_role("w")))
    np.testing.assert_allclose(s, ref_s + 2 * scale * (r_w @ w_s), rtol=0, atol=1e-9)
    np.testing.assert_allclose(c, ref_c + 2 * scale * w_c, rtol=0, atol=1e-9)
    np.testing.assert_allclose(k, reference_bag(plain, keys), rtol=0, atol=1e-6)


def test_hint_kinds_apply_beneath_their_path() -> None:
    enc = duckdb_vsa.Encoder(dim=DIM, fields={"$.tags": "category"})
    s, _, _ = tree_terms(enc.basis, {"tags": ["red", 3]})
    cat = enc.atoms.atoms("str", ["red"])[0].astype(np.float64)
    num = enc.atoms.atoms("num", [repr(3.0)])[0].astype(np.float64)
    position = enc.roles.matrix(enc.roles.role(POSITION_ROLE))
    nu = 1 / math.sqrt(2 * (1.0 + 0.25) + 2 * 0.5)
    array = nu * (cat + 0.5 * cat + num + 0.5 * position @ num)
    expected = enc.roles.matrix(enc.roles.role(key_role("tags"))) @ array
    np.testing.assert_allclose(s, expected, rtol=0, atol=1e-9)
    # At a root path, the path's hints apply to the value itself.
    at_root = encode_tree(enc.basis, "red", root_path=("tags", 0))
    np.testing.assert_allclose(at_root, reference_document(enc, cat), rtol=0, atol=1e-7)


# -- limits and errors ---------------------------------------------------------------------


def test_nesting_to_the_limit_is_evaluated_and_beyond_it_refused() -> None:
    enc = duckdb_vsa.Encoder(dim=DIM)
    doc: object = "leaf"
    for _ in range(MAX_DEPTH):
        doc = [doc]
    vector = encode_tree(enc.basis, doc)
    np.testing.assert_allclose(vector, encode_tree(enc.basis, "leaf"), rtol=0, atol=1e-9)
    objects: object = "leaf"
    for _ in range(MAX_DEPTH):
        objects = {"k": objects}
    encode_tree(enc.basis, objects)
    for too_deep in ([doc], {"k": doc}, {"k": objects}, [objects]):
        with pytest.raises(DocumentError, match=f"nested deeper than {MAX_DEPTH}"):
            encode_tree(enc.basis, too_deep)
    hinted = duckdb_vsa.Encoder(dim=DIM, fields={"$.other": {"weight": 2}})
    with pytest.raises(DocumentError, match="nested deeper"):
        encode_tree(hinted.basis, [doc])


NON_STRING_KEYS = [
    {"a": {1: "x", "b": 2}},
    {"a": {None: "x"}},
    {"a": {1: "x"}},
    {"a": {(1, 2): {"k": 1}}},
    {1: "x"},
]


@pytest.mark.parametrize(
    "doc", NON_STRING_KEYS, ids=["two members", "None", "int", "tuple", "root"]
)
def test_a_non_string_key_is_a_type_error(enc, doc) -> None:
    with pytest.raises(TypeError, match="keys must be strings"):
        encode_tree(enc.basis, doc)


@pytest.mark.parametrize("doc", NON_STRING_KEYS[1:], ids=["None", "int", "tuple", "root"])
def test_a_non_string_key_is_a_type_error_under_hints(doc) -> None:
    hinted = duckdb_vsa.Encoder(dim=DIM, fields={"$.a": {"weight": 2}})
    with pytest.raises(TypeError, match="keys must be strings"):
        encode_tree(hinted.basis, doc)


def test_a_non_string_key_among_others_is_a_type_error_under_hints() -> None:
    hinted = duckdb_vsa.Encoder(dim=DIM, fields={"$.a": {"weight": 2}})
    with pytest.raises(TypeError, match="keys must be strings"):
        encode_tree(hinted.basis, NON_STRING_KEYS[0])


def test_a_degenerate_document_is_the_null_atom_in_the_tree_evaluator() -> None:
    enc = duckdb_vsa.Encoder(dim=DIM, beta=0.0, fields={"$.a": {"weight": 0}})
    null = reference_document(enc, enc.leaves.literal("null").astype(np.float64))
    # The batch engine gives the null atom.
    np.testing.assert_allclose(enc.encode({"a": 1}), null, rtol=0, atol=1e-7)
    with np.errstate(invalid="ignore"):
        tree = encode_tree(enc.basis, {"a": 1})
        beyond = enc.encode({"a": list(range(2000))})  # beyond the limits: the tree evaluator
    np.testing.assert_allclose(tree, null, rtol=0, atol=1e-7)
    np.testing.assert_allclose(beyond, null, rtol=0, atol=1e-7)
