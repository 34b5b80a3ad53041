"""Field hints on generated data: where a hint fixes a retrieval the default gets wrong.

Two realistic cases, each a label-retrieval task (recall@1 of a query's true record
among distractors that differ only in the hinted field):

- films: a query is a film with one letter of its title replaced; distractors are remakes (same
  title, genre and country, another year). The default number axis is logarithmic, so
  1978 and 2006 look alike; ``{"$.year": {"kind": "number", "scale": 2}}`` makes years
  two apart about 0.6 similar.
- products: a query is an order line that names the product loosely (its short name)
  with the exact SKU; distractors are variants whose SKU differs in one digit and whose
  listing name is that short name (the true product's listing adds its line name).
  Trigrams make ``AB-1034`` and ``AB-1035`` similar; ``{"$.sku": {"kind": "category"}}``
  makes a SKU match only itself.

Run: python benchmarks/hints_quality.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from perturb import substitute_letter

import duckdb_vsa

_WORDS = [
    "night",
    "river",
    "shadow",
    "city",
    "last",
    "dream",
    "winter",
    "storm",
    "silent",
    "golden",
    "road",
    "house",
    "edge",
    "iron",
    "glass",
    "blue",
    "lost",
    "king",
    "stone",
    "wild",
    "fire",
    "garden",
    "ocean",
    "secret",
    "north",
]
_GENRES = ["drama", "comedy", "thriller", "horror", "western", "musical", "noir", "sci-fi"]
_COUNTRIES = ["US", "UK", "FR", "IT", "JP", "DE"]
_COLORS = ["red", "blue", "black", "white", "green"]


def films(n: int, rng: random.Random) -> tuple[list[dict], list[dict]]:
    """``n`` films, each with one remake; queries have one title letter replaced."""
    corpus, queries = [], []
    for _ in range(n):
        title = " ".join(rng.sample(_WORDS, 3))
        genre, country = rng.choice(_GENRES), rng.choice(_COUNTRIES)
        year = rng.randint(1940, 1990)
        corpus.append({"title": title, "year": year, "genre": genre, "country": country})
        remake = year + rng.randint(8, 35)
        corpus.append({"title": title, "year": remake, "genre": genre, "country": country})
        queries.append(
            {
                "title": substitute_letter(title, rng),
                "year": year,
                "genre": genre,
                "country": country,
            }
        )
    return corpus, queries


def products(n: int, rng: random.Random) -> tuple[list[dict], list[dict]]:
    """``n`` products, each with a variant one SKU digit away; queries give the short name."""
    corpus, queries = [], []
    for _ in range(n):
        name = " ".join(rng.sample(_WORDS, 2)) + " " + rng.choice(["shoe", "jacket", "bag", "cap"])
        color = rng.choice(_COLORS)
        sku = f"{rng.choice('ABCDEFGH')}{rng.choice('KLMNP')}-{rng.randint(1000, 9998)}"
        variant = sku[:-1] + str((int(sku[-1]) + 1) % 10)
        line = rng.choice(["classic", "pro", "lite", "original"])
        corpus.append({"sku": sku, "name": f"{name} {line}", "color": color})
        corpus.append({"sku": variant, "name": name, "color": color})
        queries.append({"sku": sku, "name": name, "color": color})
    return corpus, queries


def recall_at_1(encoder: duckdb_vsa.Encoder, corpus: list[dict], queries: list[dict]) -> float:
    """Query ``i``'s true record is corpus row ``2 i``."""
    c = encoder.encode_batch(corpus)
    q = encoder.encode_batch(queries)
    best = np.argmax(q @ c.T, axis=1)
    return float(np.mean(best == 2 * np.arange(len(queries))))


CASES = {
    "films: remakes (year)": (films, {"$.year": {"kind": "number", "scale": 2}}),
    "products: SKU variants (sku)": (products, {"$.sku": {"kind": "category"}}),
}


def run(n: int, dim: int, seed: int = 0) -> list[tuple[str, str, float, float]]:
    """``(case, hint, recall@1 default, recall@1 with the hint)`` for every case."""
    rows = []
    for name, (make, fields) in CASES.items():
        corpus, queries = make(n, random.Random(seed))
        before = recall_at_1(duckdb_vsa.Encoder(dim=dim), corpus, queries)
        after = recall_at_1(duckdb_vsa.Encoder(dim=dim, fields=fields), corpus, queries)
        hint = ", ".join(f"{path}: {options}" for path, options in fields.items())
        rows.append((name, hint, before, after))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer records (for tests)")
    args = parser.parse_args(argv)
    n, dim = (150, 512) if args.quick else (1000, 1024)
    print(f"recall@1, {n} queries per case, {2 * n} records, D = {dim}")
    print(f"| {'case':30} | {'hint':50} | default | with hint |")
    print(f"|{'-' * 32}|{'-' * 52}|---------|-----------|")
    for name, hint, before, after in run(n, dim):
        print(f"| {name:30} | {hint:50} | {before:7.3f} | {after:9.3f} |")


if __name__ == "__main__":
    main()
