"""parse_json: JSON text to Python values, its errors and its limits (docs/design.md, "Parsing").

Shallow documents go through Python's ``json`` scanner; text it cannot take
(nesting beyond its recursion limit, integers beyond its 4,300-digit limit) goes
through an iterative parser. Wrapping a document in :data:`DEEP` arrays sends it
down the iterative path, so every rule is checked on both.
"""

from __future__ import annotations

import json
import math

import pytest
from conftest import nested, nested_value
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import duckdb_vsa
from duckdb_vsa.errors import DocumentError
from duckdb_vsa.parse import MAX_DEPTH, parse_json, preview

#: Arrays around a document that take it past json's recursion limit.
DEEP = 1500


def deep(text: str, levels: int = DEEP) -> str:
    return "[" * levels + text + "]" * levels


def unwrap(value: object, levels: int = DEEP) -> object:
    for _ in range(levels):
        assert type(value) is list and len(value) == 1
        value = value[0]
    return value


def canonical(value: object) -> str:
    """A comparable form: NaN equals NaN, 1 differs from 1.0, key order is kept."""
    return json.dumps(value)


def assert_same_nesting(got: object, expected: object) -> None:
    """Compare two deeply nested values level by level (no recursion)."""
    while isinstance(expected, (dict, list)):
        assert type(got) is type(expected)
        assert len(got) == len(expected) == 1
        if isinstance(expected, dict):
            assert list(got) == list(expected)
            got, expected = got["k"], expected["k"]
        else:
            got, expected = got[0], expected[0]
    assert got == expected


# -- invalid and empty JSON ------------------------------------------------------------

INVALID = [
    ('{"a": 1,', "property name"),
    ('{"a": tru}', "expecting value"),
    ("[1, 2", "expecting ','"),
    ("{'a': 1}", "property name"),
    ('{"a": 1} trailing', "extra data"),
    ("undefined", "expecting value"),
]


@pytest.mark.parametrize(("text", "problem"), INVALID)
def test_invalid_json_error_names_the_problem_and_shows_the_value(encoder, text, problem) -> None:
    for read in (parse_json, encoder.encode):
        with pytest.raises(duckdb_vsa.DocumentError) as excinfo:
            read(text)
        message = str(excinfo.value)
        assert "invalid json" in message.lower()
        assert problem in message.lower(), message
        assert text in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": 1,', "expecting a property name"),
        ('{"a": tru}', "unexpected character"),
        ("[1, 2", "unexpected end"),
        ("{'a': 1}", "unexpected character"),
        ('{"a": 1} trailing', "unexpected character"),
        ("undefined", "unexpected character"),
        ('{"a" 1}', "expecting ':'"),
        ("[1,]", "expecting a value"),
        ("[1 2]", "expecting ',' or the end of the container"),
        ('["\\x"]', "invalid \\escape"),
        ('["unterminated', "unterminated string"),
    ],
)
def test_iterative_parser_names_the_problem_and_shows_the_start(text, problem) -> None:
    with pytest.raises(DocumentError) as excinfo:
        parse_json(deep(text))
    message = str(excinfo.value)
    assert message.startswith("Invalid JSON ("), message
    assert problem in message.lower(), message
    assert "[[[[[[[[" in message
    assert f"({2 * DEEP + len(text)} characters)" in message
    assert len(message) < 300


@pytest.mark.parametrize("text", ['"abc', deep('"abc')], ids=["json", "iterative"])
def test_an_unterminated_string_error_reads_as_a_sentence(text) -> None:
    with pytest.raises(DocumentError, match=r"(?i)unterminated string") as excinfo:
        parse_json(text)
    assert " at at " not in str(excinfo.value)


def test_iterative_parser_refuses_extra_data_after_the_document() -> None:
    for tail in (" x", "]", " []", "\n{}"):
        with pytest.raises(DocumentError, match="extra data"):
            parse_json(deep("1") + tail)
    assert unwrap(parse_json(deep("1") + " \n\t\r")) == 1


def test_invalid_json_error_shows_only_the_start_of_a_long_value(encoder) -> None:
    text = '{"a": [1, 2, 3], "b": oops' + ', "c": 1' * 10_000 + "}"
    for read in (parse_json, encoder.encode):
        with pytest.raises(duckdb_vsa.DocumentError) as excinfo:
            read(text)
        message = str(excinfo.value)
        assert text[:40] in message
        assert len(message) < 500
        assert str(len(text)) in message  # says how long the value is


def test_document_error_is_a_value_error() -> None:
    assert issubclass(duckdb_vsa.DocumentError, ValueError)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_document_is_a_clear_error(encoder, text) -> None:
    for read in (parse_json, encoder.encode):
        with pytest.raises(duckdb_vsa.DocumentError, match=r"(?i)empty") as excinfo:
            read(text)
        assert "NULL" in str(excinfo.value)  # says what to pass instead


def test_preview_quotes_short_text_and_cuts_long_text_at_60_characters() -> None:
    assert preview("{}") == "'{}'"
    assert preview("x" * 60) == repr("x" * 60)
    long = "".join(chr(ord("a") + i % 26) for i in range(1000))
    assert preview(long) == repr(long[:60]) + "... (1000 characters)"


def test_non_string_input_is_a_type_error() -> None:
    for value in (b"{}", None, 1, ["{}"]):
        with pytest.raises(TypeError, match=type(value).__name__):
            parse_json(value)

    class Text(str):
        pass

    assert parse_json(Text('{"a": [1]}')) == {"a": [1]}


# -- the values read ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3),
        ("3.0", 3.0),
        ("-0", 0),
        ("-0.0", -0.0),
        ("1e2", 100.0),
        ("2.5E-3", 0.0025),
        ('"a\\u00e9\\n"', "a\u00e9\n"),
        ("true", True),
        ("null", None),
        ('{"b": [1, {"c": false}], "a": {}}', {"b": [1, {"c": False}], "a": {}}),
        ("[[], {}, [[]]]", [[], {}, [[]]]),
    ],
)
def test_both_paths_read_json_values_with_their_types(text, expected) -> None:
    for got in (parse_json(text), unwrap(parse_json(deep(text)))):
        assert canonical(got) == canonical(expected)
        assert type(got) is type(expected)
    assert math.copysign(1, unwrap(parse_json(deep("-0.0")))) == -1.0


@pytest.mark.parametrize(
    ("text", "last"),
    [
        ('{"a": 1, "a": 2}', {"a": 2}),
        ('{"a": 1, "b": 3, "a": "two"}', {"a": "two", "b": 3}),
        ('{"o": {"x": 1, "x": [1]}, "o": {"y": null}}', {"o": {"y": None}}),
        ('[{"k": 1, "k": 1, "k": 5}]', [{"k": 5}]),
    ],
)
def test_duplicate_keys_keep_the_last_value(text, last) -> None:
    for got in (parse_json(text), unwrap(parse_json(deep(text)))):
        assert canonical(got) == canonical(last)
    # A repeated key keeps its first place, as json.loads does.
    for got in (
        parse_json('{"a": 1, "b": 2, "a": 3}'),
        unwrap(parse_json(deep('{"a": 1, "b": 2, "a": 3}'))),
    ):
        assert list(got.items()) == [("a", 3), ("b", 2)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"\\ud800"', "\ud800"),
        ('"\\udfff lone low"', "\udfff lone low"),
        ('{"\\ud800": "\\udbff"}', {"\ud800": "\udbff"}),
        ('"\\ud83d\\ude00"', "\U0001f600"),
        ('"\ud800 raw"', "\ud800 raw"),
        ('"\\u0000 nul"', "\x00 nul"),
    ],
)
def test_lone_surrogates_and_escapes_are_read_as_written(text, expected) -> None:
    for got in (parse_json(text), unwrap(parse_json(deep(text)))):
        assert got == expected


def test_nan_and_infinity_are_numbers() -> None:
    for wrap, read in ((str, parse_json), (deep, lambda t: unwrap(parse_json(t)))):
        assert math.isnan(read(wrap("NaN")))
        assert read(wrap("Infinity")) == math.inf
        assert read(wrap("-Infinity")) == -math.inf
        values = read(wrap('{"x": [NaN, Infinity, -Infinity]}'))["x"]
        assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf]
        for text in ("nan", "inf", "-NaN", "+Infinity", "infinity"):
            with pytest.raises(DocumentError, match="Invalid JSON"):
                read(wrap(text))


# Python refuses str() <-> int() beyond 4,300 digits, so the texts are built directly.
SEVENS_5000 = "7" * 5000


def test_integers_of_any_length_are_read() -> None:
    assert parse_json("1" + "0" * 400) == 10**400
    assert parse_json("-1" + "0" * 400) == -(10**400)
    # Beyond Python's conversion limit: the iterative parser, which reads ±infinity.
    assert parse_json(SEVENS_5000) == math.inf
    assert parse_json("-" + SEVENS_5000) == -math.inf
    assert parse_json('{"n": [' + SEVENS_5000 + "]}") == {"n": [math.inf]}
    assert unwrap(parse_json(deep("-" + SEVENS_5000))) == -math.inf
    # Floats beyond float64 are infinite on both paths, as json.loads reads them.
    for text, value in (
        ("1e400", math.inf),
        ("-1e400", -math.inf),
        ("1" + "0" * 400 + ".0", math.inf),
    ):
        assert parse_json(text) == value
        assert unwrap(parse_json(deep(text))) == value


def test_integers_of_301_to_309_digits_read_the_same_in_deep_documents() -> None:
    text = "1" + "0" * 305
    assert parse_json(text) == 10**305
    assert unwrap(parse_json(deep(text))) == 10**305


@pytest.mark.parametrize("tail", ["\x0c", "\xa0", "\u2003"], ids=["form feed", "nbsp", "em space"])
def test_iterative_parser_refuses_trailing_characters_json_refuses(tail) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads("[1]" + tail)
    with pytest.raises(DocumentError):
        parse_json("[1]" + tail)
    with pytest.raises(DocumentError):
        parse_json(deep("1") + tail)
    with pytest.raises(DocumentError):
        parse_json(SEVENS_5000 + tail)


# -- nesting ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["object", "array", "mixed"])
def test_nesting_1000_levels_is_read_without_recursion(kind) -> None:
    assert_same_nesting(parse_json(nested(1000, kind)), nested_value(1000, kind))


def test_nesting_up_to_the_limit_is_read_and_beyond_it_refused() -> None:
    assert unwrap(parse_json(deep("[]", MAX_DEPTH - 1)), MAX_DEPTH - 1) == []
    objects = '{"k": ' * MAX_DEPTH + "1" + "}" * MAX_DEPTH
    value = parse_json(objects)
    for _ in range(MAX_DEPTH):
        value = value["k"]
    assert value == 1
    for text in (deep("[]", MAX_DEPTH), '{"k": ' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)):
        with pytest.raises(DocumentError, match=f"nested deeper than {MAX_DEPTH}"):
            parse_json(text)


def test_nesting_beyond_the_limit_is_a_clear_error(encoder) -> None:
    for read in (parse_json, encoder.encode):
        with pytest.raises(duckdb_vsa.DocumentError, match="nested deeper"):
            read("[" * 50_000 + "]" * 50_000)


# -- against json.loads ------------------------------------------------------------------

_json_texts = st.one_of(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=10,
    ).map(json.dumps),
    st.text(max_size=30),
)


@settings(max_examples=300, deadline=None)
@given(
    body=_json_texts,
    before=st.sampled_from(["", " ", "\n\t"]),
    after=st.sampled_from(["", " ", "x", "}"]),
)
def test_parse_json_reads_what_json_loads_reads(body: str, before: str, after: str) -> None:
    text = before + body + after
    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(DocumentError):
            parse_json(text)
        return
    got = parse_json(text)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


# Integers of more than 300 digits are a known difference of the iterative parser.
_bounded_json_texts = st.one_of(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(10**200), 10**200)
        | st.floats()
        | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=10,
    ).map(json.dumps),
    st.text(max_size=30),
)


@settings(max_examples=200, deadline=None)
@given(
    body=_bounded_json_texts,
    before=st.sampled_from(["", " ", "\n\t\r"]),
    after=st.sampled_from(["", " ", "x", "}", ",", ":"]),
)
def test_the_iterative_parser_reads_what_json_loads_reads(
    body: str, before: str, after: str
) -> None:
    text = before + body + after
    # As the second element of the innermost array: [[[...[0, text]...]]].
    wrapped = deep("0," + text)
    try:
        expected = json.loads(text)
    except ValueError:
        # Brackets or commas could make the wrapped text valid on their own.
        assume(not set(text) & set("[]{},"))
        with pytest.raises(DocumentError):
            parse_json(wrapped)
        return
    got = unwrap(parse_json(wrapped), DEEP - 1)
    assert canonical(got) == canonical([0, expected])
