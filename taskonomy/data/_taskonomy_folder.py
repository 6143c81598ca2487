"""Reader for the real Taskonomy dataset's folder layout.

Files live at ``<root>/<domain>/<building>/point_<p>_view_<v>_domain_<domain>.png`` (``.npy`` for
the class distributions). Decoding follows the encodings documented with the dataset
(github.com/StanfordVL/taskonomy, ``data/``):

* ``rgb``: 8-bit RGB → [0, 1];
* ``depth_zbuffer``, ``depth_euclidean``: 16-bit, metres = value / 512; 65535 = missing
  (decoded as 0, with ``meta.valid_<domain>`` = 0 there);
* ``normal``: 8-bit RGB, ``n = value / 255 * 2 - 1`` renormalised to unit length;
* ``principal_curvature``: first two channels, ``(value - 127) / 127`` (zero curvature = 127;
  the dataset's scale is not metric, so these are relative curvatures);
* edges, keypoints, reshading: grey levels / the dtype's maximum → [0, 1]; occlusion edges are
  stored as small magnitudes (Taskonomy's loader rescales [0, 0.00625] to its full range), so
  pixels at or above half that range are the boundary, which becomes the world's soft map
  (``exp(-d^2 / 2 sigma^2)`` of the distance to it, sigma = size/64) after resizing;
* ``segment_semantic``: the file's 0 ("uncertain / unlabelled") becomes
  :data:`~taskonomy.tasks.SEMANTIC_UNCERTAIN` (left out of the loss) and a stored ``v >= 1``
  becomes class ``v - 1`` (0 = background, then the 16 COCO things: 17 classes, where the built-in
  world has 9; a network trained for the world's ``segment_semantic`` has 9 outputs, so training
  it on this dataset stops with a clear error on the first class id >= 9 (a plugin task with 17
  classes reads the same files); unsupervised segmentations: segment ids (an RGB-coded file is
  read as ``r * 65536 + g * 256 + b``);
* ``class_object``, ``class_scene`` (``.npy`` distributions, ImageNet's 1000 and Places' 63
  classes): renormalised to sum to 1, the soft labels as the world's (whose class counts differ:
  a mismatch is refused with the expected and the stored shape).

Images are resized to ``size`` (box filter for images and continuous maps, nearest for depth,
ids and masks). The older per-building release's folder names (``depth``, ``mist``, ``normal``,
``curvature``, ``edge``, ``edge2d``, ``keypoint``, ``keypoint2d``, ``reshade``, ``segment2d``,
``segment25d``, ``segmentsemantic``) are accepted as aliases.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from taskonomy.errors import CorruptArtifactError, InvalidInputError, NotFoundError
from taskonomy.tasks import SEMANTIC_UNCERTAIN, registry
from taskonomy.world import edge_occlusion_sigma, soften_edges

log = logging.getLogger(__name__)

FILE_RE = re.compile(r"^point_(\d+)_view_(\d+)_domain_([A-Za-z0-9_]+)\.(png|npy)$")
DEPTH_UNITS_PER_M = 512.0
DEPTH_MISSING = 2**16 - 1
#: Top of the occlusion-edge magnitudes' range in Taskonomy's loader (as a share of the dtype's maximum).
EDGE_OCCLUSION_RANGE = 0.00625
OLD_NAMES: dict[str, str] = {
    "depth": "depth_zbuffer", "mist": "depth_euclidean", "curvature": "principal_curvature",
    "edge": "edge_occlusion", "edge2d": "edge_texture", "keypoint": "keypoints3d", "keypoint2d": "keypoints2d",
    "reshade": "reshading", "segment2d": "segment_unsup2d", "segment25d": "segment_unsup25d",
    "segmentsemantic": "segment_semantic", "places": "class_scene", "softmax1000": "class_object",
}
IMAGE_DOMAINS = ("rgb", "depth_zbuffer", "depth_euclidean", "normal", "principal_curvature", "edge_texture",
                 "edge_occlusion", "keypoints2d", "keypoints3d", "reshading", "segment_unsup2d", "segment_unsup25d",
                 "segment_semantic")
VECTOR_DOMAINS = ("class_object", "class_scene")
KNOWN_DOMAINS = IMAGE_DOMAINS + VECTOR_DOMAINS
_NEAREST = {"depth_zbuffer", "depth_euclidean", "segment_unsup2d", "segment_unsup25d", "segment_semantic"}

Item = tuple[str, int, int]  # building, point, view


def _resize(channels: NDArray[np.float32], size: int, *, nearest: bool) -> NDArray[np.float32]:
    """Resize ``(C, H, W)`` float32 channels to ``(C, size, size)`` with PIL."""
    from PIL import Image

    if channels.shape[1:] == (size, size):
        return channels
    method = Image.Resampling.NEAREST if nearest else Image.Resampling.BOX
    return np.stack([np.asarray(Image.fromarray(c, mode="F").resize((size, size), method)) for c in channels])


def _read_png(path: Path) -> NDArray[np.generic]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            opened.load()
            if opened.mode in ("I;16", "I;16B", "I;16L"):
                return np.asarray(opened, dtype=np.uint16)
            if opened.mode == "I":
                return np.asarray(opened).astype(np.int64)
            im = opened if opened.mode in ("L", "RGB") else opened.convert("RGB")
            return np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise CorruptArtifactError(f"cannot decode {path}: {exc}") from None


def _gray(a: NDArray[np.generic]) -> NDArray[np.generic]:
    return a[..., 0] if a.ndim == 3 else a


def decode_domain(domain: str, a: NDArray[np.generic]) -> dict[str, NDArray[np.generic]]:
    """Decode one full-resolution file's array into sample-contract keys (before resizing)."""
    if domain == "rgb":
        rgb = a if a.ndim == 3 else np.repeat(a[..., None], 3, -1)
        return {"rgb": (rgb[..., :3].astype(np.float32) / 255.0).transpose(2, 0, 1)}
    if domain in ("depth_zbuffer", "depth_euclidean"):
        raw = _gray(a).astype(np.int64)
        valid = raw != DEPTH_MISSING
        depth = np.where(valid, raw / DEPTH_UNITS_PER_M, 0.0)
        return {domain: depth[None].astype(np.float32), f"meta.valid_{domain}": valid[None].astype(np.float32)}
    if domain == "normal":
        n = a[..., :3].astype(np.float32) / 255.0 * 2.0 - 1.0
        n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-6)
        return {"normal": n.transpose(2, 0, 1).astype(np.float32)}
    if domain == "principal_curvature":
        c = a[..., :2].astype(np.float32) if a.ndim == 3 else np.stack([a, a], -1).astype(np.float32)
        return {"principal_curvature": ((c - 127.0) / 127.0).transpose(2, 0, 1)}
    if domain in ("edge_texture", "edge_occlusion", "keypoints2d", "keypoints3d", "reshading"):
        g = _gray(a)
        top = 65535.0 if g.dtype == np.uint16 else 255.0
        value = g.astype(np.float32) / top
        if domain == "edge_occlusion":
            value = np.clip(value / EDGE_OCCLUSION_RANGE, 0.0, 1.0)
        return {domain: value[None]}
    if domain == "segment_semantic":
        v = _gray(a).astype(np.int64)
        return {domain: np.where(v == 0, SEMANTIC_UNCERTAIN, v - 1)}
    if domain in ("segment_unsup2d", "segment_unsup25d"):
        if a.ndim == 3:
            a64 = a.astype(np.int64)
            return {domain: a64[..., 0] * 65536 + a64[..., 1] * 256 + a64[..., 2]}
        return {domain: a.astype(np.int64)}
    raise NotFoundError(f"unknown Taskonomy domain {domain!r}; known: {', '.join(KNOWN_DOMAINS)}")


class TaskonomyFolderDataset:
    """Samples of a Taskonomy-layout folder, in the world's sample contract.

    ``domains`` are the domains present for every item (an item is a (building, point, view)
    with an rgb file); ``tasks()`` lists the registry's tasks whose inputs and target are all there.
    """

    def __init__(self, root: str | Path, *, size: int = 64, buildings: Iterable[str] | None = None) -> None:
        self.root = Path(root)
        if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 1024:
            raise InvalidInputError(f"size must be an integer in 8..1024, got {size!r}")
        if not self.root.is_dir():
            raise NotFoundError(f"Taskonomy folder {self.root} does not exist")
        self.size = size
        only = set(buildings) if buildings is not None else None
        files: dict[str, dict[Item, Path]] = {}
        for dom_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            domain = OLD_NAMES.get(dom_dir.name, dom_dir.name)
            if domain not in KNOWN_DOMAINS:
                continue
            for b_dir in sorted(p for p in dom_dir.iterdir() if p.is_dir()):
                if only is not None and b_dir.name not in only:
                    continue
                for f in b_dir.iterdir():
                    m = FILE_RE.match(f.name)
                    if m:
                        files.setdefault(domain, {})[(b_dir.name, int(m.group(1)), int(m.group(2)))] = f
        if "rgb" not in files:
            raise NotFoundError(f"no rgb/<building>/point_<p>_view_<v>_domain_rgb.png files under {self.root}")
        self.items: list[Item] = sorted(files["rgb"])
        self._files = files
        complete = []
        for d, found in files.items():
            if all(it in found for it in self.items):
                complete.append(d)
            else:
                log.warning("domain %s lacks files for some rgb items; skipped", d)
        self.domains: tuple[str, ...] = tuple(d for d in KNOWN_DOMAINS if d in complete)

    def __len__(self) -> int:
        return len(self.items)

    def tasks(self) -> list[str]:
        """Names of registered tasks whose input and target keys this folder provides."""
        keys = set(self.domains)
        return [t.name for t in registry() if t.target and set(t.inputs) <= keys and t.target in keys]

    def sample(self, i: int) -> dict[str, NDArray[np.generic]]:
        """Decoded, resized sample ``i`` (every complete domain)."""
        if not 0 <= i < len(self.items):
            raise InvalidInputError(f"sample index {i} out of range 0..{len(self.items) - 1}")
        item = self.items[i]
        out: dict[str, NDArray[np.generic]] = {}
        for d in self.domains:
            path = self._files[d][item]
            if d in VECTOR_DOMAINS:
                try:
                    vec = np.load(path, allow_pickle=False).astype(np.float32).ravel()
                except (ValueError, OSError, EOFError) as exc:
                    raise CorruptArtifactError(f"cannot decode {path}: {exc}") from None
                out[d] = vec / max(float(vec.sum()), 1e-12)
                continue
            for key, a in decode_domain(d, _read_png(path)).items():
                nearest = d in _NEAREST or key.startswith("meta.")
                if a.ndim == 2:
                    out[key] = _resize(a[None].astype(np.float32), self.size, nearest=True)[0].astype(a.dtype)
                else:
                    out[key] = _resize(a.astype(np.float32), self.size, nearest=nearest)
                if key == "edge_occlusion":
                    out[key] = soften_edges(out[key][0] >= 0.5, edge_occlusion_sigma(self.size))[None]
                if key == "normal":
                    n = out[key]
                    out[key] = (n / np.maximum(np.linalg.norm(n, axis=0, keepdims=True), 1e-6)).astype(np.float32)
        return out

    def arrays(self, keys: Iterable[str] | None = None) -> dict[str, NDArray[np.generic]]:
        """All samples stacked along a leading N axis (every key, or only ``keys``)."""
        if keys is not None:
            missing = [k for k in keys if k not in self.domains and not k.startswith("meta.")]
            if missing:
                raise NotFoundError(
                    f"no domain(s) {', '.join(missing)} under {self.root}; found: {', '.join(self.domains)}")
        samples = [self.sample(i) for i in range(len(self))]
        wanted = list(samples[0]) if keys is None else list(keys)
        missing = [k for k in wanted if k not in samples[0]]
        if missing:
            raise NotFoundError(f"no key(s) {', '.join(missing)} in the samples under {self.root}")
        return {k: np.stack([s[k] for s in samples]) for k in wanted}
