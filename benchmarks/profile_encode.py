"""Where encoding time goes: a stage-by-stage breakdown of ``Encoder.encode_arrow``.

The real ``encode_arrow`` runs, instrumented from outside: timers wrap the
pieces it calls (``parse_json``, ``Flattener.add_many``, ``_leaf_bases``,
``LeafEncoder.strings``, ``AtomSource.atoms``, ``_chain_ops``,
``roles.apply``, ``_key_bag_matrix``, the CSR product, ``_unit_rows``...) on
one encoder instance and in ``duckdb_vsa.encoder``'s namespace. Time is
*exclusive*: a stage's time excludes the wrapped stages it calls, so the rows
add up to the instrumented total, and "rest of X" is what X does itself. A
stage none of whose pieces the engine still has is reported as missing, and
its time falls to its caller's "rest" row: the breakdown survives refactors of
the engine (several names per stage cover its past and present spellings).

The plain ``encode_arrow`` time (no wrappers) is printed beside the
instrumented total to show the timers' overhead. ``--cprofile N`` also prints
the N functions with the most own time under cProfile.

Run: python benchmarks/profile_encode.py [--quick]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import time
import types
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import common
import scipy.sparse as sp

import duckdb_vsa
from duckdb_vsa import encoder as encoder_module
from duckdb_vsa import engine as engine_module
from duckdb_vsa import leaves as leaves_module

ARROW = "Arrow in/out, per-row loop (rest of encode_arrow)"
PARSE = "parse (parse_json)"
GROUPING = "grouping loop (rest of Engine.encode_values)"
FLATTEN = "flatten (Flattener.add_many)"
LEAF_REST = "leaf vectors: rest of Basis.leaf_bases"
STRINGS = "leaf vectors: strings (rest of LeafEncoder.strings)"
ATOM_CACHE = "leaf vectors: caches (sign rows, string table)"
NUMBERS = "leaf vectors: numbers (number_levels, levels)"
ATOMS = "atom generation (AtomSource.atoms, any caller)"
CHAIN_OPS = "bind: chain ops (RoleFamily.chains)"
APPLY = "bind: apply roles (roles.apply, Engine.bind_pairs)"
KEY_BAGS = "key bags (rest of Basis.key_bags)"
SPARSE = "sparse sum (CSR @ dense)"
NORMALISE = "normalise (Basis.unit_rows)"
GROUP_REST = "term indexing, pair dedup, CSR build (rest of Engine.encode_group)"
TREE = "tree evaluator (encode_tree)"
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

# (stage, object path on the encoder or "module:<name>", attribute)
TARGETS = (
    (ARROW, "", "encode_arrow"),
    (PARSE, "module:encoder", "parse_json"),
    (GROUPING, "engine", "encode_values"),
    (GROUP_REST, "engine", "encode_group"),
    (LEAF_REST, "basis", "leaf_bases"),
    (STRINGS, "basis.leaves", "strings"),
    (ATOM_CACHE, "basis.leaves", "_cached_atoms"),
    (ATOM_CACHE, "basis.leaves", "_atom_matrix"),
    (ATOM_CACHE, "basis.leaves", "_cached_signs"),
    (ATOM_CACHE, "basis.leaves._gram_signs", "rows_of"),
    (ATOM_CACHE, "basis.leaves._token_signs", "rows_of"),
    (ATOM_CACHE, "basis.leaves._strings", "lookup"),
    (ATOM_CACHE, "basis.leaves._strings", "insert"),
    (NUMBERS, "basis.leaves", "number_levels"),
    (NUMBERS, "basis.leaves", "numbers"),
    (NUMBERS, "basis.leaves", "levels"),
    (ATOMS, "basis.atoms", "atoms"),
    (ATOMS, "basis.atoms", "signs"),
    (CHAIN_OPS, "basis.roles", "chains"),
    (APPLY, "basis.roles", "apply"),
    (APPLY, "engine", "bind_pairs"),
    (KEY_BAGS, "basis", "key_bags"),
    (NORMALISE, "basis", "unit_rows"),
    (TREE, "module:engine", "encode_tree"),
)
MODULES = {"encoder": encoder_module, "engine": engine_module, "leaves": leaves_module}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--binding", default="perm", choices=("perm", "haar"))
    parser.add_argument("--repeat", type=int, default=5, help="runs per workload (median)")
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument("--workloads", default=",".join(common.WORKLOADS))
    parser.add_argument("--cprofile", type=int, default=0, metavar="N", help="top N functions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="1,000 records, D = 256")
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.dim = 1_000, 256
    args.repeat = max(args.repeat, 5)
    return args


class ExclusiveClock:
    """Seconds per stage, each excluding the time of the timed stages it calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._children: list[float] = []

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        children = self._children
        seconds = self.seconds

        def timed(*a: Any, **kw: Any) -> Any:
            children.append(0.0)
            start = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                elapsed = time.perf_counter() - start
                inner = children.pop()
                seconds[stage] += elapsed - inner
                if children:
                    children[-1] += elapsed

        return timed


class _SparseShim(types.ModuleType):
    """``scipy.sparse`` as the encoder sees it, with the CSR product timed."""

    def __init__(self, clock: ExclusiveClock) -> None:
        super().__init__("scipy.sparse")
        timed_matmul = clock.wrap(SPARSE, sp.csr_matrix.__matmul__)

        class TimedCSR(sp.csr_matrix):
            def __matmul__(self, other: Any) -> Any:
                return timed_matmul(self, other)

        self.csr_matrix = TimedCSR

    def __getattr__(self, name: str) -> Any:
        return getattr(sp, name)


class Instrumented:
    """Installs the timers on one encoder (and the encoder's module namespace)."""

    def __init__(self, enc: duckdb_vsa.Encoder, clock: ExclusiveClock) -> None:
        self.enc = enc
        self.clock = clock
        self.missing: list[str] = []
        self._undo: list[Callable[[], None]] = []

    def _owner(self, path: str) -> Any:
        if path.startswith("module:"):
            return MODULES[path.split(":", 1)[1]]
        owner = self.enc
        for part in filter(None, path.split(".")):
            owner = getattr(owner, part, None)
        return owner

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        if isinstance(owner, types.ModuleType):
            old = getattr(owner, name)
            self._undo.append(lambda: setattr(owner, name, old))
        else:  # an instance attribute shadowing the class's method
            self._undo.append(lambda: vars(owner).pop(name, None))
        setattr(owner, name, value)

    def __enter__(self) -> Instrumented:
        found: set[str] = set()
        for stage, path, name in TARGETS:
            owner = self._owner(path)
            fn = getattr(owner, name, None) if owner is not None else None
            if fn is not None:
                found.add(stage)
                self._patch(owner, name, self.clock.wrap(stage, fn))
        self.missing = [s for s in dict.fromkeys(s for s, _, _ in TARGETS) if s not in found]
        self._patch(engine_module, "sp", _SparseShim(self.clock))
        new_flattener = self.enc.engine.new_flattener
        add_timer = self.clock.wrap

        def timed_flattener(*a: Any, **kw: Any) -> Any:
            flat = new_flattener(*a, **kw)
            for method in ("add", "add_many"):
                if hasattr(flat, method):
                    setattr(flat, method, add_timer(FLATTEN, getattr(flat, method)))
            return flat

        self._patch(self.enc.engine, "new_flattener", timed_flattener)
        return self

    def __exit__(self, *exc: object) -> None:
        while self._undo:
            self._undo.pop()()


def profile_workload(workload: str, args: argparse.Namespace) -> tuple[list[list], list[str]]:
    texts = common.json_records(workload, args.records, args.seed)
    chunks = common.arrow_chunks(texts, args.chunk)
    notes: list[str] = []

    plain = duckdb_vsa.Encoder(dim=args.dim, binding=args.binding)
    for c in chunks:  # fills the role and chain caches, kept by every run
        plain.encode_arrow(c)
    direct = common.measure(
        lambda: [plain.encode_arrow(c) for c in chunks],
        args.repeat,
        setup=lambda: common.reset_value_caches(plain),
    )

    enc = duckdb_vsa.Encoder(dim=args.dim, binding=args.binding)
    for c in chunks:
        enc.encode_arrow(c)
    runs: list[dict[str, float]] = []
    missing: list[str] = []
    for _ in range(args.repeat):
        common.reset_value_caches(enc)
        clock = ExclusiveClock()
        with Instrumented(enc, clock) as inst:
            start = time.perf_counter()
            for c in chunks:
                enc.encode_arrow(c)
            total = time.perf_counter() - start
        missing = inst.missing
        runs.append({**clock.seconds, "total": total})
    if missing:
        notes.append(f"stages not found in the engine (time goes to the caller): {missing}")

    def med(stage: str) -> float:
        return statistics.median(r.get(stage, 0.0) for r in runs)

    total = med("total")
    rows: list[list] = [[workload, stage, med(stage), 100 * med(stage) / total] for stage in STAGES]
    # Medians of parts need not add up to the median of the whole: this row can be < 0.
    untimed = total - sum(med(s) for s in STAGES)
    rows.append(
        [workload, "unattributed (harness, median mismatch)", untimed, 100 * untimed / total]
    )
    rows.append([workload, "total, instrumented", total, 100.0])
    rows.append(
        [workload, "encode_arrow without timers", direct.median, 100 * direct.median / total]
    )
    notes.append(
        f"{args.records:,} records; encode_arrow {args.records / direct.median:,.0f} records/s"
    )

    if args.cprofile:
        common.reset_value_caches(plain)
        profiler = cProfile.Profile()
        profiler.enable()
        for c in chunks:
            plain.encode_arrow(c)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.cprofile)
        print(f"### cProfile, {workload}, top {args.cprofile} by own time\n")
        print("```")
        print(out.getvalue().strip())
        print("```\n")
    return rows, notes


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    common.print_header(
        "Encode time by stage",
        [
            f"D = {args.dim}, binding = {args.binding}; {args.records:,} records per workload "
            f"in {args.chunk}-row Arrow chunks through Encoder.encode_arrow; median of "
            f"{args.repeat} runs per row",
            "every run starts with empty value caches (role and chain caches warm)",
            "exclusive time: a stage excludes the timed stages it calls; % of the "
            "instrumented total",
        ],
    )
    all_rows: list[list] = []
    all_notes: list[str] = []
    for workload in workloads:
        rows, notes = profile_workload(workload, args)
        all_rows.extend(rows)
        all_notes.extend(f"{workload}: {n}" for n in notes)
    print(common.markdown_table(["workload", "stage", "seconds", "%"], all_rows))
    print()
    for note in all_notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
