"""Where an index came from, and the SQL that reads that table again.

The ``vsa_index_*`` macros cannot see rowids through ``query_table``, and a UDF
cannot run SQL, so the catalog hands the macros SQL text over the indexed
table (through ``__vsa_index_sql``) that they run with ``query(...)``: its
fingerprint, its rowids and vectors, or its rowids and whole rows.

The fingerprint is the freshness check: :func:`~duckdb_vsa.build_index` records
it, every query recomputes it in its own snapshot, and the UDF refuses to
answer when the two differ.
"""

from __future__ import annotations

import dataclasses

from duckdb_vsa.sqltext import display_name, quote_ident, split_identifier

__all__ = ["CHECKS", "SQL_PARTS", "IndexSource", "source_sql"]

#: What a fingerprint may hash (see :func:`duckdb_vsa.build_index`).
CHECKS = ("full", "sample")

#: What :meth:`IndexSource.sql` gives.
SQL_PARTS = ("fingerprint", "rows", "vectors", "table", "column")


@dataclasses.dataclass(frozen=True)
class IndexSource:
    """Where an index built by :func:`~duckdb_vsa.build_index` came from.

    Attributes
    ----------
    name : str
        The index name that SQL uses.
    table : str
        The table, fully qualified and quoted (``"memory"."main"."items"``).
    column : str
        The vector column.
    fingerprint : str
        ``"<row count>:<hash>"`` of the table when the index was built.
    check : {"full", "sample"}
        What the fingerprint hashes (see :func:`~duckdb_vsa.build_index`).
    dim : int
        Vector dimension of the column.
    """

    name: str
    table: str
    column: str
    fingerprint: str
    check: str = "full"
    dim: int = 0

    def sql(self, part: str) -> str:
        """SQL over the indexed table, or one of its names.

        Parameters
        ----------
        part : {"fingerprint", "vectors", "rows", "table", "column"}
            A query giving the table's ``fingerprint``, its rowids and
            ``vectors``, or its rowids and ``rows``; or the ``table`` name as
            ``db.schema.table`` (quoted only where needed), or the ``column`` name.

        Returns
        -------
        str

        Examples
        --------
        >>> IndexSource("i", '"memory"."main"."a.b"', "vec", "").sql("table")
        'memory.main."a.b"'
        """
        if part == "table":
            return self.display_table
        if part == "column":
            return self.column
        return source_sql(self.table, self.column, part, self.check, self.dim)

    @property
    def display_table(self) -> str:
        """The table as a user would write it: ``memory.main.items``."""
        return display_name(split_identifier(self.table))

    @property
    def rows(self) -> int:
        """Rows the table had (vectors or NULL) when the index was built."""
        return int(self.fingerprint.split(":", 1)[0])


def source_sql(table: str, column: str, part: str, check: str = "full", dim: int = 0) -> str:
    """SQL over an indexed table: its ``fingerprint``, ``vectors`` or ``rows``.

    The fingerprint query is the one :func:`~duckdb_vsa.build_index` records:
    both must hash the column exactly as stored.

    Parameters
    ----------
    table : str
        The quoted, qualified table.
    column : str
        The vector column (unquoted).
    part : {"fingerprint", "vectors", "rows"}
    check : {"full", "sample"}, default "full"
    dim : int
        The vector dimension (``"sample"`` hashes three of its elements).

    Returns
    -------
    str

    Examples
    --------
    >>> source_sql('"t"', "vec", "vectors")
    'SELECT rowid AS __vsa_rowid, "vec" AS __vsa_v FROM "t"'
    """
    col = quote_ident(column)
    if part == "fingerprint":
        if check == "full":
            hashed = col
        else:
            # DuckDB rewrites an updated LIST/ARRAY row under a new rowid, so
            # rowids catch updates until a checkpoint renumbers rows; the
            # sampled elements catch a different row landing on an old rowid.
            hashed = ", ".join(f"{col}[{i}]" for i in sorted({1, dim // 2 + 1, max(dim, 1)}))
        return (
            "SELECT count(*)::VARCHAR || ':' || coalesce(bit_xor(hash(rowid, "
            f"{hashed})), 0)::VARCHAR AS __vsa_fingerprint FROM {table}"
        )
    if part == "vectors":
        return f"SELECT rowid AS __vsa_rowid, {col} AS __vsa_v FROM {table}"
    return f"SELECT rowid AS __vsa_rowid, __vsa_t AS __vsa_row FROM {table} AS __vsa_t"
