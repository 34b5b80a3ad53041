"""The encoder internals that the profiling benchmarks reach, named in one table.

``profile_encode.py`` times the stages of ``Encoder.encode_arrow`` by wrapping
the engine's functions, and ``encode_throughput.py`` times parsing and
flattening alone. Both need names that the package does not promise to keep:
every one of them is in :data:`HOOKS`, and nothing else in ``benchmarks/``
names a private attribute of the encoder. When the engine renames or moves a
function, :func:`check` raises :class:`MissingHook` naming each name it cannot
find: update the table, not the scripts.

An owner is where a name is looked up:

- ``"encoder"``: the :class:`duckdb_vsa.Encoder` instance, and a dotted path
  below it (``"encoder.leaves._strings"``);
- ``"flattener"``: the object that :data:`FLATTENER_FACTORY` returns;
- ``"module:<dotted name>"``: a module, patched in its namespace (the names the
  engine's functions call as globals).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from typing import Any

ARROW = "Arrow in/out, per-row loop (rest of encode_arrow)"
PARSE = "parse (parse_json)"
GROUPING = "grouping documents into batches"
FLATTEN = "flatten to (path, leaf) terms"
LEAF_REST = "leaf vectors: rest (number axis, basis layout)"
STRINGS = "leaf vectors: strings (trigram and token sums)"
ATOM_CACHE = "leaf vectors: caches (sign rows, string table)"
NUMBERS = "leaf vectors: numbers (number_levels, levels)"
ATOMS = "atom generation (AtomSource.atoms, any caller)"
CHAIN_OPS = "bind: chain ops (role products on paths)"
APPLY = "bind: apply roles"
KEY_BAGS = "key bags"
SPARSE = "sparse sum (CSR @ dense)"
NORMALISE = "normalise"
GROUP_REST = "term indexing, pair dedup, CSR build"
TREE = "documents beyond the batch engine (sliced evaluation)"

#: Every stage, in the order the profile prints them.
STAGES = (
    ARROW,
    PARSE,
    GROUPING,
    FLATTEN,
    LEAF_REST,
    STRINGS,
    ATOM_CACHE,
    NUMBERS,
    ATOMS,
    CHAIN_OPS,
    APPLY,
    KEY_BAGS,
    GROUP_REST,
    SPARSE,
    NORMALISE,
    TREE,
)


@dataclasses.dataclass(frozen=True)
class Hook:
    """One function the profile wraps: its stage, where it lives and its name."""

    stage: str
    owner: str
    name: str

    def __str__(self) -> str:
        return f"{self.owner}.{self.name}"


#: The engine's factory of flatteners (a method called with no argument).
FLATTENER_FACTORY = Hook(FLATTEN, "encoder.engine", "new_flattener")

#: The module whose ``sp`` (``scipy.sparse``) the engine builds its CSR sums with.
SPARSE_MODULE = Hook(SPARSE, "module:duckdb_vsa.engine", "sp")

#: Every name the profile wraps, one row each.
HOOKS: tuple[Hook, ...] = (
    Hook(ARROW, "encoder", "encode_arrow"),
    Hook(PARSE, "module:duckdb_vsa.encoder", "parse_json"),
    Hook(GROUPING, "encoder.engine", "encode_values"),
    Hook(FLATTEN, "flattener", "add_many"),
    Hook(GROUP_REST, "encoder.engine", "term_sums"),
    Hook(LEAF_REST, "encoder.basis", "leaf_bases"),
    Hook(STRINGS, "encoder.leaves", "strings"),
    Hook(ATOM_CACHE, "encoder.leaves", "_cached_signs"),
    Hook(ATOM_CACHE, "encoder.leaves._gram_signs", "rows_of"),
    Hook(ATOM_CACHE, "encoder.leaves._token_signs", "rows_of"),
    Hook(ATOM_CACHE, "encoder.leaves._strings", "lookup"),
    Hook(ATOM_CACHE, "encoder.leaves._strings", "insert"),
    Hook(NUMBERS, "encoder.leaves", "number_levels"),
    Hook(NUMBERS, "encoder.leaves", "numbers"),
    Hook(NUMBERS, "encoder.leaves", "levels"),
    Hook(ATOMS, "encoder.atoms", "atoms"),
    Hook(ATOMS, "encoder.atoms", "signs"),
    Hook(CHAIN_OPS, "encoder.roles", "chains"),
    Hook(APPLY, "encoder.roles", "apply"),
    Hook(APPLY, "encoder.engine", "bind_pairs"),
    Hook(KEY_BAGS, "encoder.basis", "key_bags"),
    Hook(NORMALISE, "encoder.basis", "document_rows"),
    Hook(NORMALISE, "encoder.basis", "unit_rows"),
    Hook(TREE, "encoder.engine", "encode_large"),
)


class MissingHook(AttributeError):
    """Names of the table that the encoder no longer has."""


def owner_of(hook: Hook, encoder: Any, flattener: Any = None) -> Any:
    """The object that holds ``hook.name``, or None if its path is broken."""
    if hook.owner.startswith("module:"):
        try:
            return importlib.import_module(hook.owner.split(":", 1)[1])
        except ImportError:
            return None
    head, *rest = hook.owner.split(".")
    owner = {"encoder": encoder, "flattener": flattener}[head]
    for part in rest:
        owner = getattr(owner, part, None)
    return owner


def check(encoder: Any, hooks: Sequence[Hook] = HOOKS) -> None:
    """Raise :class:`MissingHook` naming every hook ``encoder`` does not have.

    Hooks on the flattener are looked up on one that ``encoder`` makes.
    """
    flattener = new_flattener(encoder)
    missing = [
        str(h)
        for h in (FLATTENER_FACTORY, SPARSE_MODULE, *hooks)
        if not hasattr(owner_of(h, encoder, flattener), h.name)
    ]
    if missing:
        raise MissingHook(
            "The encoder no longer has these names, which the profiling benchmarks time: "
            f"{', '.join(missing)}. Update HOOKS in benchmarks/engine_hooks.py to the "
            "engine's current names."
        )


def new_flattener(encoder: Any) -> Any:
    """A fresh flattener of ``encoder``'s configuration (its ``add_many`` records terms)."""
    factory = getattr(owner_of(FLATTENER_FACTORY, encoder), FLATTENER_FACTORY.name, None)
    if factory is None:
        raise MissingHook(
            f"The encoder has no {FLATTENER_FACTORY}. Update FLATTENER_FACTORY in "
            "benchmarks/engine_hooks.py to the engine's current name."
        )
    return factory()
