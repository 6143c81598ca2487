"""The HTML report of an experiment, with its PNG figures beside it (relative links).

>>> # after a run:  write_report("runs/quick", store=store, finalize_params=job.params)

Figures: the first-order matrix before AHP (mean pairwise win rate of each transfer in its
target's tournament) and after AHP (affinities), the taxonomy graph at a few budgets, gain
and quality per target, the budget sweep, sample predictions of every task-specific network
next to the ground truth, and LogME proxies against the trained affinities. The report reads
a run's artifacts; :func:`taskonomy.run_outputs.publish_run` writes it after a run.

Where things live: ``_report`` collects what the report shows and writes ``report.html``;
``_figures`` draws each PNG figure; ``_render`` turns a task's output into an image or bars.
Every file is written with :func:`taskonomy.files.atomic_write` (a reader never sees half a page).
"""

from __future__ import annotations

from taskonomy.report._report import ReportData, collect, write_report

__all__ = ["ReportData", "collect", "write_report"]
