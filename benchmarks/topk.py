"""Top-k references shared by the search benchmarks: a BLAS floor and vector tables."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa


def blas_topk(queries: np.ndarray, targets: np.ndarray, k: int, block: int) -> np.ndarray:
    """Indices of each query's k best targets, best first: the BLAS floor.

    A blocked matrix product and ``argpartition``, then a sort of the k survivors.
    """
    out = np.empty((len(queries), k), dtype=np.int64)
    targets_t = targets.T
    for start in range(0, len(queries), block):
        scores = queries[start : start + block] @ targets_t
        top = np.argpartition(scores, -k, axis=1)[:, -k:]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        out[start : start + block] = np.take_along_axis(top, order, axis=1)
    return out


def exact_topk(queries: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """The reference top-k, computed in float64."""
    return blas_topk(queries.astype(np.float64), targets.astype(np.float64), k, block=256)


def load_vectors(con: duckdb.DuckDBPyConnection, name: str, vectors: np.ndarray) -> None:
    """Create table ``name(id, v FLOAT[D])`` from the rows of ``vectors``."""
    dim = vectors.shape[1]
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
    con.register("__bench_arrow", pa.table({"id": pa.array(np.arange(len(vectors))), "v": column}))
    con.execute(
        f"CREATE OR REPLACE TABLE {name} AS SELECT id, v::FLOAT[{dim}] AS v FROM __bench_arrow"
    ).fetchall()
    con.unregister("__bench_arrow")
