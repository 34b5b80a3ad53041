"""Role matrices are orthogonal, and their transpose unbinds (DESIGN §2, "Roles").

The matrices are materialised at a small dimension so that ``M^T M = I`` can be
checked entry by entry.
"""

from __future__ import annotations

import numpy as np
import pytest

import duckdb_vsa
from duckdb_vsa.roles import (
    CACHED_CHAIN_DEPTH,
    POSITION_ROLE,
    HaarRoles,
    RoleFamily,
    SignedPermutationRoles,
    key_role,
    make_roles,
)

DIM = 64

BINDINGS = ["perm", "haar"]
ROLE_NAMES = ["key:a", "key:name", "key:", "key:\u6771\u4eac", "pos"]


@pytest.fixture(params=BINDINGS, scope="module")
def enc(request) -> duckdb_vsa.Encoder:
    return duckdb_vsa.Encoder(dim=DIM, binding=request.param)


def assert_orthogonal(m: np.ndarray) -> None:
    assert m.shape == (DIM, DIM)
    np.testing.assert_allclose(m.T @ m, np.eye(DIM), rtol=0, atol=1e-5)
    np.testing.assert_allclose(m @ m.T, np.eye(DIM), rtol=0, atol=1e-5)


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_role_matrix_is_orthogonal(enc, role) -> None:
    assert_orthogonal(enc.roles.matrix(enc.roles.role(role)))


def test_role_matrix_is_not_the_identity_nor_shared_between_roles(enc) -> None:
    a = enc.roles.matrix(enc.roles.role("key:a"))
    b = enc.roles.matrix(enc.roles.role("key:b"))
    assert not np.allclose(a, np.eye(DIM))
    assert not np.allclose(a, b)


def test_perm_role_is_a_signed_permutation() -> None:
    enc = duckdb_vsa.Encoder(dim=DIM, binding="perm")
    m = enc.roles.matrix(enc.roles.role("key:a"))
    assert set(np.unique(m).tolist()) <= {-1.0, 0.0, 1.0}
    assert (np.count_nonzero(m, axis=0) == 1).all()
    assert (np.count_nonzero(m, axis=1) == 1).all()


@pytest.mark.parametrize("exponent", [0, 1, 2, 5, 17])
def test_power_of_a_role_is_orthogonal_and_equals_the_matrix_power(enc, exponent) -> None:
    power = enc.roles.matrix(enc.roles.power(POSITION_ROLE, exponent))
    assert_orthogonal(power)
    base = enc.roles.matrix(enc.roles.role(POSITION_ROLE))
    np.testing.assert_allclose(power, np.linalg.matrix_power(base, exponent), rtol=0, atol=1e-5)


def test_composed_chain_is_orthogonal_and_equals_the_product(enc) -> None:
    roles = enc.roles
    steps = [
        roles.role(key_role("a")),
        roles.power(POSITION_ROLE, 3),
        roles.role(key_role("b")),
        roles.role(key_role("a")),
        roles.power(POSITION_ROLE, 5),
    ]
    chain = steps[0]
    for step in steps[1:]:
        chain = roles.compose(chain, step)
    m = roles.matrix(chain)
    assert_orthogonal(m)
    product = np.eye(DIM)
    for step in steps:
        product = product @ roles.matrix(step)
    np.testing.assert_allclose(m, product, rtol=0, atol=1e-5)


def test_transpose_op_is_the_matrix_transpose(enc) -> None:
    op = enc.roles.compose(enc.roles.role("key:x"), enc.roles.power(POSITION_ROLE, 2))
    np.testing.assert_allclose(
        enc.roles.matrix(enc.roles.transpose(op)), enc.roles.matrix(op).T, rtol=0, atol=1e-6
    )


def test_bind_applies_the_role_matrix(enc) -> None:
    v = enc.encode({"x": [1, "two"]})
    bound = enc.roles.bind("key:a", v)
    expected = enc.roles.matrix(enc.roles.role("key:a")) @ v.astype(np.float64)
    np.testing.assert_allclose(bound, expected, rtol=0, atol=1e-6)
    # Orthogonal: the norm and every inner product survive binding.
    w = enc.encode('"other"')
    assert abs(float(np.linalg.norm(bound.astype(np.float64))) - 1.0) < 1e-5
    assert abs(float(enc.roles.bind("key:a", w) @ bound) - float(w @ v)) < 1e-5


def test_unbinding_by_the_transpose_recovers_the_bound_vector(enc) -> None:
    rows = enc.encode_batch([{"a": 1}, [1, 2, 3], '"text"', {"deep": {"er": [None]}}])
    for role in ["key:a", "key:b", POSITION_ROLE]:
        recovered = enc.roles.unbind(role, enc.roles.bind(role, rows))
        if enc.binding == "perm":
            # A gather and a sign flip: exact in floating point.
            assert recovered.tobytes() == rows.tobytes()
        else:
            np.testing.assert_allclose(recovered, rows, rtol=0, atol=1e-6)
        # And the transpose of a product undoes the product.
        chain = enc.roles.compose(enc.roles.role(role), enc.roles.power(POSITION_ROLE, 4))
        bound = enc.roles.apply(chain, rows)
        back = enc.roles.apply(enc.roles.transpose(chain), bound)
        if enc.binding == "perm":
            assert back.tobytes() == rows.tobytes()
        else:
            np.testing.assert_allclose(back, rows, rtol=0, atol=1e-6)


def test_public_bind_and_unbind_round_trip(enc) -> None:
    v = enc.encode({"colour": "red"})
    bound = duckdb_vsa.bind(enc, "colour", v)
    assert not np.allclose(bound, v)
    back = duckdb_vsa.unbind(enc, "colour", bound)
    np.testing.assert_allclose(back, v, rtol=0, atol=1e-6)


def test_probing_a_field_recovers_its_content(enc) -> None:
    """Unbinding a key from a record is closer to that key's value than to the others."""
    v = enc.encode({"colour": "red", "size": 42, "brand": "acme"})
    probe = enc.roles.unbind(key_role("colour"), v).astype(np.float64)
    red = enc.encode('"red"').astype(np.float64)
    others = [enc.encode(x).astype(np.float64) for x in ('"blue"', 42, '"acme"')]
    assert probe @ red > max(probe @ o for o in others) + 0.1


def test_roles_depend_on_the_seed(enc) -> None:
    other = duckdb_vsa.Encoder(dim=DIM, binding=enc.binding, seed=1)
    a = enc.roles.matrix(enc.roles.role("key:a"))
    b = other.roles.matrix(other.roles.role("key:a"))
    assert not np.allclose(a, b)


# -- chains ------------------------------------------------------------------------------


def step_matrix(roles: RoleFamily, step: str | int) -> np.ndarray:
    """A key step is R(key:k), a position step i is R(pos)^i (the identity for 0)."""
    if isinstance(step, str):
        return roles.matrix(roles.role(key_role(step)))
    return np.linalg.matrix_power(roles.matrix(roles.role(POSITION_ROLE)), step)


CHAIN_PATHS = [
    ("a",),
    (3,),
    ("a", "b"),
    ("items", 2, "sku"),
    ("a", 0, "b"),
    (1, 1, 1),
    ("", "\u6771\u4eac", 7),
    tuple(["k", 1] * 20),  # deeper than the chains kept in the cache
]


@pytest.mark.parametrize("path", CHAIN_PATHS, ids=lambda p: "/".join(map(str, p))[:20])
def test_chain_is_the_product_of_the_step_matrices_from_the_root(enc, path) -> None:
    roles = enc.roles
    product = np.eye(DIM)
    for step in path:
        product = product @ step_matrix(roles, step)
    atol = 1e-5 if enc.binding == "perm" else 1e-4
    m = roles.matrix(roles.chain(path))
    np.testing.assert_allclose(m, product, rtol=0, atol=atol)
    assert_orthogonal(m)


def test_the_empty_chain_is_the_identity(enc) -> None:
    np.testing.assert_array_equal(enc.roles.matrix(enc.roles.chain(())), np.eye(DIM))


def test_chains_of_a_tree_equal_the_chains_of_their_paths(enc) -> None:
    roles = enc.roles
    # Chain 0 is the root; every parent is numbered below its children.
    parent = [-1, 0, 1, 1, 2, 0, 5]
    step = [None, "a", 3, "b", "c", 2, "a"]
    paths = {1: ("a",), 2: ("a", 3), 3: ("a", "b"), 4: ("a", 3, "c"), 5: (2,), 6: (2, "a")}
    wanted = [4, 3, 6, 1]
    for c, op in zip(wanted, roles.chains(parent, step, wanted)):
        np.testing.assert_allclose(
            roles.matrix(op), roles.matrix(roles.chain(paths[c])), rtol=0, atol=1e-6
        )


class CountingRoles(SignedPermutationRoles):
    """Signed permutations that count their compositions."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.composed = 0

    def compose(self, outer, inner):
        self.composed += 1
        return super().compose(outer, inner)


def test_chains_are_cached_by_path() -> None:
    roles = CountingRoles(DIM, 0, 1 << 24)
    path = ("a", "b", "c")
    first = roles.matrix(roles.chain(path))
    assert roles.composed == 2
    roles.chain(path)
    roles.chain(path[:2])
    assert roles.composed == 2
    # The same paths numbered otherwise, in a tree built elsewhere, are found too.
    ops = roles.chains([-1, 0, 0, 2, 3], [None, "x", "a", "b", "c"], [4, 3])
    assert roles.composed == 2
    np.testing.assert_array_equal(roles.matrix(ops[0]), first)
    # A longer path composes one more step on top of the cached prefix.
    roles.chain((*path, "d"))
    assert roles.composed == 3


def test_deep_chains_and_a_zero_budget_are_composed_every_time() -> None:
    deep = tuple(f"k{i}" for i in range(CACHED_CHAIN_DEPTH + 3))
    roles = CountingRoles(DIM, 0, 1 << 24)
    roles.chain(deep)
    after_first = roles.composed
    assert after_first == len(deep) - 1
    roles.chain(deep)
    # The cached prefix of CACHED_CHAIN_DEPTH steps is reused; the rest is composed again.
    assert roles.composed - after_first == len(deep) - CACHED_CHAIN_DEPTH
    uncached = CountingRoles(DIM, 0, 0)
    a = uncached.matrix(uncached.chain(("a", "b", "c")))
    b = uncached.matrix(uncached.chain(("a", "b", "c")))
    assert uncached.composed == 4
    np.testing.assert_array_equal(a, b)


def test_make_roles_names_the_families() -> None:
    assert isinstance(make_roles("perm", DIM, 0, 0), SignedPermutationRoles)
    assert isinstance(make_roles("haar", DIM, 0, 0), HaarRoles)
    with pytest.raises(ValueError, match="Unknown binding 'dense'; use one of 'perm', 'haar'"):
        make_roles("dense", DIM, 0, 0)
    with pytest.raises(ValueError, match="must be >= 0"):
        make_roles("perm", DIM, 0, 0).power(POSITION_ROLE, -1)
