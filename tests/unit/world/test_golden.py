"""Golden facts of a few renders: a change of the world must bump WORLD_VERSION (and these values).

The values are coarse on purpose (rounded depths, label histograms) so that they hold across
platforms while still catching any change of the scene sampler, the cameras or the labels.
"""

from __future__ import annotations

import numpy as np
import pytest

from taskonomy.world import WORLD_VERSION, WorldSpec, render_sample
from taskonomy.world._labels import decode_room_layout

GOLDEN = {
    # index: (most probable class_scene, jigsaw, point_matching, centre z-depth, semantic histogram (uncertain, then
    #         the classes), room half extents (sorted), non-fixated translation (m), egomotion 1-2 translation (m),
    #         mean reshading)
    0: (5, 33, 0.0, 3.1358, [0, 205, 13, 38, 0, 0, 0, 0, 0, 0], [1.2123, 1.8231, 2.1777], 0.6316, 0.5656, 0.5516),
    1: (3, 11, 1.0, 3.9492, [0, 233, 0, 0, 13, 0, 10, 0, 0, 0], [1.4403, 2.58, 3.1391], 0.9656, 0.5282, 0.4546),
    2: (5, 10, 1.0, 3.8102, [0, 236, 11, 0, 0, 0, 9, 0, 0, 0], [1.3804, 2.0031, 2.3634], 0.5116, 0.5701, 0.5444),
}


@pytest.mark.parametrize("index", sorted(GOLDEN))
def test_golden_renders(index: int) -> None:
    assert WORLD_VERSION == 4, "the world changed: update GOLDEN for the new version"
    s = render_sample(WorldSpec(seed=0, size=16), index)
    scene, jig, match, depth, hist, extents, nonfix, ego12, reshade = GOLDEN[index]
    assert int(np.argmax(s["class_scene"])) == scene
    assert int(s["jigsaw"]) == jig
    assert float(s["point_matching"][0]) == match
    assert np.isclose(s["depth_zbuffer"][0, 7:9, 7:9].mean(), depth, atol=2e-4)
    assert np.bincount(s["segment_semantic"].ravel() + 1, minlength=10).tolist() == hist
    assert np.allclose(sorted(decode_room_layout(s["room_layout"])[1]), extents, atol=2e-4)
    assert np.isclose(np.linalg.norm(s["nonfixated_pose"][3:]), nonfix, atol=2e-4)
    assert np.isclose(np.linalg.norm(s["egomotion"][15:]), ego12, atol=2e-4)
    assert np.isclose(s["reshading"].mean(), reshade, atol=2e-4)
