"""duckdb_vsa quickstart: similarity search over JSON documents in DuckDB.

Loads a small product catalogue and a feed of order lines (examples/data/),
encodes every document with vsa_encode, then runs the three jobs the package is
for: nearest neighbours of a query document, a top-k similarity join (which
catalogue product did each order line mean?), and near-duplicate detection.

Run: python examples/quickstart.py
"""

from __future__ import annotations

from pathlib import Path

import duckdb

import duckdb_vsa

DATA = Path(__file__).resolve().parent / "data"


def main() -> None:
    con = duckdb.connect()  # in-memory
    encoder = duckdb_vsa.register(con)  # dim=1024, seed=0
    print(f"encoder: {encoder}\n")

    con.execute(
        f"""
        CREATE TABLE products AS
        SELECT json ->> 'id' AS id, json ->> 'name' AS name,
               (json ->> 'price')::DOUBLE AS price, json AS doc
        FROM read_json_objects('{DATA / "products.jsonl"}');
        ALTER TABLE products ADD COLUMN vec FLOAT[{encoder.dim}];
        UPDATE products SET vec = vsa_encode(doc);

        CREATE TABLE orders AS
        SELECT json ->> 'order_id' AS id, json -> 'item' AS item,
               json ->> 'expected_product' AS expected, vsa_encode(json -> 'item') AS vec
        FROM read_json_objects('{DATA / "orders.jsonl"}');
        """
    )
    n_products, n_orders = con.execute(
        "SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM orders)"
    ).fetchall()[0]
    print(f"encoded {n_products} products and {n_orders} order lines\n")

    print('1. The 5 products most similar to {"name": "red running shoe", "price": 40}:')
    con.sql(
        """
        SELECT id, name, price, round(score, 3) AS score
        FROM vsa_search('products', 'vec',
                        vsa_encode('{"name": "red running shoe", "price": 40}'), k := 5)
        """
    ).show()

    print("2. Each order line's best catalogue match (first 8 orders):")
    con.sql(
        """
        SELECT l.id AS order_id, l.item ->> 'name' AS ordered, r.id AS product,
               r.name AS product_name, round(score, 3) AS score, r.id = l.expected AS correct
        FROM vsa_topk_join('orders', 'vec', 'products', 'vec', k := 3)
        WHERE rank = 1
        ORDER BY order_id
        LIMIT 8
        """
    ).show()
    accuracy = con.execute(
        """
        SELECT avg((r.id = l.expected)::INT)
        FROM vsa_topk_join('orders', 'vec', 'products', 'vec', k := 1)
        """
    ).fetchall()[0][0]
    print(f"   top-1 match accuracy over all {n_orders} orders: {accuracy:.0%}\n")

    print("3. Near-duplicate listings in the catalogue (score >= 0.85):")
    con.sql(
        """
        SELECT l.id AS id_a, l.name AS name_a, r.id AS id_b, r.name AS name_b,
               round(score, 3) AS score
        FROM vsa_near_duplicates('products', 'vec', threshold := 0.85)
        """
    ).show(max_rows=20)


if __name__ == "__main__":
    main()
