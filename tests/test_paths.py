"""JSON paths and field hints: parse_path, format_path, normalise_fields, FieldHints.

See docs/design.md, "Field hints".
"""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duckdb_vsa.paths import (
    ANY_INDEX,
    ANY_KEY,
    FieldHints,
    format_path,
    normalise_fields,
    parse_path,
)

# -- parse_path and format_path -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("$", ()),
        ("$.color", ("color",)),
        ("$.items[2].price", ("items", 2, "price")),
        ("$.a-b._c9", ("a-b", "_c9")),
        ('$["unit price"]', ("unit price",)),
        ('$[""]', ("",)),
        ('$["1st"]', ("1st",)),
        ('$["a.b"]["c[0]"]', ("a.b", "c[0]")),
        ('$["say \\"hi\\""]', ('say "hi"',)),
        ('$["back\\\\slash"]', ("back\\slash",)),
        ('$["東京"]', ("東京",)),
        ('$["\\u00e9"]', ("é",)),
        ("$.*", (ANY_KEY,)),
        ("$[*]", (ANY_INDEX,)),
        ("$.items[*].sku", ("items", ANY_INDEX, "sku")),
        ("$.*.a[0][10]", (ANY_KEY, "a", 0, 10)),
        ('$["*"]', ("*",)),
    ],
)
def test_parse_path(text, steps) -> None:
    got = parse_path(text)
    assert got == steps
    assert [type(s) for s in got] == [type(s) for s in steps]
    # Writing the steps back and reading them again gives the same steps.
    assert parse_path(format_path(got)) == got


@pytest.mark.parametrize(
    ("steps", "text"),
    [
        ((), "$"),
        (("items", 2, "unit price"), '$.items[2]["unit price"]'),
        (("a-b", "_x"), "$.a-b._x"),
        (("1st", "-a", ""), '$["1st"]["-a"][""]'),
        (('q"uote', "東京"), '$["q\\"uote"]["東京"]'),
        (("items", ANY_INDEX, ANY_KEY), "$.items[*].*"),
        (("*",), '$["*"]'),
    ],
)
def test_format_path_writes_the_canonical_form(steps, text) -> None:
    assert format_path(steps) == text
    assert parse_path(text) == steps


def test_canonical_form_of_equivalent_paths() -> None:
    for written in ('$["year"]', "$.year"):
        assert format_path(parse_path(written)) == "$.year"
    assert format_path(parse_path('$["a b"][0]')) == '$["a b"][0]'


_steps = st.lists(
    st.one_of(
        st.text(max_size=8),
        st.integers(min_value=0, max_value=10**6),
        st.sampled_from([ANY_KEY, ANY_INDEX]),
    ),
    max_size=6,
).map(tuple)


@settings(max_examples=300, deadline=None)
@given(steps=_steps)
def test_format_then_parse_is_the_identity(steps) -> None:
    text = format_path(steps)
    assert parse_path(text) == steps
    assert format_path(parse_path(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "color",
        "",
        ".color",
        "$.",
        "$..a",
        "$[x]",
        "$[-1]",
        "$[1.5]",
        "$.a b",
        "$['a']",
        '$["a]',
        "$a",
    ],
)
def test_a_path_that_cannot_be_read_is_a_clear_error(text) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_path(text)
    message = str(excinfo.value)
    assert repr(text) in message
    if text.startswith("$"):
        assert "at character" in message and "[*]" in message
    else:
        assert "starts with '$'" in message


def test_a_path_must_be_text() -> None:
    for value in (None, 3, ("a",)):
        with pytest.raises(ValueError, match=r"starts with '\$'"):
            parse_path(value)


def test_wildcards_print_as_written_and_survive_pickling() -> None:
    assert repr(ANY_KEY) == ".*" and repr(ANY_INDEX) == "[*]"
    assert pickle.loads(pickle.dumps(ANY_KEY)) is ANY_KEY
    assert pickle.loads(pickle.dumps((ANY_INDEX, "a"))) == (ANY_INDEX, "a")


# -- normalise_fields -------------------------------------------------------------------


def test_no_hints_is_the_empty_tuple() -> None:
    assert normalise_fields(None) == ()
    assert normalise_fields({}) == ()


def test_hints_are_canonical_sorted_and_hashable() -> None:
    hints = normalise_fields(
        {
            '$["year"]': {"scale": 5, "kind": "number"},
            "$.sku": "category",
            '$["a b"][*]': {"weight": 2},
            "$.meta": "ignore",
        }
    )
    # Sorted by code point: "." before "[".
    assert hints == (
        ("$.meta", (("kind", "ignore"),)),
        ("$.sku", (("kind", "category"),)),
        ("$.year", (("kind", "number"), ("scale", 5.0))),
        ('$["a b"][*]', (("weight", 2.0),)),
    )
    hash(hints)
    assert type(dict(hints)["$.year"][1][1]) is float
    # Normalising again changes nothing.
    assert normalise_fields(hints) == hints


@pytest.mark.parametrize(
    ("fields", "error", "fragment"),
    [
        ({"$.year": {"kind": "number"}}, ValueError, "needs a scale"),
        ({"$.year": {"kind": "date"}}, ValueError, "must be one of number, category, text, ignore"),
        ({"$.year": "date"}, ValueError, "must be one of"),
        ({"year": {"weight": 2}}, ValueError, "starts with"),
        ({"$": {"weight": 2}}, ValueError, "whole document"),
        ({"$.a": {"wieght": 2}}, ValueError, "Unknown hint option"),
        ({"$.a": {"weight": -1}}, ValueError, "non-negative finite"),
        ({"$.a": {"weight": float("nan")}}, ValueError, "non-negative finite"),
        ({"$.a": {"weight": float("inf")}}, ValueError, "non-negative finite"),
        ({"$.a": {"weight": True}}, ValueError, "non-negative finite"),
        ({"$.a": {"weight": "2"}}, ValueError, "non-negative finite"),
        ({"$.a": {"scale": 2}}, ValueError, "kind='number' only"),
        ({"$.a": {"kind": "category", "scale": 2}}, ValueError, "kind='number' only"),
        ({"$.a": {"kind": "number", "scale": 0}}, ValueError, "positive finite"),
        ({"$.a": {"kind": "number", "scale": False}}, ValueError, "positive finite"),
        ({"$.a": {"weight": 2}, '$["a"]': {"weight": 3}}, ValueError, "same path '\\$.a'"),
        ({"$.a": 2}, TypeError, "must be a dict"),
        ([("$.a", {"weight": 2})], TypeError, "fields must be a dict"),
    ],
)
def test_invalid_hints_are_named(fields, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        normalise_fields(fields)


# -- FieldHints --------------------------------------------------------------------------


def hints(fields: dict) -> FieldHints:
    return FieldHints(normalise_fields(fields))


def test_resolve_multiplies_the_weights_of_the_patterns_matching_the_path() -> None:
    h = hints(
        {"$.items[*].sku": {"weight": 3}, "$.items[1].sku": {"weight": 0.5}, "$.*": {"weight": 2}}
    )
    assert h.resolve(("items", 1, "sku"), None) == (1.5, None, False)
    assert h.resolve(("items", 0, "sku"), None) == (3.0, None, False)
    assert h.resolve(("items",), None) == (2.0, None, False)
    assert h.resolve(("items", 0), None) == (1.0, None, False)  # weights do not inherit here
    assert h.resolve(("other", 0, "sku"), None) == (1.0, None, False)


def test_resolve_keeps_the_parent_kind_unless_a_pattern_names_one() -> None:
    h = hints({"$.a": "category", "$.a.b": {"kind": "number", "scale": 2}, "$.c": {"weight": 2}})
    assert h.resolve(("a",), None) == (1.0, "category", False)
    assert h.resolve(("a", "b"), "category") == (1.0, ("number", 2.0), False)
    assert h.resolve(("a", "x"), "category") == (1.0, "category", False)
    assert h.resolve(("c",), "text") == (2.0, "text", False)


def test_the_last_kind_in_sorted_order_wins() -> None:
    h = hints({"$.*": "text", "$.a": "category"})
    # Sorted canonical order: "$.*" before "$.a".
    assert h.resolve(("a",), None)[1] == "category"
    assert h.resolve(("b",), None)[1] == "text"


def test_ignore_marks_the_node_and_keeps_the_kind() -> None:
    h = hints({"$.meta": "ignore", "$.items[*].note": "ignore"})
    assert h.resolve(("meta",), None)[2] is True
    assert h.resolve(("items", 4, "note"), None)[2] is True
    assert h.resolve(("items", 4, "sku"), None)[2] is False
    assert h.resolve(("meta",), "text")[1] == "text"


def test_wildcards_match_only_their_kind_of_step() -> None:
    h = hints({"$.*": {"weight": 2}, "$[*]": {"weight": 3}, '$["0"]': {"weight": 5}})
    assert h.resolve(("a",), None)[0] == 2.0
    assert h.resolve(("0",), None)[0] == 10.0  # "$.*" and the key "0"
    assert h.resolve((0,), None)[0] == 3.0  # a position is not the key "0"
    assert h.resolve((ANY_INDEX,), None)[0] == 3.0  # a probe's [*] step is any position
    assert h.resolve((ANY_KEY,), None)[0] == 1.0
    assert h.resolve(("a", "b"), None)[0] == 1.0  # patterns match whole paths only


def test_kind_at_resolves_every_prefix_in_turn() -> None:
    h = hints({"$.a": "category", "$.a.b": "text", "$.n": {"kind": "number", "scale": 5}})
    assert h.kind_at(()) is None
    assert h.kind_at(("a",)) == "category"
    assert h.kind_at(("a", "x", 3)) == "category"
    assert h.kind_at(("a", "b", 0)) == "text"
    assert h.kind_at(("n", 2)) == ("number", 5.0)
    assert h.kind_at(("z",)) is None
