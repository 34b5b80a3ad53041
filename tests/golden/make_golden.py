"""Write tests/golden/vectors.json: pinned encodings of a few documents.

The golden test recomputes these vectors and compares their bytes, so any change
of output is caught. A deliberate change of the encoding (which bumps
ENCODER_VERSION) regenerates the file:

    python tests/golden/make_golden.py
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

import numpy as np  # noqa: E402

import duckdb_vsa  # noqa: E402

OUTPUT = HERE / "vectors.json"
DIM = 1024
SEED = 0
BINDING = "perm"

# JSON text, so that exactly these bytes are parsed on every run.
DOCUMENTS = [
    '{"name": "Red Running Shoe", "price": 39.99, "sizes": [40, 41, 42], "in_stock": true}',
    '[{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": []}, {"id": 3, "meta": {}}]',
    '{"user": {"address": {"city": "Z\\u00fcrich", "zip": "8001"}, "phone": null}}',
    '"caf\\u00e9 \\u6771\\u4eac \\ud83d\\ude00"',
    "-1234.5e-3",
    '[[1, [2, [3]]], [false, null], "x"]',
    # A null member is absent, -0.0 is 0, a long identifying string weighs more.
    '{"id": "ORD-2024-000123-DE-BERLIN", "refund": null, "delta": -0.0, "notes": [null]}',
    # Beyond the batch engine (an array of 1,100 elements): the sliced evaluation.
    "[" + ", ".join(str(i * 7 % 1000) for i in range(1100)) + "]",
]


def vector_record(vector: np.ndarray) -> dict[str, object]:
    """What is pinned about one vector."""
    little = vector.astype("<f4")
    return {
        "first8": [float(x) for x in little[:8]],
        "sum": float(little.astype(np.float64).sum()),
        "blake2b": hashlib.blake2b(little.tobytes(), digest_size=16).hexdigest(),
    }


def build() -> dict[str, object]:
    enc = duckdb_vsa.Encoder(dim=DIM, seed=SEED, binding=BINDING)
    vectors = enc.encode_batch(DOCUMENTS)
    return {
        "encoder": enc.info(),
        "documents": [{"json": doc, **vector_record(vec)} for doc, vec in zip(DOCUMENTS, vectors)],
    }


def main() -> None:
    OUTPUT.write_text(json.dumps(build(), indent=2, ensure_ascii=True) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
