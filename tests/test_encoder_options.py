"""String leaves weighted by the information they carry: on by default, and off on request.

With the default weights a long string (an id, a timestamp, a text) weighs more
than a short one; with ``string_weight_power=0`` every string leaf is a unit
vector. Either way the batch engine and the tree evaluator agree.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SMALL_DIM, varied_documents

import duckdb_vsa
from duckdb_vsa.config import EncoderConfig

STRING_WEIGHTS = {
    "string_weight_power": 0.75,
    "string_unit_trigrams": 12.0,
    "string_weight_max": 4.0,
}


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_the_defaults_weigh_strings_and_are_in_the_fingerprint() -> None:
    default = EncoderConfig(dim=SMALL_DIM)
    for name, value in STRING_WEIGHTS.items():
        assert getattr(default, name) == value
        assert default.as_dict()[name] == value
    off = EncoderConfig(dim=SMALL_DIM, string_weight_power=0.0)
    assert off.fingerprint != default.fingerprint


@pytest.mark.parametrize(
    "options",
    [
        {"string_weight_power": -0.5},
        {"string_weight_max": 0.5},
        {"string_unit_trigrams": 0.0},
    ],
)
def test_invalid_values_are_refused(options: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        EncoderConfig(**options)


def test_a_string_leaf_weighs_by_its_trigrams() -> None:
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM, **STRING_WEIGHTS)
    texts = ["ok", "abcdefghijkl", "a" * 24, "b" * 500]
    norms = np.linalg.norm(enc.leaves.strings(texts).astype(np.float64), axis=1)
    # Up to 12 trigrams a string weighs 1, as a number does; then (n / 12) ** 0.75, up to 4.
    expected = [1.0, 1.0, 2**0.75, 4.0]
    np.testing.assert_allclose(norms, expected, rtol=1e-5)
    plain = duckdb_vsa.Encoder(dim=SMALL_DIM, string_weight_power=0.0)
    np.testing.assert_allclose(
        np.linalg.norm(plain.leaves.strings(texts).astype(np.float64), axis=1), 1.0, rtol=1e-5
    )


def test_a_long_string_outweighs_a_short_one() -> None:
    doc = {"status": "paid", "order_id": "ORD-2024-000123-DE-BERLIN-0042"}
    for options, heavier in (({"string_weight_power": 0.0}, False), ({}, True)):
        enc = duckdb_vsa.Encoder(dim=1024, **options)
        full = enc.encode(doc)
        without_id = _cos(full, enc.encode({"status": "paid"}))
        without_status = _cos(full, enc.encode({"order_id": doc["order_id"]}))
        assert (without_status > without_id + 0.2) is heavier, options


@pytest.mark.parametrize(
    "options",
    [{}, {"w_str": 0.25, "w_tok": 0.5}, {"string_weight_power": 0.0}],
)
def test_batch_engine_and_tree_evaluator_agree(options: dict) -> None:
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM, **options)
    docs = [json.loads(d) for d in varied_documents(40, seed=3)]
    batch = enc.encode_batch(docs)
    for doc, row in zip(docs, batch):
        assert _cos(row, enc.encode_tree(doc)) > 1 - 1e-5


def test_string_weights_apply_under_a_text_hint() -> None:
    fields = {"$.note": {"kind": "text"}}
    long_note = "leave the parcel with the neighbour at number twelve"
    doc = {"note": long_note, "n": 1}
    plain = duckdb_vsa.Encoder(dim=1024, fields=fields, string_weight_power=0.0)
    weighted = duckdb_vsa.Encoder(dim=1024, fields=fields)
    assert _cos(weighted.encode(doc), weighted.encode({"note": long_note})) > _cos(
        plain.encode(doc), plain.encode({"note": long_note})
    )
