"""Shared fixtures. Everything is seeded; worlds are tiny."""

from __future__ import annotations

import os

os.environ.setdefault("TASKONOMY_DEBUG", "")
# Tiny runs: one process (spawning a torch worker costs more than these networks' training); the
# worker processes of the local executor are tested on their own (tests/unit/execution/test_local.py).
os.environ.setdefault("TASKONOMY_WORKERS", "1")

pytest_plugins = ["tests.fixtures_redis"]
