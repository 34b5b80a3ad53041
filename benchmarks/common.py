"""Shared pieces of the benchmark scripts.

Workload generators (fixed seeds, nothing downloaded), a timing helper that
reports the median of several runs, markdown tables, and a description of the
machine. Scripts import this module as ``common``: they run as
``python benchmarks/NAME.py``, which puts this folder first on ``sys.path``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

# -- workloads -------------------------------------------------------------------------

WORKLOADS = ("flat", "nested", "text")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy "
    "Anthony Betty Mark Sandra Donald Ashley Steven Emily Paul Kimberly Andrew Donna Joshua "
    "Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy Stephanie "
    "Ronald Rebecca Jason Laura Edward Sharon Jeffrey Cynthia Ryan Kathleen Jacob Amy Gary "
    "Angela Nicholas Anna Eric Brenda Jonathan Pamela Stephen Emma Larry Nicole Justin "
    "Helen Scott Samantha"
)
LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell "
    "Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes "
    "Stewart Morris Morales"
)
CITIES = _words(
    "Amsterdam Athens Austin Barcelona Berlin Boston Brussels Budapest Chicago Copenhagen "
    "Denver Dublin Edinburgh Florence Geneva Hamburg Helsinki Istanbul Lisbon London Lyon "
    "Madrid Manchester Milan Montreal Munich Oslo Paris Porto Prague Rome Seattle Stockholm "
    "Toronto Valencia Vancouver Vienna Warsaw Zurich"
)
STREETS = _words(
    "Main Oak Pine Maple Cedar Elm Washington Lake Hill Park Church High Mill River Station"
)
CATEGORIES = (
    "books",
    "electronics",
    "garden",
    "kitchen",
    "toys",
    "sports",
    "clothing",
    "beauty",
    "automotive",
    "office",
    "music",
    "health",
)
STATUSES = ("new", "paid", "shipped", "delivered", "returned")
TIERS = ("bronze", "silver", "gold", "platinum")
COLORS = ("red", "black", "white", "navy", "green", "grey", "orange", "blue", "yellow")
SIZES = ("XS", "S", "M", "L", "XL", "XXL")
PAYMENT_METHODS = ("card", "paypal", "transfer", "cash", "voucher")
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK")
TAGS = ("gift", "priority", "fragile", "bulk", "promo", "repeat", "b2b", "marketplace")

# Common English words, so that descriptions have realistic token and trigram
# statistics (a Zipf-like draw below makes the frequent ones frequent).
WORDS = _words(
    "the of and to a in is it you that he was for on are with as his they be at one have "
    "this from or had by hot word but what some we can out other were all there when up use "
    "your how said an each she which do their time if will way about many then them write "
    "would like so these her long make thing see him two has look more day could go come "
    "did number sound no most people my over know water than call first who may down side "
    "been now find any new work part take get place made live where after back little only "
    "round man year came show every good me give our under name very through just form "
    "sentence great think say help low line differ turn cause much mean before move right "
    "boy old too same tell does set three want air well also play small end put home read "
    "hand port large spell add even land here must big high such follow act why ask men "
    "change went light kind off need house picture try us again animal point mother world "
    "near build self earth father head stand own page should country found answer school "
    "grow study still learn plant cover food sun four between state keep eye never last let "
    "thought city tree cross farm hard start might story saw far sea draw left late run "
    "while press close night real life few north open seem together next white children "
    "begin got walk example ease paper group always music those both mark often letter "
    "until mile river car feet care second book carry took science eat room friend began "
    "idea fish mountain stop once base hear horse cut sure watch color face wood main "
    "enough plain girl usual young ready above ever red list though feel talk bird soon "
    "body dog family direct pose leave song measure door product black short numeral class "
    "wind question happen complete ship area half rock order fire south problem piece told "
    "knew pass since top whole king space heard best hour better true during hundred five "
    "remember step early hold west ground interest reach fast verb sing listen six table "
    "travel less morning ten simple several vowel toward war lay against pattern slow "
    "center love person money serve appear road map rain rule govern pull cold notice voice "
    "unit power town fine certain fly fall lead cry dark machine note wait plan figure star "
    "box noun field rest correct able pound done beauty drive stood contain front teach "
    "week final gave green oh quick develop ocean warm free minute strong special mind "
    "behind clear tail produce fact street inch multiply nothing course stay wheel full "
    "force blue object decide surface deep moon island foot system busy test record boat "
    "common gold possible plane stead dry wonder laugh thousand ago ran check game shape "
    "equate miss brought heat snow tire bring yes distant fill east paint language"
)
_WORD_WEIGHTS = [1.0 / (rank + 10) for rank in range(len(WORDS))]


def _date(rng: random.Random) -> str:
    return f"20{rng.randint(15, 25):02d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def flat_record(rng: random.Random, i: int) -> dict[str, Any]:
    """Ten fields: numbers, short strings, categories, a boolean and a null."""
    return {
        "id": 100_000 + i,
        "name": _person(rng),
        "age": rng.randint(18, 90),
        "price": round(rng.lognormvariate(3.5, 1.0), 2),
        "rating": round(rng.uniform(1.0, 5.0), 1),
        "city": rng.choice(CITIES),
        "category": rng.choice(CATEGORIES),
        "status": rng.choice(STATUSES),
        "active": rng.random() < 0.7,
        "coupon": None,
    }


def nested_record(rng: random.Random, i: int) -> dict[str, Any]:
    """An order: depth 4, an array of item objects, about 40 leaves."""
    items = [
        {
            "sku": f"SKU-{rng.randint(1000, 9999)}",
            "qty": rng.randint(1, 5),
            "price": round(rng.lognormvariate(3.0, 0.8), 2),
            "attrs": {"color": rng.choice(COLORS), "size": rng.choice(SIZES)},
        }
        for _ in range(rng.randint(3, 5))
    ]
    return {
        "order_id": 5_000_000 + i,
        "created": _date(rng),
        "customer": {
            "id": rng.randint(1, 50_000),
            "name": _person(rng),
            "tier": rng.choice(TIERS),
            "address": {
                "street": f"{rng.randint(1, 300)} {rng.choice(STREETS)} Street",
                "city": rng.choice(CITIES),
                "zip": f"{rng.randint(10000, 99999)}",
                "geo": {
                    "lat": round(rng.uniform(35.0, 60.0), 4),
                    "lon": round(rng.uniform(-10.0, 30.0), 4),
                },
            },
        },
        "items": items,
        "payment": {
            "method": rng.choice(PAYMENT_METHODS),
            "amount": round(sum(it["qty"] * it["price"] for it in items), 2),
            "currency": rng.choice(CURRENCIES),
        },
        "tags": rng.sample(TAGS, rng.randint(1, 3)),
        "gift": rng.random() < 0.1,
    }


def description(rng: random.Random, length: int = 500) -> str:
    """About ``length`` characters of sentences drawn from common English words."""
    sentences: list[str] = []
    size = 0
    while size < length:
        words = rng.choices(WORDS, weights=_WORD_WEIGHTS, k=rng.randint(6, 16))
        sentence = " ".join(words).capitalize() + "."
        sentences.append(sentence)
        size += len(sentence) + 1
    text = " ".join(sentences)
    if len(text) > length:
        cut = text.rfind(" ", 0, length)
        text = text[: cut if cut > 0 else length].rstrip(",") + "."
    return text


def text_record(rng: random.Random, i: int) -> dict[str, Any]:
    """A 500-character description plus five short fields."""
    return {
        "id": 700_000 + i,
        "title": " ".join(rng.choices(WORDS, weights=_WORD_WEIGHTS, k=rng.randint(3, 6))).title(),
        "author": _person(rng),
        "published": _date(rng),
        "rating": round(rng.uniform(1.0, 5.0), 1),
        "description": description(rng),
    }


_GENERATORS: dict[str, Callable[[random.Random, int], dict[str, Any]]] = {
    "flat": flat_record,
    "nested": nested_record,
    "text": text_record,
}


def records(workload: str, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` records of a workload (``flat``, ``nested`` or ``text``), from a fixed seed."""
    try:
        make = _GENERATORS[workload]
    except KeyError:
        raise ValueError(f"Unknown workload {workload!r}; use one of {WORKLOADS}.") from None
    # Each workload has its own stream, so changing one never shifts another.
    rng = random.Random(f"{workload}:{seed}")
    return [make(rng, i) for i in range(n)]


def json_records(workload: str, n: int, seed: int = 0) -> list[str]:
    """The records of :func:`records` as JSON text."""
    return [json.dumps(r) for r in records(workload, n, seed)]


def typo(text: str, rng: random.Random) -> str:
    """Swap two neighbouring characters (no-op for strings shorter than 3)."""
    if len(text) < 3:
        return text
    i = rng.randrange(1, len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def perturb_flat(record: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A near-duplicate of a flat record: a typo, a nudged price, maybe a new status."""
    out = dict(record)
    out["name"] = typo(out["name"], rng)
    out["price"] = round(out["price"] * rng.uniform(0.97, 1.03), 2)
    if rng.random() < 0.3:
        out["status"] = rng.choice(STATUSES)
    return out


# -- timing ----------------------------------------------------------------------------


@dataclasses.dataclass
class Timing:
    """Wall-clock seconds of repeated runs."""

    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def best(self) -> float:
        return min(self.runs)

    def __len__(self) -> int:
        return len(self.runs)


def measure(
    fn: Callable[[], Any],
    repeat: int = 5,
    *,
    setup: Callable[[], Any] | None = None,
    warmup: int = 0,
) -> Timing:
    """Time ``fn()`` ``repeat`` times; ``setup()`` runs untimed before every call.

    Report :attr:`Timing.median`: on a shared machine the median is far less
    sensitive to another process's burst than the mean.
    """
    for _ in range(warmup):
        if setup is not None:
            setup()
        fn()
    runs = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return Timing(runs)


# -- duckdb_vsa helpers ----------------------------------------------------------------

# Caches keyed by values (strings, tokens, trigrams, number levels, key bags).
# Role and chain caches are left alone: they depend on the schema, not the data,
# and a DuckDB session fills them once for the life of the process.
_VALUE_CACHES = (
    ("leaves", "_strings"),
    ("leaves", "_atoms"),
    ("leaves", "_token_signs"),
    ("leaves", "_gram_signs"),
    ("leaves", "_level_dot_cache"),
    (None, "_key_bags"),
)


def reset_value_caches(encoder: Any) -> bool:
    """Empty an encoder's value caches so the next run encodes every value afresh.

    Without this, the second pass over the same records finds every string
    already cached, which no real table of new documents would. Returns False
    (and clears what it can) if the encoder's internals no longer match.
    """
    complete = True
    for owner_name, cache_name in _VALUE_CACHES:
        owner = encoder if owner_name is None else getattr(encoder, owner_name, None)
        cache = getattr(owner, cache_name, None)
        if cache is None or not hasattr(cache, "clear"):
            complete = False
            continue
        cache.clear()
    return complete


def arrow_chunks(texts: Sequence[str], size: int = 2048) -> list[Any]:
    """The texts as Arrow string arrays of at most ``size`` rows (DuckDB's UDF batch)."""
    import pyarrow as pa

    column = pa.array(texts, type=pa.string())
    return [column.slice(i, size) for i in range(0, len(column), size)]


# -- output ----------------------------------------------------------------------------


def fmt(value: Any, digits: int = 3) -> str:
    """Compact number formatting for tables: thousands separators, 3 significant digits."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    return f"{value:.{max(decimals, 0)}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; numbers right-aligned."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    numeric = [
        bool(rows) and all(isinstance(row[j], (int, float)) or row[j] is None for row in rows)
        for j in range(len(headers))
    ]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"]
    lines.append(
        "| "
        + " | ".join(("-" * (w - 1) + ":") if n else "-" * w for w, n in zip(widths, numeric))
        + " |"
    )
    for row in cells:
        lines.append(
            "| "
            + " | ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric))
            + " |"
        )
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info() -> dict[str, str]:
    """Cores, CPU model and the versions that the figures depend on."""
    info = {
        "cores": str(os.cpu_count()),
        "cpu": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    if hasattr(os, "sched_getaffinity"):
        info["cores usable"] = str(len(os.sched_getaffinity(0)))
    for module in ("numpy", "scipy", "pyarrow", "duckdb", "sklearn"):
        mod = sys.modules.get(module)
        if mod is None:
            try:
                mod = __import__(module)
            except ImportError:
                info[module] = "not installed"
                continue
        info[module] = getattr(mod, "__version__", "?")
    try:
        import duckdb_vsa

        info["duckdb_vsa"] = f"{duckdb_vsa.__version__} (encoder v{duckdb_vsa.ENCODER_VERSION})"
    except ImportError:
        info["duckdb_vsa"] = "not importable"
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if var in os.environ:
            info[var] = os.environ[var]
    return info


def print_machine_info() -> None:
    print("Machine:\n")
    print(markdown_table(["", "value"], list(machine_info().items())))
    print()


def print_header(title: str, notes: Sequence[str] = ()) -> None:
    print(f"## {title}\n")
    for note in notes:
        print(f"- {note}")
    if notes:
        print()
    print_machine_info()


# -- top-k helpers shared by the top-k benchmarks ---------------------------------------


def blas_topk(queries, targets, k: int, block: int):
    """Indices of each query's k best targets, best first: the BLAS floor.

    A blocked matrix product and ``argpartition``, then a sort of the k survivors.
    """
    import numpy as np

    out = np.empty((len(queries), k), dtype=np.int64)
    targets_t = targets.T
    for start in range(0, len(queries), block):
        scores = queries[start : start + block] @ targets_t
        top = np.argpartition(scores, -k, axis=1)[:, -k:]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        out[start : start + block] = np.take_along_axis(top, order, axis=1)
    return out


def exact_topk(queries, targets, k: int):
    """The reference top-k, computed in float64."""
    import numpy as np

    return blas_topk(queries.astype(np.float64), targets.astype(np.float64), k, block=256)


def load_vectors(con, name: str, vectors) -> None:
    """Create table ``name(id, v FLOAT[D])`` from the rows of ``vectors``."""
    import numpy as np
    import pyarrow as pa

    dim = vectors.shape[1]
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
    con.register("__bench_arrow", pa.table({"id": pa.array(np.arange(len(vectors))), "v": column}))
    con.execute(
        f"CREATE OR REPLACE TABLE {name} AS SELECT id, v::FLOAT[{dim}] AS v FROM __bench_arrow"
    ).fetchall()
    con.unregister("__bench_arrow")
