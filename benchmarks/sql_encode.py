"""The cost of encoding inside DuckDB: ``vsa_encode`` UDF against the Python call.

``CREATE TABLE t AS SELECT vsa_encode(doc) AS v FROM docs`` on N flat records,
with ``SET threads = 1`` and with DuckDB's default thread count, against
``Encoder.encode_arrow`` over the same Arrow column in 2048-row chunks (what
the UDF receives). The ratio is the UDF overhead: DuckDB to Arrow, the Python
call, Arrow back to a ``FLOAT[D]`` column, and the table write.

Every run starts with empty value caches (role and chain caches warm), so no
run finds the strings of a previous one.

Run: python benchmarks/sql_encode.py [--quick]
"""

from __future__ import annotations

import argparse

import duckdb
import harness
import pyarrow as pa
import workloads

import duckdb_vsa

PYTHON = "Encoder.encode_arrow (2048-row chunks)"
HEADERS = ["path", "threads", "rows", "runs", "median s", "rows/s", "µs/row", "× Python"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--workload", default="flat", choices=workloads.WORKLOADS)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per cell (median)")
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="20,000 rows")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows = 20_000
    args.repeat = max(args.repeat, 5)
    return args


def to_arrow(result) -> pa.Table:
    # duckdb 2.0 renamed fetch_arrow_table to to_arrow_table.
    fetch = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    return fetch()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    con = duckdb.connect()
    encoder = duckdb_vsa.register(con, dim=args.dim)
    default_threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]

    texts = workloads.json_records(args.workload, args.rows, args.seed)
    con.register("docs_arrow", pa.table({"doc": pa.array(texts, type=pa.string())}))
    con.execute("CREATE TABLE docs AS SELECT doc FROM docs_arrow").fetchall()
    con.unregister("docs_arrow")
    del texts
    column = to_arrow(con.execute("SELECT doc FROM docs")).column("doc").combine_chunks()
    chunks = [column.slice(i, args.chunk) for i in range(0, len(column), args.chunk)]

    def python_path() -> None:
        for chunk in chunks:
            encoder.encode_arrow(chunk)

    def sql_path() -> None:
        con.execute("CREATE TABLE t AS SELECT vsa_encode(doc) AS v FROM docs").fetchall()

    def fresh_sql() -> None:
        con.execute("DROP TABLE IF EXISTS t").fetchall()
        harness.cold_caches(encoder)

    # Fills the role and chain caches, which every later run keeps (a few chunks
    # meet every field of these records).
    for chunk in chunks[:4]:
        encoder.encode_arrow(chunk)
    harness.cold_caches(encoder)

    results: list[tuple[str, int | str, harness.Timing]] = []
    results.append(
        (
            PYTHON,
            "caller's",
            harness.measure(python_path, args.repeat, setup=lambda: harness.cold_caches(encoder)),
        )
    )
    for threads in dict.fromkeys([1, int(default_threads)]):
        con.execute(f"SET threads = {threads}").fetchall()
        results.append(
            (
                "SQL CREATE TABLE AS SELECT vsa_encode(doc)",
                threads,
                harness.measure(sql_path, args.repeat, setup=fresh_sql),
            )
        )
    con.execute(f"SET threads = {default_threads}").fetchall()
    n_out, n_null = con.execute("SELECT count(*), count(*) - count(v) FROM t").fetchall()[0]
    if n_out != args.rows or n_null:
        raise SystemExit(f"vsa_encode produced {n_out} rows with {n_null} NULL vectors")

    python_seconds = results[0][2].median
    rows = []
    for path, threads, timing in results:
        seconds = timing.median
        rows.append(
            [
                path,
                threads,
                args.rows,
                len(timing),
                seconds,
                args.rows / seconds,
                1e6 * seconds / args.rows,
                seconds / python_seconds,
            ]
        )
    harness.print_header(
        "vsa_encode in SQL against Encoder.encode_arrow",
        [
            f"D = {args.dim}; {args.rows:,} {args.workload} records stored as VARCHAR in an "
            "in-memory DuckDB table",
            f"median of {args.repeat} runs; every run starts with empty value caches (role and "
            "chain caches warm)",
            f"DuckDB default threads = {default_threads}; the Python path runs on the calling "
            "thread (numpy may use BLAS threads)",
            "× Python: time relative to Encoder.encode_arrow over the same Arrow column "
            "(> 1 is the UDF overhead)",
        ],
    )
    print(harness.markdown_table(HEADERS, rows))


if __name__ == "__main__":
    main()
