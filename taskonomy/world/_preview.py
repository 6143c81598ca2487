"""A contact sheet of one sample: every input image and every task's ground truth, labelled."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from taskonomy.files import atomic_write
from taskonomy.tasks import BUILTIN_TASKS, FINE_OBJECT_CLASSES, IMAGE_KEYS, ROOM_TYPES, SEMANTIC_CLASSES
from taskonomy.world._jigsaw import jigsaw_permutations
from taskonomy.world._labels import decode_room_layout, decode_vanishing_points

Sample = dict[str, NDArray[np.generic]]


def _hwc(a: NDArray[np.generic]) -> NDArray[np.floating]:
    return np.clip(np.asarray(a, dtype=np.float64).transpose(1, 2, 0), 0, 1)


def _project(points: NDArray[np.float64], k: NDArray[np.generic]) -> NDArray[np.float64]:
    z = points[:, 2]
    uv = (np.asarray(k, dtype=np.float64) @ points.T).T
    uv = uv[:, :2] / np.maximum(z, 1e-9)[:, None]
    uv[z < 0.05] = np.nan
    return uv


def _layout_lines(layout: NDArray[np.generic], k: NDArray[np.generic]) -> list[NDArray[np.float64]]:
    """Image polylines of the 12 edges of the room box given by a room_layout vector."""
    centre, ext, frame = decode_room_layout(np.asarray(layout, dtype=np.float64))
    lines = []
    signs = [(a, b, c) for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)]
    for i, s1 in enumerate(signs):
        for s2 in signs[i + 1:]:
            if sum(x != y for x, y in zip(s1, s2, strict=True)) != 1:
                continue
            t = np.linspace(0, 1, 200)[:, None]
            p1 = centre + frame @ (np.array(s1) * ext)
            p2 = centre + frame @ (np.array(s2) * ext)
            lines.append(_project(p1 + t * (p2 - p1), k))
    return lines


def preview_sheet(sample: Sample, path: str | Path, *, title: str = "", tasks: list[str] | None = None,
                  show_inputs: bool = True) -> Path:
    """Write a PNG with every input image and every built-in task's ground truth of ``sample``.

    ``tasks`` (names of built-in tasks) restricts the sheet to those tasks and their inputs;
    ``show_inputs=False`` leaves the input panels out (one picture per task, e.g. a prediction).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = sample["rgb"].shape[-1]
    k = np.asarray(sample.get("meta.K", np.array([[size / 1.155, 0, size / 2], [0, size / 1.155, size / 2],
                                                  [0, 0, 1]])), dtype=np.float64)
    chosen = [t for t in BUILTIN_TASKS if tasks is None or t.name in tasks]
    inputs = IMAGE_KEYS if tasks is None else tuple(dict.fromkeys(k for t in chosen for k in t.inputs))
    inputs = tuple(k for k in inputs if k in sample) if show_inputs else ()
    panels: list[tuple[str, str]] = [("input", key) for key in inputs] if show_inputs else []
    panels += [("task", t.name) for t in chosen]
    cols = min(6, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.4, rows * 2.6), squeeze=False)
    seg_cmap = plt.get_cmap("tab20")
    rng = np.random.default_rng(0)
    seg_colours = rng.uniform(0.1, 1.0, size=(4096 * 64, 3))
    specs = {t.name: t for t in BUILTIN_TASKS}
    for ax, (kind, name) in zip(axes.ravel(), panels, strict=False):
        ax.set_xticks([])
        ax.set_yticks([])
        if kind == "input":
            ax.imshow(_hwc(sample[name]))
            ax.set_title(f"input: {name}", fontsize=8)
            continue
        spec = specs[name]
        label = f"{name}"
        tgt = sample.get(spec.target) if spec.target else None
        if name == "random":
            ax.text(0.5, 0.5, "no target\n(frozen random encoder)", ha="center", va="center", fontsize=8)
        elif tgt is None:
            ax.text(0.5, 0.5, "missing", ha="center", va="center")
        elif name in ("autoencoding", "denoising", "colorization", "inpainting"):
            ax.imshow(_hwc(tgt))
            label += " (rgb)"
        elif name == "normal":
            ax.imshow(_hwc((np.asarray(tgt, dtype=np.float64) + 1) / 2))
        elif name in ("depth_zbuffer", "depth_euclidean"):
            im = ax.imshow(tgt[0], cmap="viridis")
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
            label += " (m)"
        elif name == "principal_curvature":
            c = np.asarray(tgt, dtype=np.float64)  # encoded: zero curvature 0, saturating at +-1
            rgb = np.stack([np.clip(c[0], 0, 1), np.clip(c[0], 0, 1) * np.clip(c[1], 0, 1), np.clip(-c[1], 0, 1)], -1)
            ax.imshow(rgb)
            label += " (convex k1 red, k2 too yellow; concave k2 blue)"
        elif spec.output.kind == "pixels":
            ax.imshow(tgt[0], cmap="gray", vmin=0, vmax=1)
        elif name == "segment_semantic":
            ids = np.asarray(tgt, dtype=np.int64)
            ax.imshow(np.ma.masked_less(ids, 0), cmap=seg_cmap, vmin=0, vmax=19, interpolation="nearest")
            present = sorted(set(np.unique(ids).tolist()))
            ax.set_xlabel(", ".join(SEMANTIC_CLASSES[i] if i >= 0 else "uncertain (white)" for i in present),
                          fontsize=6)
        elif spec.output.kind == "embedding":
            ids = np.asarray(tgt, dtype=np.int64)
            ax.imshow(seg_colours[ids % len(seg_colours)], interpolation="nearest")
            label += f" ({len(np.unique(ids))} segm.)"
        elif name == "class_object":  # the 6 most probable of the fine classes
            probs = np.asarray(tgt, dtype=np.float64)
            top = np.argsort(-probs)[:6][::-1]
            ax.barh(range(len(top)), probs[top], color="tab:blue")
            ax.set_yticks(range(len(top)))
            ax.set_yticklabels([FINE_OBJECT_CLASSES[i] for i in top], fontsize=5)
            ax.set_xlim(0, 1)
        elif name == "class_scene":
            ax.barh(range(len(ROOM_TYPES)), tgt, color="tab:green")
            ax.set_yticks(range(len(ROOM_TYPES)))
            ax.set_yticklabels(ROOM_TYPES, fontsize=6)
            ax.set_xlim(0, 1)
        elif name == "room_layout":
            ax.imshow(_hwc(sample["rgb"]))
            for uv in _layout_lines(tgt, k):
                ax.plot(uv[:, 0] - 0.5, uv[:, 1] - 0.5, color="yellow", lw=1)
            ax.set_xlim(-0.5, size - 0.5)
            ax.set_ylim(size - 0.5, -0.5)
        elif name == "vanishing_point":
            ax.imshow(_hwc(sample["rgb"]))
            dirs = decode_vanishing_points(np.asarray(tgt, dtype=np.float64))
            for d, colour in zip(dirs, ("red", "lime", "cyan"), strict=True):
                for off in (-0.6, 0.0, 0.6):
                    base = np.array([off, off * 0.5, 2.5])
                    pts = base + np.linspace(-3, 3, 200)[:, None] * d
                    uv = _project(pts, k)
                    ax.plot(uv[:, 0] - 0.5, uv[:, 1] - 0.5, color=colour, lw=0.8)
            ax.set_xlim(-0.5, size - 0.5)
            ax.set_ylim(size - 0.5, -0.5)
            ax.set_xlabel("horizontal red, cyan; vertical green", fontsize=6)
        elif name == "jigsaw":
            perm = jigsaw_permutations()[int(tgt)]
            ax.imshow(_hwc(sample.get("jigsaw_image", sample["rgb"])))
            ax.set_xlabel(f"perm #{int(tgt)}: {''.join(map(str, perm))}", fontsize=7)
        elif name == "point_matching":
            pair = [sample.get("match_a", sample["rgb"]), sample.get("match_b", sample["rgb"])]
            both = np.concatenate([_hwc(pair[0]), _hwc(pair[1])], axis=1)
            ax.imshow(both)
            ax.set_xlabel("same point" if float(tgt[0]) > 0.5 else "different points", fontsize=8)
        else:  # poses
            v = np.asarray(tgt, dtype=np.float64).reshape(-1, 6)
            pairs = ("0-1", "0-2", "1-2") if len(v) == 3 else ("",) * len(v)
            text = "\n".join(f"{p} rot {np.degrees(np.linalg.norm(r[:3])):.1f} deg\n"
                             f"t ({r[3]:+.2f}, {r[4]:+.2f}, {r[5]:+.2f}) m" for p, r in zip(pairs, v, strict=True))
            ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=7 if len(v) < 3 else 6)
        ax.set_title(label, fontsize=8)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=out.suffix.lstrip(".").lower() or "png", dpi=90)
    plt.close(fig)
    atomic_write(out, buf.getvalue())
    return out
