"""Explaining a similarity: which fields made two documents similar.

A document's unnormalised vector is a sum of leaf terms ``w (R(chain) + alpha I)
leaf`` plus ``beta K``. Grouping document ``a``'s terms by the JSON path of
their leaf gives ``x_a = sum_p x_p + beta K_a``, and likewise ``y_b`` for ``b``,
so ``cos(a, b) = sum_p (x_p . y_p) / (|x_a| |y_b|) + (keys) + (other)``: one
entry per path the two documents share, one for the key bags, and ``(other)``
for the cross terms between different paths (near-orthogonal noise, and values
that match under different keys through the unbound shadow). Products are taken
over a vector's head (its last coordinates hold the configuration's marker, see
docs/design.md, "Document vector"), and ``(configuration)`` is what the two
markers add. Every entry is
computed from the grouped terms, so the entries add up to the cosine of the
encoded vectors only as far as the grouping reproduces the encoding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from duckdb_vsa.engine import Engine
from duckdb_vsa.terms import TooComplex

KEYS_ENTRY = "(keys)"
OTHER_ENTRY = "(other)"
#: The part of every similarity that both vectors carrying one configuration's marker give.
MARKER_ENTRY = "(configuration)"

_UNLIMITED = 2**31


def path_vectors(
    engine: Engine, docs: list[Any], positions: bool
) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
    """Per document: its unnormalised terms summed by leaf path, and its weighted key bag.

    Parameters
    ----------
    engine : Engine
    docs : list
        Parsed JSON values.
    positions : bool
        Keep array positions in paths instead of ``[*]``.

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
    flat = engine.new_flattener(
        max_position=_UNLIMITED, max_expansion=_UNLIMITED, max_terms=_UNLIMITED
    )
    for doc in docs:
        flat.add(doc)
    cfg = engine.config
    bases = engine.basis.leaf_bases(flat.leaf_keys)
    mixing = sp.csr_matrix(
        (bases.coef, bases.basis, bases.ptr), shape=(len(flat.leaf_keys), len(bases.matrix))
    )
    leaves = np.asarray(mixing @ bases.matrix.astype(np.float64))

    # Each occurrence belongs to the group of its document and leaf path.
    occ_set = flat.occ_set
    occ_row = np.repeat(np.arange(len(docs)), flat.row_leaves).tolist()
    path_of: dict[int, str] = {}
    group_of: dict[tuple[int, str], int] = {}
    occ_group = np.empty(len(occ_set), dtype=np.int64)
    for i, (row, cs) in enumerate(zip(occ_row, occ_set)):
        path = path_of.get(cs)
        if path is None:
            path = path_of[cs] = flat.set_path_text(cs, positions)
        occ_group[i] = group_of.setdefault((row, path), len(group_of))

    # The engine's terms, bound once per distinct (chain, leaf), summed per group.
    terms = engine.chain_terms(flat)
    term_leaf = np.asarray(flat.occ_leaf, dtype=np.int64)[terms.occurrence]
    n_leaves = max(len(leaves), 1)
    pairs, term_pair = np.unique(terms.chain * n_leaves + term_leaf, return_inverse=True)
    pair_chain, pair_leaf = np.divmod(pairs, n_leaves)
    bound = engine.bind_pairs(flat, leaves, pair_chain, pair_leaf, alpha=cfg.alpha)
    weights = sp.csr_matrix(
        (terms.weight, (occ_group[terms.occurrence], term_pair.reshape(-1))),
        shape=(len(group_of), len(pairs)),
    )
    sums = np.asarray(weights @ bound) if len(pairs) else np.zeros((len(group_of), engine.dim))

    groups: list[dict[str, np.ndarray]] = [{} for _ in docs]
    for (row, path), g in group_of.items():
        groups[row][path] = sums[g]
    bags = np.zeros((len(docs), engine.dim))
    if cfg.beta:
        for row, signature in enumerate(flat.key_signatures):
            if signature:
                bags[row] = cfg.beta * engine.basis.key_bags([signature])[0].astype(np.float64)
    return groups, bags


def explain(
    engine: Engine, doc_a: Any, doc_b: Any, positions: bool = False
) -> list[tuple[str, float]]:
    """Split ``cos(E(a), E(b))`` into per-path contributions (see the module docstring).

    Parameters
    ----------
    engine : Engine
    doc_a, doc_b : object
        Parsed JSON values.
    positions : bool, default False
        Keep array positions in paths (``$.items[2].sku``) instead of ``[*]``,
        which gathers every element of an array into one path (so a reordered
        array's bag-part similarity is attributed to its field, not to ``(other)``).

    Returns
    -------
    list of (str, float)
        ``(path, contribution)``, largest first: the shared paths, ``(keys)``,
        ``(other)`` and ``(configuration)``. Documents nested beyond the role
        family's chain depth give the single entry ``("$", cosine)``.
    """
    try:
        groups, bags = path_vectors(engine, [doc_a, doc_b], positions)
    except TooComplex:
        encoded = engine.encode_values([doc_a, doc_b]).astype(np.float64)
        return [("$", float(encoded[0] @ encoded[1]))]
    # A document vector's head is its unnormalised sum scaled to a fixed norm; its
    # last coordinates are the configuration's marker, the same in both vectors.
    basis = engine.basis
    head = engine.dim - basis.marker_size
    marker = float(basis.marker.astype(np.float64) @ basis.marker.astype(np.float64))
    x = (sum(groups[0].values(), np.zeros(engine.dim)) + bags[0])[:head]
    y = (sum(groups[1].values(), np.zeros(engine.dim)) + bags[1])[:head]
    scale = (1.0 - marker) / float(np.linalg.norm(x) * np.linalg.norm(y))
    entries = [
        (path, float(vector[:head] @ groups[1][path][:head]) * scale)
        for path, vector in groups[0].items()
        if path in groups[1]
    ]
    if bags[0].any() and bags[1].any():
        entries.append((KEYS_ENTRY, float(bags[0][:head] @ bags[1][:head]) * scale))
    # The cross terms between different paths (and between paths and key bags).
    shared = sum(c for _, c in entries)
    entries.append((OTHER_ENTRY, float(x @ y) * scale - shared))
    if marker:
        entries.append((MARKER_ENTRY, marker))
    entries.sort(key=lambda e: (-e[1], e[0]))
    return entries
