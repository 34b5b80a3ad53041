"""Explain, probe and decode: what MBAT's exact unbinding gives a data analyst.

Run: python examples/explain.py
"""

from __future__ import annotations

import json

import duckdb

import duckdb_vsa

con = duckdb.connect()
duckdb_vsa.register(con)
PRODUCTS = [
    {"name": "Trail Runner 2", "brand": "Peak", "color": "red", "price": 89.0,
     "tags": ["running", "trail"]},
    {"name": "Trail Runner 2 GTX", "brand": "Peak", "color": "red", "price": 99.0,
     "tags": ["trail", "running"]},
    {"name": "City Walker", "brand": "Urbana", "color": "black", "price": 59.0,
     "tags": ["casual"]},
    {"name": "Summit Boot", "brand": "Peak", "color": "brown", "price": 149.0,
     "tags": ["hiking"]},
]  # fmt: skip
con.execute("CREATE TABLE products (id INTEGER, doc VARCHAR)").fetchall()
con.executemany(
    "INSERT INTO products VALUES (?, ?)", [[i + 1, json.dumps(p)] for i, p in enumerate(PRODUCTS)]
)
duckdb_vsa.encode_column(con, "products", "doc", "vec", progress=False)

print("1. Why are products 1 and 2 similar?")
con.sql("""
    WITH pair AS (
        SELECT a.doc AS a, b.doc AS b FROM products a, products b WHERE a.id = 1 AND b.id = 2
    )
    SELECT e.path, round(e.contribution, 3) AS contribution
    FROM pair, unnest(vsa_explain(pair.a, pair.b)) AS u(e)
    ORDER BY e.contribution DESC
""").show()
similarity = con.execute("""
    SELECT vsa_similarity(a.doc, b.doc) FROM products a, products b WHERE a.id = 1 AND b.id = 2
""").fetchall()[0][0]
print(f"the contributions add up to vsa_similarity = {similarity:.3f}")

print("\n2. Filter on a field without the JSON: which products are red?")
con.sql("""
    SELECT id, round(vsa_field_similarity(vec, '$.color', '"red"'), 3) AS red
    FROM products ORDER BY id
""").show()

print("3. Decode the brand and the first tag from the vectors alone")
con.execute("""
    CREATE TABLE brands AS
    SELECT to_json(b) AS brand FROM unnest(['Peak', 'Urbana', 'Nordic', 'Velo']) t(b)
""").fetchall()
con.execute("""
    CREATE TABLE tags AS
    SELECT to_json(t) AS tag FROM unnest(['running', 'trail', 'casual', 'hiking', 'city']) t(t)
""").fetchall()
con.sql("""
    SELECT b.r.id AS id, b.value AS brand, round(b.score, 3) AS score, t.value AS first_tag
    FROM vsa_decode('products', 'vec', '$.brand', 'brands', 'brand', k := 1) b
    JOIN vsa_decode('products', 'vec', '$.tags[0]', 'tags', 'tag', k := 1) t ON b.r.id = t.r.id
    ORDER BY id
""").show()
