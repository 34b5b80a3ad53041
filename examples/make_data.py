"""Regenerate the example data in examples/data/ (fixed seed, so the files are stable).

products.jsonl: a small product catalogue, with a few near-duplicate listings
(the same product entered twice with a typo, a rounded price, keys reordered).
orders.jsonl: order lines from a marketplace feed that describe the product they
bought with some of its fields (other casing, typos, the price they paid).

Run: python examples/make_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"

BRANDS = ["Nordpeak", "Alpina", "UrbanFox", "Kestrel", "Blue Harbor", "Sundew"]
COLORS = ["red", "black", "white", "navy", "green", "grey", "orange"]
MATERIALS = ["mesh", "leather", "cotton", "wool", "nylon", "canvas"]
CATEGORIES = {
    "shoes": [
        "trail running shoe",
        "road running shoe",
        "hiking boot",
        "leather sneaker",
        "sandal",
    ],
    "jackets": ["rain jacket", "down jacket", "softshell jacket", "fleece jacket"],
    "bags": ["daypack", "travel backpack", "messenger bag", "duffel bag"],
    "shirts": ["merino t-shirt", "linen shirt", "flannel shirt", "polo shirt"],
}
TAGS = ["outdoor", "running", "waterproof", "lightweight", "travel", "city", "winter", "summer"]


def typo(text: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def make_products(rng: random.Random, n: int = 240) -> list[dict]:
    products = []
    for i in range(n):
        category = rng.choice(list(CATEGORIES))
        kind = rng.choice(CATEGORIES[category])
        color = rng.choice(COLORS)
        product = {
            "id": f"P{i + 1:04d}",
            "name": f"{color} {kind}",
            "brand": rng.choice(BRANDS),
            "category": category,
            "color": color,
            "price": round(rng.lognormvariate(4.0, 0.5), 2),
            "tags": rng.sample(TAGS, rng.randint(1, 3)),
            "in_stock": rng.random() < 0.8,
            "specs": {"material": rng.choice(MATERIALS), "weight_g": rng.randrange(150, 1800, 10)},
        }
        if category == "shoes":
            product["sizes"] = sorted(rng.sample(range(36, 47), rng.randint(3, 6)))
        products.append(product)
    # Near-duplicate listings of a few products.
    for source in rng.sample(products, 12):
        dup = dict(reversed(list(source.items())))
        dup["id"] = f"P{len(products) + 1:04d}"
        dup["name"] = typo(source["name"], rng)
        dup["price"] = round(source["price"] * rng.uniform(0.97, 1.03), 2)
        products.append(dup)
    return products


def make_orders(rng: random.Random, products: list[dict], n: int = 40) -> list[dict]:
    orders = []
    for i in range(n):
        p = rng.choice(products[:240])
        name = p["name"].upper() if rng.random() < 0.3 else p["name"]
        item = {"name": typo(name, rng) if rng.random() < 0.3 else name}
        if rng.random() < 0.6:
            item["brand"] = p["brand"]
        if rng.random() < 0.7:
            item["color"] = p["color"]
        item["price"] = round(p["price"] * rng.uniform(0.95, 1.05), 2)
        if rng.random() < 0.5:
            item["category"] = p["category"]
        orders.append(
            {
                "order_id": f"O{i + 1:04d}",
                "customer": {
                    "id": rng.randrange(1000, 9999),
                    "country": rng.choice(["DE", "FR", "US", "JP"]),
                },
                "item": item,
                "quantity": rng.randint(1, 3),
                "expected_product": p["id"],
            }
        )
    return orders


def main() -> None:
    rng = random.Random(7)
    products = make_products(rng)
    orders = make_orders(rng, products)
    DATA.mkdir(exist_ok=True)
    for name, rows in (("products.jsonl", products), ("orders.jsonl", orders)):
        with open(DATA / name, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(products)} products and {len(orders)} orders to {DATA}")


if __name__ == "__main__":
    main()
