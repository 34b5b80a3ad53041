"""A database file across restarts: what persists, and what works again after register().

Every test writes a real database file, closes it, and opens it again with a fresh
connection: DuckDB then starts a new database instance, without the Python
functions and TEMP macros of the previous one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import run_python

import duckdb_vsa

DIM = 64
OPTIONS = {"dim": DIM, "seed": 5, "alpha": 0.5}
QUERY = """vsa_encode('{"n": 3}')"""

# Objects a user may create that call vsa_encode or another duckdb_vsa macro.
USER_OBJECTS = (
    "CREATE VIEW encoded AS SELECT id, vsa_encode(doc) AS vec FROM docs",
    f"CREATE TABLE generated (doc VARCHAR, vec FLOAT[{DIM}] GENERATED ALWAYS AS (vsa_encode(doc)))",
    f"""CREATE TABLE defaulted (doc VARCHAR, vec FLOAT[{DIM}] DEFAULT vsa_encode('{{"d": 1}}'))""",
    "CREATE MACRO encode_it(x) AS vsa_encode(x)",
    "CREATE MACRO self_similarity(x) AS vsa_similarity(x, x)",
)

# Statements that use them, each returning one row.
USES = (
    "SELECT count(*) FROM encoded WHERE len(vec) = 64",
    """INSERT INTO generated (doc) VALUES ('{"g": 1}')""",
    "SELECT count(*) FROM generated WHERE len(vec) = 64",
    """INSERT INTO defaulted (doc) VALUES ('{"d": 2}')""",
    "SELECT count(*) FROM defaulted WHERE len(vec) = 64",
    """SELECT len(encode_it('{"a": 1}'))""",
    """SELECT round(self_similarity('{"a": 1}'), 4)""",
)


def _create(path: Path) -> dict[str, list]:
    """A database file with an encoded column, an index and every kind of user object."""
    con = duckdb.connect(str(path))
    duckdb_vsa.register(con, **OPTIONS)
    con.execute(
        "CREATE TABLE docs AS SELECT i AS id, json_object('n', i) AS doc FROM range(40) t(i)"
    ).fetchall()
    duckdb_vsa.encode_column(con, "docs", "doc", "vec", progress=False)
    con.execute("SELECT vsa_create_index('docs', 'vec', name := 'docs_exact')").fetchall()
    for sql in USER_OBJECTS:
        con.execute(sql).fetchall()
    before = {
        "uses": [con.execute(sql).fetchall() for sql in USES],
        "search": con.execute(
            f"SELECT id, score FROM vsa_search('docs', 'vec', {QUERY}, 3)"
        ).fetchall(),
    }
    con.close()
    return before


def _recorded_options(con: duckdb.DuckDBPyConnection) -> dict:
    config = dict(duckdb_vsa.column_info(con, "docs", "vec")["config"])
    assert config.pop("version") == duckdb_vsa.ENCODER_VERSION
    return config


def test_user_objects_work_again_after_register_with_the_recorded_configuration(
    tmp_path,
) -> None:
    path = tmp_path / "shop.duckdb"
    before = _create(path)
    con = duckdb.connect(str(path))
    # Before register: DuckDB's own error, which names the missing function.
    with pytest.raises(duckdb.CatalogException, match="vsa_encode"):
        con.execute(USES[0]).fetchall()
    with pytest.raises(duckdb.CatalogException, match="vsa_search"):
        con.execute(f"SELECT * FROM vsa_search('docs', 'vec', {QUERY}, 3)").fetchall()
    # What persisted: the vectors, the recorded configuration, the index.
    assert con.execute("SELECT count(vec) FROM docs").fetchall() == [(40,)]
    duckdb_vsa.register(con, **_recorded_options(con))
    assert con.execute("SELECT vsa_column_info('docs', 'vec').comparable").fetchall() == [(True,)]
    assert con.execute("SELECT name, method FROM vsa_indexes()").fetchall() == [
        ("docs_exact", "exact")
    ]
    assert [con.execute(sql).fetchall() for sql in USES[:1]] == before["uses"][:1]
    for sql in USES[1:]:
        assert con.execute(sql).fetchall(), sql
    assert con.execute("SELECT count(*) FROM generated").fetchall() == [(2,)]
    assert con.execute("SELECT count(*) FROM defaulted WHERE vec IS NOT NULL").fetchall() == [(2,)]
    after = con.execute(f"SELECT id, score FROM vsa_search('docs', 'vec', {QUERY}, 3)").fetchall()
    assert after == before["search"]
    assert con.execute("SELECT vsa_version()").fetchall() == [(duckdb_vsa.__version__,)]
    con.close()


def test_a_read_only_reopen_searches_after_register(tmp_path) -> None:
    path = tmp_path / "shop.duckdb"
    before = _create(path)
    con = duckdb.connect(str(path), read_only=True)
    duckdb_vsa.register(con, **_recorded_options(con))
    after = con.execute(f"SELECT id, score FROM vsa_search('docs', 'vec', {QUERY}, 3)").fetchall()
    assert after == before["search"]
    assert con.execute(USES[0]).fetchall() == before["uses"][0]
    con.close()


def test_another_configuration_after_a_reopen_is_refused_where_it_matters(tmp_path) -> None:
    path = tmp_path / "shop.duckdb"
    _create(path)
    con = duckdb.connect(str(path))
    duckdb_vsa.register(con, dim=DIM, seed=6)
    # The recorded column is checked against the connection's configuration ...
    with pytest.raises(duckdb.InvalidInputException, match="not comparable"):
        con.execute(f"SELECT * FROM vsa_search('docs', 'vec', {QUERY}, 3)").fetchall()
    assert con.execute("SELECT vsa_column_info('docs', 'vec').comparable").fetchall() == [(False,)]
    con.close()
    # ... and a column typed FLOAT[64] refuses vectors of another dimension.
    con = duckdb.connect(str(path))
    duckdb_vsa.register(con, dim=2 * DIM)
    with pytest.raises(duckdb.Error, match="array of size 128 to array of size 64"):
        con.execute("SELECT count(*) FROM generated WHERE vec IS NOT NULL").fetchall()
    con.close()


def test_a_new_process_needs_only_register(tmp_path) -> None:
    path = tmp_path / "shop.duckdb"
    before = _create(path)
    script = tmp_path / "reopen.py"
    search = f"SELECT id FROM vsa_search('docs', 'vec', {QUERY}, 3)"
    script.write_text(
        "import sys, duckdb, duckdb_vsa\n"
        f"con = duckdb.connect({str(path)!r})\n"
        "config = duckdb_vsa.column_info(con, 'docs', 'vec')['config']\n"
        "config.pop('version')\n"
        "duckdb_vsa.register(con, **config)\n"
        f"print(con.execute({USES[0]!r}).fetchall())\n"
        f"print(con.execute({search!r}).fetchall())\n",
        encoding="utf-8",
    )
    result = run_python(str(script), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    ids = [(row[0],) for row in before["search"]]
    assert result.stdout.split("\n")[:2] == [str(before["uses"][0]), str(ids)]


def test_vsa_version_is_the_packages_version_beside_vsa_info() -> None:
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=DIM)
    version, info = con.execute("SELECT vsa_version(), vsa_info()").fetchall()[0]
    assert version == duckdb_vsa.__version__
    assert info["version"] == duckdb_vsa.ENCODER_VERSION
    assert "vsa_version" in duckdb_vsa.SQL_OBJECTS


def _insert_and_find(con: duckdb.DuckDBPyConnection) -> list:
    con.execute("""INSERT INTO docs (id, doc) VALUES (1000, '{"n": 3, "new": true}')""").fetchall()
    duckdb_vsa.encode_column(con, "docs", "doc", "vec", progress=False)
    query = """vsa_encode('{"n": 3, "new": true}')"""
    return con.execute(f"SELECT id FROM vsa_search('docs', 'vec', {query}, 1)").fetchall()


def test_a_copied_file_is_writable_again_after_register(tmp_path) -> None:
    path = tmp_path / "shop.duckdb"
    _create(path)
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(path, copy)
    con = duckdb.connect(str(copy))
    # The change triggers name the database "shop": writing the table fails ...
    with pytest.raises(duckdb.CatalogException, match="shop"):
        con.execute("""INSERT INTO docs (id, doc) VALUES (1000, '{}')""").fetchall()
    # ... until register re-creates them for the database's name now.
    duckdb_vsa.register(con, **_recorded_options(con))
    assert _insert_and_find(con) == [(1000,)]
    # The search macros follow the write through the repaired counter.
    con.execute("DELETE FROM docs WHERE id = 1000").fetchall()
    query = """vsa_encode('{"n": 3, "new": true}')"""
    assert con.execute(f"SELECT id FROM vsa_search('docs', 'vec', {query}, 1)").fetchall() != [
        (1000,)
    ]
    con.close()


def test_a_file_attached_under_another_name_is_writable_after_register(tmp_path) -> None:
    path = tmp_path / "shop.duckdb"
    _create(path)
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS other").fetchall()
    con.execute("USE other").fetchall()
    duckdb_vsa.register(con, **_recorded_options(con))
    assert _insert_and_find(con) == [(1000,)]
    con.close()
    # Opened under its own name again, the file's triggers are repaired back.
    con = duckdb.connect(str(path))
    duckdb_vsa.register(con, **_recorded_options(con))
    con.execute("DELETE FROM docs WHERE id = 1000").fetchall()
    con.close()
