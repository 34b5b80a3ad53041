"""Worker processes: the same vectors and errors as one process, and no stray processes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, cli, fetch_vectors, run_python, varied_documents

import duckdb_vsa
from duckdb_vsa import dispatch
from duckdb_vsa.cli import main as cli_main
from duckdb_vsa.db.encoders import registered_workers
from duckdb_vsa.encoder import DEFAULT_CACHE_BYTES
from duckdb_vsa.errors import ConfigMismatchError, DocumentError, InvalidArgumentError, VsaError
from duckdb_vsa.pool import WorkerError, WorkerPool, usable_cores

DIM = 256
GOLDEN = json.loads((Path(__file__).parent / "golden" / "vectors.json").read_text("utf-8"))
HINTED = {
    "dim": 64,
    "binding": "haar",
    "alpha": 0.5,
    "fields": {
        "$.price": {"kind": "number", "scale": 10},
        "$.name": "text",
        "$.tags[*]": "category",
    },
}


@pytest.fixture(scope="module")
def pools():
    """A 1-worker and a 2-worker pool at D = 256, shared by the tests of this module."""
    made = {n: WorkerPool({"dim": DIM}, workers=n) for n in (1, 2)}
    yield made
    for pool in made.values():
        pool.close()


def _documents() -> list[str | None]:
    golden = [d["json"] for d in GOLDEN["documents"]]
    docs: list[str | None] = [*varied_documents(400), *golden]
    docs[7] = None
    docs[301] = None
    return docs


def _same(a: pa.Array, b: pa.Array) -> None:
    """Equal types, null rows and vector bytes."""
    assert a.type == b.type
    assert a.is_null().to_pylist() == b.is_null().to_pylist()
    assert a.flatten().to_numpy().tobytes() == b.flatten().to_numpy().tobytes()


def _gone(pid: int) -> bool:
    """Whether the process has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _wait_gone(pids: list[int], patience: float = 60.0) -> list[int]:
    """The pids still running after up to ``patience`` seconds (a liveness bound, not a timing)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        alive = [p for p in pids if not _gone(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return alive


# -- same vectors ------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_vectors_are_bit_identical_to_one_process(pools, encoder, workers) -> None:
    docs = pa.array(_documents(), type=pa.string())
    expected = encoder.encode_arrow(docs)
    _same(pools[workers].encode(docs), expected)
    # Every way DuckDB hands a column over: chunked, large strings, a slice.
    chunked = pa.chunked_array([docs.slice(0, 100), docs.slice(100)])
    _same(pools[workers].encode(chunked), expected)
    _same(pools[workers].encode(docs.cast(pa.large_string())), expected)
    _same(pools[workers].encode(docs.slice(50, 200)), encoder.encode_arrow(docs.slice(50, 200)))


@pytest.mark.parametrize("workers", [1, 2])
def test_golden_vectors_through_workers(workers) -> None:
    texts = [d["json"] for d in GOLDEN["documents"]] * 40  # enough rows for two slices
    with WorkerPool({}, workers=workers) as pool:
        vectors = pool.encode(pa.array(texts)).flatten().to_numpy().reshape(len(texts), -1)
    for i, pinned in enumerate(GOLDEN["documents"] * 40):
        digest = hashlib.blake2b(vectors[i].astype("<f4").tobytes(), digest_size=16).hexdigest()
        assert digest == pinned["blake2b"], pinned["json"]


def test_options_travel_to_the_workers() -> None:
    docs = pa.array(
        [
            json.dumps({"name": f"item {i}", "price": i * 1.5, "tags": ["a", str(i % 3)]})
            for i in range(300)
        ]
    )
    hinted = duckdb_vsa.Encoder(**HINTED)
    with WorkerPool(HINTED, workers=2) as pool:
        assert pool.fingerprint == hinted.fingerprint
        _same(pool.encode(docs), hinted.encode_arrow(docs))
    # What EncoderConfig.as_dict() returns is accepted as well.
    with WorkerPool(hinted.config.as_dict(), workers=1) as pool:
        _same(pool.encode(docs), hinted.encode_arrow(docs))


@pytest.mark.parametrize("max_slice_rows", [4096, 37])
def test_calls_from_several_threads_get_their_own_vectors(encoder, max_slice_rows) -> None:
    docs = varied_documents(1200, seed=3)
    arrays = [pa.array(docs[i::6]) for i in range(6)]
    results: dict[int, pa.Array] = {}
    with WorkerPool({"dim": DIM}, workers=2) as pool:
        pool.max_slice_rows = max_slice_rows  # 37: many small slices of every call interleave

        def call(i: int) -> None:
            results[i] = pool.encode(arrays[i])

        threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for i, array in enumerate(arrays):
        _same(results[i], encoder.encode_arrow(array))


def test_duckdb_udf_wired_to_the_pool(pools, encoder) -> None:
    docs = varied_documents(5000, seed=1)
    con = duckdb.connect()
    con.register("docs_arrow", pa.table({"id": range(len(docs)), "doc": pa.array(docs)}))
    con.execute("CREATE TABLE t AS SELECT id, doc FROM docs_arrow ORDER BY id")
    con.create_function(
        "f",
        lambda column: pools[2].encode(column),
        ["VARCHAR"],
        f"FLOAT[{DIM}]",
        type="arrow",
        null_handling="special",
    )
    con.execute("CREATE TABLE t2 AS SELECT id, f(doc) AS v FROM t")
    got = fetch_vectors(con, "SELECT id, v FROM t2 ORDER BY id", DIM)
    expected = encoder.encode_batch(docs)
    assert got.tobytes() == expected.tobytes()
    con.close()


# -- same errors -------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("bad_rows", [[350], [20, 350], [399]])
def test_a_bad_document_gives_the_same_error_and_row(pools, encoder, workers, bad_rows) -> None:
    docs = varied_documents(400, seed=2)
    for row in bad_rows:
        docs[row] = '{"name": "unterminated'
    docs[bad_rows[-1]] = ""  # a different kind of bad document last
    array = pa.array(docs)
    with pytest.raises(DocumentError) as in_process:
        encoder.encode_arrow(array)
    with pytest.raises(DocumentError) as through_workers:
        pools[workers].encode(array)
    assert through_workers.value.row == in_process.value.row == bad_rows[0]
    assert str(through_workers.value) == str(in_process.value)


@pytest.mark.parametrize("workers", [1, 2])
def test_on_error_null_nulls_the_same_rows(pools, encoder, workers) -> None:
    docs: list[str | None] = list(varied_documents(400, seed=4))
    for row in (0, 13, 199, 200, 250, 399):
        docs[row] = "{not json"
    docs[77] = ""
    docs[78] = None
    array = pa.array(docs)
    expected = encoder.encode_arrow(array, on_error="null")
    got = pools[workers].encode(array, on_error="null")
    _same(got, expected)
    assert got.null_count == 8


def test_arguments_are_checked(pools) -> None:
    with pytest.raises(InvalidArgumentError):
        WorkerPool({"dim": DIM}, workers=0)
    with pytest.raises(InvalidArgumentError):
        WorkerPool({"dim": DIM}, cache_bytes=-1)
    with pytest.raises(TypeError):
        WorkerPool({"dim": DIM, "colour": "red"})
    with pytest.raises(ConfigMismatchError):
        WorkerPool({"version": 1, "dim": DIM})
    with pytest.raises(InvalidArgumentError):
        pools[1].encode(pa.array(["{}"]), on_error="skip")
    with pytest.raises(TypeError):
        pools[1].encode(pa.array([1, 2]))
    assert len(pools[1].encode(pa.array([], type=pa.string()))) == 0
    assert pools[1].encode(pa.array([None, None])).null_count == 2


# -- processes ---------------------------------------------------------------------------


def test_a_crashed_worker_fails_the_call_and_is_replaced(encoder) -> None:
    docs = pa.array(varied_documents(300, seed=5))
    with WorkerPool({"dim": DIM}, workers=1) as pool:
        pool.start()
        (pid,) = pool.pids()
        os.kill(pid, signal.SIGKILL)
        assert not _wait_gone([pid])
        with pytest.raises(VsaError, match="killed by SIGKILL") as failed:
            pool.encode(docs)
        assert isinstance(failed.value, WorkerError)
        _same(pool.encode(docs), encoder.encode_arrow(docs))
        assert pool.pids() and pool.pids() != [pid]


def test_close_stops_the_workers() -> None:
    pool = WorkerPool({"dim": DIM}, workers=2).start()
    pids = pool.pids()
    assert len(pids) == 2
    pool.close()
    assert pool.pids() == []
    assert not _wait_gone(pids)
    with pytest.raises(WorkerError, match="closed"):
        pool.encode(pa.array(["{}"]))


def test_workers_start_in_the_background(encoder) -> None:
    docs = pa.array(varied_documents(200, seed=6))
    with WorkerPool({"dim": DIM}, workers=2) as pool:
        assert not pool.ready
        pool.start(wait=False)
        deadline = time.monotonic() + 120
        while not pool.ready and pool.start_error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pool.start_error is None
        assert pool.ready and len(pool.pids()) == 2
        _same(pool.encode(docs), encoder.encode_arrow(docs))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_workers_of_its_own(encoder) -> None:
    docs = pa.array(varied_documents(300, seed=7))
    expected = encoder.encode_arrow(docs)
    with WorkerPool({"dim": DIM}, workers=2) as pool:
        pool.start()
        parent_pids = pool.pids()
        child = os.fork()
        if child == 0:  # the child reports through its exit code only
            code = 1
            try:
                same = pool.encode(docs).equals(expected)
                code = 0 if same and not set(pool.pids()) & set(parent_pids) else 2
                pool.close()
            finally:
                os._exit(code)
        deadline = time.monotonic() + 120  # a liveness bound: a child that hangs fails the test
        while (waited := os.waitpid(child, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if waited[0] == 0:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            pytest.fail("the forked child did not finish encoding")
        assert os.waitstatus_to_exitcode(waited[1]) == 0
        assert pool.pids() == parent_pids
        _same(pool.encode(docs), expected)


def test_a_worker_without_input_exits_quietly() -> None:
    done = run_python("-m", "duckdb_vsa.worker", stdin="")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


SCRIPT_WITHOUT_MAIN_GUARD = """
import duckdb
import pyarrow as pa
from duckdb_vsa.pool import WorkerPool

with open({marker!r}, "a") as f:
    f.write("top-level code ran\\n")
pool = WorkerPool({{"dim": 64}}, workers=2)
con = duckdb.connect()
con.create_function("f", lambda docs: pool.encode(docs), ["VARCHAR"], "FLOAT[64]",
                    type="arrow", null_handling="special")
print(con.execute(
    "SELECT count(f(doc)) FROM (SELECT '{{\\"a\\": ' || i || '}}' AS doc FROM range(5000) t(i))"
).fetchall()[0][0])
print(len(pool.pids()))
"""


def test_a_script_without_main_guard_runs_its_top_level_code_once(tmp_path) -> None:
    marker = tmp_path / "marker.txt"
    script = tmp_path / "no_guard.py"
    script.write_text(SCRIPT_WITHOUT_MAIN_GUARD.format(marker=str(marker)), encoding="utf-8")
    done = run_python(script, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["5000", "2"]
    assert marker.read_text(encoding="utf-8").splitlines() == ["top-level code ran"]


PARENT_SCRIPT = """
import sys, time
import pyarrow as pa
from duckdb_vsa.pool import WorkerPool

pool = WorkerPool({"dim": 64}, workers=2).start()
pool.encode(pa.array(['{"a": 1}'] * 500))
print(" ".join(map(str, pool.pids())), flush=True)
time.sleep(600)
"""


def test_the_scaling_benchmark_runs_in_quick_mode() -> None:
    done = run_python(ROOT / "benchmarks" / "workers_scaling.py", "--quick", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for title in ("Time to the first vector", "Cost per call", "Throughput, 2,500 nested"):
        assert title in out, title
    for contender in ("| pool.encode | in process", "| DuckDB UDF  | 2 worker(s)", "load average"):
        assert contender in out, contender


# -- every encode path -------------------------------------------------------------------


def _here() -> duckdb_vsa.Encoder:
    """An encoder that never uses workers, whatever the default."""
    return duckdb_vsa.Encoder(dim=DIM, workers=0)


def _started(config, workers: int, cache_bytes: int | None = None) -> WorkerPool:
    """The shared pool of these arguments, started, so that the next large call goes to it."""
    return dispatch.shared_pool(config, cache_bytes, workers).start()


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_encoder_with_workers_gives_the_same_vectors(workers) -> None:
    docs = _documents()
    texts = [d for d in docs if d is not None]
    here = _here()
    expected_arrow = here.encode_arrow(pa.array(docs, type=pa.string()))
    expected_batch = here.encode_batch(texts)
    enc = duckdb_vsa.Encoder(dim=DIM, workers=workers)
    assert enc.workers == workers
    # Cold: the call starts the workers and is encoded here meanwhile (or all here, with 0).
    _same(enc.encode_arrow(pa.array(docs, type=pa.string())), expected_arrow)
    if workers:
        pool = _started(enc.config, workers)
        before = pool.rows_encoded
    for _ in range(2):
        _same(enc.encode_arrow(pa.array(docs, type=pa.string())), expected_arrow)
        _same(enc.encode_arrow(pa.chunked_array([docs[:100], docs[100:]])), expected_arrow)
        got = enc.encode_batch(texts)
        assert got.dtype == expected_batch.dtype and got.flags.writeable
        assert got.tobytes() == expected_batch.tobytes()
        assert enc.encode_batch(iter(texts)).tobytes() == expected_batch.tobytes()
    if workers:
        assert pool.rows_encoded - before == 2 * (2 * len(docs) + 2 * len(texts))


def test_golden_vectors_through_encoder_workers() -> None:
    texts = [d["json"] for d in GOLDEN["documents"]] * 40  # enough rows for the workers
    enc = duckdb_vsa.Encoder(workers=2)
    pool = _started(enc.config, 2)
    before = pool.rows_encoded
    vectors = enc.encode_batch(texts)
    assert pool.rows_encoded - before == len(texts)
    for i, pinned in enumerate(GOLDEN["documents"] * 40):
        digest = hashlib.blake2b(vectors[i].astype("<f4").tobytes(), digest_size=16).hexdigest()
        assert digest == pinned["blake2b"], pinned["json"]


def test_small_calls_and_python_values_stay_in_process() -> None:
    enc = duckdb_vsa.Encoder(dim=DIM, seed=4242, workers=2)
    here = duckdb_vsa.Encoder(dim=DIM, seed=4242, workers=0)
    docs = varied_documents(dispatch.MIN_POOL_ROWS - 1, seed=8)
    assert enc.encode_batch(docs).tobytes() == here.encode_batch(docs).tobytes()
    _same(enc.encode_arrow(pa.array(docs)), here.encode_arrow(pa.array(docs)))
    parsed = [json.loads(d) for d in varied_documents(400, seed=8)]
    values = [v for v in parsed if not isinstance(v, str)]  # a str would be read as JSON text
    assert len(values) >= dispatch.MIN_POOL_ROWS
    assert enc.encode_batch(values).tobytes() == here.encode_batch(values).tobytes()
    assert dispatch.find_pool(enc.config, None, 2) is None  # no call started workers


def test_workers_argument_is_checked() -> None:
    for bad in (-1, 1.5, True, "2", "all"):
        with pytest.raises(InvalidArgumentError, match="workers"):
            duckdb_vsa.Encoder(dim=DIM, workers=bad)
        with pytest.raises(InvalidArgumentError, match="workers"):
            duckdb_vsa.register(duckdb.connect(), dim=DIM, workers=bad)
    assert duckdb_vsa.Encoder(dim=DIM).workers == dispatch.DEFAULT_WORKERS == 0
    auto = duckdb_vsa.Encoder(dim=DIM, workers="auto").workers
    assert auto == dispatch.auto_workers() == (0 if usable_cores() < 2 else usable_cores())


@pytest.mark.parametrize("workers", [1, 2])
def test_encoder_errors_through_workers_are_those_of_one_process(workers) -> None:
    here = _here()
    enc = duckdb_vsa.Encoder(dim=DIM, workers=workers)
    pool = _started(enc.config, workers)
    docs = varied_documents(1500, seed=9)
    docs[1203] = '{"name": "unterminated'
    for call in (
        lambda e: e.encode_arrow(pa.array(docs)),
        lambda e: e.encode_batch(docs),
    ):
        with pytest.raises(DocumentError) as in_process:
            call(here)
        before = pool.rows_encoded
        with pytest.raises(DocumentError) as through_workers:
            call(enc)
        assert pool.rows_encoded > before
        assert through_workers.value.row == in_process.value.row == 1203
        assert str(through_workers.value) == str(in_process.value)
    docs[1400] = ""
    nulls = pa.array(docs)
    _same(enc.encode_arrow(nulls, on_error="null"), here.encode_arrow(nulls, on_error="null"))
    assert enc.encode_arrow(nulls, on_error="null").null_count == 2


def _docs_table(con: duckdb.DuckDBPyConnection, docs: list[str | None]) -> None:
    con.register("docs_arrow", pa.table({"id": range(len(docs)), "doc": pa.array(docs)}))
    con.execute("CREATE OR REPLACE TABLE t AS SELECT id, doc FROM docs_arrow ORDER BY id")
    con.unregister("docs_arrow")


def test_sql_vsa_encode_through_workers_is_bit_identical() -> None:
    docs = _documents() * 10
    base = duckdb.connect()
    duckdb_vsa.register(base, dim=DIM, workers=0)
    _docs_table(base, docs)
    expected = fetch_vectors(base, "SELECT id, vsa_encode(doc) FROM t ORDER BY id", DIM)
    con = duckdb.connect()
    enc = duckdb_vsa.register(con, dim=DIM, workers=2)
    assert enc.workers == 0  # the returned encoder encodes in this process
    _docs_table(con, docs)
    pool = _started(enc.config, 2)
    before = pool.rows_encoded
    got = fetch_vectors(con, "SELECT id, vsa_encode(doc) FROM t ORDER BY id", DIM)
    assert pool.rows_encoded - before == len(docs)
    assert got.tobytes() == expected.tobytes()
    # Several DuckDB threads over more than one row group share the workers.
    big = (
        "SELECT i, vsa_encode('{\"n\": ' || i || ', \"k\": [\"' || (i % 97) || '\"]}') "
        "FROM range(250000) _(i) ORDER BY i"
    )
    for c in (con, base):
        c.execute("SET threads = 2")
    before = pool.rows_encoded
    assert fetch_vectors(con, big, DIM).tobytes() == fetch_vectors(base, big, DIM).tobytes()
    # All but the few chunks DuckDB hands over with fewer than MIN_POOL_ROWS rows.
    assert pool.rows_encoded - before > 200_000
    # Registering again with other workers changes where encoding runs, not the vectors.
    duckdb_vsa.register(con, dim=DIM, workers=0)
    assert fetch_vectors(con, "SELECT id, vsa_encode(doc) FROM t ORDER BY id", DIM).tobytes() == (
        expected.tobytes()
    )
    con.close()
    base.close()


def test_sql_errors_and_nulls_through_workers() -> None:
    docs = varied_documents(3000, seed=10)
    docs[2222] = "{oops"
    results = {}
    for workers in (0, 2):
        con = duckdb.connect()
        enc = duckdb_vsa.register(con, dim=DIM, workers=workers)
        if workers:
            _started(enc.config, workers)
        _docs_table(con, docs)
        with pytest.raises(duckdb.Error) as failed:
            con.execute("SELECT vsa_encode(doc) FROM t").fetchall()
        null_con = duckdb.connect()
        duckdb_vsa.register(null_con, dim=DIM, workers=workers, on_error="null")
        _docs_table(null_con, docs)
        vectors = fetch_vectors(null_con, "SELECT id, vsa_encode(doc) FROM t ORDER BY id", DIM)
        results[workers] = (str(failed.value), vectors)
        con.close()
        null_con.close()
    assert "Cannot encode document: Invalid JSON" in results[2][0]
    assert results[2][0] == results[0][0]
    nulls = np.isnan(results[2][1]).all(axis=1)
    assert np.flatnonzero(nulls).tolist() == [2222]
    assert results[2][1].tobytes() == results[0][1].tobytes()


def test_a_ten_row_query_starts_no_workers() -> None:
    con = duckdb.connect()
    enc = duckdb_vsa.register(con, dim=DIM, seed=777, workers=2)
    _docs_table(con, varied_documents(10, seed=11))
    con.execute("SELECT vsa_encode(doc) FROM t").fetchall()
    assert dispatch.find_pool(enc.config, None, 2) is None
    con.close()


def test_encode_column_through_workers_is_bit_identical() -> None:
    docs = varied_documents(3000, seed=12)
    vectors = {}
    for workers in (0, 2):
        con = duckdb.connect()
        enc = duckdb_vsa.register(con, dim=DIM, workers=0)
        _docs_table(con, docs)
        if workers:
            pool = _started(enc.config, workers)
            before = pool.rows_encoded
        info = duckdb_vsa.encode_column(con, "t", "doc", workers=workers, progress=False)
        assert info["rows"] == len(docs)
        if workers:
            assert pool.rows_encoded - before == len(docs)
        vectors[workers] = fetch_vectors(con, "SELECT id, vec FROM t ORDER BY id", DIM)
        # The connection's vsa_encode is unchanged by encode_column's workers.
        assert registered_workers(con) == 0
        con.close()
    assert vectors[2].tobytes() == vectors[0].tobytes()
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=DIM, workers=0)
    _docs_table(con, docs[:5])
    with pytest.raises(InvalidArgumentError, match="workers"):
        duckdb_vsa.encode_column(con, "t", "doc", workers=-1)


def test_cli_encode_with_workers_writes_the_same_vectors(tmp_path, capsys) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text("\n".join(varied_documents(6000, seed=13)) + "\n", encoding="utf-8")
    args = ["encode", str(source), "--dim", "64", "--chunk-size", "500"]
    outputs = {}
    for workers in (0, 2):  # as a user runs it: the workers start during the run
        out = tmp_path / f"w{workers}.parquet"
        done = cli(*args, "-o", out, "--workers", str(workers))
        outputs[workers] = pq.read_table(out)
        summary = done.stderr.strip().splitlines()[-1]
        assert "encoded 6,000 records" in summary
        assert ("worker processes" in summary) == bool(workers)
    assert outputs[2].equals(outputs[0])
    # In this process, with the workers started first: every chunk goes to them.
    config = duckdb_vsa.EncoderConfig(dim=64)
    pool = _started(config, 2, cache_bytes=DEFAULT_CACHE_BYTES)
    before = pool.rows_encoded
    out = tmp_path / "in_process.parquet"
    assert cli_main([*args, "-o", str(out), "--workers", "2"]) == 0
    assert pool.rows_encoded - before == 6000
    assert "6,000 by 2 worker processes" in capsys.readouterr().err
    assert pq.read_table(out).equals(outputs[0])
    for wrong in ("-1", "many"):
        bad = cli("encode", source, "-o", tmp_path / "x.parquet", "--workers", wrong, check=False)
        assert bad.returncode == 1 and "--workers must be" in bad.stderr


def test_cli_encode_uses_the_usable_cores_by_default(tmp_path) -> None:
    """The command line is one job over a whole input: by default it encodes on every core."""
    source = tmp_path / "docs.jsonl"
    source.write_text("\n".join(varied_documents(3000, seed=17)) + "\n", encoding="utf-8")
    summaries = {}
    for option in ([], ["--workers", "0"]):
        out = tmp_path / f"out{len(option)}.parquet"
        done = cli("encode", source, "-o", out, "--dim", "64", "--chunk-size", "500", *option)
        summaries[len(option)] = done.stderr.strip().splitlines()[-1]
    expected = dispatch.auto_workers()
    assert (f"by {expected} worker processes" in summaries[0]) == (expected >= 2)
    assert "worker processes" not in summaries[2]
    assert pq.read_table(tmp_path / "out0.parquet").equals(pq.read_table(tmp_path / "out2.parquet"))


SQL_SCRIPT_WITHOUT_MAIN_GUARD = """
import duckdb
import duckdb_vsa
from duckdb_vsa import dispatch

with open({marker!r}, "a") as f:
    f.write("top-level code ran\\n")
con = duckdb.connect()
duckdb_vsa.register(con, dim=64, workers=2)
pool = dispatch.shared_pool(duckdb_vsa.EncoderConfig(dim=64), None, 2).start()
print(con.execute(
    "SELECT count(vsa_encode(doc)) FROM "
    "(SELECT '{{\\"a\\": ' || i || '}}' AS doc FROM range(5000) t(i))"
).fetchall()[0][0])
print(len(pool.pids()), pool.rows_encoded)
"""


def test_sql_through_workers_in_a_script_without_main_guard(tmp_path) -> None:
    marker = tmp_path / "marker.txt"
    script = tmp_path / "no_guard_sql.py"
    script.write_text(SQL_SCRIPT_WITHOUT_MAIN_GUARD.format(marker=str(marker)), encoding="utf-8")
    done = run_python(script, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["5000", "2", "5000"]
    assert marker.read_text(encoding="utf-8").splitlines() == ["top-level code ran"]


SQL_PARENT_SCRIPT = """
import time
import duckdb
import duckdb_vsa
from duckdb_vsa import dispatch

con = duckdb.connect()
duckdb_vsa.register(con, dim=64, workers=2)
pool = dispatch.shared_pool(duckdb_vsa.EncoderConfig(dim=64), None, 2).start()
con.execute("SELECT vsa_encode('{\\"a\\": ' || i || '}') FROM range(3000) t(i)").fetchall()
assert pool.rows_encoded > 0
print(" ".join(map(str, pool.pids())), flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states in /proc")
@pytest.mark.parametrize("source", [PARENT_SCRIPT, SQL_PARENT_SCRIPT], ids=["pool", "sql"])
def test_a_killed_parent_leaves_no_worker_processes(tmp_path, source) -> None:
    script = tmp_path / "parent.py"
    script.write_text(source, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2
        assert not any(_gone(p) for p in pids)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        parent.stdout.close()
    assert _wait_gone(pids) == []


def test_shared_pools_are_bounded_and_closed_on_eviction() -> None:
    configs = [duckdb_vsa.EncoderConfig(dim=32, seed=900 + i) for i in range(dispatch.SHARED_POOLS)]
    first = _started(configs[0], 1)
    pids = first.pids()
    for config in configs[1:]:
        _started(config, 1)
    assert dispatch.find_pool(configs[0], None, 1) is first
    _started(duckdb_vsa.EncoderConfig(dim=32, seed=999), 1)  # one more: the oldest goes
    assert dispatch.find_pool(configs[0], None, 1) is None
    assert first.closed
    assert _wait_gone(pids) == []
    # An encoder of the evicted configuration gets a new pool, with the same vectors.
    enc = duckdb_vsa.Encoder.from_config(configs[0], workers=1)
    docs = pa.array(varied_documents(600, seed=14))
    here = duckdb_vsa.Encoder.from_config(configs[0], workers=0)
    _same(enc.encode_arrow(docs), here.encode_arrow(docs))
    dispatch.close_shared_pools()
    assert dispatch.find_pool(configs[0], None, 1) is None


def test_calls_while_the_workers_start_give_the_same_errors_and_vectors() -> None:
    # A configuration of its own: its pool is cold, so each call begins in this process.
    enc = duckdb_vsa.Encoder(dim=DIM, seed=31337, workers=2)
    here = duckdb_vsa.Encoder(dim=DIM, seed=31337, workers=0)
    docs = varied_documents(3000, seed=15)
    docs[2900] = "[1, 2"
    with pytest.raises(DocumentError) as in_process:
        here.encode_arrow(pa.array(docs))
    with pytest.raises(DocumentError) as starting:
        enc.encode_arrow(pa.array(docs))
    assert starting.value.row == in_process.value.row == 2900
    assert str(starting.value) == str(in_process.value)
    array = pa.array(docs)
    _same(enc.encode_arrow(array, on_error="null"), here.encode_arrow(array, on_error="null"))
