"""The world specification: every knob that determines the rendered samples."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from taskonomy._config import config_kwargs
from taskonomy.errors import InvalidInputError

#: Version of the renderer; part of :meth:`WorldSpec.key` so a change of the world invalidates shards.
WORLD_VERSION = 4
MIN_SIZE, MAX_SIZE = 16, 512

_RANGES: dict[str, tuple[float, float]] = {
    "seed": (0, 2**63 - 1),
    "size": (MIN_SIZE, MAX_SIZE),
    "min_objects": (0, 6),
    "max_objects": (0, 6),
    "fov_deg": (20.0, 120.0),
    "patch_fov_deg": (2.0, 60.0),
    "noise_sigma": (0.0, 1.0),
    "ambient": (0.0, 1.0),
}


@dataclass(frozen=True)
class WorldSpec:
    """A built-in world: a sample is a pure function of ``(spec, index)``.

    Attributes:
        seed: world seed; every sample draws from ``numpy.random.default_rng((seed, index))``.
        size: image side in pixels (all images and dense labels are ``size x size``).
        min_objects, max_objects: number of objects per room (2 to 6 by default).
        fov_deg: horizontal field of view of the main, egomotion and fixated views.
        patch_fov_deg: field of view of the point-matching patch views.
        noise_sigma: standard deviation of the Gaussian noise of ``rgb_noisy``.
        ambient: ambient share of the lighting (the rest is the point light's diffuse term).
    """

    seed: int = 0
    size: int = 64
    min_objects: int = 2
    max_objects: int = 6
    fov_deg: float = 60.0
    patch_fov_deg: float = 12.0
    noise_sigma: float = 0.1
    ambient: float = 0.3

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            lo, hi = _RANGES[f.name]
            want_int = f.type in ("int", int)
            bad_type = not isinstance(value, int | float) or (want_int and not isinstance(value, int))
            if isinstance(value, bool) or bad_type:
                kind = "an integer" if want_int else "a number"
                raise InvalidInputError(f"world {f.name} must be {kind}, got {value!r}")
            if not lo <= value <= hi:
                raise InvalidInputError(f"world {f.name}={value} is out of range; allowed {lo}..{hi}")
        if self.min_objects > self.max_objects:
            raise InvalidInputError(
                f"world min_objects={self.min_objects} exceeds max_objects={self.max_objects}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorldSpec:
        """Build a spec from a JSON-like dict; unknown keys and out-of-range values raise InvalidInputError."""
        return cls(**config_kwargs(cls, d, what="world spec"))

    def key(self) -> str:
        """Stable content hash (hex) of the spec and the renderer version: the artifact key of its shards."""
        payload = json.dumps({"world_version": WORLD_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:24]
