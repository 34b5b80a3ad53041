"""The encoder inside Dask: worker processes give bit-identical vectors.

A LocalCluster with two worker processes encodes a few thousand varied JSON
documents with ``map_partitions(encode_partition, encoder)``; the vectors must
be byte-for-byte those of ``Encoder.encode_batch`` in this process.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import random
from pathlib import Path

import dask.dataframe as dd
import distributed
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import duckdb_vsa
from duckdb_vsa import Encoder, encode_partition
from duckdb_vsa.parse import parse_json

WORDS = ["red", "shoe", "Zürich", "naïve café", "東京", "😀 emoji", "tab\there", "line\nbreak", ""]
PRODUCTS = Path(__file__).resolve().parent.parent / "examples" / "data" / "products.jsonl"
BAD = ["", "{", "not json", '{"a": 1,}', "[1, 2"]


def random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(10 if depth < 4 else 6)
    if kind == 0:
        return rng.choice([True, False, None])
    if kind == 1:
        return rng.choice([0, -1, 3, 2**70, -(2**64) + 1, 1e-300, 1.5e308, 0.1, -2.5])
    if kind == 2:
        return round(rng.uniform(-1000, 1000), rng.randrange(5))
    if kind in (3, 4, 5):
        return " ".join(rng.choices(WORDS, k=rng.randrange(1, 4)))
    if kind in (6, 7):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 6))]
    keys = rng.sample(["id", "name", "ключ", "a.b", "$", "items", "ñ", "x y", "price"], 3)
    return {k: random_value(rng, depth + 1) for k in keys[: rng.randrange(0, 4)]}


def make_docs(n: int, seed: int = 0) -> list[str | None]:
    """JSON text: nested, arrays, numbers, Unicode, some NaN, nulls and invalid documents."""
    rng = random.Random(seed)
    docs: list[str | None] = []
    for i in range(n):
        if i % 97 == 5:
            docs.append(None)
        elif i % 89 == 7:
            docs.append(BAD[i % len(BAD)])
        elif i % 101 == 3:
            docs.append(json.dumps({"v": math.nan, "w": [math.inf]}))
        else:
            value = {"id": i, "doc": random_value(rng)}
            docs.append(json.dumps(value, ensure_ascii=rng.random() < 0.5))
    return docs


def as_matrix(vectors: pa.Array | pa.ChunkedArray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The valid rows of a fixed-size-list column as float32[n, dim], and the validity mask."""
    if isinstance(vectors, pa.ChunkedArray):
        vectors = vectors.combine_chunks()
    valid = vectors.is_valid().to_numpy(zero_copy_only=False)
    return vectors.flatten().to_numpy().reshape(-1, dim), valid


def _parses(doc: str) -> bool:
    try:
        parse_json(doc)
    except duckdb_vsa.DocumentError:
        return False
    return True


def expected(encoder: Encoder, docs: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """encode_batch in this process over the documents that encode; their mask."""
    good = [doc is not None and _parses(doc) for doc in docs]
    valid = np.array(good)
    return encoder.encode_batch([d for d, ok in zip(docs, good) if ok]), valid


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def encode_on_cluster(docs: list[str | None], encoder: Encoder, npartitions: int):
    """Encode on the cluster; every output partition also says which process made it."""

    def encode_and_tag(part, enc):
        out = encode_partition(part, enc, on_error="null")
        out["pid"] = os.getpid()
        out["fingerprint"] = enc.fingerprint
        return out

    frame = pd.DataFrame({"row": np.arange(len(docs)), "doc": pd.Series(docs, dtype="str")})
    ddf = dd.from_pandas(frame, npartitions=npartitions)
    meta = encode_and_tag(ddf._meta, encoder)
    result = ddf.map_partitions(encode_and_tag, encoder, meta=meta).compute()
    assert result["row"].tolist() == list(range(len(docs)))
    return result


def test_workers_encode_bit_identically(client) -> None:
    encoder = Encoder()
    docs = make_docs(3000)
    result = encode_on_cluster(docs, encoder, npartitions=6)

    texts = [None if pd.isna(t) else t for t in result["doc"].tolist()]
    assert texts == docs  # the text arrives unchanged
    got, got_valid = as_matrix(pa.array(result["vec"]), encoder.dim)
    want, want_valid = expected(encoder, docs)
    assert got_valid.tolist() == want_valid.tolist()
    assert 2800 < got_valid.sum() < 3000  # the nulls and invalid documents are null vectors
    assert got.dtype == np.float32 and got.shape == want.shape
    assert got.tobytes() == want.tobytes()

    pids = set(result["pid"])
    assert len(pids) >= 2, "the partitions ran in fewer than two worker processes"
    assert os.getpid() not in pids
    assert set(result["fingerprint"]) == {encoder.fingerprint}


def test_workers_honour_a_non_default_configuration(client) -> None:
    encoder = Encoder(dim=256, seed=7, binding="haar", alpha=0.5)
    docs = PRODUCTS.read_text(encoding="utf-8").splitlines()  # one schema: few haar matrices
    result = encode_on_cluster(docs, encoder, npartitions=4)

    assert set(result["fingerprint"]) == {encoder.fingerprint}
    got, valid = as_matrix(pa.array(result["vec"]), 256)
    assert valid.all() and got.shape == (len(docs), 256)
    want = encoder.encode_batch(docs)
    assert got.tobytes() == want.tobytes()
    # ... and it is not what the default configuration at that size would give.
    assert not np.array_equal(got, Encoder(dim=256).encode_batch(docs))
    assert len(set(result["pid"])) >= 2


def test_encoder_pickles_as_its_configuration() -> None:
    encoder = Encoder(dim=128, seed=3, fields={"$.year": {"kind": "number", "scale": 2}})
    docs = make_docs(300, seed=2)
    good = [d for d in docs if d is not None and d not in BAD]
    before = encoder.encode_batch(good)  # fills the caches
    data = pickle.dumps(encoder)
    assert len(data) < 2000
    copy = pickle.loads(data)
    assert copy.config == encoder.config and copy.fingerprint == encoder.fingerprint
    assert copy.encode_batch(good).tobytes() == before.tobytes()
    # One encoder per configuration and process: later tasks find the caches warm.
    assert pickle.loads(data) is copy
    assert pickle.loads(pickle.dumps(Encoder(dim=128, seed=4))) is not copy


def test_encode_partition_arrow_and_pandas() -> None:
    encoder = Encoder(dim=64)
    docs = ['{"a": 1}', None, "{bad", '["x", {"y": true}]']
    table = pa.table({"id": [1, 2, 3, 4], "doc": docs})
    out = encode_partition(table, encoder, on_error="null")
    assert out.column_names == ["id", "doc", "vec"]
    assert out.schema.field("vec").type == pa.list_(pa.float32(), 64)
    assert out.column("vec").null_count == 2
    got, valid = as_matrix(out.column("vec"), 64)
    assert valid.tolist() == [True, False, False, True]
    assert got.tobytes() == encoder.encode_batch([docs[0], docs[3]]).tobytes()

    batch = encode_partition(table.to_batches()[0], encoder, out="v", on_error="null")
    assert isinstance(batch, pa.RecordBatch) and batch.column("v").equals(
        out.column("vec").combine_chunks()
    )
    again = encode_partition(out, encoder, on_error="null")  # replaces the column
    assert again.column_names == ["id", "doc", "vec"]

    frame = encode_partition(pd.DataFrame({"doc": docs}), encoder, on_error="null")
    assert pa.array(frame["vec"]).equals(out.column("vec").combine_chunks())
    assert frame["doc"].tolist()[0] == docs[0]

    with pytest.raises(duckdb_vsa.DocumentError, match="bad"):
        encode_partition(table, encoder)
    with pytest.raises(TypeError, match="JSON text"):
        encode_partition(pa.table({"doc": [1, 2]}), encoder)
    with pytest.raises(TypeError, match="DataFrame"):
        encode_partition([docs], encoder)
