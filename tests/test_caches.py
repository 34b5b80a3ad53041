"""The encoder's caches and fast paths change speed only, never a vector.

Row tables (string leaves, token and trigram sign rows) are checked on their
own, then whole encoders with tiny budgets, several threads, groups split by
the term budget and documents the batch engine hands to the tree evaluator
are compared byte for byte with the plain path.
"""

from __future__ import annotations

import json
import random
import threading

import numpy as np
import pytest
from conftest import SMALL_DIM
from hypothesis import given, settings
from hypothesis import strategies as st

import duckdb_vsa
from duckdb_vsa.cache import RowTable
from duckdb_vsa.errors import DocumentError
from duckdb_vsa.parse import parse_json

WIDTH = 8


def _rows_for(keys: list[int]) -> np.ndarray:
    """The row a key stands for: every cell holds the key (so mix-ups show)."""
    return np.repeat(np.asarray(keys, dtype=np.float32)[:, None], WIDTH, axis=1)


def _check(matrix: np.ndarray, rows: np.ndarray, keys: list[int]) -> None:
    np.testing.assert_array_equal(matrix[rows], _rows_for(keys))


def test_row_table_computes_only_absent_rows() -> None:
    table = RowTable(1 << 20, WIDTH, np.float32)
    computed: list[list[int]] = []

    def compute(missing: list[int]) -> np.ndarray:
        computed.append(list(missing))
        return _rows_for(missing)

    matrix, rows = table.rows_of([3, 1, 2], compute)
    _check(matrix, rows, [3, 1, 2])
    matrix, rows = table.rows_of([2, 5, 3], compute)
    _check(matrix, rows, [2, 5, 3])
    assert computed == [[3, 1, 2], [5]]
    assert len(table) == 4
    assert table.nbytes == 4 * WIDTH * 4


def test_row_table_stays_within_its_budget_and_starts_over_when_full() -> None:
    budget_rows = 10
    table = RowTable(budget_rows * WIDTH * 4, WIDTH, np.float32)
    rng = random.Random(0)
    for _ in range(200):
        keys = rng.sample(range(40), rng.randint(1, 8))
        matrix, rows = table.rows_of(keys, _rows_for)
        _check(matrix, rows, keys)
        assert len(table) <= budget_rows
        assert table.nbytes <= budget_rows * WIDTH * 4


def test_row_table_gives_a_private_matrix_for_more_keys_than_it_can_hold() -> None:
    table = RowTable(4 * WIDTH * 4, WIDTH, np.float32)
    table.rows_of([1, 2], _rows_for)
    keys = list(range(10))
    matrix, rows = table.rows_of(keys, _rows_for)
    _check(matrix, rows, keys)
    assert len(table) == 2


def test_a_matrix_handed_out_stays_valid_after_the_table_changes() -> None:
    table = RowTable(6 * WIDTH * 4, WIDTH, np.float32)
    matrix, rows = table.rows_of([1, 2, 3], _rows_for)
    kept = matrix[rows].copy()
    table.rows_of([4, 5, 6], _rows_for)  # fills the table
    table.rows_of([7, 8, 9, 10], _rows_for)  # starts over
    table.insert([11, 12], _rows_for([11, 12]))
    np.testing.assert_array_equal(matrix[rows], kept)


def test_row_table_insert_keeps_rows_already_held() -> None:
    table = RowTable(1 << 20, WIDTH, np.float32)
    table.insert([1, 2], _rows_for([1, 2]))
    table.insert([2, 3], _rows_for([20, 3]))  # key 2 is held: its row stays
    matrix, rows = table.lookup([1, 2, 3, 4])
    assert rows[3] == -1
    _check(matrix, rows[:3], [1, 2, 3])


def test_a_zero_budget_keeps_nothing_but_still_answers() -> None:
    table = RowTable(0, WIDTH, np.float32)
    matrix, rows = table.rows_of([1, 2], _rows_for)
    _check(matrix, rows, [1, 2])
    table.insert([3], _rows_for([3]))
    assert len(table) == 0


# -- whole encoders ----------------------------------------------------------------


def _corpus(n: int, seed: int = 0) -> list[dict]:
    """Varied records: repeated and fresh strings, numbers, arrays, unicode, long text."""
    rng = random.Random(seed)
    words = ["red", "shoe", "Straße", "東京", "emoji 😀", "a", "ab", "x" * 40]
    docs = []
    for i in range(n):
        docs.append(
            {
                "id": f"id-{rng.randrange(10**6)}",
                "name": " ".join(rng.choices(words, k=rng.randint(0, 4))),
                "city": rng.choice(["Oslo", "Lima", "Pune"]),
                "price": round(rng.lognormvariate(3, 1), 2),
                "tags": rng.sample(words, rng.randint(0, 3)),
                "items": [{"sku": f"s{rng.randrange(50)}", "qty": j} for j in range(i % 4)],
                "note": "lorem ipsum " * rng.randint(0, 120),
                "ok": rng.random() < 0.5,
            }
        )
    return docs


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return _corpus(400)


@pytest.fixture(scope="module")
def reference(corpus) -> np.ndarray:
    """Each document encoded alone by a fresh encoder with the default budget."""
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM)
    return np.stack([enc.encode(doc) for doc in corpus])


def test_string_vectors_are_kept_and_read_back_on_every_path() -> None:
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM)
    texts = ["red shoe", "blue hat", "Straße"]
    first = enc.leaves.strings(texts)  # no output matrix given
    assert enc.leaves.cached_strings == 3
    out = np.zeros((5, SMALL_DIM), dtype=np.float32)
    enc.leaves.strings(texts[::-1], out=out, at=np.array([4, 0, 2]))
    np.testing.assert_array_equal(out[[2, 0, 4]], first)
    assert not out[[1, 3]].any()
    assert enc.leaves.strings([]).shape == (0, SMALL_DIM)


@pytest.mark.parametrize("cache_bytes", [0, 16 * 1024, 256 * 1024])
def test_tiny_cache_budgets_give_the_same_bytes(corpus, reference, cache_bytes) -> None:
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM, cache_bytes=cache_bytes)
    for _ in range(2):  # the second pass meets whatever the first one left cached
        assert enc.encode_batch(corpus).tobytes() == reference.tobytes()


def test_threads_sharing_one_encoder_give_the_same_bytes(corpus, reference) -> None:
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM, cache_bytes=64 * 1024)
    chunks = [list(range(i, len(corpus), 4)) for i in range(4)]
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for _ in range(3):
                results[t] = enc.encode_batch([corpus[i] for i in chunks[t]])
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for t, rows in enumerate(chunks):
        assert results[t].tobytes() == reference[rows].tobytes()


def test_groups_split_by_the_term_budget_give_the_same_bytes(corpus, reference) -> None:
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM)
    enc.engine.group_terms = 50
    assert enc.encode_batch(corpus).tobytes() == reference.tobytes()


def test_documents_for_the_tree_evaluator_keep_their_place_in_a_batch() -> None:
    enc = duckdb_vsa.Encoder(dim=SMALL_DIM)
    long_array = {"values": list(range(enc.roles.max_position + 5))}
    docs = [{"a": 1}, long_array, {"b": "x"}, long_array, {"c": [1, 2]}]
    alone = np.stack([enc.encode(doc) for doc in docs])
    assert enc.encode_batch(docs).tobytes() == alone.tobytes()
    np.testing.assert_allclose(alone[1], enc.encode_tree(long_array), atol=1e-6)


# -- parsing -----------------------------------------------------------------------

_json_texts = st.one_of(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=10,
    ).map(json.dumps),
    st.text(max_size=30),
)


@settings(max_examples=300, deadline=None)
@given(
    body=_json_texts,
    before=st.sampled_from(["", " ", "\n\t"]),
    after=st.sampled_from(["", " ", "x", "}"]),
)
def test_parse_json_reads_what_json_loads_reads(body: str, before: str, after: str) -> None:
    text = before + body + after
    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(DocumentError):
            parse_json(text)
        return
    got = parse_json(text)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
