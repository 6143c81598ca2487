"""One tiny trained experiment shared by the model-bank, gateway and browser tests.

Built with the local executor into the session's base temp dir; a second fixture instance (another
test module) resumes from the content-addressed store, so the training runs once per session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

#: Two single-view tasks (pixels + labels), 32 px: big enough that both are learned (see test_predict),
#: small enough to train in seconds on one thread; and a multi-view source-only task (two views), which
#: a single uploaded image cannot feed.
TINY_SPEC: dict[str, Any] = {
    "name": "modelbank-tiny",
    "dataset": {"kind": "world", "seed": 0, "size": 32},
    "tasks": ["autoencoding", "segment_semantic", {"name": "nonfixated_pose", "role": "source_only"}],
    "splits": {"train": 256, "transfer": 8, "test": 8},
    "model": {"width": 8, "rep_channels": 8, "blocks": 1},
    "train": {"epochs": 8, "batch_size": 16, "lr": 0.005},
    "transfer": {"epochs": 1, "batch_size": 8, "lr": 0.003},
    "budget": 1,  # one root: the taxonomy transfers to the other task
}

#: The tasks an uploaded image can feed, and the multi-view one it cannot.
SINGLE_VIEW = ["autoencoding", "segment_semantic"]
MULTI_VIEW = ["nonfixated_pose"]


def build_tiny(base: Path) -> Path:
    """Run (or resume) the tiny experiment under ``base``; returns its run directory."""
    import torch

    from taskonomy.contract import ExperimentSpec
    from taskonomy.execution.run import run_experiment
    from taskonomy.run_outputs import publish_run

    out = base / "modelbank-tiny"
    if not (out / "experiment.json").is_file():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            publish_run(run_experiment(ExperimentSpec.parse(TINY_SPEC), out_dir=out), report=False)
        finally:
            torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny(tmp_path_factory.getbasetemp())
