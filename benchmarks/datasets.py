"""Data for the quality benchmark: labelled sets and generated records.

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

The perturbations that turn these records into queries live in ``perturb.py``.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from collections import defaultdict
from typing import Any

from perturb import leaf_slots, typo

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


def _revise(rng: random.Random, record: dict[str, Any], n_changes: int) -> dict[str, Any]:
    """A copy of ``record`` with ``n_changes`` leaves given new values of the same kind."""
    out = copy.deepcopy(record)
    slots = [s for s in leaf_slots(out) if s[1] != "order_id"]
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
