"""Quality benchmark: duckdb_vsa's vectors against the alternatives, on the same data.

Run ``python benchmarks/quality.py`` for the tables (markdown on stdout) and
``benchmarks/figures/capacity.png`` (the README's plot; other runs write to
``benchmarks/results/``); ``--sweep`` measures the encoder's
parameters and recommends defaults; ``--quick`` is a small, fast run for tests;
``--set name=value`` (repeatable) evaluates other encoder options.

Methods, all at the same dimension D (default 1024) except TF-IDF:

- ``duckdb_vsa``: ``Encoder(dim=D, seed=0, **options)``.
- ``feature hashing``: the recipe of ``baselines.feature_hashing_vectors`` --
  ``path=value`` tokens (array elements share the path ``a[]``), numbers as
  log-scale bins, strings also as path-prefixed character trigrams, hashed by
  scikit-learn's ``FeatureHasher(n_features=D)``, L2-normalised.
- ``exact path=value``: ``FeatureHasher(n_features=D)`` on ``path=value`` tokens
  only (the value as JSON text, so ``3`` and ``3.0`` differ), L2-normalised.
- ``TF-IDF 3-grams``: ``TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3))``
  on ``json.dumps(record)``, fitted on the corpus being searched (on the two
  documents compared, for the pairwise metrics 3 and 4). Its dimension is the
  vocabulary size, not D.

Similarity is cosine throughout. Scores are rounded to 6 decimals before any
comparison, and every tie is resolved against the method (a tie is a miss).

Metrics
-------
1. Label retrieval (iris, wine, breast_cancer, digits from scikit-learn, as
   records ``{feature: value}``; the ``class`` field removed before encoding).
   For every record, the other records of the set ranked by similarity
   (leave-one-out). P@10 = mean over records of the fraction of the 10 nearest
   with the record's label; hit@1 = fraction of records whose nearest
   neighbour has its label. Among equal scores, other labels rank first.
2. Near-duplicate retrieval, on three generated families: 3,000 orders
   (``datasets.make_orders``), 3,000 activity events and 1,500 pull-request
   webhook payloads of 140-350 leaves (``payloads.make_events``,
   ``payloads.make_pull_requests``: integer ids, epoch timestamps, users and
   repositories reused across records, long texts). In each, 300 records,
   sampled, are perturbed and each perturbed copy searches the whole corpus.
   rank = number of corpus records scoring >= the original (so 1 if the
   original is strictly first).
   recall@1 = fraction with rank 1; MRR@10 = mean of 1/rank, 0 when rank > 10.
   Perturbations (``perturb.PERTURBATIONS``): key order shuffled in every
   object; every array shuffled; every number + N(0, (s sd)^2) with sd the
   field's standard deviation over the corpus and s in {0.05, 0.25} (rounded to
   the field's precision); 1-2 random typos (substitute, delete, insert, swap)
   in every string; one scalar field dropped; all of these at once, light
   (s = 0.05, 1 typo per string, 1 field dropped) and heavy (s = 0.25, 1-2
   typos, 2 fields dropped). Also reported, outside the targets: every key
   renamed to camelCase (``unit_price`` -> ``unitPrice``), which only the
   unbound shadow (alpha) can survive.
3. Binding. Triples (r, r', r'') where r' nudges one field of a pair of sibling
   fields of the same type (a number x 1.05, or one typo in a string) and r''
   swaps the pair's two values (pairs whose nudge and swap are different-sized
   changes: numbers differing by >= 25 %, strings of >= 4 characters that differ beyond case).
   Binding = fraction of triples with sim(r, r') > sim(r, r''). Sources: each
   near-duplicate family (number pairs, string pairs) and the four labelled sets.
4. Invariances, over sampled orders: key order shuffled (min similarity,
   must be exactly 1), every integer written as a float, 3 -> 3.0 (min, must
   be exactly 1), every array shuffled (mean similarity).
5. Capacity. For records of 10 ... 500 leaves (``datasets.wide_record``), a
   corpus of 150 families x 4 revisions that differ from their base in 2 leaves
   each; every record, lightly perturbed (keys and arrays shuffled, numbers
   with s = 0.05, one typo per string), must retrieve itself among all 600:
   recall@1 as in 2, for every D in {256, 512, 1024, 2048}.

The sweep (``--sweep``) runs metrics 1-5 (capacity at 100 and 200 leaves and
the chosen D only) on data from another seed than the default run, so the
default run is a held-out check of what the sweep chose. Round one varies one
or a few parameters at a time around the current defaults; round two combines
every group's best value (when it beats the defaults' composite score by more
than MARGIN, about the sampling noise), takes single steps around that
combination and undoes each of its changes in turn; then ``binding="haar"`` is
measured for the defaults and the recommendation. ``--groups`` limits round one
to the named groups of :data:`GRID` (and leaves out the ``haar`` runs).
Targets: every near-duplicate setting of every family (recall@1 and MRR@10),
every label set (P@10 and hit@1) and capacity at least the feature-hashing
recipe's minus 0.01; binding above TF-IDF's on every source; binding >= 0.99 on
every source. The recommendation: among perm configurations with w_seq >=
MIN_W_SEQ that miss the fewest targets, the one with the fewest changes from
the defaults whose composite score
(:func:`composite`) is within MARGIN of the best.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Multi-threaded OpenBLAS can be 40x slower than one thread on a busy machine (measured:
# a 1024 x 1024 QR, as every haar role needs, 21 s instead of 0.5 s); quality does not
# depend on threads. Set before numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import datasets as ds  # noqa: E402
import numpy as np  # noqa: E402
import payloads  # noqa: E402
import perturb as pt  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from baselines import feature_hashing_vectors  # noqa: E402
from harness import fixed, markdown_table, print_machine_info  # noqa: E402

import duckdb_vsa  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: Where the default run puts the plot the README shows.
FIGURES = Path(__file__).resolve().parent / "figures"
ROUND = 6  # decimals kept before ranking: float32 noise must not break ties in our favour

# -- methods -------------------------------------------------------------------------------


def _unit(matrix: Any) -> Any:
    if sp.issparse(matrix):
        from sklearn.preprocessing import normalize

        return normalize(matrix.astype(np.float64), norm="l2")
    m = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms > 0, norms, 1.0)


def _dense(matrix: Any) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def cosine_matrix(queries: Any, corpus: Any) -> np.ndarray:
    """Cosine similarity of every query row with every corpus row, rounded."""
    scores = _dense(_unit(queries) @ _unit(corpus).T)
    return np.round(scores.astype(np.float64), ROUND)


def row_cosines(a: Any, b: Any) -> np.ndarray:
    """Cosine of row i of ``a`` with row i of ``b``, rounded."""
    a, b = _unit(a), _unit(b)
    dots = a.multiply(b).sum(axis=1) if sp.issparse(a) else (a * b).sum(axis=1)
    return np.round(np.asarray(dots, dtype=np.float64).reshape(-1), ROUND)


class Method:
    """A document vectoriser: ``vectors(corpus, queries)`` and ``pair_sims(a, b)``."""

    name = ""

    def embed(self, docs: Sequence[Any]) -> Any:
        raise NotImplementedError

    def vectors(self, corpus: Sequence[Any], queries: Sequence[Any] = ()) -> tuple[Any, Any]:
        """Vectors of the corpus and of the queries (in the corpus's space)."""
        both = self.embed(list(corpus) + list(queries))
        return both[: len(corpus)], both[len(corpus) :]

    def pair_sims(self, a: Sequence[Any], b: Sequence[Any]) -> np.ndarray:
        """Similarity of ``a[i]`` and ``b[i]`` for every i."""
        both = self.embed(list(a) + list(b))
        return row_cosines(both[: len(a)], both[len(a) :])


#: Cache budget of haar encoders. The default 256 MiB holds 64 Haar roles at D = 1024
#: (4 MiB each); this benchmark uses ~250 keys, whose roles would otherwise be drawn
#: again (a D x D QR each) on every pass over the data.
HAAR_CACHE_BYTES = 3 * 2**30


class VSA(Method):
    def __init__(self, dim: int, **options: Any) -> None:
        extra = {"cache_bytes": HAAR_CACHE_BYTES} if options.get("binding") == "haar" else {}
        self.encoder = duckdb_vsa.Encoder(dim=dim, **options, **extra)
        self.name = "duckdb_vsa"

    def embed(self, docs: Sequence[Any]) -> np.ndarray:
        return self.encoder.encode_batch(docs)


class FeatureHashing(Method):
    name = "feature hashing"

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def embed(self, docs: Sequence[Any]) -> Any:
        return feature_hashing_vectors(docs, self.dim)


def exact_tokens(doc: Any, path: str = "", out: list[str] | None = None) -> list[str]:
    """``path=value`` of every leaf, the value as JSON text; arrays share ``a[]``."""
    out = [] if out is None else out
    if isinstance(doc, dict):
        if not doc:
            out.append(path + "={}")
        for k, v in doc.items():
            exact_tokens(v, f"{path}.{k}" if path else k, out)
    elif isinstance(doc, list):
        if not doc:
            out.append(path + "=[]")
        for v in doc:
            exact_tokens(v, path + "[]", out)
    else:
        out.append(f"{path}={json.dumps(doc)}")
    return out


class ExactHashing(Method):
    name = "exact path=value"

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def embed(self, docs: Sequence[Any]) -> Any:
        from sklearn.feature_extraction import FeatureHasher

        hasher = FeatureHasher(n_features=self.dim, input_type="string", dtype=np.float64)
        return _unit(hasher.transform([exact_tokens(d) for d in docs]))


class TfidfTrigrams(Method):
    name = "TF-IDF 3-grams"

    @staticmethod
    def _vectorizer() -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3))

    def vectors(self, corpus: Sequence[Any], queries: Sequence[Any] = ()) -> tuple[Any, Any]:
        vec = self._vectorizer()
        c = vec.fit_transform([json.dumps(d) for d in corpus])
        q = vec.transform([json.dumps(d) for d in queries]) if len(queries) else c[:0]
        return c, q

    def pair_sims(self, a: Sequence[Any], b: Sequence[Any]) -> np.ndarray:
        sims = np.empty(len(a))
        for i, (x, y) in enumerate(zip(a, b)):
            m = self._vectorizer().fit_transform([json.dumps(x), json.dumps(y)])
            sims[i] = row_cosines(m[0], m[1])[0]
        return sims


# -- data ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Sizes:
    orders: int = 3000
    events: int = 3000
    pull_requests: int = 1500
    queries: int = 300
    label_limit: int | None = None
    binding: int = 300
    invariance: int = 300
    families: int = 150
    capacity_queries: int = 600
    leaves: tuple[int, ...] = (10, 20, 50, 100, 200, 500)
    dims: tuple[int, ...] = (256, 512, 1024, 2048)


QUICK = Sizes(
    orders=400,
    events=400,
    pull_requests=200,
    queries=40,
    label_limit=150,
    binding=40,
    invariance=40,
    families=30,
    capacity_queries=120,
    leaves=(10, 50),
    dims=(256, 512),
)


@dataclasses.dataclass
class NearDuplicates:
    """A corpus, the records sampled as queries, and their perturbed copies by setting."""

    corpus: list[dict]
    truth: np.ndarray
    queries: dict[str, list[dict]]


#: The near-duplicate families: name -> (what a record is, its generator).
FAMILIES: dict[str, tuple[str, Any]] = {
    "orders": ("orders", ds.make_orders),
    "events": ("activity events", payloads.make_events),
    "pull requests": ("pull-request webhook payloads", payloads.make_pull_requests),
}


@dataclasses.dataclass
class Data:
    """Everything the metrics read, generated once per run from one seed."""

    labelled: dict[str, tuple[list[dict], np.ndarray]]
    near_dup: dict[str, NearDuplicates]
    binding: dict[str, list[tuple[Any, Any, Any]]]
    invariance: dict[str, tuple[list[Any], list[Any]]]
    capacity: dict[int, tuple[list[dict], np.ndarray, list[dict]]]


def build_data(sizes: Sizes, seed: int, leaves: Sequence[int]) -> Data:
    labelled = {}
    for name in ds.SKLEARN_SETS:
        records, labels = ds.labelled_records(name, sizes.label_limit, seed=0)
        stripped = [{k: v for k, v in r.items() if k != ds.LABEL_FIELD} for r in records]
        labelled[name] = (stripped, np.asarray(labels))

    near_dup = {}
    counts = {"orders": sizes.orders, "events": sizes.events, "pull requests": sizes.pull_requests}
    for family, (_, make) in FAMILIES.items():
        corpus = make(counts[family], seed=seed)
        stats = pt.number_stats(corpus)
        # The orders keep the streams they always had, so their queries do not change.
        prefix = "" if family == "orders" else f"{family}:"
        rng = random.Random(f"{prefix}queries:{seed}")
        truth = np.asarray(sorted(rng.sample(range(len(corpus)), sizes.queries)))
        queries = {}
        for name, (_, perturb) in {**pt.PERTURBATIONS, **pt.EXTRA_PERTURBATIONS}.items():
            prng = random.Random(f"{prefix}{name}:{seed}")
            queries[name] = [perturb(corpus[i], prng, stats) for i in truth]
        near_dup[family] = NearDuplicates(corpus, truth, queries)
    orders = near_dup["orders"].corpus

    binding = {}
    for family in FAMILIES:
        for kind in ("number", "string"):
            docs = near_dup[family].corpus
            binding[f"{family}: {kind}s"] = pt.binding_triples(docs, kind, sizes.binding, seed)
    for name, (records, _) in labelled.items():
        binding[name] = pt.binding_triples(records, "number", sizes.binding, seed)

    rng = random.Random(f"invariance:{seed}")
    sample = [orders[i] for i in sorted(rng.sample(range(len(orders)), sizes.invariance))]
    with_arrays = [o for o in sample if len(o["items"]) > 1 or len(o.get("tags", [])) > 1] or sample
    invariance = {
        "key order": (sample, [pt.shuffle_keys(o, rng) for o in sample]),
        "3 vs 3.0": (sample, [pt.ints_to_floats(o) for o in sample]),
        "array order": (with_arrays, [pt.shuffle_arrays(o, rng) for o in with_arrays]),
    }

    capacity = {}
    for n_leaves in leaves:
        corpus = ds.make_capacity_corpus(n_leaves, sizes.families, 4, seed=seed)
        stats = pt.number_stats(corpus)
        rng = random.Random(f"capacity-queries:{n_leaves}:{seed}")
        n_queries = min(sizes.capacity_queries, len(corpus))
        idx = np.asarray(sorted(rng.sample(range(len(corpus)), n_queries)))
        qs = [pt.light_perturbation(corpus[i], rng, stats) for i in idx]
        capacity[n_leaves] = (corpus, idx, qs)
    return Data(labelled, near_dup, binding, invariance, capacity)


# -- metrics -------------------------------------------------------------------------------


def label_retrieval(method: Method, records: list[dict], labels: np.ndarray, k: int = 10):
    """Leave-one-out P@k and hit@1 (ties: other labels first)."""
    x, _ = method.vectors(records)
    scores = cosine_matrix(x, x)
    same = labels[:, None] == labels[None, :]
    # Integer sort key: score descending, then different label before same label.
    key = -np.rint(scores * 10**ROUND).astype(np.int64) * 2 + same
    np.fill_diagonal(key, np.iinfo(np.int64).max)
    top = np.argpartition(key, k, axis=1)[:, :k]
    top = np.take_along_axis(top, np.argsort(np.take_along_axis(key, top, 1), 1), 1)
    hits = np.take_along_axis(same, top, 1)
    return float(hits.mean()), float(hits[:, 0].mean())


def ranks(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Rank of the true record: how many records score at least as high as it."""
    true = scores[np.arange(len(truth)), truth]
    return (scores >= true[:, None]).sum(axis=1)


def retrieval_scores(r: np.ndarray) -> tuple[float, float]:
    return float((r == 1).mean()), float(np.where(r <= 10, 1.0 / r, 0.0).mean())


def near_duplicates(
    method: Method, family: NearDuplicates, settings: Sequence[str]
) -> dict[str, tuple]:
    """recall@1 and MRR@10 of every setting's queries among the family's corpus."""
    names = list(settings)
    flat = [q for name in names for q in family.queries[name]]
    corpus_vecs, query_vecs = method.vectors(family.corpus, flat)
    scores = cosine_matrix(query_vecs, corpus_vecs)
    out = {}
    n = len(family.truth)
    for j, name in enumerate(names):
        out[name] = retrieval_scores(ranks(scores[j * n : (j + 1) * n], family.truth))
    return out


def binding(method: Method, triples: list[tuple[Any, Any, Any]]) -> float:
    if not triples:
        return math.nan
    base = [t[0] for t in triples]
    nudged = method.pair_sims(base, [t[1] for t in triples])
    swapped = method.pair_sims(base, [t[2] for t in triples])
    return float((nudged > swapped).mean())


def invariances(method: Method, data: Data) -> dict[str, float]:
    out = {}
    for name, (a, b) in data.invariance.items():
        sims = method.pair_sims(a, b)
        out[name] = float(sims.mean() if name == "array order" else sims.min())
    return out


def capacity_recall(method: Method, data: Data, n_leaves: int) -> float:
    corpus, idx, queries = data.capacity[n_leaves]
    corpus_vecs, query_vecs = method.vectors(corpus, queries)
    return retrieval_scores(ranks(cosine_matrix(query_vecs, corpus_vecs), idx))[0]


def evaluate(method: Method, data: Data, capacity_leaves: Sequence[int] = ()) -> dict[str, Any]:
    """Metrics 1-4, and capacity at ``capacity_leaves``, of one method."""
    settings = list(pt.PERTURBATIONS) + list(pt.EXTRA_PERTURBATIONS)
    return {
        "label": {n: label_retrieval(method, *data.labelled[n]) for n in data.labelled},
        "near_dup": {f: near_duplicates(method, d, settings) for f, d in data.near_dup.items()},
        "binding": {n: binding(method, t) for n, t in data.binding.items()},
        "invariance": invariances(method, data),
        "capacity": {n: capacity_recall(method, data, n) for n in capacity_leaves},
    }


def target_misses(vsa: dict, fh: dict, tfidf: dict, tol: float = 0.01) -> list[str]:
    """The targets a result misses, each with its margin."""
    misses = []
    for family, settings in vsa["near_dup"].items():
        prefix = "" if family == "orders" else f"{family}: "
        for name in pt.PERTURBATIONS:
            for j, metric in enumerate(("recall@1", "MRR@10")):
                gap = settings[name][j] - fh["near_dup"][family][name][j]
                if round(gap, 6) < -tol:
                    misses.append(f"{prefix}{name} {metric} {gap:+.3f} vs FH")
    for name in vsa["label"]:
        for j, metric in enumerate(("P@10", "hit@1")):
            gap = vsa["label"][name][j] - fh["label"][name][j]
            if round(gap, 6) < -tol:
                misses.append(f"{name} {metric} {gap:+.3f} vs FH")
    for n_leaves, value in vsa["capacity"].items():
        gap = value - fh["capacity"][n_leaves]
        if round(gap, 6) < -tol:
            misses.append(f"capacity {n_leaves} leaves {gap:+.3f} vs FH")
    for name, value in vsa["binding"].items():
        if not value > tfidf["binding"][name]:
            misses.append(f"binding {name} {value:.3f} <= TF-IDF {tfidf['binding'][name]:.3f}")
        if value < 0.99:
            misses.append(f"binding {name} {value:.3f} < 0.99")
    return misses


def composite(result: dict) -> float:
    """One number to rank configurations that meet the same targets.

    Mean of four equally weighted parts: near-duplicate recall@1 (mean over the
    families of the mean over the eight settings), label P@10 (mean over the
    sets), binding (min over sources) and capacity recall@1.
    """
    parts = [
        np.mean(
            [
                np.mean([settings[n][0] for n in pt.PERTURBATIONS])
                for settings in result["near_dup"].values()
            ]
        ),
        np.mean([v[0] for v in result["label"].values()]),
        min(result["binding"].values()),
    ]
    if result["capacity"]:
        parts.append(np.mean(list(result["capacity"].values())))
    return float(np.mean(parts))


# -- output --------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], decimals: int = 3) -> str:
    """A markdown table with every float at ``decimals`` decimals."""
    return markdown_table(headers, rows, fixed(decimals))


def print_section(title: str, notes: Sequence[str], body: str = "") -> None:
    print(f"## {title}\n")
    for note in notes:
        print(note)
    if notes:
        print()
    if body:
        print(body)
        print()
    sys.stdout.flush()


def report(results: dict[str, dict], data: Data) -> None:
    names = list(results)
    first = results[names[0]]
    rows = []
    for set_name, (records, labels) in data.labelled.items():
        for j, metric in enumerate(("P@10", "hit@1")):
            rows.append(
                [set_name, len(records), len(set(labels.tolist())), metric]
                + [results[m]["label"][set_name][j] for m in names]
            )
    print_section(
        "Label retrieval",
        ["Leave-one-out, class field removed; P@10 and hit@1 of same-class neighbours."],
        table(["set", "records", "classes", "metric", *names], rows),
    )

    descriptions = {**pt.PERTURBATIONS, **pt.EXTRA_PERTURBATIONS}
    for family, (what, _) in FAMILIES.items():
        rows = []
        for setting in first["near_dup"][family]:
            label = descriptions[setting][0]
            if setting in pt.EXTRA_PERTURBATIONS:
                label += " (not a target)"
            for j, metric in enumerate(("recall@1", "MRR@10")):
                rows.append(
                    [label, metric] + [results[m]["near_dup"][family][setting][j] for m in names]
                )
        found = data.near_dup[family]
        print_section(
            "Near-duplicate retrieval" + ("" if family == "orders" else f": {family}"),
            [
                f"{len(found.truth)} perturbed {what}, each searching all "
                f"{len(found.corpus):,} originals; a tie with another record is a miss."
            ],
            table(["perturbation", "metric", *names], rows),
        )

    rows = [
        [source, len(data.binding[source])] + [results[m]["binding"][source] for m in names]
        for source in first["binding"]
    ]
    print_section(
        "Binding",
        [
            "Fraction of triples with sim(r, one field nudged) > sim(r, two sibling fields "
            "swapped); TF-IDF is fitted on each compared pair."
        ],
        table(["pairs from", "triples", *names], rows),
    )

    rows = [
        [name, "min" if name != "array order" else "mean"]
        + [results[m]["invariance"][name] for m in names]
        for name in first["invariance"]
    ]
    print_section(
        "Invariances",
        [
            f"Similarity of {len(data.invariance['key order'][0])} orders to a rewritten copy "
            "(min must be exactly 1)."
        ],
        table(["rewrite", "statistic", *names], rows, decimals=6),
    )


def run_capacity(
    data: Data, dims: Sequence[int], leaves: Sequence[int], options: dict, out_dir: Path
) -> dict:
    curves: dict[str, dict[int, float]] = {}
    for dim in dims:
        vsa, fh = VSA(dim, **options), FeatureHashing(dim)
        curves[f"duckdb_vsa D={dim}"] = {n: capacity_recall(vsa, data, n) for n in leaves}
        curves[f"feature hashing D={dim}"] = {n: capacity_recall(fh, data, n) for n in leaves}
    curves["TF-IDF 3-grams"] = {n: capacity_recall(TfidfTrigrams(), data, n) for n in leaves}
    rows = [[name] + [curve[n] for n in leaves] for name, curve in curves.items()]
    corpus_size = len(next(iter(data.capacity.values()))[0])
    queries = len(next(iter(data.capacity.values()))[1])
    print_section(
        "Capacity",
        [
            f"recall@1 of {queries} lightly perturbed records among {corpus_size} "
            "(families of 4 revisions, 2 leaves changed each), by leaves per record."
        ],
        table(["method", *[f"{n} leaves" for n in leaves]], rows),
    )
    plot_capacity(curves, dims, leaves, out_dir / "capacity.png")
    return curves


def plot_capacity(curves: dict, dims: Sequence[int], leaves: Sequence[int], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        print(f"matplotlib is not installed: {path.name} not written.\n")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(dims)))
    for dim, color in zip(dims, colors):
        for prefix, style in (("duckdb_vsa", "-o"), ("feature hashing", "--s")):
            curve = curves[f"{prefix} D={dim}"]
            ax.plot(
                leaves,
                [curve[n] for n in leaves],
                style,
                color=color,
                ms=4,
                label=f"{prefix} D={dim}",
            )
    tfidf = curves["TF-IDF 3-grams"]
    ax.plot(leaves, [tfidf[n] for n in leaves], ":^", color="black", ms=4, label="TF-IDF 3-grams")
    ax.set_xscale("log")
    ax.set_xticks(list(leaves))
    ax.set_xticklabels([str(n) for n in leaves])
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("leaves per record")
    ax.set_ylabel("recall@1 (near-duplicate, light perturbation)")
    ax.set_title("Capacity: telling 2-leaf revisions apart")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    print(f"Plot written to {path}.\n")


# -- sweep ---------------------------------------------------------------------------------

DEFAULTS = duckdb_vsa.EncoderConfig()
GRID: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = {
    "alpha, beta": (
        ("alpha", "beta"),
        [(a, b) for a in (0.0, 0.15, 0.3, 0.6) for b in (0.0, 0.1, 0.2, 0.4)],
    ),
    "number_bandwidth": (("number_bandwidth",), [(0.1,), (0.2,), (0.4,)]),
    "string weights": (
        ("w_str", "w_tok", "w_gram"),
        [
            (0.25, 0.5, 1.0),
            (0.0, 0.0, 1.0),
            (0.0, 0.5, 1.0),
            (0.5, 0.5, 1.0),
            (0.25, 1.0, 1.0),
            (0.25, 0.25, 1.0),
            (0.25, 0.5, 0.5),
        ],
    ),
    "array weights": (("w_bag", "w_seq"), [(1.0, 1.0), (1.0, 0.5), (0.5, 1.0)]),
    "string weight": (
        ("string_weight_power", "string_unit_trigrams", "string_weight_max"),
        [
            (0.0, 8.0, 4.0),
            (0.25, 8.0, 4.0),
            (0.5, 8.0, 4.0),
            (1.0, 8.0, 4.0),
            (0.5, 4.0, 4.0),
            (0.5, 12.0, 4.0),
            (0.5, 16.0, 4.0),
            (0.75, 12.0, 4.0),
            (0.75, 12.0, 8.0),
            (1.0, 12.0, 8.0),
        ],
    ),
}


def sweep_groups(quick: bool, only: Sequence[str] = ()) -> dict[str, list[dict[str, Any]]]:
    """Round one: each group varies one or a few parameters around the defaults.

    ``only`` names the groups of :data:`GRID` to run (all when empty).
    """
    if quick:
        return {
            "alpha, beta": [{"alpha": 0.0}],
            "array weights": [{"w_seq": 0.5}],
            "string weight": [{"string_weight_power": 0.0}],
        }
    unknown = sorted(set(only) - set(GRID))
    if unknown:
        raise SystemExit(f"Unknown sweep group(s) {unknown}; groups: {list(GRID)}.")
    groups = {}
    for group, (names, values) in GRID.items():
        if only and group not in only:
            continue
        current = tuple(getattr(DEFAULTS, n) for n in names)
        groups[group] = [dict(zip(names, v)) for v in values if v != current]
    return groups


#: Round two: single steps around the combination of round one's winners.
REFINEMENTS = [
    {"w_bag": 1.0, "w_seq": 0.25},
    {"w_bag": 1.0, "w_seq": 0.75},
    {"w_str": 0.0, "w_tok": 0.25, "w_gram": 1.0},
    {"w_str": 0.1, "w_tok": 0.0, "w_gram": 1.0},
    {"number_bandwidth": 0.3},
    {"alpha": 0.45},
    {"string_weight_power": 0.6, "string_unit_trigrams": 12.0, "string_weight_max": 6.0},
    {"string_weight_max": 8.0},
]

#: A change must raise the composite by more than this to replace a default: about
#: its sampling noise (capacity recall over 600 queries has a standard error of ~0.015).
MARGIN = 0.005

#: Every array in this benchmark's queries is shuffled and no metric rewards order, so
#: the measurements alone would push w_seq towards 0 (arrays as bags, positions
#: unrecoverable). Configurations below this floor are measured but not recommended.
MIN_W_SEQ = 0.5


def changes_from_defaults(change: dict[str, Any]) -> int:
    return sum(getattr(DEFAULTS, k) != v for k, v in change.items())


def describe(change: dict[str, Any]) -> str:
    if not change:
        return "current defaults"
    return ", ".join(f"{k}={v}" for k, v in change.items())


def run_sweep(dim: int, sizes: Sizes, seed: int, quick: bool, only: Sequence[str] = ()) -> None:
    # Up to 200 leaves haar stays affordable, and perm and feature hashing differ there.
    cap_leaves = (sizes.leaves[-1],) if quick else (100, 200)
    started = time.perf_counter()
    data = build_data(sizes, seed, cap_leaves)
    fh = evaluate(FeatureHashing(dim), data, cap_leaves)
    tfidf = evaluate(TfidfTrigrams(), data, cap_leaves)
    print_section(
        "Sweep",
        [
            f"D = {dim}, data seed {seed} (the default run uses another seed). "
            f"Targets: near-duplicate and label metrics >= feature hashing - 0.01, "
            "binding > TF-IDF and >= 0.99 on every source; capacity >= feature hashing - 0.01 "
            f"at {' and '.join(map(str, cap_leaves))} leaves.",
        ],
    )
    evaluated: list[tuple[str, dict, dict]] = []
    haar_roles: list[Any] = []

    def run(group: str, change: dict[str, Any]) -> dict:
        change = {k: v for k, v in change.items() if getattr(DEFAULTS, k) != v}
        t0 = time.perf_counter()
        method = VSA(dim, **change)
        if change.get("binding") == "haar":
            # Roles depend on (binding, dim, seed) only; drawing a Haar matrix costs a
            # D x D QR, so every haar configuration shares the first one's roles.
            if haar_roles:
                method.encoder.basis.roles = haar_roles[0]
            else:
                haar_roles.append(method.encoder.roles)
        result = evaluate(method, data, cap_leaves)
        result["seconds"] = time.perf_counter() - t0
        evaluated.append((group, change, result))
        print(
            f"- {group}: {describe(change)} ({result['seconds']:.0f} s, "
            f"{len(target_misses(result, fh, tfidf))} misses, composite {composite(result):.4f})",
            file=sys.stderr,
        )
        return result

    def rank_key(entry: tuple[str, dict, dict]) -> tuple[int, float]:
        return (len(target_misses(entry[2], fh, tfidf)), -composite(entry[2]))

    def seen(change: dict[str, Any]) -> bool:
        key = sorted((k, v) for k, v in change.items() if getattr(DEFAULTS, k) != v)
        return any(key == sorted(e[1].items()) for e in evaluated)

    default = run("defaults", {})
    groups = sweep_groups(quick, only)
    for group, changes in groups.items():
        for change in changes:
            run(group, change)

    # Round two: every group's best value, if it beats the defaults by more than the
    # noise, combined; then single steps around that combination.
    combined: dict[str, Any] = {}
    for group in groups:
        best = min((e for e in evaluated if e[0] == group), key=rank_key)
        better = rank_key(best)[0] < rank_key(evaluated[0])[0] or (
            rank_key(best)[0] == rank_key(evaluated[0])[0]
            and composite(best[2]) > composite(default) + MARGIN
        )
        if better:
            combined.update(best[1])
    if combined and not seen(combined):
        run("combined", combined)
    if not quick:
        # Single steps around the combination, and each of its changes undone.
        steps = [*REFINEMENTS, *({k: getattr(DEFAULTS, k)} for k in combined)]
        for step in steps:
            change = {**combined, **step}
            if not seen(change):
                run("refined", change)

    # The recommendation: among eligible perm configurations missing the fewest targets,
    # the one with the fewest changes from the defaults (no change means no
    # ENCODER_VERSION bump) whose composite is within MARGIN of the best.
    eligible = [
        e
        for e in evaluated
        if e[1].get("binding", DEFAULTS.binding) == "perm"
        and e[1].get("w_seq", DEFAULTS.w_seq) >= MIN_W_SEQ
    ]
    fewest = min(rank_key(e)[0] for e in eligible)
    top = [e for e in eligible if rank_key(e)[0] == fewest]
    best_score = max(composite(e[2]) for e in top)
    near = [e for e in top if composite(e[2]) >= best_score - MARGIN]
    best = min(near, key=lambda e: (changes_from_defaults(e[1]), -composite(e[2])))
    overall = min(evaluated, key=rank_key)
    if not only:  # a sweep of chosen groups leaves the role family alone
        run("binding", {"binding": "haar"})
        if best[1]:
            run("binding", {**best[1], "binding": "haar"})

    print_sweep_table(evaluated, fh, tfidf, data)
    lines = [
        f"Recommended (perm): {describe(best[1])}; composite {composite(best[2]):.4f} "
        f"vs {composite(default):.4f} for the current defaults.",
    ]
    misses = target_misses(best[2], fh, tfidf)
    lines.append("Targets missed: " + ("; ".join(misses) if misses else "none") + ".")
    lines.append(
        f"Rule: fewest target misses, then the fewest changes from the defaults within "
        f"{MARGIN} of the best composite, w_seq >= {MIN_W_SEQ}."
    )
    if overall is not best:
        lines.append(
            f"Highest composite of all: {describe(overall[1])} ({composite(overall[2]):.4f})."
        )
    print_section("Sweep recommendation", lines)
    print(f"Sweep took {time.perf_counter() - started:.0f} s.\n")


def print_sweep_table(evaluated: list, fh: dict, tfidf: dict, data: Data) -> None:
    settings = list(pt.PERTURBATIONS)
    others = [f for f in FAMILIES if f != "orders"]
    family_columns = [f"{f}: {c}" for f in others for c in ("all-heavy", "num-0.25", "mean")]
    capacity = [f"capacity {n}" for n in fh["capacity"]]
    headers = ["group", "setting", *settings, "renamed", *family_columns, *data.labelled,
               "binding min", "array order", *capacity, "misses", "composite"]  # fmt: skip
    rows = []
    for label, result in [("baseline", fh), ("baseline", tfidf)]:
        name = "feature hashing" if result is fh else "TF-IDF 3-grams"
        rows.append(_sweep_row(label, name, result, "", composite(result)))
    for group, change, result in evaluated:
        misses = len(target_misses(result, fh, tfidf))
        rows.append(_sweep_row(group, describe(change), result, misses, composite(result)))
    comparisons = 2 * (len(FAMILIES) * len(settings) + len(data.labelled))
    print_section(
        "Sweep results",
        [
            "Near-duplicate columns: recall@1 (orders by setting; other families: two "
            "settings and the mean over the eight); label columns: P@10; binding: min over "
            f"sources; misses: targets missed (of {comparisons} near-duplicate and label "
            f"comparisons with feature hashing and {2 * len(fh['binding'])} binding checks)."
        ],
        table(headers, rows),
    )
    for _, change, result in evaluated:
        misses = target_misses(result, fh, tfidf)
        if misses:
            print(f"- {describe(change)}: " + "; ".join(misses))
    print()


def _sweep_row(group: str, name: str, result: dict, misses: Any, score: float) -> list:
    orders = result["near_dup"]["orders"]
    families = []
    for family, found in result["near_dup"].items():
        if family != "orders":
            mean = float(np.mean([found[s][0] for s in pt.PERTURBATIONS]))
            families += [found["all-heavy"][0], found["num-0.25"][0], mean]
    return (
        [group, name]
        + [orders[s][0] for s in pt.PERTURBATIONS]
        + [orders["renamed"][0]]
        + families
        + [v[0] for v in result["label"].values()]
        + [min(result["binding"].values()), result["invariance"]["array order"]]
        + list(result["capacity"].values())
        + [misses, score]
    )


# -- main ----------------------------------------------------------------------------------


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        try:
            options[name] = json.loads(text)
        except json.JSONDecodeError:
            options[name] = text
    return options


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, for tests")
    parser.add_argument("--sweep", action="store_true", help="run the parameter sweep")
    parser.add_argument(
        "--groups",
        default="",
        help="with --sweep: comma-separated groups of the grid to vary (default: all)",
    )
    parser.add_argument("--dim", type=int, help="vector dimension (default 1024; 256 if --quick)")
    parser.add_argument("--seed", type=int, default=0, help="data seed of the default run")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="encoder option for duckdb_vsa, e.g. alpha=0.15 (repeatable)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="directory of the plot (default benchmarks/figures for the default run, "
        "benchmarks/results otherwise)",
    )
    args = parser.parse_args(argv)
    out = args.out or (FIGURES if not (args.quick or args.set or args.dim) else RESULTS)
    sizes = QUICK if args.quick else Sizes()
    dim = args.dim or (256 if args.quick else 1024)
    options = parse_options(args.set)
    if args.sweep:
        print("# duckdb_vsa parameter sweep\n")
        print_machine_info()
        only = [g.strip() for g in args.groups.split(",") if g.strip()]
        run_sweep(dim, sizes, args.seed + 1, args.quick, only)
        return 0

    started = time.perf_counter()
    vsa = VSA(dim, **options)
    print("# duckdb_vsa quality benchmark\n")
    config = vsa.encoder.config.as_dict()
    print(
        f"D = {dim}; duckdb_vsa {describe(options) if options else 'defaults'}: "
        + ", ".join(f"{k}={v}" for k, v in config.items() if k not in ("dim",))
        + f"; fingerprint {vsa.encoder.fingerprint}; data seed {args.seed}.\n"
    )
    print_machine_info()
    data = build_data(sizes, args.seed, sizes.leaves)
    methods: list[Method] = [vsa, FeatureHashing(dim), ExactHashing(dim), TfidfTrigrams()]
    results = {m.name: evaluate(m, data) for m in methods}
    report(results, data)
    run_capacity(data, sizes.dims, sizes.leaves, options, out)
    print(f"Run took {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
