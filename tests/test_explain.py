"""vsa_explain and Encoder.explain: per-field contributions that add up to the similarity."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest
from conftest import varied_documents

import duckdb_vsa
from duckdb_vsa.parse import parse_json
from duckdb_vsa.paths import ANY_INDEX, format_path
from duckdb_vsa.tree import tree_terms

A = {"name": "Ada Lovelace", "born": 1815, "field": "mathematics", "tags": ["a", "b"]}
B = {"field": "mathematics", "name": "Ada Lovelace", "born": 1816, "tags": ["b", "a"]}
C = {"name": "Alan Turing", "born": 1912, "field": "computing"}


@pytest.mark.parametrize("binding", ["perm", "haar"])
def test_contributions_sum_to_the_similarity(binding: str) -> None:
    enc = duckdb_vsa.Encoder(dim=128, binding=binding)
    docs = varied_documents(40, seed=5)
    for a, b in zip(docs[::2], docs[1::2]):
        parts = enc.explain(a, b)
        total = float(enc.encode(a) @ enc.encode(b))
        assert sum(c for _, c in parts) == pytest.approx(total, abs=1e-5)
        contributions = [c for _, c in parts]
        assert contributions == sorted(contributions, reverse=True)


def leaf_paths(doc: object, prefix: tuple = ()) -> set[str]:
    """Every leaf path of a parsed document, positions written [*]."""
    if isinstance(doc, dict):
        doc = {k: v for k, v in doc.items() if v is not None}  # a null member is absent
    if isinstance(doc, dict) and doc:
        return set().union(*(leaf_paths(v, (*prefix, k)) for k, v in doc.items()))
    if isinstance(doc, list) and doc:
        return set().union(*(leaf_paths(v, (*prefix, ANY_INDEX)) for v in doc))
    return {format_path(prefix)}


def tree_path_vectors(enc: duckdb_vsa.Encoder, doc: object) -> tuple[dict, np.ndarray]:
    """Per leaf path, ``S_p + alpha C_p`` by the tree evaluator; and the whole unnormalised sum."""
    cfg = enc.config

    def only(wanted: str):
        return lambda path: (
            format_path(tuple(ANY_INDEX if type(s) is int else s for s in path)) == wanted
        )

    parts = {}
    for path in leaf_paths(doc):
        s, c, _ = tree_terms(enc.basis, doc, leaf_filter=only(path))
        parts[path] = s + cfg.alpha * c
    s, c, k = tree_terms(enc.basis, doc)
    return parts, s + cfg.alpha * c + cfg.beta * k


@pytest.mark.parametrize("options", [{}, {"alpha": 0.6, "beta": 0.0}, {"binding": "haar"}])
def test_each_contribution_equals_the_tree_evaluators_path_vectors(options: dict) -> None:
    enc = duckdb_vsa.Encoder(dim=128, **options)
    docs = [json.dumps(A), json.dumps(B), json.dumps(C), *varied_documents(12, seed=9)]
    for a_text, b_text in zip(docs[::2], docs[1::2]):
        a, b = parse_json(a_text), parse_json(b_text)
        x_parts, x = tree_path_vectors(enc, a)
        y_parts, y = tree_path_vectors(enc, b)
        # The marker takes the last coordinates, 2**-8 each, of every document vector.
        head = 128 - 8
        marker = 8 * 2.0**-16
        scale = (1.0 - marker) / (np.linalg.norm(x[:head]) * np.linalg.norm(y[:head]))
        explained = dict(enc.explain(a_text, b_text))
        shared = set(x_parts) & set(y_parts)
        assert shared == set(explained) - {"(keys)", "(other)", "(configuration)"}
        assert explained["(configuration)"] == pytest.approx(marker, abs=1e-12)
        for path in shared:
            expected = float(x_parts[path][:head] @ y_parts[path][:head]) * scale
            assert explained[path] == pytest.approx(expected, abs=1e-6), path


def test_shared_fields_get_the_credit() -> None:
    enc = duckdb_vsa.Encoder(dim=1024)
    parts = dict(enc.explain(A, B))
    assert set(parts) == {
        "$.name",
        "$.born",
        "$.field",
        "$.tags[*]",
        "(keys)",
        "(other)",
        "(configuration)",
    }
    for path in ("$.name", "$.field", "$.born", "$.tags[*]"):
        assert parts[path] > 0.1
    assert abs(parts["(other)"]) < 0.1
    unlike = dict(enc.explain(A, C))
    assert unlike["$.field"] < 0.05 and unlike["$.name"] < parts["$.name"]
    by_position = dict(enc.explain(A, B, positions=True))
    assert "$.tags[0]" in by_position and "$.tags[*]" not in by_position


def test_sql_explain_matches_vsa_similarity(con: duckdb.DuckDBPyConnection) -> None:
    a, b = json.dumps(A), json.dumps(C)
    parts, similarity = con.execute(
        "SELECT vsa_explain(?, ?), vsa_similarity(?, ?)", [a, b, a, b]
    ).fetchall()[0]
    assert sum(p["contribution"] for p in parts) == pytest.approx(similarity, abs=1e-5)
    assert [p["contribution"] for p in parts] == sorted(
        (p["contribution"] for p in parts), reverse=True
    )
    assert con.execute("SELECT vsa_explain(NULL, '{}')").fetchall() == [(None,)]
    with pytest.raises(duckdb.Error, match="Invalid JSON"):
        con.execute("SELECT vsa_explain('{', '{}')").fetchall()


def test_explain_of_documents_beyond_the_term_engine() -> None:
    enc = duckdb_vsa.Encoder(dim=64)
    long_a = {"xs": list(range(2000))}
    long_b = {"xs": list(range(1, 2001))}
    parts = enc.explain(long_a, long_b)
    assert sum(c for _, c in parts) == pytest.approx(
        float(enc.encode(long_a) @ enc.encode(long_b)), abs=1e-5
    )
