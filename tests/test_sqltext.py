"""SQL text: quoting identifiers and literals, and reading qualified names (duckdb_vsa.sqltext)."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duckdb_vsa.errors import InvalidArgumentError, VsaError
from duckdb_vsa.sqltext import display_name, qualified, quote_ident, quote_literal, split_identifier


def test_quote_ident_and_quote_literal() -> None:
    assert quote_ident("items") == '"items"'
    assert quote_ident('we"ird name') == '"we""ird name"'
    assert quote_ident("") == '""'
    assert quote_literal("it's") == "'it''s'"
    assert quote_literal("") == "''"
    assert qualified(["memory", "main", "a.b"]) == '"memory"."main"."a.b"'


def test_display_name_quotes_only_where_needed() -> None:
    assert display_name(["main", "items_2"]) == "main.items_2"
    assert display_name(["main", "My Table"]) == 'main."My Table"'
    assert display_name(["a.b", "2x", 'q"']) == '"a.b"."2x"."q"""'


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("items", ("items",)),
        ("main.items", ("main", "items")),
        ("memory.main.items", ("memory", "main", "items")),
        ("Items", ("Items",)),
        ("My Table", ("My Table",)),
        (" padded ", (" padded ",)),
        ('"My Table"', ("My Table",)),
        ('main."a.b"', ("main", "a.b")),
        ('"a.b".c', ("a.b", "c")),
        ('"we""ird"', ('we"ird',)),
        ('""""', ('"',)),
        ('"x"."y"."z"', ("x", "y", "z")),
        ('"東京".表', ("東京", "表")),
        ("'single'", ("'single'",)),
    ],
)
def test_split_identifier(name, parts) -> None:
    assert split_identifier(name) == parts


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "must be a non-empty string"),
        (None, "must be a non-empty string"),
        (3, "must be a non-empty string"),
        ("a..b", "has an empty part"),
        (".a", "has an empty part"),
        ('""', "has an empty part"),
        ("a.", "parts are separated by single dots"),
        ('"a".', "parts are separated by single dots"),
        ('"a"b', "parts are separated by single dots"),
        ('"a" .b', "parts are separated by single dots"),
        ('"unbalanced', "unbalanced double quote"),
        ('"a""', "unbalanced double quote"),
        ('a"b', "double quote inside an unquoted part"),
        ('main.a"b"', "double quote inside an unquoted part"),
    ],
)
def test_a_name_that_cannot_be_read_is_a_clear_error(name, fragment) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment) as excinfo:
        split_identifier(name)
    assert isinstance(excinfo.value, VsaError) and isinstance(excinfo.value, ValueError)
    assert repr(name) in str(excinfo.value)


def test_errors_name_what_the_name_names() -> None:
    with pytest.raises(InvalidArgumentError, match=r"The index name 'a\.\.b' has an empty part"):
        split_identifier("a..b", what="index name")
    with pytest.raises(InvalidArgumentError, match=r'quote that part.*"a""b"'):
        split_identifier('a"b')


_parts = st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3).map(tuple)


@settings(max_examples=300, deadline=None)
@given(parts=_parts)
def test_quoted_names_read_back_as_their_parts(parts) -> None:
    assert split_identifier(qualified(parts)) == parts
    assert split_identifier(display_name(parts)) == parts


@pytest.mark.parametrize(
    "parts",
    [
        ("main", "items"),
        ("my schema", 'we"ird.name'),
        ("main", "My Table"),
        ("s.1", "t 2"),
        ("main", "emoji 😀"),
    ],
)
def test_duckdb_reads_quoted_names_and_split_names_as_the_same_table(parts) -> None:
    con = duckdb.connect()
    try:
        schema, table = parts
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}").fetchall()
        con.execute(
            f"CREATE TABLE {qualified(parts)} AS SELECT {quote_literal(table)} AS t"
        ).fetchall()
        for written in (qualified(parts), display_name(parts), "memory." + qualified(parts)):
            via_duckdb = con.execute("SELECT t FROM query_table(?)", [written]).fetchall()
            ours = con.execute(f"SELECT t FROM {qualified(split_identifier(written))}").fetchall()
            assert via_duckdb == ours == [(table,)]
    finally:
        con.close()


@pytest.fixture(scope="module")
def plain_con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(
        alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20
    )
)
def test_duckdb_reads_a_quoted_literal_and_identifier_as_written(plain_con, text) -> None:
    assert plain_con.execute(f"SELECT {quote_literal(text)}").fetchall() == [(text,)]
    if text:
        assert plain_con.execute(f"SELECT 1 AS {quote_ident(text)}").description[0][0] == text
