from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from taskonomy.world import WorldSpec, render_sample
from taskonomy.world._preview import preview_sheet


def test_single_task_panels_from_a_minimal_sample(tmp_path: Path) -> None:
    s = render_sample(WorldSpec(seed=2, size=16), 0)
    for task, key in (("room_layout", "room_layout"), ("point_matching", "point_matching"), ("jigsaw", "jigsaw"),
                      ("segment_unsup2d", "segment_unsup2d")):
        sheet = {"rgb": s["rgb"], "meta.K": s["meta.K"], key: s[key]}
        out = preview_sheet(sheet, tmp_path / f"{task}.png", tasks=[task], show_inputs=False)
        with Image.open(out) as im:
            assert im.size[0] >= 150 and np.asarray(im).std() > 0
