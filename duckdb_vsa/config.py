"""Encoder configuration, its validation and its fingerprint."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any

from duckdb_vsa.errors import InvalidArgumentError, UnknownOptionError
from duckdb_vsa.paths import normalise_fields

ENCODER_VERSION = 3
"""Version of the encoding (docs/design.md, "Versioning"). Any change of output bumps it."""

BINDINGS = ("perm", "haar")


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """Everything that determines the vectors an encoder produces.

    Parameters
    ----------
    dim : int, default 1024
        Vector dimension D.
    seed : int, default 0
        Seed of every atom and role.
    binding : {"perm", "haar"}, default "perm"
        Orthogonal role family: random signed permutations (O(D) to apply and
        store, exactly reproducible on any machine) or dense Haar-random
        orthogonal matrices (as in Gallant's paper; O(D^2), 4 D^2 bytes per role).
    number_scale : float, default 0.01
        ``s`` in ``t = asinh(x / s)``.
    number_bandwidth : float, default 0.2
        ``h``: numbers whose ``t`` differ by ``h`` have similarity ``exp(-1/2)``.
    w_str, w_tok, w_gram : float, default 0.0, 0.0, 1.0
        Weights of the whole-string atom, the word-token bag and the trigram bag.
    w_bag, w_seq : float, default 1.0, 0.5
        Weights of the unordered and the positional part of an array.
    alpha : float, default 0.3
        Weight of the unbound content shadow C (robustness to renamed keys).
    beta : float, default 0.2
        Weight of the key-name bag K (shape similarity).
    w_num_exact : float, default 0.0
        Weight of an exact-value atom added to every number (for ID-like fields).
    max_text_chars : int, default 4096
        Only the first ``max_text_chars`` characters of a string feed its token
        and trigram bags (the whole string always feeds its string atom).
    string_weight_power : float, default 0.75
        ``p`` in the weight of a string leaf, ``min(string_weight_max,
        (n / string_unit_trigrams) ** p)`` for a string of ``n`` trigrams: a
        long string (an id, a timestamp, a text) weighs more than a short one,
        as it carries more information. 0 makes every string leaf a unit vector.
    string_unit_trigrams : float, default 12.0
        The trigram count of a string of weight 1.
    string_weight_max : float, default 4.0
        The largest weight of a string leaf.
    fields : dict or tuple, default ()
        Field hints: JSON paths (``.*`` and ``[*]`` wildcards allowed) mapped to
        ``{"weight": w, "kind": "number" | "category" | "text" | "ignore",
        "scale": s}`` (see :func:`duckdb_vsa.paths.normalise_fields`). Stored in
        a canonical, hashable form; part of the fingerprint only when not empty,
        so configurations without hints keep their fingerprints.
    """

    dim: int = 1024
    seed: int = 0
    binding: str = "perm"
    number_scale: float = 0.01
    number_bandwidth: float = 0.2
    w_str: float = 0.0
    w_tok: float = 0.0
    w_gram: float = 1.0
    w_bag: float = 1.0
    w_seq: float = 0.5
    alpha: float = 0.3
    beta: float = 0.2
    w_num_exact: float = 0.0
    max_text_chars: int = 4096
    string_weight_power: float = 0.75
    string_unit_trigrams: float = 12.0
    string_weight_max: float = 4.0
    fields: tuple = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", normalise_fields(self.fields))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if (
                f.type in ("float", "int")
                and isinstance(value, bool)
                and f.name not in ("dim", "seed")
            ):
                raise InvalidArgumentError(
                    f"{f.name} must be a number, got {value!r}; a bool is not a number option."
                )
            if f.type == "float" and isinstance(value, int):
                object.__setattr__(self, f.name, float(value))
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim < 8:
            raise InvalidArgumentError(f"dim must be an integer >= 8, got {self.dim!r}.")
        if self.dim % 2:
            raise InvalidArgumentError(
                f"dim must be even, got {self.dim}; use for example {self.dim + 1}."
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InvalidArgumentError(f"seed must be a non-negative integer, got {self.seed!r}.")
        if self.binding not in BINDINGS:
            raise InvalidArgumentError(
                f"binding must be one of {', '.join(map(repr, BINDINGS))}, got {self.binding!r}."
            )
        for name in ("number_scale", "number_bandwidth", "string_unit_trigrams"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InvalidArgumentError(
                    f"{name} must be a positive finite number, got {value!r}."
                )
        for name in (
            "w_str", "w_tok", "w_gram", "w_bag", "w_seq", "alpha", "beta", "w_num_exact",
            "string_weight_power",
        ):  # fmt: skip
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise InvalidArgumentError(
                    f"{name} must be a non-negative finite number, got {value!r}."
                )
        if self.w_str + self.w_tok + self.w_gram <= 0:
            raise InvalidArgumentError("At least one of w_str, w_tok, w_gram must be positive.")
        if self.w_bag + self.w_seq <= 0:
            raise InvalidArgumentError("At least one of w_bag, w_seq must be positive.")
        value = self.string_weight_max
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 1):
            raise InvalidArgumentError(
                f"string_weight_max must be a finite number >= 1, got {value!r}."
            )
        if not isinstance(self.max_text_chars, int) or self.max_text_chars < 1:
            raise InvalidArgumentError(
                f"max_text_chars must be a positive integer, got {self.max_text_chars!r}."
            )

    @classmethod
    def from_options(cls, **options: Any) -> EncoderConfig:
        """Build a configuration, naming any option that does not exist."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise UnknownOptionError(
                f"Unknown encoder option(s): {', '.join(unknown)}. "
                f"Known options: {', '.join(sorted(known))}."
            )
        return cls(**options)

    def as_dict(self) -> dict[str, Any]:
        """Return the configuration with the encoder version, as plain values."""
        values = dataclasses.asdict(self)
        if not self.fields:
            # Configurations without hints keep the fingerprints they always had.
            del values["fields"]
        else:
            values["fields"] = {path: dict(options) for path, options in self.fields}
        return {"version": ENCODER_VERSION, **values}

    def describe(self) -> str:
        """A readable summary: dim, seed, binding, options off their defaults, hints.

        Examples
        --------
        >>> EncoderConfig(dim=256, alpha=0.5).describe()
        "dim=256, seed=0, binding='perm', alpha=0.5 (encoder version 3, fingerprint ...)"
        """
        default = EncoderConfig()
        parts = [f"dim={self.dim}", f"seed={self.seed}", f"binding={self.binding!r}"]
        for f in dataclasses.fields(self):
            if f.name in ("dim", "seed", "binding", "fields"):
                continue
            value = getattr(self, f.name)
            if value != getattr(default, f.name):
                parts.append(f"{f.name}={value!r}")
        if self.fields:
            hints = {path: dict(options) for path, options in self.fields}
            parts.append(f"fields={json.dumps(hints, sort_keys=True)}")
        return (
            ", ".join(parts)
            + f" (encoder version {ENCODER_VERSION}, fingerprint {self.fingerprint})"
        )

    @property
    def fingerprint(self) -> str:
        """A 16-hex-digit digest of the version and every option.

        Vectors with different fingerprints are not comparable.
        """
        canonical = json.dumps(self.as_dict(), sort_keys=True)
        return hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()
