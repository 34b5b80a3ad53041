"""SQL text: quoting identifiers and literals, and reading qualified names as DuckDB does.

Every piece of SQL the package writes quotes names through :func:`quote_ident`
and values through :func:`quote_literal` (or binds them as parameters), so no
table, column or index name can change the statement it appears in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from duckdb_vsa.errors import InvalidArgumentError

_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def quote_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier.

    Examples
    --------
    >>> quote_ident('we"ird name')
    '"we""ird name"'
    """
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a SQL string literal.

    Examples
    --------
    >>> quote_literal("it's")
    "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"


def qualified(parts: Iterable[str]) -> str:
    """Quoted parts joined by dots: ``"memory"."main"."items"``."""
    return ".".join(quote_ident(p) for p in parts)


def display_name(parts: Iterable[str]) -> str:
    """Parts joined by dots, quoted only where a plain name would not read back the same.

    Examples
    --------
    >>> display_name(["main", "My Table"])
    'main."My Table"'
    """
    return ".".join(p if _SIMPLE.fullmatch(p) else quote_ident(p) for p in parts)


def split_identifier(name: str, what: str = "table name") -> tuple[str, ...]:
    """Read a possibly qualified, possibly quoted name the way DuckDB's ``query_table`` does.

    Parts are separated by dots. A part in double quotes may hold dots,
    spaces and doubled quotes (``"we""ird"``); a part without quotes is taken
    as written, spaces and case included, and may not hold a quote.

    Parameters
    ----------
    name : str
        Such as ``items``, ``main.items``, ``"My Table"`` or ``db."a.b"``.
    what : str, default "table name"
        What the name names, for the error message.

    Returns
    -------
    tuple of str
        The parts, unquoted.

    Raises
    ------
    InvalidArgumentError
        If ``name`` is not a string, is empty, has an empty part or a stray quote.

    Examples
    --------
    >>> split_identifier('main."a.b"')
    ('main', 'a.b')
    >>> split_identifier('"we""ird"')
    ('we"ird',)
    """
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"A {what} must be a non-empty string, got {name!r}.")
    parts: list[str] = []
    i, n = 0, len(name)
    while True:
        if name[i] == '"':
            quoted = read_quoted(name, i)
            if quoted is None:
                raise InvalidArgumentError(
                    f"The {what} {name!r} has an unbalanced double quote; write a quote "
                    'inside a quoted name twice, as in "we""ird".'
                )
            part, i = quoted
        else:
            end = name.find(".", i)
            end = n if end < 0 else end
            part = name[i:end]
            if '"' in part:
                raise InvalidArgumentError(
                    f"The {what} {name!r} has a double quote inside an unquoted part; quote "
                    f"that part and double its quotes, as in {quote_ident(part)}."
                )
            i = end
        if not part:
            raise InvalidArgumentError(f"The {what} {name!r} has an empty part.")
        parts.append(part)
        if i == n:
            return tuple(parts)
        if name[i] != "." or i + 1 == n:
            raise InvalidArgumentError(
                f"The {what} {name!r} cannot be read: parts are separated by single dots, "
                "and a part with dots, spaces or quotes is written in double quotes."
            )
        i += 1


def read_quoted(text: str, start: int) -> tuple[str, int] | None:
    """The double-quoted name that opens at ``text[start]``, and the index just after it.

    A doubled quote inside stands for one quote. None if the name is not closed.

    Examples
    --------
    >>> read_quoted('x."we""ird".y', 2)
    ('we"ird', 11)
    """
    chunks, i = [], start + 1
    while True:
        end = text.find('"', i)
        if end < 0:
            return None
        chunks.append(text[i:end])
        if text.startswith('"', end + 1):
            chunks.append('"')
            i = end + 2
            continue
        return "".join(chunks), end + 1
