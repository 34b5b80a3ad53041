"""Shared fixtures: real DuckDB connections and encoders."""

from __future__ import annotations

import duckdb
import pytest

import duckdb_vsa

SMALL_DIM = 256


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection with duckdb_vsa registered at D = 256."""
    connection = duckdb.connect()
    duckdb_vsa.register(connection, dim=SMALL_DIM)
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def encoder() -> duckdb_vsa.Encoder:
    """The default encoder at D = 256."""
    return duckdb_vsa.Encoder(dim=SMALL_DIM)
