"""Where encoding time goes: a stage-by-stage breakdown of ``Encoder.encode_arrow``.

The real ``encode_arrow`` runs, instrumented from outside: timers wrap the
pieces it calls (parsing, flattening, leaf vectors, atoms, role chains, the CSR
product, normalisation...) on one encoder instance and in the engine module's
namespace. Time is *exclusive*: a stage's time excludes the wrapped stages it
calls, so the rows add up to the instrumented total, and "rest" is what a stage
does itself.

The functions wrapped are private names of the engine, listed in one table,
``engine_hooks.HOOKS`` (stage, owner, name). If the engine no longer has one of
them, the script stops with an error naming it: a breakdown that silently
dropped a stage would misattribute its time. Update the table after a refactor
of the engine.

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

import engine_hooks as hooks
import harness
import scipy.sparse as sp
import workloads

import duckdb_vsa


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--binding", default="perm", choices=("perm", "haar"))
    parser.add_argument("--repeat", type=int, default=5, help="runs per workload (median)")
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument("--workloads", default=",".join(workloads.WORKLOADS))
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
    """``scipy.sparse`` as the engine sees it, with the CSR product timed."""

    def __init__(self, clock: ExclusiveClock) -> None:
        super().__init__("scipy.sparse")
        timed_matmul = clock.wrap(hooks.SPARSE, sp.csr_matrix.__matmul__)

        class TimedCSR(sp.csr_matrix):
            def __matmul__(self, other: Any) -> Any:
                return timed_matmul(self, other)

        self.csr_matrix = TimedCSR

    def __getattr__(self, name: str) -> Any:
        return getattr(sp, name)


class Instrumented:
    """Installs the timers of every hook on one encoder (and the engine's module).

    Raises
    ------
    engine_hooks.MissingHook
        On entry, if the engine lacks a name of the table.
    """

    def __init__(self, enc: duckdb_vsa.Encoder, clock: ExclusiveClock) -> None:
        self.enc = enc
        self.clock = clock
        self._undo: list[Callable[[], None]] = []

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        if isinstance(owner, types.ModuleType):
            old = getattr(owner, name)
            self._undo.append(lambda: setattr(owner, name, old))
        else:  # an instance attribute shadowing the class's method
            self._undo.append(lambda: vars(owner).pop(name, None))
        setattr(owner, name, value)

    def __enter__(self) -> Instrumented:
        hooks.check(self.enc)
        flattener_hooks = [h for h in hooks.HOOKS if h.owner == "flattener"]
        for hook in hooks.HOOKS:
            if hook.owner != "flattener":
                owner = hooks.owner_of(hook, self.enc)
                self._patch(
                    owner, hook.name, self.clock.wrap(hook.stage, getattr(owner, hook.name))
                )
        sparse_module = hooks.owner_of(hooks.SPARSE_MODULE, self.enc)
        self._patch(sparse_module, hooks.SPARSE_MODULE.name, _SparseShim(self.clock))
        factory_owner = hooks.owner_of(hooks.FLATTENER_FACTORY, self.enc)
        factory = getattr(factory_owner, hooks.FLATTENER_FACTORY.name)
        wrap = self.clock.wrap

        def timed_flattener(*a: Any, **kw: Any) -> Any:
            flat = factory(*a, **kw)
            for hook in flattener_hooks:
                setattr(flat, hook.name, wrap(hook.stage, getattr(flat, hook.name)))
            return flat

        self._patch(factory_owner, hooks.FLATTENER_FACTORY.name, timed_flattener)
        return self

    def __exit__(self, *exc: object) -> None:
        while self._undo:
            self._undo.pop()()


def profile_workload(workload: str, args: argparse.Namespace) -> tuple[list[list], list[str]]:
    texts = workloads.json_records(workload, args.records, args.seed)
    chunks = workloads.arrow_chunks(texts, args.chunk)
    notes: list[str] = []

    plain = duckdb_vsa.Encoder(dim=args.dim, binding=args.binding)
    for c in chunks:  # fills the role and chain caches, kept by every run
        plain.encode_arrow(c)
    direct = harness.measure(
        lambda: [plain.encode_arrow(c) for c in chunks],
        args.repeat,
        setup=lambda: harness.cold_caches(plain),
    )

    enc = duckdb_vsa.Encoder(dim=args.dim, binding=args.binding)
    for c in chunks:
        enc.encode_arrow(c)
    runs: list[dict[str, float]] = []
    for _ in range(args.repeat):
        harness.cold_caches(enc)
        clock = ExclusiveClock()
        with Instrumented(enc, clock):
            start = time.perf_counter()
            for c in chunks:
                enc.encode_arrow(c)
            total = time.perf_counter() - start
        runs.append({**clock.seconds, "total": total})

    def med(stage: str) -> float:
        return statistics.median(r.get(stage, 0.0) for r in runs)

    total = med("total")
    rows: list[list] = [
        [workload, stage, med(stage), 100 * med(stage) / total] for stage in hooks.STAGES
    ]
    # Medians of parts need not add up to the median of the whole: this row can be < 0.
    untimed = total - sum(med(s) for s in hooks.STAGES)
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
        harness.cold_caches(plain)
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
    # Before any timing: a renamed engine function stops the run here, by name.
    hooks.check(duckdb_vsa.Encoder(dim=args.dim, binding=args.binding))
    names = [w.strip() for w in args.workloads.split(",") if w.strip()]
    harness.print_header(
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
    for workload in names:
        rows, notes = profile_workload(workload, args)
        all_rows.extend(rows)
        all_notes.extend(f"{workload}: {n}" for n in notes)
    print(harness.markdown_table(["workload", "stage", "seconds", "%"], all_rows))
    print()
    for note in all_notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
