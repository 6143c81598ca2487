"""Shared fixtures. Everything is seeded; worlds are tiny."""

from __future__ import annotations

import os

os.environ.setdefault("TASKONOMY_DEBUG", "")

pytest_plugins = ["tests.fixtures_redis"]
