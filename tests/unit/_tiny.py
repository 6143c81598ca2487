"""The smallest real `taskonomy run` experiments the CLI tests run: a 16 px world, 1-epoch networks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def tiny_spec_file(tmp_path: Path, tasks: list[str], *, transfer_images: int = 16, transfer_epochs: int = 1,
                   budget: int = 1, **extra: Any) -> Path:
    """Write a tiny experiment spec (JSON) for ``tasks`` into ``tmp_path``; ``extra`` adds or replaces fields."""
    spec = {"tasks": tasks, "dataset": {"kind": "world", "size": 16, "seed": 3},
            "splits": {"train": 32, "transfer": transfer_images, "test": 8},
            "model": {"width": 8, "rep_channels": 4, "blocks": 1, "transfer_width": 8, "hidden": 16},
            "train": {"epochs": 1, "batch_size": 16}, "transfer": {"epochs": transfer_epochs, "batch_size": 16},
            "budget": budget, **extra}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path
