"""EncoderConfig: defaults, validation, the fingerprint and describe().

See docs/design.md, "Defaults", "Fingerprint" and "Versioning".
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import pytest

from duckdb_vsa.config import ENCODER_VERSION, EncoderConfig
from duckdb_vsa.errors import InvalidArgumentError, UnknownOptionError

#: The default configuration as docs/design.md, "Fingerprint", writes it.
DEFAULT_JSON = (
    '{"alpha": 0.3, "beta": 0.2, "binding": "perm", "dim": 1024, "max_text_chars": 4096, '
    '"number_bandwidth": 0.2, "number_scale": 0.01, "seed": 0, "string_unit_trigrams": 12.0, '
    '"string_weight_max": 4.0, "string_weight_power": 0.75, "version": 3, "w_bag": 1.0, '
    '"w_gram": 1.0, "w_num_exact": 0.0, "w_seq": 0.5, "w_str": 0.0, "w_tok": 0.0}'
)
DEFAULT_FINGERPRINT = "2b2d199af6870fca"

#: A valid value other than the default for every option.
CHANGED = {
    "dim": 512,
    "seed": 1,
    "binding": "haar",
    "number_scale": 0.02,
    "number_bandwidth": 0.3,
    "w_str": 0.25,
    "w_tok": 0.5,
    "w_gram": 0.9,
    "w_bag": 0.8,
    "w_seq": 1.0,
    "alpha": 0.31,
    "beta": 0.0,
    "w_num_exact": 0.5,
    "max_text_chars": 100,
    "string_weight_power": 0.5,
    "string_unit_trigrams": 8.0,
    "string_weight_max": 2.0,
    "fields": {"$.sku": "category"},
}


def test_defaults() -> None:
    cfg = EncoderConfig()
    assert dataclasses.asdict(cfg) == {
        "dim": 1024,
        "seed": 0,
        "binding": "perm",
        "number_scale": 0.01,
        "number_bandwidth": 0.2,
        "w_str": 0.0,
        "w_tok": 0.0,
        "w_gram": 1.0,
        "w_bag": 1.0,
        "w_seq": 0.5,
        "alpha": 0.3,
        "beta": 0.2,
        "w_num_exact": 0.0,
        "max_text_chars": 4096,
        "string_weight_power": 0.75,
        "string_unit_trigrams": 12.0,
        "string_weight_max": 4.0,
        "fields": (),
    }
    assert ENCODER_VERSION == 3


# -- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dim": 7}, "dim must be an integer >= 8, got 7."),
        ({"dim": "256"}, "dim must be an integer >= 8, got '256'."),
        ({"dim": 256.0}, "dim must be an integer >= 8, got 256.0."),
        ({"dim": True}, "dim must be an integer >= 8, got True."),
        ({"dim": 255}, "dim must be even, got 255; use for example 256."),
        ({"seed": -1}, "seed must be a non-negative integer, got -1."),
        ({"seed": 1.0}, "seed must be a non-negative integer, got 1.0."),
        ({"seed": False}, "seed must be a non-negative integer, got False."),
        ({"binding": "dense"}, "binding must be one of 'perm', 'haar', got 'dense'."),
        ({"number_scale": 0}, "number_scale must be a positive finite number, got 0.0."),
        ({"number_bandwidth": math.inf}, "number_bandwidth must be a positive finite number"),
        ({"number_scale": "1"}, "number_scale must be a positive finite number, got '1'."),
        ({"alpha": -0.1}, "alpha must be a non-negative finite number, got -0.1."),
        ({"w_bag": math.nan}, "w_bag must be a non-negative finite number, got nan."),
        ({"beta": math.inf}, "beta must be a non-negative finite number, got inf."),
        ({"w_num_exact": None}, "w_num_exact must be a non-negative finite number, got None."),
        ({"w_gram": 0.0}, "At least one of w_str, w_tok, w_gram must be positive."),
        ({"w_bag": 0, "w_seq": 0}, "At least one of w_bag, w_seq must be positive."),
        ({"max_text_chars": 0}, "max_text_chars must be a positive integer, got 0."),
        ({"max_text_chars": 10.0}, "max_text_chars must be a positive integer, got 10.0."),
        ({"fields": {"$.a": {"kind": "number"}}}, "kind='number' needs a scale for '$.a'"),
    ],
)
def test_invalid_options_are_named_with_what_to_give(options, message) -> None:
    with pytest.raises(ValueError) as excinfo:
        EncoderConfig(**options)
    assert str(excinfo.value).startswith(message), str(excinfo.value)


def test_weights_may_be_zero_when_another_is_positive() -> None:
    cfg = EncoderConfig(w_gram=0.0, w_tok=1.0, w_bag=0.0, alpha=0.0, beta=0.0)
    assert (cfg.w_gram, cfg.w_bag) == (0.0, 0.0)
    EncoderConfig(w_seq=0.0)
    EncoderConfig(w_str=1.0, w_gram=0.0)


def test_integers_given_for_float_options_become_floats() -> None:
    cfg = EncoderConfig(alpha=1, w_gram=2, number_scale=1)
    for name in ("alpha", "w_gram", "number_scale"):
        assert type(getattr(cfg, name)) is float
    assert cfg == EncoderConfig(alpha=1.0, w_gram=2.0, number_scale=1.0)
    assert cfg.fingerprint == EncoderConfig(alpha=1.0, w_gram=2.0, number_scale=1.0).fingerprint


@pytest.mark.parametrize("name", ["alpha", "w_gram", "number_scale", "max_text_chars"])
def test_a_bool_is_not_a_number_option(name) -> None:
    with pytest.raises(ValueError, match=name):
        EncoderConfig(**{name: True})


def test_unknown_options_are_named_with_the_known_ones() -> None:
    with pytest.raises(TypeError) as excinfo:
        EncoderConfig.from_options(dim=64, alpah=0.3, sead=1)
    message = str(excinfo.value)
    assert message.startswith("Unknown encoder option(s): alpah, sead. Known options: alpha, ")
    for f in dataclasses.fields(EncoderConfig):
        assert f.name in message
    assert EncoderConfig.from_options(dim=64, alpha=0.5) == EncoderConfig(dim=64, alpha=0.5)


def test_option_errors_are_the_packages_own() -> None:
    with pytest.raises(InvalidArgumentError):
        EncoderConfig(dim=7)
    with pytest.raises(InvalidArgumentError):
        EncoderConfig(fields={"year": {"weight": 2}})
    with pytest.raises(UnknownOptionError):
        EncoderConfig.from_options(alpah=0.3)


def test_configurations_are_frozen_hashable_values() -> None:
    a = EncoderConfig(dim=64, fields={'$["sku"]': "category"})
    b = EncoderConfig(dim=64, fields={"$.sku": {"kind": "category"}})
    assert a == b and hash(a) == hash(b)
    assert len({a, b, EncoderConfig(dim=64)}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.dim = 128  # type: ignore[misc]


# -- fingerprint ---------------------------------------------------------------------------


def test_the_default_fingerprint_is_pinned() -> None:
    cfg = EncoderConfig()
    assert json.dumps(cfg.as_dict(), sort_keys=True) == DEFAULT_JSON
    assert cfg.fingerprint == DEFAULT_FINGERPRINT
    # The documented recipe, computed independently.
    assert hashlib.blake2b(DEFAULT_JSON.encode(), digest_size=8).hexdigest() == DEFAULT_FINGERPRINT


def test_the_fingerprint_of_hints_follows_the_documented_recipe() -> None:
    cfg = EncoderConfig(
        dim=64, fields={"$.year": {"kind": "number", "scale": 5}, "$.sku": "category"}
    )
    document = json.loads(DEFAULT_JSON)
    document["dim"] = 64
    document["fields"] = {"$.sku": {"kind": "category"}, "$.year": {"kind": "number", "scale": 5.0}}
    canonical = json.dumps(document, sort_keys=True)
    assert cfg.fingerprint == hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()
    assert cfg.fingerprint == "ed88e88710cd0be8"


def test_the_fingerprint_covers_every_option() -> None:
    names = {f.name for f in dataclasses.fields(EncoderConfig)}
    assert set(CHANGED) == names, "give every new option a changed value here"
    base = EncoderConfig()
    seen = {base.fingerprint: "defaults"}
    for name, value in CHANGED.items():
        cfg = EncoderConfig(**{name: value})
        assert getattr(cfg, name) != getattr(base, name)
        assert len(cfg.fingerprint) == 16 and int(cfg.fingerprint, 16) >= 0
        assert cfg.fingerprint not in seen, (name, seen.get(cfg.fingerprint))
        seen[cfg.fingerprint] = name
        assert EncoderConfig(**{name: value}).fingerprint == cfg.fingerprint


def test_empty_hints_keep_the_fingerprint_of_no_hints() -> None:
    for fields in (None, {}, ()):
        assert EncoderConfig(fields=fields).fingerprint == DEFAULT_FINGERPRINT
    assert "fields" not in EncoderConfig().as_dict()
    assert EncoderConfig(fields={"$.a": {"weight": 1}}).fingerprint != DEFAULT_FINGERPRINT


def test_as_dict_holds_the_version_and_every_option() -> None:
    values = EncoderConfig(dim=64, fields={"$.a": {"weight": 2}}).as_dict()
    assert values["version"] == ENCODER_VERSION
    assert values["fields"] == {"$.a": {"weight": 2.0}}
    assert set(values) == {"version"} | {f.name for f in dataclasses.fields(EncoderConfig)}
    assert EncoderConfig(**{k: v for k, v in values.items() if k != "version"}).as_dict() == values


# -- describe ----------------------------------------------------------------------------


def test_describe_lists_dim_seed_binding_and_the_options_off_their_defaults() -> None:
    cfg = EncoderConfig(dim=256, alpha=0.5)
    assert (
        cfg.describe() == "dim=256, seed=0, binding='perm', alpha=0.5 "
        f"(encoder version 3, fingerprint {cfg.fingerprint})"
    )
    default = EncoderConfig()
    assert (
        default.describe() == "dim=1024, seed=0, binding='perm' "
        f"(encoder version 3, fingerprint {DEFAULT_FINGERPRINT})"
    )
    hinted = EncoderConfig(
        dim=64,
        seed=3,
        binding="haar",
        w_tok=0.5,
        fields={"$.year": {"kind": "number", "scale": 5}, "$.sku": "category"},
    )
    assert hinted.describe() == (
        "dim=64, seed=3, binding='haar', w_tok=0.5, "
        'fields={"$.sku": {"kind": "category"}, "$.year": {"kind": "number", "scale": 5.0}} '
        f"(encoder version 3, fingerprint {hinted.fingerprint})"
    )
