"""Workloads of the speed benchmarks: generated records from a fixed seed.

Three shapes (:data:`WORKLOADS`): ``flat`` (ten fields), ``nested`` (an order,
depth 4, about 40 leaves) and ``text`` (a 500-character description beside five
short fields). :func:`records` and :func:`iter_records` generate them,
:func:`near_duplicate_flat` makes the queries of the top-k benchmarks, and
:func:`arrow_chunks` cuts JSON texts into the batches DuckDB hands a UDF.
Nothing is downloaded: the word lists below are all the data.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from perturb import swap_neighbours

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


def iter_records(workload: str, n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """``n`` records of a workload (``flat``, ``nested`` or ``text``), one at a time."""
    try:
        make = _GENERATORS[workload]
    except KeyError:
        raise ValueError(f"Unknown workload {workload!r}; use one of {WORKLOADS}.") from None
    # Each workload has its own stream, so changing one never shifts another.
    rng = random.Random(f"{workload}:{seed}")
    for i in range(n):
        yield make(rng, i)


def records(workload: str, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` records of a workload (``flat``, ``nested`` or ``text``), from a fixed seed."""
    return list(iter_records(workload, n, seed))


def json_records(workload: str, n: int, seed: int = 0) -> list[str]:
    """The records of :func:`records` as JSON text."""
    return [json.dumps(r) for r in records(workload, n, seed)]


def near_duplicate_flat(record: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A near-duplicate of a flat record: two letters of the name swapped, the price
    nudged by up to 3 %, and in three cases of ten a status drawn again."""
    out = dict(record)
    out["name"] = swap_neighbours(out["name"], rng)
    out["price"] = round(out["price"] * rng.uniform(0.97, 1.03), 2)
    if rng.random() < 0.3:
        out["status"] = rng.choice(STATUSES)
    return out


def arrow_chunks(texts: Sequence[str], size: int = 2048) -> list[Any]:
    """The texts as Arrow string arrays of at most ``size`` rows (DuckDB's UDF batch)."""
    import pyarrow as pa

    column = pa.array(texts, type=pa.string())
    return [column.slice(i, size) for i in range(0, len(column), size)]
