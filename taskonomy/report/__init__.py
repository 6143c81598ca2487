"""The HTML report of an experiment, with its PNG figures beside it (relative links).

>>> # after a run:  write_report("runs/quick", store=store, finalize_params=job.params)

Figures: the first-order matrix before AHP (mean pairwise win rate of each transfer in its
target's tournament) and after AHP (affinities), the taxonomy graph at a few budgets, gain
and quality per target, the budget sweep, sample predictions of every task-specific network
next to the ground truth, and LogME proxies against the trained affinities. The report reads
the pipeline's artifacts; :func:`taskonomy.run_outputs.publish_run` writes it after a run.
"""

from __future__ import annotations

from taskonomy.report._report import ReportData, collect, write_report

__all__ = ["ReportData", "collect", "write_report"]
