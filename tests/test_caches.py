"""The caches bounded in bytes (duckdb_vsa.cache): ByteBoundedCache and RowTable.

That whole encoders give the same bytes whatever their budgets is checked in
tests/test_engine.py; the string cache of the leaf encoder in tests/test_leaves.py.
"""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from duckdb_vsa.cache import ByteBoundedCache, RowTable

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


def test_row_table_refuses_a_negative_budget() -> None:
    with pytest.raises(ValueError, match=">= 0 bytes"):
        RowTable(-1, WIDTH, np.float32)


def test_row_table_clear_forgets_every_row() -> None:
    table = RowTable(1 << 20, WIDTH, np.float32)
    table.rows_of([1, 2, 3], _rows_for)
    table.clear()
    assert len(table) == 0 and table.nbytes == 0
    _, rows = table.lookup([1, 2, 3])
    assert rows.tolist() == [-1, -1, -1]


def test_row_table_answers_threads_with_the_right_rows() -> None:
    table = RowTable(12 * WIDTH * 4, WIDTH, np.float32)  # small: starts over often
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(300):
                keys = rng.sample(range(30), rng.randint(1, 6))
                matrix, rows = table.rows_of(keys, _rows_for)
                _check(matrix, rows, keys)
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


# -- ByteBoundedCache ------------------------------------------------------------------


def _array(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.uint8)


def _sizeof(value: np.ndarray) -> int:
    return value.nbytes


def test_byte_bounded_cache_keeps_values_and_counts_hits_and_misses() -> None:
    cache: ByteBoundedCache[np.ndarray] = ByteBoundedCache(100, _sizeof)
    assert cache.get("a") is None
    value = _array(10)
    cache.put("a", value)
    assert cache.get("a") is value
    assert cache.get_many(["a", "b", "a"]) == [value, None, value]
    assert (cache.hits, cache.misses) == (3, 2)
    assert len(cache) == 1 and cache.nbytes == 10


def test_byte_bounded_cache_evicts_the_least_recently_used_beyond_its_budget() -> None:
    cache: ByteBoundedCache[np.ndarray] = ByteBoundedCache(30, _sizeof)
    for key in "abc":
        cache.put(key, _array(10))
    cache.get("a")  # now b is the least recently used
    cache.get_many(["c"])  # then b, a, c
    cache.put("d", _array(10))
    assert cache.get("b") is None
    assert all(cache.get(k) is not None for k in "acd")
    assert cache.nbytes == 30
    cache.put("e", _array(25))  # evicts as many as it takes
    assert len(cache) == 1 and cache.nbytes == 25


def test_byte_bounded_cache_replaces_a_value_and_recharges_it() -> None:
    cache: ByteBoundedCache[np.ndarray] = ByteBoundedCache(100, _sizeof)
    cache.put_many([("a", _array(40)), ("b", _array(40))])
    cache.put("a", _array(10))
    assert cache.nbytes == 50 and len(cache) == 2
    assert cache.get("a").nbytes == 10


def test_byte_bounded_cache_does_not_keep_a_value_larger_than_its_budget() -> None:
    cache: ByteBoundedCache[np.ndarray] = ByteBoundedCache(30, _sizeof)
    cache.put("small", _array(10))
    cache.put("big", _array(31))
    assert cache.get("big") is None
    assert cache.get("small") is not None
    zero: ByteBoundedCache[np.ndarray] = ByteBoundedCache(0, _sizeof)
    zero.put("a", _array(1))
    assert len(zero) == 0


def test_byte_bounded_cache_clear_and_budget_checks() -> None:
    cache: ByteBoundedCache[np.ndarray] = ByteBoundedCache(100, _sizeof)
    cache.put("a", _array(10))
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0 and cache.get("a") is None
    with pytest.raises(ValueError, match=">= 0 bytes"):
        ByteBoundedCache(-1, _sizeof)


def test_byte_bounded_cache_stays_within_budget_under_threads() -> None:
    cache: ByteBoundedCache[np.ndarray] = ByteBoundedCache(200, _sizeof)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(2000):
                key = rng.randrange(50)
                if rng.random() < 0.5:
                    cache.put(key, _array(key % 20 + 1))
                else:
                    value = cache.get(key)
                    assert value is None or value.nbytes == key % 20 + 1
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert cache.nbytes <= 200
    held = [v for v in cache.get_many(list(range(50))) if v is not None]
    assert cache.nbytes == sum(v.nbytes for v in held)
