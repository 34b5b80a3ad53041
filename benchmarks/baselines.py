"""Baseline document vectorisers that duckdb_vsa is compared with.

- :func:`feature_hashing_vectors`: the recipe practitioners reach for first —
  flatten each document to ``path=value`` tokens, hash them into D buckets with
  scikit-learn's ``FeatureHasher``, L2-normalise.
- :func:`parse_floor`: ``json.loads`` plus a walk over every leaf that does
  nothing: no encoder that reads JSON in Python can be faster.
- :func:`torchhd_vectors`: torchhd's ``hash_table`` (MAP model) over
  ``(path, value)`` pairs, when torchhd is installed.

Used by the throughput and quality benchmarks.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def _number_token(x: float) -> str:
    if not math.isfinite(x):
        return "nan" if x != x else ("+inf" if x > 0 else "-inf")
    # Log-scale bins: numbers within ~40 % of each other share a token.
    bin_ = round(2.0 * math.log2(1.0 + abs(x)))
    return f"#{'-' if x < 0 and bin_ else ''}{bin_}"


def flatten_tokens(doc: Any) -> list[str]:
    """The feature-hashing tokens of one parsed document.

    ``path=value`` for every leaf (array elements share the path ``a[]``: order
    is ignored, as a bag-of-fields recipe does), numbers binned on a log scale
    (``path=#bin``), strings also as their casefolded, space-padded character
    trigrams ``path~tri`` so that a typo keeps most tokens. Iterative: deep
    documents do not hit the recursion limit.
    """
    tokens: list[str] = []
    append = tokens.append
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            append(f"{path}={value}")
            padded = f" {value.casefold()} "
            prefix = path + "~"
            tokens.extend([prefix + padded[i : i + 3] for i in range(len(padded) - 2)])
        elif isinstance(value, dict):
            if not value:
                append(path + "={}")
            for key, child in value.items():
                stack.append((f"{path}.{key}" if path else key, child))
        elif isinstance(value, list):
            if not value:
                append(path + "=[]")
            child_path = path + "[]"
            stack.extend([(child_path, child) for child in value])
        elif value is None:
            append(path + "=null")
        elif value is True:
            append(path + "=true")
        elif value is False:
            append(path + "=false")
        elif isinstance(value, (int, float)):
            try:
                x = float(value)
            except OverflowError:
                x = math.inf if value > 0 else -math.inf
            append(f"{path}={_number_token(x)}")
        else:
            append(f"{path}={value!r}")
    return tokens


def feature_hashing_vectors(docs: Iterable[Any], dim: int):
    """Feature-hashed, L2-normalised vectors of documents.

    Parameters
    ----------
    docs : iterable of str or object
        JSON text (parsed with ``json.loads``) or already parsed documents.
    dim : int
        Number of hash buckets (the vector dimension).

    Returns
    -------
    scipy.sparse.csr_matrix of float32, shape (n, dim)
        Unit rows (a document without tokens stays a zero row).
    """
    from sklearn.feature_extraction import FeatureHasher
    from sklearn.preprocessing import normalize

    token_lists = [flatten_tokens(json.loads(d) if isinstance(d, str) else d) for d in docs]
    # One transform over the whole batch: the hashing loop runs in Cython.
    hasher = FeatureHasher(n_features=dim, input_type="string", dtype=np.float32)
    matrix = hasher.transform(token_lists)
    return normalize(matrix, norm="l2", copy=False)


def parse_floor(docs: Sequence[str]) -> int:
    """Parse every document and visit every leaf; returns the number of leaves."""
    loads = json.loads
    leaves = 0
    for text in docs:
        stack = [loads(text)]
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
            else:
                leaves += 1
    return leaves


def torchhd_available() -> bool:
    try:
        import torchhd  # noqa: F401
    except ImportError:
        return False
    return True


def _pairs(doc: Any) -> list[tuple[str, str]]:
    """``(path, value token)`` pairs: the key/value split of :func:`flatten_tokens`."""
    out = []
    for token in flatten_tokens(doc):
        cut = min((i for i in (token.find("="), token.find("~")) if i >= 0), default=len(token))
        out.append((token[:cut], token[cut:]))
    return out


def torchhd_vectors(docs: Sequence[Any], dim: int, *, seed: int = 0, max_elements: int = 2**24):
    """torchhd ``hash_table`` (MAP) vectors of the same tokens as feature hashing.

    Paths and value tokens are mapped to indices in Python, random MAP codebooks
    are drawn for them, and each block of documents is one batched
    ``hash_table(keys[idx], values[idx])`` over padded index tensors (padding
    points to a zero row, which binds to zero). Rows are L2-normalised.

    Returns
    -------
    numpy.ndarray of float32, shape (n, dim)
    """
    import torch
    import torchhd

    pairs = [_pairs(json.loads(d) if isinstance(d, str) else d) for d in docs]
    key_ids: dict[str, int] = {}
    value_ids: dict[str, int] = {}
    key_idx = [[key_ids.setdefault(k, len(key_ids)) for k, _ in p] for p in pairs]
    value_idx = [[value_ids.setdefault(v, len(value_ids)) for _, v in p] for p in pairs]
    generator = torch.Generator().manual_seed(seed)
    zero = torch.zeros(1, dim)
    keys = torch.cat([torchhd.random(len(key_ids), dim, "MAP", generator=generator), zero])
    values = torch.cat([torchhd.random(len(value_ids), dim, "MAP", generator=generator), zero])
    keys = keys.as_subclass(torchhd.MAPTensor)
    values = values.as_subclass(torchhd.MAPTensor)
    lengths = np.fromiter((len(p) for p in pairs), dtype=np.int64, count=len(pairs))
    width = max(int(lengths.max(initial=0)), 1)
    filled = np.arange(width) < lengths[:, None]
    k_pad = np.full((len(pairs), width), len(key_ids), dtype=np.int64)
    v_pad = np.full((len(pairs), width), len(value_ids), dtype=np.int64)
    # A boolean mask fills row by row, in the order the flattened lists come.
    k_pad[filled] = np.fromiter(itertools.chain.from_iterable(key_idx), dtype=np.int64)
    v_pad[filled] = np.fromiter(itertools.chain.from_iterable(value_idx), dtype=np.int64)
    k_pad, v_pad = torch.from_numpy(k_pad), torch.from_numpy(v_pad)
    block = max(1, max_elements // (width * dim))
    out = np.empty((len(pairs), dim), dtype=np.float32)
    for start in range(0, len(pairs), block):
        stop = min(start + block, len(pairs))
        table = torchhd.hash_table(keys[k_pad[start:stop]], values[v_pad[start:stop]])
        table = torch.nn.functional.normalize(table.as_subclass(torch.Tensor), dim=-1)
        out[start:stop] = table.numpy()
    return out
