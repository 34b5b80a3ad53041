"""Encode JSON Lines across Dask worker processes, write Parquet, search it in DuckDB.

The recipe for tables too large for one process: Dask reads the JSON Lines as
text (one document per line), every worker process runs the unchanged encoder
on its partitions (``duckdb_vsa.encode_partition`` in ``map_partitions``), the
vectors go to Parquet, and DuckDB searches the Parquet files with
``vsa_search``. The vectors are bit-identical to what ``vsa_encode`` computes
inside DuckDB, which the example checks.

Needs the optional extra: pip install "duckdb-vsa[dask]"

Run: python examples/distributed_encode.py [--out DIR] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import dask.bag as db
import duckdb
import pandas as pd
from distributed import Client, LocalCluster, get_task_stream

import duckdb_vsa

DATA = Path(__file__).resolve().parent / "data"
QUERY = {"name": "red running shoe", "category": "shoes", "price": 40}


def encode_to_parquet(
    client: Client, source: Path, out: Path, encoder: duckdb_vsa.Encoder
) -> tuple[int, int]:
    """Encode every line of ``source`` on the cluster into Parquet files under ``out``.

    Returns the number of partitions and of worker processes that ran tasks.
    """
    # One partition per block of the file: small blocks here, so that the small catalogue
    # spreads over both workers (use tens of MiB for real data).
    lines = db.read_text(str(source), blocksize="16KiB").map(str.strip).filter(bool)
    docs = lines.map(lambda line: {"doc": line}).to_dataframe(
        meta=pd.DataFrame({"doc": pd.Series(dtype="str")})
    )
    vectors = docs.map_partitions(
        duckdb_vsa.encode_partition, encoder, meta=duckdb_vsa.encode_partition(docs._meta, encoder)
    )
    with get_task_stream(client) as tasks:
        vectors.to_parquet(str(out), write_index=False)
    return docs.npartitions, len({task["worker"] for task in tasks.data})


def search_parquet(out: Path, encoder: duckdb_vsa.Encoder) -> None:
    con = duckdb.connect()
    duckdb_vsa.register(con, dim=encoder.dim, seed=encoder.seed)
    fingerprint = con.execute("SELECT vsa_info().fingerprint").fetchall()[0][0]
    assert fingerprint == encoder.fingerprint, "DuckDB must search with the encoder's configuration"
    # Parquet keeps the vectors as a list: a view gives them back their FLOAT[D] type.
    con.execute(
        f"""
        CREATE VIEW products AS
        SELECT doc::JSON ->> 'id' AS id, doc::JSON ->> 'name' AS name,
               (doc::JSON ->> 'price')::DOUBLE AS price, doc,
               vec::FLOAT[{encoder.dim}] AS vec
        FROM read_parquet('{out}/*.parquet')
        """
    )
    n, same = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE vec = vsa_encode(doc)) FROM products"
    ).fetchall()[0]
    print(f"{n} vectors read back from Parquet; {same} of {n} equal vsa_encode(doc) in DuckDB\n")

    print(f"The 5 products most similar to {json.dumps(QUERY)}:")
    con.sql(
        f"""
        SELECT id, name, price, round(score, 3) AS score
        FROM vsa_search('products', 'vec', vsa_encode('{json.dumps(QUERY)}'), k := 5)
        """
    ).show()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA / "products.jsonl")
    parser.add_argument("--out", type=Path, help="Parquet output directory (default: temporary)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    encoder = duckdb_vsa.Encoder()  # dim=1024, seed=0: the same as register(con)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "products.parquet"
        with (
            LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
            ) as cluster,
            Client(cluster) as client,
        ):
            partitions, workers = encode_to_parquet(client, args.data, out, encoder)
        print(
            f"encoded {args.data.name} in {partitions} partitions on {workers} worker processes "
            f"into {out.name}/ ({encoder})"
        )
        search_parquet(out, encoder)


if __name__ == "__main__":
    main()
