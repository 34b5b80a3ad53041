"""Data for the quality benchmark: labelled sets, generated records, perturbations.

Everything is either shipped with scikit-learn (``load_iris``, ``load_wine``,
``load_breast_cancer``, ``load_digits``: bundled, nothing is downloaded) or
generated here from a fixed seed, so a run is reproducible and the benchmark
never tunes on data it does not ship or generate.

- :func:`labelled_records`: a scikit-learn dataset as JSON records
  ``{feature: value, ..., "class": label}``.
- :func:`make_orders`: webshop orders with a customer (and address), line items,
  tags, free-text notes, amounts and dates. Customers recur (a few buy often) and
  some orders repeat an earlier basket, so an order's nearest neighbours are
  genuinely similar orders, as in a real table.
- :func:`make_capacity_corpus`: records with an exact number of leaves, in
  families of revisions that differ in two leaves each.
- :data:`PERTURBATIONS` and the functions behind it: the near-duplicate
  perturbations (key order, array order, number jitter, typos, dropped fields),
  plus renamed keys, integers written as floats, and the binding triples.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

LABEL_FIELD = "class"
SKLEARN_SETS = ("iris", "wine", "breast_cancer", "digits")

# -- scikit-learn datasets ---------------------------------------------------------------


def labelled_records(name: str, limit: int | None = None, seed: int = 0):
    """A bundled scikit-learn dataset as JSON records.

    Parameters
    ----------
    name : {"iris", "wine", "breast_cancer", "digits"}
    limit : int, optional
        Keep a random (seeded) subset of this many records.
    seed : int
        Seed of the subset.

    Returns
    -------
    records : list of dict
        ``{feature_name: value, ..., "class": class_name}``; integer-valued
        features (digits) stay ints, others are floats as in the source files.
    labels : list of str
    """
    from sklearn import datasets as skd

    loader = {
        "iris": skd.load_iris,
        "wine": skd.load_wine,
        "breast_cancer": skd.load_breast_cancer,
        "digits": skd.load_digits,
    }[name]
    bunch = loader()
    names = [str(f) for f in bunch.feature_names]
    target_names = [str(t) for t in bunch.target_names]
    rows = list(range(len(bunch.target)))
    if limit is not None and limit < len(rows):
        rows = sorted(random.Random(f"{name}:{seed}").sample(rows, limit))
    integer = bool((bunch.data == bunch.data.round()).all())
    records, labels = [], []
    for i in rows:
        values = bunch.data[i]
        record: dict[str, Any] = {
            f: (int(v) if integer else round(float(v), 6)) for f, v in zip(names, values)
        }
        label = target_names[int(bunch.target[i])]
        record[LABEL_FIELD] = label
        records.append(record)
        labels.append(label)
    return records, labels


# -- generated orders ----------------------------------------------------------------------

FIRST = [
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Elena",
    "Felix",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Karin",
    "Lukas",
    "Maria",
    "Nils",
    "Olga",
    "Paul",
    "Rosa",
    "Simon",
    "Tara",
    "Ugo",
    "Vera",
    "Walter",
    "Xenia",
    "Yusuf",
    "Zoe",
    "Amir",
    "Bianca",
    "Chen",
    "Dmitri",
    "Emma",
    "Farid",
    "Hanna",
    "Igor",
    "Julia",
    "Kenji",
    "Lea",
    "Mateo",
    "Nora",
    "Oscar",
    "Priya",
]
LAST = [
    "Schmidt",
    "Rossi",
    "Dubois",
    "Novak",
    "Jensen",
    "Garcia",
    "Kowalski",
    "Berg",
    "Silva",
    "Moreau",
    "Fischer",
    "Costa",
    "Nilsson",
    "Weber",
    "Horvat",
    "Lopez",
    "Meyer",
    "Ricci",
    "Laurent",
    "Svensson",
    "Keller",
    "Ferrari",
    "Martin",
    "Wagner",
    "Romano",
    "Olsen",
    "Bauer",
    "Marino",
    "Petit",
    "Lindqvist",
    "Hoffmann",
    "Greco",
    "Roux",
    "Andersen",
    "Wolf",
    "Bruno",
    "Fontaine",
    "Larsen",
]
CITIES = (
    ("Berlin", "DE", "EUR", "1"),
    ("Hamburg", "DE", "EUR", "2"),
    ("Munich", "DE", "EUR", "8"),
    ("Paris", "FR", "EUR", "75"),
    ("Lyon", "FR", "EUR", "69"),
    ("Milan", "IT", "EUR", "20"),
    ("Rome", "IT", "EUR", "00"),
    ("Madrid", "ES", "EUR", "28"),
    ("Vienna", "AT", "EUR", "1"),
    ("Amsterdam", "NL", "EUR", "10"),
    ("Copenhagen", "DK", "DKK", "1"),
    ("Stockholm", "SE", "SEK", "1"),
    ("London", "GB", "GBP", "E"),
    ("Manchester", "GB", "GBP", "M"),
    ("Zurich", "CH", "CHF", "80"),
)
STREETS = (
    "Linden Street",
    "Harbour Road",
    "Mill Lane",
    "Station Square",
    "Church Street",
    "Park Avenue",
    "Rose Garden",
    "Market Place",
    "Oak Close",
    "River Walk",
    "Castle Hill",
    "School Lane",
)
ADJECTIVES = [
    "classic",
    "organic",
    "compact",
    "deluxe",
    "waterproof",
    "wireless",
    "ceramic",
    "bamboo",
    "vintage",
    "ergonomic",
    "foldable",
    "stainless",
    "insulated",
    "handmade",
    "recycled",
    "portable",
]
MATERIALS = [
    "cotton",
    "wool",
    "leather",
    "steel",
    "oak",
    "glass",
    "linen",
    "merino",
    "walnut",
    "copper",
]
PRODUCTS = (
    "mug",
    "backpack",
    "desk lamp",
    "water bottle",
    "notebook",
    "headphones",
    "teapot",
    "cutting board",
    "scarf",
    "socks",
    "phone case",
    "plant pot",
    "candle",
    "wallet",
    "blanket",
    "chef knife",
)
STATUSES = ("paid", "shipped", "delivered", "returned", "cancelled", "processing")
STATUS_WEIGHTS = (10, 25, 50, 4, 3, 8)
CHANNELS = ("web", "app", "marketplace", "phone")
TIERS = ("standard", "silver", "gold")
TAGS = ("gift", "express", "first-order", "fragile", "b2b", "promo", "loyalty", "bulk")
CARRIERS = ("DHL", "UPS", "PostNL", "La Poste", "Royal Mail", "GLS")
PAYMENTS = ("card", "paypal", "invoice", "klarna", "apple_pay")
COUPONS = ("SPRING10", "WELCOME5", "FREESHIP", "VIP20", "SUMMER15")
NOTE_TEMPLATES = (
    "Please leave the parcel with the neighbour at number {n} if nobody is home.",
    "Customer called on {day} to ask about the delivery date.",
    "Gift wrap requested, message: happy birthday {first}!",
    "Deliver after {h} pm, the office is closed in the morning.",
    "Replacement for order {ref}, item arrived damaged.",
    "Ring the bell twice, the intercom is broken.",
    "Customer asked to combine this with order {ref}.",
    "Address verified by phone with {first}.",
    "Leave at the back door, beware of the dog.",
    "Invoice must show the company name {last} GmbH.",
)
TAX_RATES = {"DE": 0.19, "FR": 0.2, "IT": 0.22, "ES": 0.21, "AT": 0.2, "NL": 0.21, "DK": 0.25}
TAX_RATES |= {"SE": 0.25, "GB": 0.2, "CH": 0.081}

_EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def _catalogue(rng: random.Random, n: int = 320) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    while len(out) < n:
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {rng.choice(PRODUCTS)}"
        if name in seen:
            continue
        seen.add(name)
        out.append(
            {
                "sku": f"SKU-{rng.randrange(10000, 99999)}",
                "name": name,
                "unit_price": round(rng.lognormvariate(3.2, 0.7), 2),
                "weight_kg": round(rng.lognormvariate(-0.7, 0.8), 2),
            }
        )
    return out


def _customers(rng: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        city, country, _, prefix = rng.choice(CITIES)
        out.append(
            {
                "customer_id": f"C-{10000 + i}",
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}{rng.randrange(100)}@example.com",
                "tier": rng.choices(TIERS, (70, 20, 10))[0],
                "address": {
                    "street": f"{rng.randrange(1, 180)} {rng.choice(STREETS)}",
                    "city": city,
                    "postcode": prefix + str(rng.randrange(1000, 9999)),
                    "country": country,
                },
            }
        )
    return out


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_orders(n: int = 3000, seed: int = 0) -> list[dict[str, Any]]:
    """Generate ``n`` webshop orders from a fixed seed.

    Each order has 26-55 leaves (33 on average), nested up to four levels: an
    id and dates (ISO strings), status and channel, a customer object with an
    address, 1-6 line items (sku, product name, quantity, unit price, optional
    discount), tags, optional free-text notes, a coupon, payment and shipping
    objects, and the amounts (subtotal, tax, shipping, total). About 600
    customers are drawn with a heavy tail (the most frequent places ~110 of
    3,000 orders), about a third of orders repeat an earlier basket of the same
    customer, and order ids are sequential: the corpus is full of close
    neighbours, as a real order table is.
    """
    rng = random.Random(f"orders:{seed}")
    catalogue = _catalogue(rng)
    customers = _customers(rng, max(n // 4, 10))
    weights = [1.0 / (i + 5) for i in range(len(customers))]
    baskets: dict[str, list[list[dict[str, Any]]]] = defaultdict(list)
    orders = []
    for i in range(n):
        customer = rng.choices(customers, weights)[0]
        cid = customer["customer_id"]
        if baskets[cid] and rng.random() < 0.4:
            items = copy.deepcopy(rng.choice(baskets[cid]))
        else:
            items = []
            for product in rng.sample(catalogue, min(1 + int(rng.expovariate(0.6)), 6)):
                item: dict[str, Any] = {
                    "sku": product["sku"],
                    "name": product["name"],
                    "qty": rng.choices((1, 2, 3, 4, 6, 10), (60, 20, 8, 5, 4, 3))[0],
                    "unit_price": product["unit_price"],
                }
                if rng.random() < 0.15:
                    item["discount"] = rng.choice((0.05, 0.1, 0.2))
                items.append(item)
            baskets[cid].append(items)
        created = _EPOCH + dt.timedelta(seconds=int(i * 9000 + rng.randrange(9000)))
        country = customer["address"]["country"]
        currency = next(c[2] for c in CITIES if c[1] == country)
        subtotal = round(
            sum(it["qty"] * it["unit_price"] * (1 - it.get("discount", 0)) for it in items), 2
        )
        weight = round(
            sum(
                it["qty"] * next(p["weight_kg"] for p in catalogue if p["sku"] == it["sku"])
                for it in items
            ),
            2,
        )
        shipping_cost = 0.0 if subtotal > 100 else rng.choice((4.9, 5.9, 7.5))
        tax = round(subtotal * TAX_RATES[country], 2)
        order: dict[str, Any] = {
            "order_id": f"ORD-{created.year}-{i + 1:06d}",
            "created_at": _iso(created),
            "status": rng.choices(STATUSES, STATUS_WEIGHTS)[0],
            "channel": rng.choices(CHANNELS, (55, 30, 12, 3))[0],
            "currency": currency,
            "customer": copy.deepcopy(customer),
            "items": items,
        }
        if rng.random() < 0.6:
            order["tags"] = rng.sample(TAGS, rng.randint(1, 3))
        if rng.random() < 0.35:
            first, last = customer["name"].split()
            order["notes"] = rng.choice(NOTE_TEMPLATES).format(
                n=rng.randrange(1, 99),
                day=(created + dt.timedelta(days=rng.randint(1, 4))).strftime("%A"),
                first=first,
                last=last,
                h=rng.randint(2, 6),
                ref=f"ORD-{created.year}-{max(i + 1 - rng.randint(1, 400), 1):06d}",
            )
        if rng.random() < 0.15:
            order["coupon"] = rng.choice(COUPONS)
        order["payment"] = {
            "method": rng.choice(PAYMENTS),
            "paid_at": _iso(created + dt.timedelta(minutes=rng.randint(0, 90))),
        }
        order["shipping"] = {
            "carrier": rng.choice(CARRIERS),
            "weight_kg": weight,
            "cost": shipping_cost,
            "estimated_delivery": (created + dt.timedelta(days=rng.randint(1, 6)))
            .date()
            .isoformat(),
        }
        order["subtotal"] = subtotal
        order["tax"] = tax
        order["total"] = round(subtotal + tax + shipping_cost, 2)
        if rng.random() < 0.08:
            order["gift"] = True
        orders.append(order)
    return orders


# -- capacity records ----------------------------------------------------------------------

_ATTR_A = [
    "width",
    "height",
    "depth",
    "length",
    "weight",
    "volume",
    "voltage",
    "power",
    "speed",
    "pressure",
    "capacity",
    "temperature",
    "humidity",
    "density",
    "torque",
    "frequency",
]
_ATTR_B = ["min", "max", "avg", "nominal", "rated", "measured", "target", "peak", "limit", "spec"]
_ATTR_STRINGS = {
    "finish": ("matte", "gloss", "satin", "brushed", "anodised", "raw"),
    "grade": ("A", "B", "C", "industrial", "consumer", "marine"),
    "origin": ("Germany", "Italy", "Vietnam", "Mexico", "Poland", "Portugal", "Japan"),
    "supplier": ("Acme Corp", "Nordwerk AG", "Bellini SpA", "Kaito Ltd", "Vega SA"),
    "colour": ("red", "black", "white", "navy", "green", "grey", "orange"),
}


_ATTR_NAMES = [f"{a}_{b}" for b in _ATTR_B for a in _ATTR_A]


def _attr_value(rng: random.Random, index: int) -> Any:
    """Value of the ``index``-th attribute: a number on its own scale, or a category."""
    if index % 5 == 4:
        kinds = list(_ATTR_STRINGS)
        return rng.choice(_ATTR_STRINGS[kinds[(index // 5) % len(kinds)]])
    scale = 10 ** ((index * 7) % 6 - 1)
    return round(rng.lognormvariate(0, 0.6) * scale, 3)


def _attr_key(index: int) -> str:
    if index % 5 == 4:
        kinds = list(_ATTR_STRINGS)
        return f"{kinds[(index // 5) % len(kinds)]}_{index // 5}"
    return f"{_ATTR_NAMES[index % len(_ATTR_NAMES)]}_{index // len(_ATTR_NAMES)}"


def wide_record(rng: random.Random, n_leaves: int, serial: int) -> dict[str, Any]:
    """An order-like record with exactly ``n_leaves`` leaves (``n_leaves >= 8``).

    Eight header leaves (id, date, status, currency and a customer object), then
    half of the rest as line items of four leaves and the remainder as an
    ``attributes`` object of named measurements and categories.
    """
    if n_leaves < 8:
        raise ValueError("wide_record needs at least 8 leaves")
    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, country, currency, _ = rng.choice(CITIES)
    record: dict[str, Any] = {
        "order_id": f"ORD-2024-{serial:06d}",
        "created_at": _iso(_EPOCH + dt.timedelta(seconds=rng.randrange(3 * 10**7))),
        "status": rng.choices(STATUSES, STATUS_WEIGHTS)[0],
        "currency": currency,
        "customer": {
            "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}@example.com",
            "city": city,
            "country": country,
        },
    }
    remaining = n_leaves - 8
    n_lines = remaining // 8
    if n_lines:
        record["lines"] = [_line(rng) for _ in range(n_lines)]
    remaining -= 4 * n_lines
    if remaining:
        record["attributes"] = {_attr_key(k): _attr_value(rng, k) for k in range(remaining)}
    return record


def _line(rng: random.Random) -> dict[str, Any]:
    return {
        "sku": f"SKU-{rng.randrange(10000, 99999)}",
        "name": f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {rng.choice(PRODUCTS)}",
        "qty": rng.choices((1, 2, 3, 4, 6, 10), (60, 20, 8, 5, 4, 3))[0],
        "unit_price": round(rng.lognormvariate(3.2, 0.7), 2),
    }


def _leaf_slots(doc: Any) -> list[tuple[Any, Any]]:
    """``(container, key_or_index)`` of every scalar leaf, in document order."""
    out: list[tuple[Any, Any]] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            if isinstance(v, (dict, list)):
                stack.append(v)
            else:
                out.append((node, k))
    return out


def _revise(rng: random.Random, record: dict[str, Any], n_changes: int) -> dict[str, Any]:
    """A copy of ``record`` with ``n_changes`` leaves given new values of the same kind."""
    out = copy.deepcopy(record)
    slots = [s for s in _leaf_slots(out) if s[1] != "order_id"]
    for container, key in rng.sample(slots, n_changes):
        old = container[key]
        for _ in range(20):
            if isinstance(old, bool):
                new: Any = not old
            elif isinstance(old, (int, float)):
                new = type(old)(round(old * rng.lognormvariate(0, 0.5), 3))
                if isinstance(old, int):
                    new = max(1, int(new))
            else:
                new = _fresh_string(rng, old)
            if new != old:
                break
        container[key] = new
    return out


def _fresh_string(rng: random.Random, old: str) -> str:
    """A different string of the same kind (a category, name, sku...) as ``old``."""
    pools = [
        [c[0] for c in CITIES],
        sorted({c[1] for c in CITIES}),
        sorted({c[2] for c in CITIES}),
        list(STATUSES),
        *(_ATTR_STRINGS.values()),
    ]
    for pool in pools:
        if old in pool:
            return rng.choice([v for v in pool if v != old])
    if old.startswith("SKU-"):
        return f"SKU-{rng.randrange(10000, 99999)}"
    if "@" in old:
        return f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower()}@example.com"
    if old[:4].isdigit():
        return _iso(_EPOCH + dt.timedelta(seconds=rng.randrange(3 * 10**7)))
    words = old.split()
    if len(words) == 3:
        return f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {rng.choice(PRODUCTS)}"
    if len(words) == 2:
        return f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    return typo(old, rng)


def make_capacity_corpus(
    n_leaves: int, n_families: int = 150, n_revisions: int = 4, seed: int = 0
) -> list[dict[str, Any]]:
    """Families of record revisions with exactly ``n_leaves`` leaves each.

    Every family is one :func:`wide_record` and ``n_revisions`` revisions of it,
    each with two leaves changed (the base itself is not in the corpus), so two
    records of a family differ in 2-4 of their ``n_leaves`` leaves. Telling them
    apart gets harder as records grow: that is what the capacity test measures.
    """
    rng = random.Random(f"capacity:{n_leaves}:{seed}")
    corpus = []
    for f in range(n_families):
        base = wide_record(rng, n_leaves, serial=f + 1)
        corpus.extend(_revise(rng, base, 2) for _ in range(n_revisions))
    return corpus


def count_leaves(doc: Any) -> int:
    """Scalar leaves of a document (empty containers count as leaves too)."""
    if isinstance(doc, dict):
        return sum(count_leaves(v) for v in doc.values()) if doc else 1
    if isinstance(doc, list):
        return sum(count_leaves(v) for v in doc) if doc else 1
    return 1


# -- perturbations -------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _walk(doc: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """``(path, value)`` of every scalar leaf; array elements share the path ``a[]``."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _walk(v, f"{path}.{k}" if path else k)
    elif isinstance(doc, list):
        for v in doc:
            yield from _walk(v, path + "[]")
    else:
        yield path, doc


def _decimals(x: float) -> int:
    text = repr(float(x))
    if "e" in text:
        return 6
    return len(text.split(".")[1].rstrip("0"))


def number_stats(corpus: list[Any]) -> dict[str, tuple[float, int, bool]]:
    """Per numeric field path: standard deviation over ``corpus``, decimals, never negative."""
    values: dict[str, list[float]] = defaultdict(list)
    decimals: dict[str, int] = defaultdict(int)
    for doc in corpus:
        for path, v in _walk(doc):
            if _is_number(v) and math.isfinite(v):
                values[path].append(float(v))
                if isinstance(v, float):
                    decimals[path] = max(decimals[path], _decimals(v))
    stats = {}
    for path, xs in values.items():
        mean = sum(xs) / len(xs)
        sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / max(len(xs) - 1, 1))
        stats[path] = (sd if sd > 0 else abs(mean) * 0.1 or 1.0, decimals[path], min(xs) >= 0)
    return stats


_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def typo(text: str, rng: random.Random) -> str:
    """One edit: substitute, delete, insert or swap neighbouring characters.

    Never returns ``text`` unchanged.
    """
    for _ in range(20):
        op = rng.randrange(4) if len(text) >= 2 else 2
        i = rng.randrange(len(text)) if text else 0
        if op == 0:
            c = rng.choice(_ALPHABET)
            out = text[:i] + c + text[i + 1 :]
        elif op == 1:
            out = text[:i] + text[i + 1 :]
        elif op == 2:
            out = text[:i] + rng.choice(_ALPHABET) + text[i:]
        else:
            i = min(i, len(text) - 2)
            out = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        if out != text:
            return out
    return text + "x"


def _map_leaves(doc: Any, fn: Callable[[str, Any], Any], path: str = "") -> Any:
    if isinstance(doc, dict):
        return {k: _map_leaves(v, fn, f"{path}.{k}" if path else k) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_map_leaves(v, fn, path + "[]") for v in doc]
    return fn(path, doc)


def shuffle_keys(doc: Any, rng: random.Random) -> Any:
    """Every object's keys in a new random order (values unchanged)."""
    if isinstance(doc, dict):
        keys = list(doc)
        if len(keys) > 1:
            original = list(keys)
            for _ in range(10):
                rng.shuffle(keys)
                if keys != original:
                    break
        return {k: shuffle_keys(doc[k], rng) for k in keys}
    if isinstance(doc, list):
        return [shuffle_keys(v, rng) for v in doc]
    return doc


def shuffle_arrays(doc: Any, rng: random.Random) -> Any:
    """Every array with two or more distinct elements in a new random order."""
    if isinstance(doc, dict):
        return {k: shuffle_arrays(v, rng) for k, v in doc.items()}
    if isinstance(doc, list):
        items = [shuffle_arrays(v, rng) for v in doc]
        if len(items) > 1:
            original = list(items)
            for _ in range(10):
                rng.shuffle(items)
                if items != original:
                    break
        return items
    return doc


def jitter_numbers(doc: Any, rng: random.Random, stats: dict[str, tuple], s: float) -> Any:
    """Add N(0, (s * sd_field)^2) to every number, rounded to the field's precision.

    ``stats`` comes from :func:`number_stats`. Integers stay integers, so a
    small jitter often leaves a quantity unchanged, as it would in real data; a
    field that is never negative (a price) stays non-negative.
    """

    def fn(path: str, v: Any) -> Any:
        if not _is_number(v) or path not in stats:
            return v
        sd, decimals, non_negative = stats[path]
        x = v + rng.gauss(0.0, s * sd)
        if non_negative:
            x = max(x, 0.0)
        return round(x) if isinstance(v, int) else round(x, decimals)

    return _map_leaves(doc, fn)


def typo_strings(doc: Any, rng: random.Random, min_typos: int = 1, max_typos: int = 1) -> Any:
    """Between ``min_typos`` and ``max_typos`` typos in every string value (not keys)."""

    def fn(_: str, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        for _ in range(rng.randint(min_typos, max_typos)):
            v = typo(v, rng)
        return v

    return _map_leaves(doc, fn)


def drop_fields(doc: Any, rng: random.Random, n: int = 1) -> Any:
    """Remove ``n`` scalar-valued object members, chosen at any depth."""
    out = copy.deepcopy(doc)
    for _ in range(n):
        slots = [(c, k) for c, k in _leaf_slots(out) if isinstance(c, dict) and len(c) > 1]
        if not slots:
            break
        container, key = rng.choice(slots)
        del container[key]
    return out


def _camel(key: str) -> str:
    head, *rest = re.split(r"[_\s]+", key)
    if not rest:
        return key[:1].upper() + key[1:]
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def rename_keys(doc: Any) -> Any:
    """Every key in another naming convention: ``unit_price`` -> ``unitPrice``, ``qty`` -> ``Qty``.

    What the same record looks like from a second producer.
    """
    if isinstance(doc, dict):
        return {_camel(k): rename_keys(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [rename_keys(v) for v in doc]
    return doc


def ints_to_floats(doc: Any) -> Any:
    """Every integer as the equal float (``3`` -> ``3.0``)."""
    return _map_leaves(doc, lambda _, v: float(v) if _is_number(v) and type(v) is int else v)


#: Near-duplicate settings: name -> (description, perturbation(doc, rng, stats)).
PERTURBATIONS: dict[str, tuple[str, Callable[[Any, random.Random, dict], Any]]] = {
    "keys": ("key order shuffled", lambda d, r, st: shuffle_keys(d, r)),
    "arrays": ("arrays shuffled", lambda d, r, st: shuffle_arrays(d, r)),
    "num-0.05": ("numbers + N(0, (0.05 sd)^2)", lambda d, r, st: jitter_numbers(d, r, st, 0.05)),
    "num-0.25": ("numbers + N(0, (0.25 sd)^2)", lambda d, r, st: jitter_numbers(d, r, st, 0.25)),
    "typos": ("1-2 typos in every string", lambda d, r, st: typo_strings(d, r, 1, 2)),
    "drop": ("one field dropped", lambda d, r, st: drop_fields(d, r, 1)),
    "all-light": (
        "all: keys, arrays, numbers 0.05, 1 typo per string, 1 field dropped",
        lambda d, r, st: drop_fields(
            typo_strings(jitter_numbers(shuffle_arrays(shuffle_keys(d, r), r), r, st, 0.05), r),
            r,
            1,
        ),
    ),
    "all-heavy": (
        "all: keys, arrays, numbers 0.25, 1-2 typos per string, 2 fields dropped",
        lambda d, r, st: drop_fields(
            typo_strings(
                jitter_numbers(shuffle_arrays(shuffle_keys(d, r), r), r, st, 0.25), r, 1, 2
            ),
            r,
            2,
        ),
    ),
}

#: Reported next to the near-duplicate settings but not one of them: a renamed key is
#: a different field to a strictly structural encoding (alpha = 0).
EXTRA_PERTURBATIONS: dict[str, tuple[str, Callable[[Any, random.Random, dict], Any]]] = {
    "renamed": ("every key renamed (snake_case -> camelCase)", lambda d, r, st: rename_keys(d)),
}


def light_perturbation(doc: Any, rng: random.Random, stats: dict[str, tuple]) -> Any:
    """The capacity test's query: keys and arrays shuffled, numbers 0.05, one typo per string."""
    return typo_strings(
        jitter_numbers(shuffle_arrays(shuffle_keys(doc, rng), rng), rng, stats, 0.05), rng
    )


# -- binding pairs -------------------------------------------------------------------------


def sibling_pairs(doc: Any, kind: str) -> list[tuple[dict[str, Any], str, str]]:
    """``(object, key_a, key_b)`` for sibling members of one object, both of ``kind``.

    ``kind`` is ``"number"`` or ``"string"``. A pair qualifies when nudging
    ``a`` and swapping ``a`` with ``b`` are different-sized changes: numbers
    with ``a != 0`` whose values differ by at least 25 % of the larger, strings
    of 4+ characters that are not equal.
    """
    out = []
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        keys = sorted(node)
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                for x, y, ka, kb in ((node[a], node[b], a, b), (node[b], node[a], b, a)):
                    if kind == "number" and _is_number(x) and _is_number(y):
                        if x != 0 and abs(x - y) >= 0.25 * max(abs(x), abs(y)):
                            out.append((node, ka, kb))
                    elif (
                        kind == "string"
                        and isinstance(x, str)
                        and isinstance(y, str)
                        and min(len(x), len(y)) >= 4
                        and x != y
                    ):
                        out.append((node, ka, kb))
    return out


def binding_triples(
    docs: list[Any], kind: str, n: int, seed: int = 0
) -> list[tuple[Any, Any, Any]]:
    """``n`` triples ``(record, record with one field nudged, record with two fields swapped)``.

    A number is nudged by +5 %; a string gets one typo. Records are drawn with
    replacement from ``docs`` (those that have a qualifying pair), then one pair.
    """
    rng = random.Random(f"binding:{kind}:{seed}")
    candidates = [d for d in docs if sibling_pairs(d, kind)]
    triples = []
    if not candidates:
        return triples
    for _ in range(n):
        doc = rng.choice(candidates)
        nudged, swapped = copy.deepcopy(doc), copy.deepcopy(doc)
        # Deep copies keep the traversal order, so the same index names the same pair.
        pairs_n = sibling_pairs(nudged, kind)
        pairs_s = sibling_pairs(swapped, kind)
        j = rng.randrange(len(pairs_n))
        obj, a, b = pairs_n[j]
        obj[a] = obj[a] * 1.05 if kind == "number" else typo(obj[a], rng)
        obj, a, b = pairs_s[j]
        obj[a], obj[b] = obj[b], obj[a]
        triples.append((doc, nudged, swapped))
    return triples
