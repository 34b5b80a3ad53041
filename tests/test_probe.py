"""Probing: vsa_probe, vsa_field_similarity and vsa_decode recover field values."""

from __future__ import annotations

import json
import random

import duckdb
import numpy as np
import pytest

import duckdb_vsa

COLORS = ["red", "green", "blue", "black", "white", "yellow", "purple", "orange", "brown", "grey"]
_WORDS = ["trail", "shoe", "linen", "wool", "jacket", "bag", "merino", "sandal", "cap", "belt"]


def records(n: int, leaves: int, seed: int = 0) -> list[dict]:
    """``n`` records of exactly ``leaves`` leaves, one of them a ``color`` from COLORS."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        doc: dict = {"color": rng.choice(COLORS)}
        extra = leaves - 1
        i = 0
        while extra > 0:
            if i % 4 == 3 and extra >= 2:
                doc[f"part{i}"] = {"name": rng.choice(_WORDS), "qty": rng.randint(1, 99)}
                extra -= 2
            elif i % 2:
                doc[f"f{i}"] = rng.choice(_WORDS) + " " + rng.choice(_WORDS)
                extra -= 1
            else:
                doc[f"f{i}"] = round(rng.uniform(1, 1000), 2)
                extra -= 1
            i += 1
        out.append(doc)
    return out


def decode_accuracy(leaves: int, n: int = 200, dim: int = 1024) -> float:
    """Top-1 accuracy of vsa_decode for the color of ``n`` records of ``leaves`` leaves."""
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=dim)
    docs = records(n, leaves, seed=leaves)
    con.execute("CREATE TABLE recs (id INTEGER, doc VARCHAR)").fetchall()
    con.executemany(
        "INSERT INTO recs VALUES (?, ?)", [[i, json.dumps(d)] for i, d in enumerate(docs)]
    )
    con.execute(
        "CREATE TABLE colors AS SELECT to_json(c) AS c FROM unnest(?::VARCHAR[]) t(c)", [COLORS]
    ).fetchall()
    duckdb_vsa.encode_column(con, "recs", "doc", "vec", progress=False)
    rows = con.execute(
        "SELECT r.id, value FROM vsa_decode('recs', 'vec', '$.color', 'colors', 'c', k := 1)"
    ).fetchall()
    con.close()
    assert len(rows) == n
    truth = {i: json.dumps(d["color"]) for i, d in enumerate(docs)}
    return sum(truth[i] == value for i, value in rows) / n


def test_decoding_accuracy_and_how_it_falls_with_record_size() -> None:
    accuracy = {leaves: decode_accuracy(leaves) for leaves in (10, 20, 40, 80, 160)}
    print("\ndecode top-1 accuracy of $.color at D = 1024 (200 records, 10 colors):")
    for leaves, acc in accuracy.items():
        print(f"  {leaves:4d} leaves: {acc:.3f}")
    assert accuracy[10] >= 0.95
    assert accuracy[20] >= 0.95
    # More fields mean more crosstalk: accuracy must not rise far with size.
    assert accuracy[160] <= accuracy[20] + 0.02


def test_field_similarity_filters_on_a_field(con: duckdb.DuckDBPyConnection) -> None:
    docs = records(60, 8, seed=1)
    con.execute("CREATE TABLE recs (id INTEGER, doc VARCHAR)").fetchall()
    con.executemany(
        "INSERT INTO recs VALUES (?, ?)", [[i, json.dumps(d)] for i, d in enumerate(docs)]
    )
    con.execute("ALTER TABLE recs ADD COLUMN vec FLOAT[256]").fetchall()
    con.execute("UPDATE recs SET vec = vsa_encode(doc)").fetchall()
    found = {
        i
        for (i,) in con.execute(
            """SELECT id FROM recs WHERE vsa_field_similarity(vec, '$.color', '"red"') > 0.25"""
        ).fetchall()
    }
    truth = {i for i, d in enumerate(docs) if d["color"] == "red"}
    assert truth and found == truth


def test_probe_of_nested_paths_and_array_positions() -> None:
    enc = duckdb_vsa.Encoder(dim=1024)
    doc = {"a": {"b": "deep value"}, "items": ["first", "second", "third"], "x": 7}
    v = enc.encode(doc)
    assert enc.field_similarity(v, "$.a.b", "deep value") > 0.3
    assert abs(enc.field_similarity(v, "$.a.b", "something else")) < 0.15
    # Position 1 holds "second"; position 2 holds "third".
    assert enc.decode(v, "$.items[1]", ["first", "second", "third"], k=1)[0][0] == "second"
    assert enc.decode(v, "$.items[2]", ["first", "second", "third"], k=1)[0][0] == "third"
    # The bag part holds every element, unordered.
    bag = [s for s, _ in enc.decode(v, "$.items[*]", ["first", "second", "third", "zebra"], k=3)]
    assert sorted(bag) == ["first", "second", "third"]
    # A container's content is its structure vector.
    assert enc.field_similarity(v, "$.a", {"b": "deep value"}) > 0.3


def test_probe_is_the_inverse_of_binding() -> None:
    enc = duckdb_vsa.Encoder(dim=256, alpha=0.0, beta=0.0)
    v = enc.encode({"k": "value"})
    probed = enc.probe(v, "$.k").astype(np.float64)
    value = enc.field_vector("$.k", "value").astype(np.float64)
    # Exact but for the marker's 16 coordinates, which replace 16 of the bound content's.
    cosine = probed @ value / (np.linalg.norm(probed) * np.linalg.norm(value))
    assert cosine > 1 - 2 * 16 / 256


def test_sql_probe_matches_python_and_passes_nulls(con: duckdb.DuckDBPyConnection) -> None:
    enc = duckdb_vsa.registered_encoder(con)
    doc = '{"color": "red", "tags": ["a", "b"]}'
    (probed,) = con.execute("SELECT vsa_probe(vsa_encode(?), '$.tags[1]')", [doc]).fetchall()[0]
    assert np.allclose(np.array(probed, dtype=np.float32), enc.probe(enc.encode(doc), "$.tags[1]"))
    assert con.execute("SELECT vsa_probe(NULL::FLOAT[256], '$.a')").fetchall() == [(None,)]
    score = con.execute(
        """SELECT vsa_field_similarity(vsa_encode(?), '$.color', '"red"')""", [doc]
    ).fetchall()[0][0]
    assert score == pytest.approx(enc.field_similarity(enc.encode(doc), "$.color", "red"), abs=1e-5)


def test_bad_paths_and_values_raise_clear_errors(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(duckdb.Error, match="starts with '\\$'"):
        con.execute("SELECT vsa_probe(vsa_encode('{}'), 'color')").fetchall()
    with pytest.raises(duckdb.Error, match="for field hints only"):
        con.execute("SELECT vsa_probe(vsa_encode('{}'), '$.*')").fetchall()
    with pytest.raises(duckdb.Error, match="Give values as JSON"):
        con.execute("SELECT vsa_field_similarity(vsa_encode('{}'), '$.a', 'red')").fetchall()
    with pytest.raises(duckdb.Error, match="length 256"):
        con.execute("SELECT vsa_probe([1, 2, 3]::FLOAT[], '$.a')").fetchall()
