"""Moved: a finished run's outputs are written by :mod:`taskonomy.run_outputs`.

Transitional (issue 24): kept only so that ``services/common/jobrunner.py`` (being moved to
``services/queue`` by another change) keeps importing ``publish_report`` while it lands. It
should import ``taskonomy.run_outputs``; then delete this module.
"""

from __future__ import annotations

from taskonomy.run_outputs import Published, publish_report, publish_run

__all__ = ["Published", "publish_report", "publish_run"]
