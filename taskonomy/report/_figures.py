"""The report's figures, drawn with matplotlib's object API on the Agg canvas (no pyplot state).

Each function writes one PNG and returns its file name.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from taskonomy.files import atomic_write
from taskonomy.report._render import dense_pair, global_pair, image_rgb

DPI = 110


def _figure(w: float, h: float) -> Any:
    # matplotlib loads with the first figure: importing the report (the CLI does at start) stays light.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, out_dir: str, name: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    atomic_write(os.path.join(out_dir, name), buf.getvalue())
    return name


def matrix_figure(matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str], *, title: str, label: str,
                  out_dir: str, name: str, fmt: str = "{:.2f}") -> str:
    """A target x source heat map; NaN cells (no such transfer) are left blank."""
    m = np.asarray(matrix, dtype=np.float64)
    fig = _figure(1.2 + 0.55 * len(cols), 1.0 + 0.45 * len(rows))
    ax = fig.add_subplot(1, 1, 1)
    masked = np.ma.masked_invalid(m)
    im = ax.imshow(masked, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), list(cols), rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), list(rows), fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("target")
    ax.set_title(title, fontsize=10)
    if len(rows) * len(cols) <= 120:
        finite = m[np.isfinite(m)]
        mid = float(finite.mean()) if finite.size else 0.0
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                if np.isfinite(m[i, j]):
                    ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if m[i, j] < mid else "black")
    fig.colorbar(im, ax=ax, label=label, shrink=0.8)
    return _save(fig, out_dir, name)


def taxonomy_layout(solution: Mapping[str, Any], tasks: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Positions of a layered tree: roots on the top row, each root's targets in a column under it.

    A target of a transfer from several roots hangs under its first source; tasks outside the
    taxonomy (unused source-only tasks) go in a last row. Coordinates: column index, and row
    (0 on top, growing downwards).
    """
    roots = list(solution.get("roots", []))
    columns: dict[str, list[str]] = {r: [] for r in roots}
    placed = set(roots)
    for e in sorted(solution.get("edges", []), key=lambda e: (-(e.get("affinity") or 0.0), e["target"])):
        head = next((s for s in e["sources"] if s in columns), None)
        if head is not None and e["target"] not in placed:
            columns[head].append(e["target"])
            placed.add(e["target"])
    pos: dict[str, tuple[float, float]] = {}
    for i, r in enumerate(roots):
        pos[r] = (float(i), 0.0)
        for j, t in enumerate(columns[r]):
            pos[t] = (float(i), float(j + 1))
    rest = [t for t in tasks if t not in placed]
    depth = max((len(c) for c in columns.values()), default=0) + 1
    width = max(len(roots), 1)
    for k, t in enumerate(rest):
        pos[t] = (k % width, float(depth + 0.6 + k // width))
    return pos


def taxonomy_figure(solution: Mapping[str, Any], tasks: Sequence[str], *, out_dir: str, name: str) -> str:
    """The taxonomy as a layered tree (:func:`taxonomy_layout`): roots on top, the targets each root
    transfers to listed under it like a file tree and labelled with the transfer's affinity (and
    ``+ other`` for the further sources of a higher-order transfer); tasks outside the taxonomy
    grey at the bottom."""
    pos = taxonomy_layout(solution, tasks)
    roots = list(solution.get("roots", []))
    edges = {e["target"]: e for e in solution.get("edges", [])}
    cols = max((x for x, _ in pos.values()), default=0.0) + 1
    rows = max((y for _, y in pos.values()), default=0.0) + 1
    fig = _figure(max(4.0, 2.1 * cols), max(2.2, 0.5 * rows + 0.9))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xlim(-0.6, cols + 0.1)
    ax.set_ylim(rows - 0.4, -0.6)
    ax.axis("off")
    supervised = set(solution.get("supervised", []))
    boxes: dict[str, Any] = {}
    for t, (x, y) in pos.items():
        ha = "center"
        if t in roots:
            color, text, dx = ("#2a7ab9" if t in supervised else "#8fbcdf"), t, 0.0
        elif t in edges:
            aff = edges[t].get("affinity")
            color, dx, ha = "#f2c14e", -0.3, "left"  # from just right of the trunk
            others = [src for src in edges[t]["sources"] if pos.get(src, (None,))[0] != x]
            text = t + (f"  {aff:.3f}" if isinstance(aff, int | float) else "") + (
                f"\n+ {' + '.join(others)}" if others else "")
        else:
            color, text, dx = "#e6e6e6", t, 0.0
        boxes[t] = ax.text(x + dx, y, text, ha=ha, va="center", fontsize=7,
                           bbox={"boxstyle": "round,pad=0.3", "fc": color, "ec": "#333333"})
    trunk: dict[str, float] = {}  # lowest child row under each root
    for t, e in edges.items():
        if t in pos and t not in roots:
            head = next((s for s in e["sources"] if s in roots and pos[s][0] == pos[t][0]), None)
            if head is not None:
                trunk[head] = max(trunk.get(head, 0.0), pos[t][1])
    for r, last in trunk.items():
        x = pos[r][0] - 0.42
        ax.plot([x, x], [0.28, last], color="#555555", lw=0.9)
    for t, e in edges.items():
        if t not in pos or t in roots:
            continue
        tx, ty = pos[t]
        if any(src in trunk and pos[src][0] == tx for src in e["sources"]):  # from the root's trunk
            ax.annotate("", xy=(tx, ty), xytext=(tx - 0.42, ty),
                        arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 0.9, "patchB": boxes[t],
                                    "shrinkA": 0, "shrinkB": 2})
    value = solution.get("objective")
    status = solution.get("status", "")
    vtxt = f"{value:.3f}" if isinstance(value, int | float) else "n/a"
    ax.set_title(f"budget {solution.get('budget', 0):g}: {len(roots)} roots, objective {vtxt} ({status})",
                 fontsize=9)
    return _save(fig, out_dir, name)


def gain_quality_figure(targets: Sequence[str], gain: Sequence[float], quality: Sequence[float | None],
                        labels: Sequence[str], *, out_dir: str, name: str) -> str:
    """Per target: gain (win rate vs pixels) and quality (win rate vs self) of what the taxonomy chose."""
    fig = _figure(max(5.0, 0.8 * len(targets) + 1.5), 3.8)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(targets))
    q = [np.nan if v is None else v for v in quality]
    ax.bar(x - 0.2, gain, width=0.4, label="gain (win rate vs pixels)", color="#2a7ab9")
    ax.bar(x + 0.2, q, width=0.4, label="quality (win rate vs self)", color="#f28e2b")
    ax.axhline(0.5, color="#999999", lw=0.8, ls="--")
    ax.set_xticks(x, [f"{t}\n← {lab}" for t, lab in zip(targets, labels, strict=True)], rotation=60, ha="right",
                  fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("win rate")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("gain and quality per target (taxonomy at the default budget)", fontsize=10)
    return _save(fig, out_dir, name)


def sweep_figure(budgets: Sequence[float], objectives: Sequence[float | None], n_targets: int, *, out_dir: str,
                 name: str) -> str:
    fig = _figure(5.0, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    ys = [np.nan if v is None else v for v in objectives]
    ax.plot(list(budgets), ys, marker="o", color="#2a7ab9")
    ax.axhline(n_targets, color="#999999", lw=0.8, ls="--", label="every target at its maximum (1 each)")
    ax.set_xlabel("supervision budget (number of roots)")
    ax.set_ylabel("objective (sum of sqrt affinity)")
    ax.set_title("budget sweep", fontsize=10)
    ax.legend(fontsize=7)
    return _save(fig, out_dir, name)


def predictions_figure(task: Any, preview: Mapping[str, np.ndarray], *, out_dir: str, name: str) -> str:
    """Rows: test images; columns: input, ground truth, prediction of the task-specific network."""
    n = int(preview["prediction"].shape[0])
    fig = _figure(6.0, 1.9 * n + 0.4)
    for i in range(n):
        ax = fig.add_subplot(n, 3, 3 * i + 1)
        ax.imshow(image_rgb(preview["input0"][i]))
        ax.set_axis_off()
        if i == 0:
            ax.set_title(f"input ({task.inputs[0]})", fontsize=8)
        t, p = preview["target"][i], preview["prediction"][i]
        if task.output.dense:
            t_img, p_img = dense_pair(task, t, p)
            for col, (img, title) in enumerate(((t_img, "ground truth"), (p_img, "prediction")), start=2):
                ax = fig.add_subplot(n, 3, 3 * i + col)
                ax.imshow(img, interpolation="nearest")
                ax.set_axis_off()
                if i == 0:
                    ax.set_title(title, fontsize=8)
        else:
            tv, pv = global_pair(task, t, p)
            ax = fig.add_subplot(n, 3, (3 * i + 2, 3 * i + 3))
            k = np.arange(max(tv.size, pv.size))
            ax.bar(k - 0.2, np.resize(tv, k.size), width=0.4, label="ground truth", color="#2a7ab9")
            ax.bar(k + 0.2, np.resize(pv, k.size), width=0.4, label="prediction", color="#f28e2b")
            ax.tick_params(labelsize=6)
            if i == 0:
                ax.legend(fontsize=6)
    fig.suptitle(f"{task.name}: task-specific network on test images", fontsize=9)
    return _save(fig, out_dir, name)


def proxy_figure(rho: Mapping[str, float], *, out_dir: str, name: str = "proxy_vs_trained.png") -> str:
    """Bar chart of the per-target Spearman ρ (LogME proxy vs trained affinity)."""
    names = list(rho)
    fig = _figure(max(4.0, 0.45 * len(names) + 1.5), 3.2)
    ax = fig.add_subplot(1, 1, 1)
    vals = [rho[n] for n in names]
    ax.bar(range(len(names)), vals, color=["#3b7dd8" if v >= 0 else "#d8613b" for v in vals])
    ax.axhline(float(np.mean(vals)) if vals else 0.0, color="#444", lw=1, ls="--", label="mean")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(-1, 1)
    ax.set_ylabel("Spearman ρ")
    ax.set_title("LogME (no training) vs trained AHP affinity, per target", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, out_dir, name)


#: Leaf colours of the task-similarity tree, one per family of the paper's tree.
FAMILY_COLOURS = {"3d": "#3b7dd8", "2d": "#59a14f", "geometric": "#e15759", "semantic": "#b07aa1"}


def dendrogram_figure(tree: Mapping[str, Any], *, title: str, out_dir: str,
                      name: str = "task_similarity_tree.png") -> str:
    """The task-similarity tree (``tree``: ``tasks``, scipy ``linkage``, ``families``) as a dendrogram,
    each task's label coloured by its family."""
    from scipy.cluster.hierarchy import dendrogram

    tasks = list(tree["tasks"])
    family = dict(zip(tasks, tree.get("families") or [""] * len(tasks), strict=True))
    fig = _figure(6.5, 1.2 + 0.28 * len(tasks))
    ax = fig.add_subplot(1, 1, 1)
    dendrogram(np.asarray(tree["linkage"], dtype=np.float64), labels=tasks, orientation="right", ax=ax,
               color_threshold=0, above_threshold_color="#555555", leaf_font_size=8)
    for label in ax.get_yticklabels():
        label.set_color(FAMILY_COLOURS.get(family.get(label.get_text(), ""), "#222222"))
    ax.set_xlabel("distance: 1 − Pearson r of transfer-out profiles (average linkage)")
    ax.set_title(title, fontsize=10)
    present = [f for f in FAMILY_COLOURS if f in family.values()]
    for f in present:
        ax.plot([], [], color=FAMILY_COLOURS[f], lw=4, label=f)
    if present:
        ax.legend(fontsize=7, loc="upper right", title="family", title_fontsize=7)
    return _save(fig, out_dir, name)
