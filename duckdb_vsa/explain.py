"""Explaining a similarity: which fields made two documents similar.

A document's unnormalised vector is a sum of leaf terms ``w (R(chain) + alpha I)
leaf`` plus ``beta K``. Grouping document ``a``'s terms by the JSON path of
their leaf gives ``x_a = sum_p x_p + beta K_a``, and likewise ``y_b`` for ``b``,
so ``cos(a, b) = sum_p (x_p . y_p) / (|x_a| |y_b|) + (keys) + (other)``: one
entry per path the two documents share, one for the key bags, and ``(other)``
for the cross terms between different paths (near-orthogonal noise, and values
that match under different keys through the unbound shadow). ``(other)`` is
computed as the remainder, so the entries add up to the cosine of the encoded
vectors exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from duckdb_vsa.flatten import TooComplex

if TYPE_CHECKING:
    from duckdb_vsa.encoder import Encoder

KEYS_ENTRY = "(keys)"
OTHER_ENTRY = "(other)"

_UNLIMITED = 2**31


def path_vectors(
    encoder: Encoder, docs: list[Any], positions: bool
) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
    """Per document: its unnormalised terms summed by leaf path, and its key bag.

    Returns
    -------
    groups : list of dict of str to ndarray of float64
        ``path -> x_p`` for every document.
    bags : ndarray of float64, shape (len(docs), D)
        ``beta K`` of every document.

    Raises
    ------
    TooComplex
        For a document nested beyond the role family's chain depth.
    """
    flat = encoder._new_flattener(
        max_position=_UNLIMITED, max_expansion=_UNLIMITED, max_terms=_UNLIMITED
    )
    for doc in docs:
        flat.add(doc)
    dim = encoder.dim
    alpha = encoder.config.alpha
    basis_matrix, leaf_ptr, leaf_basis, leaf_coef = encoder._leaf_bases(flat.leaf_keys)
    n_leaves = len(flat.leaf_keys)
    mixing = sp.csr_matrix((leaf_coef, leaf_basis, leaf_ptr), shape=(n_leaves, len(basis_matrix)))
    leaves = np.asarray(mixing @ basis_matrix.astype(np.float64))

    occ_set = np.asarray(flat.occ_set, dtype=np.int64)
    occ_leaf = np.asarray(flat.occ_leaf, dtype=np.int64)
    occ_row = np.repeat(np.arange(len(docs)), flat.row_leaves)
    path_of: dict[int, str] = {}
    group_of: dict[tuple[int, str], int] = {}
    occ_group = np.empty(len(occ_set), dtype=np.int64)
    for i, (row, cs) in enumerate(zip(occ_row.tolist(), occ_set.tolist())):
        path = path_of.get(cs)
        if path is None:
            path = path_of[cs] = flat.set_path_text(cs, positions)
        occ_group[i] = group_of.setdefault((row, path), len(group_of))

    # One term per (occurrence, chain of its set).
    term_occ, term_chain, term_weight = [], [], []
    for i, cs in enumerate(occ_set.tolist()):
        for chain, weight in flat.set_pairs[cs]:
            term_occ.append(i)
            term_chain.append(chain)
            term_weight.append(weight)
    term_occ_a = np.asarray(term_occ, dtype=np.int64)
    term_chain_a = np.asarray(term_chain, dtype=np.int64)
    term_weight_a = np.asarray(term_weight, dtype=np.float64)
    sums = np.zeros((len(group_of), dim))
    chains = np.unique(term_chain_a)
    nonroot = chains[chains != 0]
    ops = dict(zip(nonroot.tolist(), encoder._chain_ops(flat, nonroot))) if len(nonroot) else {}
    for chain in chains.tolist():
        idx = np.flatnonzero(term_chain_a == chain)
        rows = leaves[occ_leaf[term_occ_a[idx]]]
        if chain == 0:
            moved = rows * (1.0 + alpha)
        else:
            moved = encoder.roles.apply(ops[chain], rows) + alpha * rows
        np.add.at(sums, occ_group[term_occ_a[idx]], moved * term_weight_a[idx, None])

    groups: list[dict[str, np.ndarray]] = [{} for _ in docs]
    for (row, path), g in group_of.items():
        groups[row][path] = sums[g]
    bags = np.zeros((len(docs), dim))
    if encoder.config.beta:
        for row, signature in enumerate(flat.key_signatures):
            if signature:
                bag = encoder._key_bag_matrix([signature])[0]
                bags[row] = encoder.config.beta * bag.astype(np.float64)
    return groups, bags


def explain(
    encoder: Encoder, doc_a: Any, doc_b: Any, positions: bool = False
) -> list[tuple[str, float]]:
    """Split ``cos(E(a), E(b))`` into per-path contributions (see the module docstring).

    Parameters
    ----------
    encoder : Encoder
    doc_a, doc_b : object
        Parsed JSON values.
    positions : bool, default False
        Keep array positions in paths (``$.items[2].sku``) instead of ``[*]``,
        which gathers every element of an array into one path (so a reordered
        array's bag-part similarity is attributed to its field, not to ``(other)``).

    Returns
    -------
    list of (str, float)
        ``(path, contribution)``, largest first; they sum to the cosine of the
        two encoded vectors.
    """
    encoded = encoder._encode_values([doc_a, doc_b]).astype(np.float64)
    total = float(encoded[0] @ encoded[1]) / float(
        np.linalg.norm(encoded[0]) * np.linalg.norm(encoded[1])
    )
    try:
        groups, bags = path_vectors(encoder, [doc_a, doc_b], positions)
    except TooComplex:
        return [("$", total)]
    x = sum(groups[0].values(), np.zeros(encoder.dim)) + bags[0]
    y = sum(groups[1].values(), np.zeros(encoder.dim)) + bags[1]
    scale = 1.0 / float(np.linalg.norm(x) * np.linalg.norm(y))
    entries = [
        (path, float(vector @ groups[1][path]) * scale)
        for path, vector in groups[0].items()
        if path in groups[1]
    ]
    if bags[0].any() and bags[1].any():
        entries.append((KEYS_ENTRY, float(bags[0] @ bags[1]) * scale))
    entries.append((OTHER_ENTRY, total - sum(c for _, c in entries)))
    entries.sort(key=lambda e: (-e[1], e[0]))
    return entries
