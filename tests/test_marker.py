"""Vectors carry their configuration: the marker rule on every path vectors travel.

Vectors encoded with seed 1 reach a connection registered with seed 0 through
Parquet (a view, a copy read back), ``CREATE TABLE AS``, a CSV round trip and
an attached database file, none of which keeps a recorded configuration. The
macros, the index builders and the command line refuse them with the mismatch
message; vectors of the connection's own configuration travel the same paths
and work; vectors without any marker are accepted.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import duckdb_vsa
from duckdb_vsa.config import EncoderConfig
from duckdb_vsa.errors import ConfigMismatchError
from duckdb_vsa.marker import (
    MARKER_VALUE,
    check_vectors,
    foreign_keys,
    foreign_rows,
    marker_keys,
    marker_pattern,
    marker_size,
)

DIM = 256
ROWS = 30
#: What every refusal says: the vectors are of another configuration than this connection's.
REFUSED = r"another configuration than this connection's.*seed=0.*not comparable"
PATHS = ("parquet view", "parquet copy", "create table as", "csv", "attached file")


def _docs_sql(n: int = ROWS) -> str:
    return (
        "SELECT i AS id, json_object('name', 'item ' || (i % 7), 'n', i) AS doc "
        f"FROM range({n}) r(i)"
    )


def _source(tmp_path: Path, seed: int) -> Path:
    """A database file whose table ``t`` holds vectors of ``seed``, and its Parquet/CSV copies."""
    path = tmp_path / f"seed{seed}.duckdb"
    con = duckdb.connect(str(path))
    duckdb_vsa.register(con, dim=DIM, seed=seed)
    con.execute(f"CREATE TABLE t AS SELECT id, doc, vsa_encode(doc) AS vec FROM ({_docs_sql()})")
    con.execute(f"COPY t TO '{tmp_path / 'src.parquet'}' (FORMAT parquet)")
    con.execute(f"COPY t TO '{tmp_path / 'src.csv'}' (FORMAT csv)")
    con.close()
    return path


def _relation(con: duckdb.DuckDBPyConnection, tmp_path: Path, seed: int, how: str) -> str:
    """The vectors of ``seed``, brought to ``con`` the way ``how`` says; the name to use."""
    source = _source(tmp_path, seed)
    if how == "parquet view":
        con.execute(f"CREATE VIEW rel AS SELECT * FROM read_parquet('{tmp_path / 'src.parquet'}')")
    elif how == "parquet copy":
        copy = tmp_path / "copy.parquet"
        con.execute(f"COPY (SELECT * FROM '{tmp_path / 'src.parquet'}') TO '{copy}'")
        con.execute(f"CREATE TABLE rel AS SELECT * FROM read_parquet('{copy}')")
    elif how == "create table as":
        # Encoded in this database by a connection of that seed, with its record...
        other = con.cursor()
        duckdb_vsa.register(other, dim=DIM, seed=seed)
        other.execute(f"CREATE TABLE docs AS {_docs_sql()}")
        duckdb_vsa.encode_column(other, "docs", "doc", "vec", progress=False)
        other.close()
        # ... which the copy loses.
        con.execute("CREATE TABLE rel AS SELECT * FROM docs")
    elif how == "csv":
        con.execute(
            f"CREATE TABLE rel AS SELECT id, doc, vec::FLOAT[{DIM}] AS vec "
            f"FROM read_csv('{tmp_path / 'src.csv'}')"
        )
    else:
        con.execute(f"ATTACH '{source}' AS other")
        return "other.main.t"
    return "rel"


@pytest.fixture
def local() -> duckdb.DuckDBPyConnection:
    """A seed-0 connection with a table ``mine`` of its own vectors."""
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=DIM)
    con.execute(f"CREATE TABLE mine AS SELECT id, doc, vsa_encode(doc) AS vec FROM ({_docs_sql()})")
    con.execute("CREATE TABLE names AS SELECT DISTINCT json_object('x', 1)::VARCHAR AS v")
    yield con
    con.close()


QUERY = """vsa_encode('{"name": "item 3", "n": 3}')"""


def _uses(rel: str) -> dict[str, str]:
    """Every macro that reads the vectors of ``rel``, by what it is."""
    lit = f"'{rel}'"
    return {
        "search": f"SELECT * FROM vsa_search({lit}, 'vec', {QUERY}, k := 3)",
        "join, left": f"SELECT * FROM vsa_topk_join({lit}, 'vec', 'mine', 'vec', k := 2)",
        "join, right": f"SELECT * FROM vsa_topk_join('mine', 'vec', {lit}, 'vec', k := 2)",
        "near duplicates": f"SELECT * FROM vsa_near_duplicates({lit}, 'vec', threshold := -1)",
        "decode": f"SELECT * FROM vsa_decode({lit}, 'vec', '$.name', 'mine', 'doc', k := 1)",
        "probe": f"SELECT vsa_probe(vec, '$.name') FROM {rel}",
        "field similarity": (
            f"""SELECT vsa_field_similarity(vec, '$.name', '"item 3"') FROM {rel}"""
        ),
        "cosine, first": f"SELECT vsa_cosine(r.vec, m.vec) FROM {rel} r, mine m",
        "cosine, second": f"SELECT vsa_cosine(m.vec, r.vec) FROM {rel} r, mine m",
        "cosine, query": f"SELECT vsa_cosine({QUERY}, vec) FROM {rel}",
    }


@pytest.mark.parametrize("how", PATHS)
def test_vectors_of_another_configuration_are_refused_on_every_path(local, tmp_path, how) -> None:
    rel = _relation(local, tmp_path, 1, how)
    for what, sql in _uses(rel).items():
        with pytest.raises(duckdb.Error, match=REFUSED):
            local.execute(sql).fetchall()
            pytest.fail(what)
    if how != "parquet view":
        with pytest.raises(ConfigMismatchError, match=REFUSED):
            duckdb_vsa.build_index(local, rel, "vec")
        with pytest.raises(duckdb.Error, match=REFUSED):
            local.execute(f"SELECT vsa_create_index('{rel}', 'vec', name := 'ix')").fetchall()
        assert not duckdb_vsa.list_indexes(local)


@pytest.mark.parametrize("how", PATHS)
def test_vectors_of_this_configuration_work_on_every_path(local, tmp_path, how) -> None:
    rel = _relation(local, tmp_path, 0, how)
    uses = _uses(rel)
    found = local.execute(uses["search"]).fetchall()
    assert found[0][1] == 3 and found[0][0] == pytest.approx(1.0, abs=1e-6)
    for sql in uses.values():
        assert local.execute(sql).fetchall()
    if how != "parquet view":
        duckdb_vsa.build_index(local, rel, "vec")
        # Through the index now: the same rows.
        assert [r[1] for r in local.execute(uses["search"]).fetchall()] == [r[1] for r in found]
        assert local.execute(uses["join, right"]).fetchall()
        assert local.execute(uses["near duplicates"]).fetchall()


def _with_tail(con: duckdb.DuckDBPyConnection, name: str, tail: np.ndarray) -> None:
    """Table ``name``: the vectors of ``mine`` with their last coordinates replaced by ``tail``."""
    vectors = np.array([v for (v,) in con.execute("SELECT vec FROM mine ORDER BY id").fetchall()])
    vectors[:, DIM - tail.shape[1] :] = tail
    table = pa.table(
        {"id": np.arange(len(vectors)), "vec": pa.array(list(vectors.astype(np.float32)))}
    )
    con.register("__arrow", table)
    con.execute(f"CREATE TABLE {name} AS SELECT id, vec::FLOAT[{DIM}] AS vec FROM __arrow")
    con.unregister("__arrow")


def test_vectors_without_a_marker_are_accepted(local, tmp_path) -> None:
    m = marker_size(DIM)
    rng = np.random.default_rng(3)
    tails = {
        "zeroed": np.zeros((ROWS, m)),
        "arbitrary": rng.standard_normal((ROWS, m)) * 0.05,
        # All magnitudes but one are the marker's: not a marker.
        "almost": np.where(rng.random((ROWS, m)) < 0.5, MARKER_VALUE, -MARKER_VALUE)
        * np.r_[np.ones(m - 1), 2.0],
    }
    for name, tail in tails.items():
        _with_tail(local, name, tail)
        for what, sql in _uses(name).items():
            if what not in ("decode",):
                assert local.execute(sql).fetchall(), (name, what)
        duckdb_vsa.build_index(local, name, "vec", name=f"ix_{name}")
        assert len(local.execute(_uses(name)["search"]).fetchall()) == 3
        path = tmp_path / f"{name}.parquet"
        local.execute(f"COPY {name} TO '{path}'")
        cli("search", path, "--query", '{"n": 3}', "--dim", str(DIM))


def test_a_column_mixing_configurations_is_refused_whatever_row_comes_first(local) -> None:
    other = local.cursor()
    duckdb_vsa.register(other, dim=DIM, seed=1)
    other.execute(
        "CREATE TABLE mixed AS SELECT * FROM mine UNION ALL "
        f"SELECT id + 1000, doc, vsa_encode(doc) FROM ({_docs_sql()}) ORDER BY id"
    )
    for what, sql in _uses("mixed").items():
        with pytest.raises(duckdb.Error, match=REFUSED):
            local.execute(sql).fetchall()
            pytest.fail(what)
    with pytest.raises(ConfigMismatchError, match=REFUSED):
        duckdb_vsa.build_index(local, "mixed", "vec")


def test_an_index_built_by_another_configuration_is_refused_when_searched(local) -> None:
    other = local.cursor()
    duckdb_vsa.register(other, dim=DIM, seed=1)
    other.execute("CREATE TABLE theirs AS SELECT id, doc, vsa_encode(doc) AS vec FROM mine")
    duckdb_vsa.build_index(other, "theirs", "vec")
    theirs = "SELECT * FROM vsa_search('theirs', 'vec', vsa_encode('{\"n\": 3}'), k := 3)"
    assert len(other.execute(theirs).fetchall()) == 3
    for sql in (
        theirs,
        "SELECT * FROM vsa_index_search('theirs', vsa_encode('{\"n\": 3}'), k := 3)",
        "SELECT vsa_index_topk('theirs', vsa_encode('{\"n\": 3}'), k := 3)",
        "SELECT * FROM vsa_index_topk_join('mine', 'vec', 'theirs', k := 1)",
        "SELECT * FROM vsa_index_near_duplicates('theirs', threshold := -1)",
    ):
        with pytest.raises(duckdb.Error, match=REFUSED):
            local.execute(sql).fetchall()


def test_rows_of_another_configuration_appended_to_an_indexed_table_are_refused(local) -> None:
    duckdb_vsa.build_index(local, "mine", "vec")
    search = "SELECT * FROM vsa_search('mine', 'vec', vsa_encode('{\"n\": 3}'), k := 3)"
    assert len(local.execute(search).fetchall()) == 3
    other = local.cursor()
    duckdb_vsa.register(other, dim=DIM, seed=1)
    other.execute("""INSERT INTO mine VALUES (99, '{"n": 99}', vsa_encode('{"n": 99}'))""")
    with pytest.raises(duckdb.Error, match=REFUSED):
        local.execute(search).fetchall()


@pytest.mark.parametrize("method", ["hnsw", "ivf"])
def test_approximate_indexes_refuse_vectors_of_another_configuration(local, method) -> None:
    pytest.importorskip("faiss")
    options = {"nlist": 2} if method == "ivf" else {}
    other = local.cursor()
    duckdb_vsa.register(other, dim=DIM, seed=1)
    other.execute("CREATE TABLE theirs AS SELECT id, doc, vsa_encode(doc) AS vec FROM mine")
    with pytest.raises(ConfigMismatchError, match=REFUSED):
        duckdb_vsa.build_index(local, "theirs", "vec", method=method, **options)
    duckdb_vsa.build_index(local, "mine", "vec", method=method, **options)
    search = f"SELECT * FROM vsa_search('mine', 'vec', {QUERY}, k := 3)"
    assert len(local.execute(search).fetchall()) == 3
    other.execute("""INSERT INTO mine VALUES (99, '{"n": 99}', vsa_encode('{"n": 99}'))""")
    with pytest.raises(duckdb.Error, match=REFUSED):
        local.execute(search).fetchall()


def test_a_query_vector_of_another_configuration_is_refused(local) -> None:
    other = local.cursor()
    duckdb_vsa.register(other, dim=DIM, seed=1)
    query = other.execute("SELECT vsa_encode('{\"n\": 3}')").fetchall()[0][0]
    for sql in (
        f"SELECT * FROM vsa_search('mine', 'vec', ?::FLOAT[{DIM}], k := 3)",
        f"SELECT vsa_cosine(?::FLOAT[{DIM}], vec) FROM mine",
    ):
        with pytest.raises(duckdb.Error, match=r"the query vector|its first vector"):
            local.execute(sql, [query]).fetchall()
    duckdb_vsa.build_index(local, "mine", "vec")
    for sql in (
        f"SELECT * FROM vsa_search('mine', 'vec', ?::FLOAT[{DIM}], k := 3)",
        f"SELECT vsa_index_topk('mine', ?::FLOAT[{DIM}], k := 3)",
    ):
        with pytest.raises(duckdb.Error, match=r"the query vector.*" + REFUSED):
            local.execute(sql, [query]).fetchall()


def test_cosine_of_two_configurations_errors_and_of_one_works(local) -> None:
    other = local.cursor()
    duckdb_vsa.register(other, dim=DIM, seed=1)
    doc = '{"name": "red shirt"}'
    zero = local.execute(f"SELECT vsa_encode('{doc}')").fetchall()[0][0]
    one = other.execute(f"SELECT vsa_encode('{doc}')").fetchall()[0][0]
    cosine = f"SELECT vsa_cosine(?::FLOAT[{DIM}], ?::FLOAT[{DIM}])"
    assert local.execute(cosine, [zero, zero]).fetchall()[0][0] == pytest.approx(1.0)
    assert other.execute(cosine, [one, one]).fetchall()[0][0] == pytest.approx(1.0)
    for a, b in ((zero, one), (one, zero), (one, one)):
        with pytest.raises(duckdb.Error, match=REFUSED):
            local.execute(cosine, [a, b]).fetchall()
    with pytest.raises(duckdb.Error, match=r"seed=1.*not comparable"):
        other.execute(cosine, [zero, one]).fetchall()


def _cli_refusal(result) -> str:
    """The error line of a run the marker rule stopped (after the note that nothing is recorded)."""
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "no encoder configuration is recorded" in lines[0] and len(lines) == 2, lines
    assert lines[1].startswith("duckdb-vsa: error: ")
    assert re.search(r"another configuration than this command's.*not comparable", lines[1])
    return lines[1]


def test_the_command_line_refuses_a_copy_of_another_configuration(tmp_path) -> None:
    encoded = tmp_path / "seed1.parquet"
    copy = tmp_path / "copy.parquet"
    docs = tmp_path / "docs.jsonl"
    con = duckdb.connect()
    docs.write_text(
        "\n".join(r[0] for r in con.execute(f"SELECT doc FROM ({_docs_sql()})").fetchall())
    )
    cli("encode", docs, "-o", encoded, "--dim", str(DIM), "--seed", "1", "-q")
    # The copy keeps the vectors and loses the configuration recorded with them.
    con.execute(f"COPY (SELECT * FROM '{encoded}') TO '{copy}'")
    assert b"duckdb_vsa" not in (pq.read_schema(copy).metadata or {})
    for args in (["search", copy, "--query", '{"name": "item 3"}'], ["dedup", copy]):
        line = _cli_refusal(cli(*args, "--dim", str(DIM), check=False))
        assert f"dim={DIM}, seed=0" in line and "Column 'vec' of" in line
        # Told the configuration they were made with, it searches.
        assert cli(*args, "--dim", str(DIM), "--seed", "1").stdout
    # A table made by CREATE TABLE AS in a DuckDB file: the same.
    path = tmp_path / "store.duckdb"
    db = duckdb.connect(str(path))
    db.execute(f"CREATE TABLE items AS SELECT * FROM '{copy}'")
    db.close()
    args = ["search", path, "--table", "items", "--query", '{"n": 1}', "--dim", str(DIM)]
    _cli_refusal(cli(*args, check=False))
    assert cli(*args, "--seed", "1").stdout


# -- the rule itself -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    a=st.tuples(st.integers(0, 2**31), st.sampled_from([16, 64, 256, 1024])),
    b_seed=st.integers(0, 2**31),
)
def test_a_vector_never_passes_another_configurations_check(a, b_seed) -> None:
    seed, dim = a
    mine, theirs = EncoderConfig(dim=dim, seed=seed), EncoderConfig(dim=dim, seed=b_seed)
    encoder = duckdb_vsa.Encoder(dim=dim, seed=seed)
    vectors = encoder.encode_batch(['{"a": 1}', "[1, 2]", '"x"'])
    assert not foreign_rows(vectors, marker_pattern(mine)).any()
    check_vectors(vectors, mine, "these vectors")
    same = np.array_equal(marker_pattern(mine), marker_pattern(theirs))
    assert foreign_rows(vectors, marker_pattern(theirs)).all() != same
    assert bool(foreign_keys(marker_keys(vectors), theirs.fingerprint, dim)) != same
    if not same:
        with pytest.raises(ConfigMismatchError, match=r"these vectors \(row 0 and 2 more\)"):
            check_vectors(vectors, theirs, "these vectors")


@pytest.fixture(scope="module")
def twin() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=64)
    yield con
    con.close()


_VALUES = st.sampled_from([MARKER_VALUE, -MARKER_VALUE, 0.0, 2 * MARKER_VALUE, 0.01, -0.5])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tail=st.lists(_VALUES, min_size=4, max_size=4))
def test_the_sql_rule_agrees_with_the_python_rule(twin, tail) -> None:
    pattern = marker_pattern(EncoderConfig(dim=64))
    vector = np.full(64, 0.1, dtype=np.float32)
    vector[-4:] = tail
    python = bool(foreign_rows(vector[None, :], pattern)[0])
    sql = twin.execute("SELECT __vsa_foreign(?::FLOAT[64])", [vector.tolist()]).fetchall()[0][0]
    assert sql is python
    # The pattern itself, and any other pattern of marker values.
    for signs in (pattern, -pattern, np.where(np.array(tail) > 0, 1, -1) * MARKER_VALUE):
        vector[-4:] = signs
        expected = bool(foreign_rows(vector[None, :], pattern)[0])
        got = twin.execute("SELECT __vsa_foreign(?::FLOAT[64])", [vector.tolist()]).fetchall()
        assert got[0][0] is expected
        assert expected == (not np.array_equal(signs.astype(np.float32), pattern))
