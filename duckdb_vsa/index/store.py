"""Indexes kept in the database: their definitions and the data a restart needs.

Two tables in schema main of the indexed table's database:

- ``duckdb_vsa_indexes``: one row per index (name, table, column, method,
  options, dimension, check);
- ``duckdb_vsa_index_data``: the arrays an approximate index cannot rebuild
  cheaply, as BLOBs.

What is stored, chosen by measurement (``benchmarks/index_store.py``):

- an exact index stores nothing but its definition: loading it reads the column,
  which is all building it does;
- an IVF index stores its cell centres and, per vector, its content hash and
  cell. Loading reads the column, puts each vector in the cell stored for its
  content, and compares only new vectors with the centres: no k-means, and a
  few bytes per row on disk instead of a second copy of the vectors (faiss's
  own serialisation of a 1,000,000 x 256 IVF index is 1 GB and was slower to
  write and to read back than the column itself);
- an HNSW graph cannot be rebuilt cheaply, so faiss's serialisation of it is
  stored, with the rowid and content hash of each vector.

Blobs are split into parts of :data:`PART_BYTES`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import duckdb
import numpy as np

from duckdb_vsa.db.names import Relation, fold, stored_key, stored_name

__all__ = [
    "DATA_TABLE",
    "INDEXES_TABLE",
    "PART_BYTES",
    "Definition",
    "definitions",
    "delete",
    "load_arrays",
    "references",
    "save",
]

INDEXES_TABLE = "duckdb_vsa_indexes"
DATA_TABLE = "duckdb_vsa_index_data"
#: Largest BLOB written in one row.
PART_BYTES = 256 * 2**20


@dataclasses.dataclass(frozen=True)
class Definition:
    """An index recorded in a database.

    Attributes
    ----------
    database : str
        The database whose tables hold it (the indexed table's).
    name : str
    table : str
        The table, named relative to ``database`` (see :func:`~duckdb_vsa.db.names.stored_name`).
    column : str
    method : str
    options : dict
    dim : int
    check : str
    """

    database: str
    name: str
    table: str
    column: str
    method: str
    options: dict[str, Any]
    dim: int
    check: str

    def key(self) -> tuple[str, str, str] | None:
        """The table, as :meth:`Relation.key`."""
        return stored_key(self.table, self.database)


def _table(database: str, name: str) -> Relation:
    return Relation(database, "main", name)


def _exists(con: duckdb.DuckDBPyConnection, relation: Relation) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
            "AND table_name = ?",
            list(relation.parts),
        ).fetchall()[0][0]
    )


def definitions(con: duckdb.DuckDBPyConnection, database: str | None = None) -> list[Definition]:
    """Every index recorded in ``database`` (or in every attached database).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Read in its current snapshot.
    database : str, optional

    Returns
    -------
    list of Definition
    """
    where = "" if database is None else " AND database_name = ?"
    databases = [
        d
        for (d,) in con.execute(
            "SELECT database_name FROM duckdb_tables() WHERE schema_name = 'main' "
            f"AND table_name = ?{where} ORDER BY database_name",
            [INDEXES_TABLE] + ([] if database is None else [database]),
        ).fetchall()
    ]
    found = []
    for db in databases:
        rows = con.execute(
            "SELECT name, table_name, column_name, method, options, dim, check_mode FROM "
            f"{_table(db, INDEXES_TABLE).sql} ORDER BY name"
        ).fetchall()
        for name, table, column, method, options, dim, check in rows:
            found.append(
                Definition(db, name, table, column, method, json.loads(options), dim, check)
            )
    return found


def _create(con: duckdb.DuckDBPyConnection, database: str) -> None:
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {_table(database, INDEXES_TABLE).sql} (name VARCHAR, "
        "table_name VARCHAR, column_name VARCHAR, method VARCHAR, options VARCHAR, dim INTEGER, "
        "check_mode VARCHAR, rows BIGINT, built_at TIMESTAMP)"
    ).fetchall()
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {_table(database, DATA_TABLE).sql} (name VARCHAR, "
        "part VARCHAR, seq INTEGER, data BLOB)"
    ).fetchall()


def save(
    con: duckdb.DuckDBPyConnection,
    name: str,
    relation: Relation,
    column: str,
    method: str,
    options: dict[str, Any],
    dim: int,
    check: str,
    rows: int,
    arrays: dict[str, np.ndarray],
) -> None:
    """Record an index (replacing one of the same name) in its table's database.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Written on, in its open transaction if it has one.
    name : str
    relation : Relation
        The indexed table.
    column, method, options, dim, check
        The definition.
    rows : int
        Vectors indexed (for listings).
    arrays : dict of str to numpy.ndarray
        The data to keep, by part name.
    """
    db = relation.database
    _create(con, db)
    _delete_rows(con, db, name)
    con.execute(
        f"INSERT INTO {_table(db, INDEXES_TABLE).sql} VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
        "current_timestamp)",
        [
            name,
            stored_name(relation),
            column,
            method,
            json.dumps(options, sort_keys=True),
            dim,
            check,
            rows,
        ],
    ).fetchall()
    data = _table(db, DATA_TABLE).sql
    for part, array in arrays.items():
        raw = np.ascontiguousarray(array).tobytes()
        header = json.dumps({"dtype": array.dtype.str, "shape": list(array.shape)})
        con.execute(f"INSERT INTO {data} VALUES (?, ?, -1, ?)", [name, part, header.encode()])
        for seq, start in enumerate(range(0, max(len(raw), 1), PART_BYTES)):
            piece = raw[start : start + PART_BYTES]
            con.execute(f"INSERT INTO {data} VALUES (?, ?, ?, ?)", [name, part, seq, piece])


def load_arrays(con: duckdb.DuckDBPyConnection, database: str, name: str) -> dict[str, np.ndarray]:
    """The arrays :func:`save` kept for index ``name`` in ``database``."""
    rows = con.execute(
        f"SELECT part, seq, data FROM {_table(database, DATA_TABLE).sql} WHERE name = ? "
        "ORDER BY part, seq",
        [name],
    ).fetchall()
    pieces: dict[str, list[bytes]] = {}
    headers: dict[str, dict[str, Any]] = {}
    for part, seq, data in rows:
        if seq < 0:
            headers[part] = json.loads(bytes(data).decode())
        else:
            pieces.setdefault(part, []).append(bytes(data))
    out = {}
    for part, header in headers.items():
        raw = b"".join(pieces.get(part, []))
        out[part] = np.frombuffer(raw, dtype=np.dtype(header["dtype"])).reshape(header["shape"])
    return out


def _delete_rows(con: duckdb.DuckDBPyConnection, database: str, name: str) -> None:
    for table in (INDEXES_TABLE, DATA_TABLE):
        relation = _table(database, table)
        if _exists(con, relation):
            con.execute(f"DELETE FROM {relation.sql} WHERE name = ?", [name]).fetchall()


def delete(con: duckdb.DuckDBPyConnection, database: str, name: str) -> None:
    """Forget index ``name`` of ``database``; drop the two tables once they are empty."""
    _delete_rows(con, database, name)
    indexes = _table(database, INDEXES_TABLE)
    if (
        _exists(con, indexes)
        and con.execute(f"SELECT count(*) FROM {indexes.sql}").fetchall()[0][0]
    ):
        return
    for table in (INDEXES_TABLE, DATA_TABLE):
        con.execute(f"DROP TABLE IF EXISTS {_table(database, table).sql}").fetchall()


def references(defs: list[Definition], relation: Relation, column: str) -> list[Definition]:
    """The definitions of indexes on ``column`` of ``relation``."""
    return [d for d in defs if d.key() == relation.key() and fold(d.column) == fold(column)]
