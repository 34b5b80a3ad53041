"""Where an index's vectors come from, and the SQL that reads that table again.

A UDF cannot run SQL on the connection that calls it, so the SQL macros run
the SQL this module writes (handed to them as text, through ``query(...)``)
and pass what it returns to the index functions:

- the table's *signature* in the query's own snapshot (:meth:`IndexSource.signature_sql`),
  which tells the index whether it may answer for that snapshot;
- the table's rowids and rows, to join hits back (:func:`rows_sql`).

The index itself reads the committed table through a helper connection
(:meth:`IndexSource.state_sql`, :meth:`IndexSource.vectors_sql`,
:meth:`IndexSource.hashes_sql`).

Signatures come in modes:

- ``"w"``: the table is watched (see :mod:`duckdb_vsa.db.changes`): the
  statements logged by its triggers, the column's type and a hash of its first
  vector. A lookup in a small table and a read of one row, whatever the table's
  size. (Whether the three triggers exist is checked when the query is planned.)
- ``"wr"``: ``"w"`` plus the row count and the sum of the rowids. DuckDB
  renumbers rows when a checkpoint vacuums deleted ones, without firing a
  trigger; while a table holds deleted rows not yet vacuumed, an index checks
  its rowids this way (a scan of the rowids, not of the vectors).
- ``"f"`` and ``"s"``: the table is not watched: a hash of every rowid and
  vector (``"f"``), or of every rowid and three elements of each vector (``"s"``).
"""

from __future__ import annotations

import dataclasses

from duckdb_vsa.db.changes import Watch
from duckdb_vsa.db.names import Relation
from duckdb_vsa.sqltext import display_name, quote_ident, quote_literal

__all__ = ["CHECKS", "MODES", "IndexSource", "rows_sql"]

#: What a fingerprint hashes when the table is not watched (see :func:`duckdb_vsa.build_index`).
CHECKS = ("full", "sample")

#: Signature modes, from cheapest to most thorough.
MODES = ("w", "wr", "f", "s")


@dataclasses.dataclass(frozen=True)
class IndexSource:
    """The table and vector column an index (or a cached exact matrix) reads.

    Attributes
    ----------
    name : str
        The index name that SQL uses (empty for the exact matrix the plain
        macros cache).
    relation : Relation
        The table.
    column : str
        The vector column, as stored.
    dim : int
        Vector dimension.
    check : {"full", "sample"}
        What the fingerprint hashes when the table is not watched.
    watch : str
        The key of the table's watch (:class:`~duckdb_vsa.db.changes.Watch`),
        empty if it has none.
    """

    name: str
    relation: Relation
    column: str
    dim: int
    check: str = "full"
    watch: str = ""

    @property
    def table(self) -> str:
        """The table, fully qualified and quoted (``"memory"."main"."items"``)."""
        return self.relation.sql

    @property
    def display_table(self) -> str:
        """The table as a user would write it: ``memory.main.items``."""
        return display_name(self.relation.parts)

    def with_watch(self, key: str) -> IndexSource:
        """This source with another watch key (empty: none)."""
        return dataclasses.replace(self, watch=key)

    @property
    def _watch(self) -> Watch:
        return Watch(self.relation, self.column, self.watch)

    def sample_sql(self) -> str:
        """SQL: the column's type and a hash of the first vector of the table.

        ``ALTER TABLE ... ALTER COLUMN ... USING`` rewrites a column without
        firing a trigger, and without changing the catalog when the type
        stays; it is seen when it changes the type or these vectors.
        """
        col = quote_ident(self.column)
        return (
            f"coalesce((SELECT typeof({col}) || '@' || coalesce(hash({col}), 0)::VARCHAR "
            f"FROM {self.table} LIMIT 1), '?')"
        )

    def rowids_sql(self) -> str:
        """SQL: ``'<rows>:<sum of rowids>'`` of the table."""
        return (
            f"(SELECT count(*)::VARCHAR || ':' || coalesce(sum(rowid), 0)::VARCHAR "
            f"FROM {self.table})"
        )

    def fingerprint_sql(self) -> str:
        """SQL: ``'<rows>:<hash>'`` of every rowid and vector (or sampled elements)."""
        col = quote_ident(self.column)
        if self.check == "full":
            hashed = col
        else:
            # An updated vector is stored under a new rowid, so the rowids catch
            # updates; the sampled elements catch another row landing on an old rowid.
            dim = max(self.dim, 1)
            hashed = ", ".join(f"{col}[{i}]" for i in sorted({1, dim // 2 + 1, dim}))
        return (
            "(SELECT count(*)::VARCHAR || ':' || coalesce(bit_xor(hash(rowid, "
            f"{hashed})), 0)::VARCHAR FROM {self.table})"
        )

    def core_sql(self, mode: str) -> str:
        """SQL: the signature of the table in mode ``mode`` (see the module notes).

        Raises
        ------
        ValueError
            If ``mode`` is a watched mode and the source has no watch.
        """
        if mode in ("w", "wr"):
            if not self.watch:
                raise ValueError("Internal error: a watched signature of an unwatched table.")
            watch = self._watch
            core = f"'{mode}|' || {watch.counts_sql()} || '|' || {self.sample_sql()}"
            return core if mode == "w" else f"{core} || '|' || {self.rowids_sql()}"
        return f"'{mode}|' || {self.sample_sql()} || '|' || {self.fingerprint_sql()}"

    def signature_sql(self, mode: str, shadow_check: str = "true") -> str:
        """A query giving the signature in mode ``mode`` in the caller's snapshot.

        Parameters
        ----------
        mode : str
            One of :data:`MODES`.
        shadow_check : str
            SQL condition that holds if the caller's snapshot resolves the
            table name to this table; otherwise the signature is NULL.

        Returns
        -------
        str
            One row, one column ``__vsa_sig``.
        """
        return f"SELECT CASE WHEN {shadow_check} THEN {self.core_sql(mode)} END AS __vsa_sig"

    def state_sql(self) -> str:
        """A query giving, in one row, what a helper connection records about the table.

        Columns: the ``"w"`` core (NULL when unwatched), the rowids part, the
        estimated size (rows stored, deleted ones included until vacuumed),
        the row count, the largest rowid and the fingerprint (NULL when watched).
        """
        watched = self.core_sql("w") if self.watch else "NULL::VARCHAR"
        unwatched = "NULL::VARCHAR" if self.watch else self.core_sql(self.mode_unwatched)
        db, schema, table = (quote_literal(p) for p in self.relation.parts)
        return (
            f"SELECT {watched}, {self.rowids_sql()}, "
            "(SELECT estimated_size FROM duckdb_tables() WHERE database_name = "
            f"{db} AND schema_name = {schema} AND table_name = {table}), "
            f"(SELECT count(*) FROM {self.table}), (SELECT max(rowid) FROM {self.table}), "
            f"{unwatched}"
        )

    @property
    def mode_unwatched(self) -> str:
        """The mode of this source's fingerprint when the table is not watched."""
        return "f" if self.check == "full" else "s"

    def vectors_sql(self, after: int | None = None, *, hashed: bool = True) -> str:
        """A query giving ``rowid, hash, vector`` of rows, by rowid.

        Parameters
        ----------
        after : int, optional
            Only rows with a larger rowid (rows appended since), NULL vectors
            included; without it, every row with a vector.
        hashed : bool, default True
            Hash each vector (what an approximate index pairs rows by); else the
            hash is 0, and the column is not hashed (an exact index reads it again).
        """
        col = quote_ident(self.column)
        where = f"rowid > {int(after)}" if after is not None else f"{col} IS NOT NULL"
        digest = f"hash({col})" if hashed else "0::UBIGINT"
        return f"SELECT rowid, {digest}, {col} FROM {self.table} WHERE {where} ORDER BY rowid"

    def hashes_sql(self) -> str:
        """A query giving ``rowid, hash`` of every row with a vector, by rowid."""
        col = quote_ident(self.column)
        return f"SELECT rowid, hash({col}) FROM {self.table} WHERE {col} IS NOT NULL ORDER BY rowid"


def rows_sql(reference: str) -> str:
    """A query giving ``__vsa_rowid, __vsa_row`` (the whole row as a STRUCT) of a table.

    Parameters
    ----------
    reference : str
        The table as SQL text, resolved in the caller's context.

    Examples
    --------
    >>> rows_sql('"items"')
    'SELECT rowid AS __vsa_rowid, __vsa_t AS __vsa_row FROM "items" AS __vsa_t'
    """
    return f"SELECT rowid AS __vsa_rowid, __vsa_t AS __vsa_row FROM {reference} AS __vsa_t"
