"""Random JSON values: always a unit vector of the right dimension, always the same bytes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import duckdb_vsa

# st.characters() alone almost never draws a surrogate; mix some in on purpose.
characters = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),
    st.sampled_from('aZ \u00e9\u6771\U0001f600\x00\n"'),
)
texts = st.text(alphabet=characters, max_size=30)
huge_ints = st.integers(min_value=10**300, max_value=10**600).flatmap(
    lambda n: st.sampled_from([n, -n])
)
floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 5e-324, 1.7976931348623157e308, math.inf, -math.inf, math.nan]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), huge_ints, floats, texts)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(texts, children, max_size=6),
    ),
    max_leaves=40,
)

ENCODERS = {
    "perm": duckdb_vsa.Encoder(dim=256, binding="perm"),
    "haar": duckdb_vsa.Encoder(dim=64, binding="haar"),
}
FILLER = [{"filler": [1, "two", None]}, 3.5, [[], {}]]

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def wrap(value):
    """A top-level Python str is JSON text; a string value is passed inside a list."""
    return [value] if isinstance(value, str) else value


@pytest.mark.parametrize("binding", ["perm", "haar"])
@SETTINGS
@given(doc=json_values)
def test_random_json_gives_a_deterministic_unit_vector(binding, doc) -> None:
    enc = ENCODERS[binding]
    doc = wrap(doc)
    first = enc.encode(doc)
    assert first.shape == (enc.dim,)
    assert first.dtype == np.float32
    assert np.isfinite(first).all()
    assert abs(float(np.linalg.norm(first.astype(np.float64))) - 1.0) < 1e-5

    assert enc.encode(doc).tobytes() == first.tobytes()
    batch = enc.encode_batch([FILLER[0], doc, *FILLER[1:], doc])
    assert batch[1].tobytes() == first.tobytes()
    assert batch[-1].tobytes() == first.tobytes()
    np.testing.assert_allclose(enc.encode_tree(doc), first, rtol=0, atol=1e-5)


@SETTINGS
@given(doc=json_values)
def test_random_json_as_text_equals_the_object(doc) -> None:
    enc = ENCODERS["perm"]
    doc = wrap(doc)
    text = json.dumps(doc)  # NaN and Infinity as Python's json writes them
    assert enc.encode(text).tobytes() == enc.encode(doc).tobytes()
