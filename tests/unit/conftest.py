"""Tiny networks gain nothing from a second thread, and OpenMP threads spin badly when other
processes share the cores: run these tests single-threaded, restoring the caller's setting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
