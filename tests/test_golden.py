"""Golden vectors: the default 'perm' encoding at D = 1024, seed 0, pinned to the byte.

tests/golden/vectors.json is written by tests/golden/make_golden.py. A change of
output must be deliberate: it bumps ENCODER_VERSION and regenerates the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import duckdb_vsa

GOLDEN = json.loads((Path(__file__).parent / "golden" / "vectors.json").read_text("utf-8"))
DOCUMENTS = GOLDEN["documents"]
REGENERATE = "if the encoding changed on purpose, run: python tests/golden/make_golden.py"


@pytest.fixture(scope="module")
def golden_encoder() -> duckdb_vsa.Encoder:
    cfg = GOLDEN["encoder"]
    return duckdb_vsa.Encoder(dim=cfg["dim"], seed=cfg["seed"], binding=cfg["binding"])


def test_golden_file_pins_the_default_configuration(golden_encoder) -> None:
    assert len(DOCUMENTS) >= 6
    default = duckdb_vsa.Encoder()
    assert (default.dim, default.seed, default.binding) == (1024, 0, "perm")
    assert golden_encoder.info() == default.info()
    assert GOLDEN["encoder"] == default.info(), (
        f"the default encoder is now {default.info()}, the golden file has "
        f"{GOLDEN['encoder']}; {REGENERATE}"
    )


@pytest.mark.parametrize("index", range(len(DOCUMENTS)))
def test_golden_vector(golden_encoder, index) -> None:
    pinned = DOCUMENTS[index]
    for vector in (
        golden_encoder.encode(pinned["json"]),
        golden_encoder.encode_batch([d["json"] for d in DOCUMENTS])[index],
    ):
        little = vector.astype("<f4")
        assert little.shape == (GOLDEN["encoder"]["dim"],)
        first8 = [float(x) for x in little[:8]]
        assert first8 == pinned["first8"], (
            f"{pinned['json']}: first components differ; {REGENERATE}"
        )
        assert float(little.astype(np.float64).sum()) == pinned["sum"], REGENERATE
        digest = hashlib.blake2b(little.tobytes(), digest_size=16).hexdigest()
        assert digest == pinned["blake2b"], f"{pinned['json']}: bytes differ; {REGENERATE}"
