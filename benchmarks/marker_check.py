"""What the marker rule costs where DuckDB scans: vsa_search's builtin branch and vsa_cosine.

Side by side in one run (interleaved, medians), on random unit float32 vectors
that carry the connection's marker:

- ``vsa_search`` on a table without an index (the builtin scan) with three
  rules: no marker check (the macro with the check taken out), the query plus
  the first non-NULL stored vector, the query plus every stored vector (what
  the macro does);
- the rule alone over the column (``count(*)`` with it as the filter), and the
  bare scan;
- ``vsa_cosine`` over every pair of ``--pairs-side`` rows (``side²`` pairs) with
  the rule (the macro) and without it (the macro as it was), and DuckDB's bare
  ``array_cosine_similarity``.

Run: python benchmarks/marker_check.py [--rows 100000] [--dim 1024] [--pairs-side 1000]
"""

from __future__ import annotations

import argparse
import os
import re
import time

import duckdb
import harness
import numpy as np
import topk

import duckdb_vsa
from duckdb_vsa.config import EncoderConfig
from duckdb_vsa.marker import marker_pattern
from duckdb_vsa.register import macro_sql

HEADERS = ["what", "rule", "runs", "median ms", "min ms"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--pairs-side", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 runs")
    return parser.parse_args(argv)


def search_variants(config: EncoderConfig) -> dict[str, str]:
    """The text of ``__vsa_search`` under each rule, as macros named after it."""
    text = macro_sql(config)
    start = text.index("CREATE OR REPLACE TEMP MACRO __vsa_search(")
    end = text.index("ORDER BY __vsa_rank;", start) + len("ORDER BY __vsa_rank;")
    macro = text[start:end]
    query = re.search(
        r"CASE WHEN __vsa_ok THEN __vsa_check_vector\(__vsa_who, 'the query vector', __vsa_q\)"
        r"\s+ELSE false END",
        macro,
    )
    stored = re.search(r"AND CASE WHEN \(SELECT __vsa_ok FROM __vsa_args\)\s+THEN "
                       r"__vsa_check_vector\(.*?ELSE false END", macro, re.DOTALL)  # fmt: skip
    assert query is not None and stored is not None, "the macro's text changed"
    first = (
        "AND (SELECT coalesce(bool_and(__vsa_check_vector(__vsa_who, 'column', __vsa_v)), true) "
        "FROM (SELECT __vsa_v FROM __vsa_rows WHERE __vsa_v IS NOT NULL LIMIT 1))"
    )
    rules = {
        "none": macro.replace(query.group(0), "__vsa_ok").replace(stored.group(0), ""),
        "query + first stored": macro.replace(stored.group(0), first),
        "query + every stored": macro,
    }
    return {
        rule: sql.replace("MACRO __vsa_search(", f"MACRO __vsa_search_{i}(")
        for i, (rule, sql) in enumerate(rules.items())
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows, side, repeat = args.rows, args.pairs_side, args.repeat
    if args.quick:
        rows, side, repeat = 2000, 100, 2
    dim = args.dim
    config = EncoderConfig(dim=dim)
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=dim)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((rows, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[:, dim - len(marker_pattern(config)) :] = marker_pattern(config)
    topk.load_vectors(con, "t", vectors)
    con.execute(f"CREATE TABLE s AS SELECT * FROM t WHERE id < {side}").fetchall()
    con.execute(
        f"CREATE TEMP MACRO cosine_without_rule(a, b) AS (CASE WHEN a IS NULL OR b IS NULL "
        f"THEN NULL WHEN len(a) <> {dim} OR len(b) <> {dim} THEN error('length') ELSE "
        f"array_cosine_similarity(a::FLOAT[{dim}], b::FLOAT[{dim}]) END)"
    ).fetchall()
    query = f"(SELECT v FROM t WHERE id = {min(7, rows - 1)})"
    methods: dict[tuple[str, str], str] = {}
    for i, (rule, sql) in enumerate(search_variants(config).items()):
        con.execute(sql).fetchall()
        methods[(f"vsa_search, builtin scan, {rows:,} x {dim}", rule)] = (
            f"SELECT * FROM __vsa_search_{i}('vsa_search', 't', 'v', NULL, {query}, 10)"
        )
    scan = f"scan of {rows:,} vectors"
    methods[(scan, "none")] = "SELECT count(v) FROM t"
    methods[(scan, "every vector")] = (
        "SELECT count(v) FROM t WHERE __vsa_check_vector('bench', 'v', v)"
    )
    pairs = f"cosine of {side * side:,} pairs"
    methods[(pairs, "vsa_cosine without the rule")] = (
        "SELECT sum(cosine_without_rule(a.v, b.v)) FROM s a, s b"
    )
    methods[(pairs, "vsa_cosine (both arguments)")] = (
        "SELECT sum(vsa_cosine(a.v, b.v)) FROM s a, s b"
    )
    methods[(pairs, "array_cosine_similarity")] = (
        "SELECT sum(array_cosine_similarity(a.v, b.v)) FROM s a, s b"
    )
    answers = {key: con.execute(sql).fetchall() for key, sql in methods.items()}  # warm
    searched = [answers[k] for k in methods if k[0].startswith("vsa_search")]
    assert all(a == searched[0] for a in searched), "the rules changed the answer"
    load = os.getloadavg()
    threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    seconds: dict[tuple[str, str], list[float]] = {key: [] for key in methods}
    for _ in range(repeat):
        for key, sql in methods.items():
            start = time.perf_counter()
            con.execute(sql).fetchall()
            seconds[key].append(time.perf_counter() - start)
    end = os.getloadavg()
    harness.print_header(
        "The marker rule where DuckDB scans",
        [
            f"random unit float32 vectors carrying the marker; median of {repeat} runs, "
            "interleaved",
            f"DuckDB threads = {threads}; load average {load[0]:.2f} at start, {end[0]:.2f} at "
            "end (1 min)",
        ],
    )
    table = [
        [what, rule, len(s), float(np.median(s)) * 1000, min(s) * 1000]
        for (what, rule), s in seconds.items()
    ]
    print(harness.markdown_table(HEADERS, table))


if __name__ == "__main__":
    main()
