"""The built-in world's specification: every knob that determines its rendered samples.

:class:`WorldOptions` holds the knobs besides seed and size (what an experiment spec's
``dataset.options`` block takes); :class:`WorldSpec` adds the seed and the image size. Each field,
its default and its bounds are defined here once: the renderer (:mod:`taskonomy.world`), the
experiment spec (:class:`~taskonomy.contract.spec.WorldDataset`) and its JSON schema read them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, ClassVar, Self

from pydantic import Field, model_validator

from taskonomy.contract.config import ConfigModel, Float, Int

#: Version of the renderer; part of :meth:`WorldSpec.key` so a change of the world invalidates shards.
WORLD_VERSION = 4
#: Smallest and largest image side of a world.
MIN_SIZE, MAX_SIZE = 16, 512
#: A world seed and an image side, with their bounds (the experiment spec's world dataset uses them too).
WorldSeed = Annotated[Int, Field(ge=0, le=2**63 - 1, description="world seed")]
WorldSize = Annotated[Int, Field(ge=MIN_SIZE, le=MAX_SIZE, description="image side in pixels")]


class WorldOptions(ConfigModel):
    """The built-in world's knobs besides seed and size."""

    config_name: ClassVar[str] = "world options"

    min_objects: Int = Field(default=2, ge=0, le=6, description="fewest objects per room")
    max_objects: Int = Field(default=6, ge=0, le=6, description="most objects per room")
    fov_deg: Annotated[Float, Field(ge=20.0, le=120.0, description=(
        "horizontal field of view of the main, egomotion and fixated views (degrees)"))] = 60.0
    patch_fov_deg: Annotated[Float, Field(ge=2.0, le=60.0, description=(
        "field of view of the point-matching patch views (degrees)"))] = 12.0
    noise_sigma: Annotated[Float, Field(ge=0.0, le=1.0, description=(
        "standard deviation of the Gaussian noise of rgb_noisy"))] = 0.1
    ambient: Annotated[Float, Field(ge=0.0, le=1.0, description="ambient share of the lighting (the rest is the "
                                                               "point light's diffuse term)")] = 0.3

    @model_validator(mode="after")
    def _objects_ordered(self) -> Self:
        if self.min_objects > self.max_objects:
            raise ValueError(f"min_objects={self.min_objects} exceeds max_objects={self.max_objects}")
        return self


class WorldSpec(WorldOptions):
    """A built-in world: a sample is a pure function of ``(spec, index)``; every sample draws from
    ``numpy.random.default_rng((seed, index))``. All images and dense labels are ``size x size``."""

    config_name: ClassVar[str] = "world spec"

    seed: WorldSeed = 0
    size: WorldSize = 64

    def key(self) -> str:
        """Stable content hash (hex) of the spec and the renderer version: the artifact key of its shards."""
        payload = json.dumps({"world_version": WORLD_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:24]
