"""``encode --only-missing``: the vectors an existing table already holds for the input.

A row of the old table is reused only when its vector is recorded as made from
its document by the run's configuration (see :mod:`duckdb_vsa.db.encoded`), and
an input document takes it only when its text equals that document's text.
"""

from __future__ import annotations

import dataclasses

import duckdb
import numpy as np
import pyarrow as pa

from duckdb_vsa.cli.output import note
from duckdb_vsa.config import EncoderConfig
from duckdb_vsa.db.columns import column_info
from duckdb_vsa.db.encoded import EncodedPairs
from duckdb_vsa.db.names import Relation, find_column, table_columns
from duckdb_vsa.sqltext import quote_ident

__all__ = ["KnownVectors"]


@dataclasses.dataclass
class KnownVectors:
    """The rows of an old table whose vectors can be kept.

    Attributes
    ----------
    con : duckdb.DuckDBPyConnection
    relation : Relation
        The old table (read until the new one replaces it).
    doc, vec : str
        Its document and vector columns, as stored.
    rows : dict
        Hash of a document (DuckDB's ``hash``) -> rowid of a row holding its vector.
    """

    con: duckdb.DuckDBPyConnection
    relation: Relation
    doc: str
    vec: str
    rows: dict[int, int]

    @classmethod
    def find(
        cls,
        con: duckdb.DuckDBPyConnection,
        relation: Relation,
        recorded: str,
        columns: tuple[str, str],
        config: EncoderConfig,
    ) -> KnownVectors | None:
        """The reusable rows of ``relation``, or None (with a note saying why, if it exists).

        Parameters
        ----------
        con : duckdb.DuckDBPyConnection
        relation : Relation
            The table the run replaces.
        recorded : str
            Its name as the configuration records are kept.
        columns : (str, str)
            The document column and the vector column the run writes.
        config : EncoderConfig
            The run's configuration.
        """
        exists = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
            "AND table_name = ?",
            list(relation.parts),
        ).fetchall()[0][0]
        if not exists:
            return None
        source_column, vector_column = columns
        info = column_info(con, recorded, vector_column)
        found = table_columns(con, relation)
        doc, vec = find_column(found, source_column), find_column(found, vector_column)
        why = ""
        if info is None or doc is None or vec is None:
            why = (
                f"the table has no recorded vector column {vector_column!r} beside "
                f"{source_column!r}"
            )
        elif info["fingerprint"] != config.fingerprint:
            why = f"the table's vectors were made with {info['configuration']}"
        elif not EncodedPairs(relation, doc.name, vec.name, config.fingerprint).exists(con):
            why = "the table records no vector as made from its document"
        if why or doc is None or vec is None:
            note(f"--only-missing: every document is encoded: {why}")
            return None
        pairs = EncodedPairs(relation, doc.name, vec.name, config.fingerprint)
        rows = con.execute(
            f"SELECT hash({quote_ident(doc.name)}), min(rowid) FROM {relation.sql} "
            f"WHERE {pairs.current_sql()} GROUP BY 1"
        ).fetchall()
        return cls(con, relation, doc.name, vec.name, {int(h): int(r) for h, r in rows})

    def lookup(self, docs: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Which of ``docs`` the old table holds a current vector for, and those vectors.

        Parameters
        ----------
        docs : pyarrow.Array of string
            JSON texts of the input.

        Returns
        -------
        mask : numpy.ndarray of bool
            ``mask[i]``: document ``i`` is known.
        vectors : numpy.ndarray of float32, shape (mask.sum(), dim)
            Their vectors, in order.
        """
        mask = np.zeros(len(docs), dtype=bool)
        self.con.register(
            "__vsa_docs", pa.table({"i": pa.array(range(len(docs)), pa.int64()), "doc": docs})
        )
        try:
            hashes = self.con.execute("SELECT hash(doc) FROM __vsa_docs ORDER BY i").fetchall()
        finally:
            self.con.unregister("__vsa_docs")
        wanted = [self.rows.get(int(h)) if h is not None else None for (h,) in hashes]
        rowids = sorted({r for r in wanted if r is not None})
        if not rowids:
            return mask, np.zeros((0, 0), np.float32)
        doc, vec = quote_ident(self.doc), quote_ident(self.vec)
        # Input in the old table's order asks for a narrow range of rowids, which the
        # BETWEEN lets DuckDB read without scanning the whole table.
        found = self.con.execute(
            f"SELECT rowid, {doc}, {vec} FROM {self.relation.sql} WHERE rowid BETWEEN ? AND ? "
            "AND rowid IN (SELECT unnest(?::BIGINT[]))",
            [rowids[0], rowids[-1], rowids],
        ).fetchall()
        by_rowid = {r: (d, v) for r, d, v in found}
        texts = docs.to_pylist()
        vectors = []
        for i, rowid in enumerate(wanted):
            hit = None if rowid is None else by_rowid.get(rowid)
            # The texts are compared: equal hashes alone do not make equal documents.
            if hit is not None and hit[0] == texts[i]:
                mask[i] = True
                vectors.append(hit[1])
        return mask, np.asarray(vectors, dtype=np.float32)
