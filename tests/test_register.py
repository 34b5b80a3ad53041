"""register(): the database functions hold configurations, the bounded registry the encoders."""

from __future__ import annotations

import gc
import weakref

import duckdb
import numpy as np
import pytest

import duckdb_vsa
from duckdb_vsa.encoder import SHARED_ENCODERS
from duckdb_vsa.errors import ConfigMismatchError

DOC = '{"name": "red shoe", "size": [40, 41], "tags": {"new": true}}'


def _sql_vector(con: duckdb.DuckDBPyConnection) -> bytes:
    vector = con.execute("SELECT vsa_encode(?)", [DOC]).fetchall()[0][0]
    return np.asarray(vector, dtype=np.float32).tobytes()


def _use_every_function(con: duckdb.DuckDBPyConnection) -> None:
    """Run the encoder, probe, field value and explain functions of this configuration."""
    con.execute(
        "SELECT vsa_field_similarity(vsa_encode(?), '$.name', '\"red shoe\"'), "
        'vsa_explain(?, \'{"name": "shoe"}\')',
        [DOC, DOC],
    ).fetchall()


def test_many_configurations_keep_a_bounded_number_of_encoders_alive() -> None:
    con = duckdb.connect()
    seeds = range(101, 107)
    assert len(seeds) > SHARED_ENCODERS
    first: dict[int, bytes] = {}
    alive = []
    for seed in seeds:
        encoder = duckdb_vsa.register(con, dim=64, seed=seed, replace=True)
        first[seed] = _sql_vector(con)
        _use_every_function(con)
        assert first[seed] == encoder.encode(DOC).tobytes()
        alive.append(weakref.ref(encoder))
        del encoder
    gc.collect()
    assert sum(ref() is not None for ref in alive) <= SHARED_ENCODERS
    # The functions of the old configurations still exist, and get the same vectors
    # from encoders rebuilt on demand.
    for seed in seeds:
        duckdb_vsa.register(con, dim=64, seed=seed, replace=True)
        assert _sql_vector(con) == first[seed]
        fingerprint = duckdb_vsa.Encoder(dim=64, seed=seed).fingerprint
        direct = con.execute(f"SELECT __vsa_encode_{fingerprint}_raise(?)", [DOC]).fetchall()
        assert np.asarray(direct[0][0], dtype=np.float32).tobytes() == first[seed]
    gc.collect()
    assert sum(ref() is not None for ref in alive) <= SHARED_ENCODERS
    con.close()


def test_registered_encoder_is_the_one_register_returned() -> None:
    con = duckdb.connect()
    encoder = duckdb_vsa.register(con, dim=64, seed=5, cache_bytes=1 << 20)
    assert duckdb_vsa.registered_encoder(con) is encoder
    assert encoder.cache_bytes == 1 << 20
    con.close()


def test_a_mismatch_names_both_configurations_in_the_one_wording() -> None:
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=64)
    with pytest.raises(ConfigMismatchError) as excinfo:
        duckdb_vsa.register(con, dim=64, seed=3)
    message = str(excinfo.value)
    assert "seed=0" in message and "seed=3" in message
    assert "Vectors of different configurations are not comparable: " in message
    con.close()
