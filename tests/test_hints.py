"""Field hints change what they should and nothing else."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest
from conftest import varied_documents

import duckdb_vsa

DOC = {
    "year": 1999,
    "price": 120.0,
    "sku": "AB-100",
    "title": "red trail shoe",
    "items": [{"sku": "x1", "qty": 2}, {"sku": "y2", "qty": 3, "note": "gift"}],
    "meta": {"a": {"name": "left"}, "b": {"name": "right"}},
}


def content(vector: np.ndarray) -> np.ndarray:
    """A document vector without the marker of its configuration (its last D / 16, at most 16)."""
    return vector[: len(vector) - min(16, len(vector) // 16)]


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a.astype(np.float64) @ b.astype(np.float64))


def field(enc: duckdb_vsa.Encoder, doc: dict, path: str, value: object) -> float:
    return enc.field_similarity(enc.encode(doc), path, value)


def test_no_hints_changes_nothing() -> None:
    plain = duckdb_vsa.Encoder(dim=256)
    for fields in (None, {}):
        hinted = duckdb_vsa.Encoder(dim=256, fields=fields)
        assert hinted.fingerprint == plain.fingerprint
        docs = varied_documents(50)
        assert np.array_equal(hinted.encode_batch(docs), plain.encode_batch(docs))


def test_hints_are_in_the_fingerprint_and_canonical() -> None:
    a = duckdb_vsa.Encoder(dim=256, fields={"$.year": {"kind": "number", "scale": 5}})
    b = duckdb_vsa.Encoder(dim=256, fields={'$["year"]': {"scale": 5, "kind": "number"}})
    c = duckdb_vsa.Encoder(dim=256, fields={"$.year": {"kind": "number", "scale": 6}})
    assert (
        a.fingerprint == b.fingerprint != c.fingerprint != duckdb_vsa.Encoder(dim=256).fingerprint
    )
    assert "fields=" in a.config.describe()


def test_number_hint_makes_a_linear_scale() -> None:
    plain = duckdb_vsa.Encoder(dim=1024)
    linear = duckdb_vsa.Encoder(dim=1024, fields={"$.year": {"kind": "number", "scale": 5}})
    for enc in (plain, linear):
        assert cos(enc.encode({"year": 1999}), enc.encode({"year": 1999.0})) == pytest.approx(1.0)
    # On asinh, 1990 and 2000 are almost equal; on a 5-year scale they are far apart.
    assert cos(plain.encode({"year": 1990}), plain.encode({"year": 2000})) > 0.9
    assert cos(linear.encode({"year": 1990}), linear.encode({"year": 2000})) < 0.3
    assert cos(linear.encode({"year": 1999}), linear.encode({"year": 2000})) > 0.9
    # Another field keeps the default scale.
    # (Vectors of two configurations differ in their markers; their contents are equal.)
    assert np.array_equal(
        content(linear.encode({"born": 1990})), content(plain.encode({"born": 1990}))
    )


def test_category_hint_is_exact_match_only() -> None:
    plain = duckdb_vsa.Encoder(dim=1024)
    cat = duckdb_vsa.Encoder(dim=1024, fields={"$.sku": {"kind": "category"}, "$.n": "category"})
    assert cos(plain.encode({"sku": "AB-100"}), plain.encode({"sku": "AB-101"})) > 0.5
    assert abs(cos(cat.encode({"sku": "AB-100"}), cat.encode({"sku": "AB-101"}))) < 0.15
    assert cos(cat.encode({"sku": "AB-100"}), cat.encode({"sku": "AB-100"})) == pytest.approx(1.0)
    assert abs(cos(cat.encode({"n": 5}), cat.encode({"n": 6}))) < 0.15
    assert np.array_equal(
        content(cat.encode({"other": "AB-100"})), content(plain.encode({"other": "AB-100"}))
    )


def test_text_hint_drops_the_whole_string_atom() -> None:
    plain = duckdb_vsa.Encoder(dim=1024, w_str=1.0)
    text = duckdb_vsa.Encoder(dim=1024, w_str=1.0, fields={"$.title": {"kind": "text"}})
    a, b = {"title": "red trail shoe"}, {"title": "shoe trail red"}
    assert cos(text.encode(a), text.encode(b)) > cos(plain.encode(a), plain.encode(b)) + 0.1


def test_weight_scales_one_field() -> None:
    plain = duckdb_vsa.Encoder(dim=1024)
    heavy = duckdb_vsa.Encoder(dim=1024, fields={"$.title": {"weight": 3}})
    a = {"title": "red trail shoe", "sku": "AB-100"}
    b = {"title": "red trail shoe", "sku": "ZZ-999"}
    assert cos(heavy.encode(a), heavy.encode(b)) > cos(plain.encode(a), plain.encode(b)) + 0.1
    parts = dict(heavy.explain(a, b))
    assert parts["$.title"] > dict(plain.explain(a, b))["$.title"]


def test_ignore_is_as_if_absent() -> None:
    enc = duckdb_vsa.Encoder(dim=256, fields={"$.items[*].note": "ignore", "$.meta": "ignore"})
    plain = duckdb_vsa.Encoder(dim=256)
    stripped = json.loads(json.dumps(DOC))
    del stripped["items"][1]["note"], stripped["meta"]
    assert np.allclose(content(enc.encode(DOC)), content(plain.encode(stripped)), atol=1e-6)


def test_wildcards_and_nesting_and_tree_agreement() -> None:
    fields = {
        "$.year": {"kind": "number", "scale": 5},
        "$.price": {"kind": "number", "scale": 10, "weight": 2},
        "$.sku": {"kind": "category"},
        "$.title": {"kind": "text"},
        "$.items[*].sku": {"weight": 3, "kind": "category"},
        "$.items[*].note": "ignore",
        "$.*.a": {"weight": 0.5},
        "$.meta.b.name": "ignore",
    }
    for binding in ("perm", "haar"):
        enc = duckdb_vsa.Encoder(dim=128, binding=binding, fields=fields)
        docs = [DOC] + [json.loads(d) for d in varied_documents(60, seed=2)]
        texts = [json.dumps(d) for d in docs]
        batch = enc.encode_batch(texts)
        tree = np.stack([enc.encode_tree(t) for t in texts])
        assert np.abs(batch - tree).max() < 1e-5
    # The wildcard hint reached items[1].sku: an exact match only.
    enc = duckdb_vsa.Encoder(dim=1024, fields=fields)
    v = enc.encode(DOC)
    # One array element's share of the positional part is small (w_seq = 0.5): about
    # 0.1 against noise of 1/sqrt(D) ~ 0.03.
    match = enc.field_similarity(v, "$.items[1].sku", "y2")
    assert match > 0.08
    assert match > enc.field_similarity(v, "$.items[1].sku", "y3") + 0.05


def test_invalid_hints_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="needs a scale"):
        duckdb_vsa.Encoder(fields={"$.year": {"kind": "number"}})
    with pytest.raises(ValueError, match="must be one of"):
        duckdb_vsa.Encoder(fields={"$.year": {"kind": "date"}})
    with pytest.raises(ValueError, match="starts with"):
        duckdb_vsa.Encoder(fields={"year": {"weight": 2}})
    with pytest.raises(ValueError, match="whole document"):
        duckdb_vsa.Encoder(fields={"$": {"weight": 2}})
    with pytest.raises(ValueError, match="Unknown hint option"):
        duckdb_vsa.Encoder(fields={"$.a": {"wieght": 2}})


def test_register_with_fields() -> None:
    con = duckdb.connect()
    enc = duckdb_vsa.register(con, dim=256, fields={"$.sku": "category"})
    row = con.execute(
        """SELECT vsa_similarity('{"sku": "AB-100"}', '{"sku": "AB-101"}'),
                  vsa_info().fingerprint"""
    ).fetchall()[0]
    assert abs(row[0]) < 0.3 and row[1] == enc.fingerprint
    with pytest.raises(ValueError, match="fields="):
        duckdb_vsa.register(con, dim=256)
