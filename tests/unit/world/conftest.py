"""Shared renders for the world tests: rendered once per session (tiny images)."""

from __future__ import annotations

import numpy as np
import pytest

from taskonomy.world import WorldSpec, render_sample

SIZE = 32
N_SAMPLES = 6


@pytest.fixture(scope="session")
def spec() -> WorldSpec:
    return WorldSpec(seed=7, size=SIZE)


@pytest.fixture(scope="session")
def samples(spec: WorldSpec) -> list[dict[str, np.ndarray]]:
    return [render_sample(spec, i) for i in range(N_SAMPLES)]
