"""Which vectors of a column are the encodings of the documents beside them.

:func:`~duckdb_vsa.db.columns.encode_column` encodes only the rows whose vector
is missing or no longer the encoding of the row's document. To know that
without encoding again, every vector it writes is recorded as a *pair*: the
64-bit hash of the document together with the vector (DuckDB's ``hash(doc,
vec)``), in the table ``duckdb_vsa_encoded`` in schema main of the table's
database (a temporary one for a temporary table), under the table, the vector
column and the configuration's fingerprint. A row is current when its pair is
recorded: its document is then the one the vector was made from.

A pair is a fact about content, not about a row: it stays true whatever
happens to rowids (deletes, checkpoints, the rewrite of an updated row) and
whoever writes the table, and a row whose document was updated, whose vector
was set by hand, or that came from elsewhere with a vector, has a pair that is
not recorded, so it is encoded again. The cost of the check is one hash of
each document and vector. Should DuckDB ever hash differently, every pair
misses and the column is encoded again: the error is always on the side of
encoding too much. See docs/design.md, "Incremental encoding".
"""

from __future__ import annotations

import dataclasses

import duckdb

from duckdb_vsa.db.names import Relation, fold, stored_name
from duckdb_vsa.sqltext import quote_ident, quote_literal

__all__ = ["ENCODED_TABLE", "EncodedPairs", "pair_sql"]

#: The table of recorded pairs, in schema main of each database with an encoded column.
ENCODED_TABLE = "duckdb_vsa_encoded"


def pair_sql(doc_sql: str, vec_sql: str) -> str:
    """SQL for the pair of a document and a vector.

    Examples
    --------
    >>> pair_sql('"doc"', '"vec"')
    'hash("doc", "vec")'
    """
    return f"hash({doc_sql}, {vec_sql})"


@dataclasses.dataclass(frozen=True)
class EncodedPairs:
    """The recorded pairs of one vector column and one configuration.

    Attributes
    ----------
    relation : Relation
        The table of the vector column.
    doc : str
        The document column, as stored.
    vec : str
        The vector column, as stored.
    fingerprint : str
        The configuration that made the vectors.
    """

    relation: Relation
    doc: str
    vec: str
    fingerprint: str

    @property
    def table(self) -> Relation:
        """``duckdb_vsa_encoded`` in schema main of the table's database."""
        return Relation(self.relation.database, "main", ENCODED_TABLE)

    def _where(self) -> str:
        return (
            f"table_name = {quote_literal(stored_name(self.relation))} "
            f"AND column_name = {quote_literal(self.vec)} "
            f"AND fingerprint = {quote_literal(self.fingerprint)}"
        )

    def _row_pair(self) -> str:
        return pair_sql(quote_ident(self.doc), quote_ident(self.vec))

    def exists(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the table of pairs exists in the table's database."""
        return bool(
            con.execute(
                "SELECT count(*) FROM duckdb_tables() "
                "WHERE database_name = ? AND schema_name = ? AND table_name = ?",
                list(self.table.parts),
            ).fetchall()[0][0]
        )

    def stale_sql(self, recorded: bool) -> str:
        """SQL predicate over the table's rows: the row's vector is not current.

        A row is current when its document and vector are both NULL, or their
        pair is recorded (``recorded``: whether the table of pairs exists).
        """
        doc, vec = quote_ident(self.doc), quote_ident(self.vec)
        if not recorded:
            return f"NOT ({doc} IS NULL AND {vec} IS NULL)"
        return (
            f"NOT ({doc} IS NULL AND {vec} IS NULL) AND ({doc} IS NULL OR {vec} IS NULL OR "
            f"{self._row_pair()} NOT IN (SELECT pair FROM {self.table.sql} WHERE {self._where()}))"
        )

    def current_sql(self) -> str:
        """SQL predicate over the table's rows: a document and its current vector.

        Only valid when the table of pairs exists (:meth:`exists`).
        """
        doc, vec = quote_ident(self.doc), quote_ident(self.vec)
        return (
            f"{doc} IS NOT NULL AND {vec} IS NOT NULL AND {self._row_pair()} IN "
            f"(SELECT pair FROM {self.table.sql} WHERE {self._where()})"
        )

    def _create(self, con: duckdb.DuckDBPyConnection) -> None:
        temp = fold(self.table.database) == "temp"
        # A temporary table can only be created unqualified, with TEMP.
        target = quote_ident(ENCODED_TABLE) if temp else self.table.sql
        con.execute(
            f"CREATE {'TEMP ' if temp else ''}TABLE IF NOT EXISTS {target} "
            "(table_name VARCHAR, column_name VARCHAR, fingerprint VARCHAR, pair UBIGINT)"
        ).fetchall()

    def update(
        self,
        con: duckdb.DuckDBPyConnection,
        new_pairs_sql: str | None = None,
        rows: int | None = None,
    ) -> None:
        """Add the pairs of ``new_pairs_sql``, dropping those no row of the table has.

        Parameters
        ----------
        con : duckdb.DuckDBPyConnection
        new_pairs_sql : str, optional
            A query of one column of pairs, each the pair of a document and the
            vector made from it. None: every row of the table with a document
            and a vector is current (the caller has just written them all).
        rows : int, optional
            The table's rows. A recorded pair no row has any more is harmless (it
            is still true), so they are dropped only when there are more pairs
            than rows, which saves hashing the table again on every call.
        """
        self._create(con)
        table, where = self.table.sql, self._where()
        # The column now holds this configuration's vectors only.
        con.execute(
            f"DELETE FROM {table} WHERE table_name = {quote_literal(stored_name(self.relation))} "
            f"AND column_name = {quote_literal(self.vec)} "
            f"AND fingerprint <> {quote_literal(self.fingerprint)}"
        ).fetchall()
        doc, vec = quote_ident(self.doc), quote_ident(self.vec)
        present = (
            f"SELECT {self._row_pair()} FROM {self.relation.sql} "
            f"WHERE {doc} IS NOT NULL AND {vec} IS NOT NULL"
        )
        if new_pairs_sql is None:
            con.execute(f"DELETE FROM {table} WHERE {where}").fetchall()
            new_pairs_sql = present
        con.execute(
            f"INSERT INTO {table} SELECT DISTINCT {quote_literal(stored_name(self.relation))}, "
            f"{quote_literal(self.vec)}, {quote_literal(self.fingerprint)}, __vsa_p "
            f"FROM ({new_pairs_sql}) AS __vsa_new(__vsa_p) WHERE __vsa_p IS NOT NULL "
            f"AND __vsa_p NOT IN (SELECT pair FROM {table} WHERE {where})"
        ).fetchall()
        if rows is not None:
            kept = con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchall()[0][0]
            if kept > rows:
                con.execute(
                    f"DELETE FROM {table} WHERE {where} AND pair NOT IN ({present})"
                ).fetchall()
