"""The real Taskonomy layout, on tiny fixture files written here in that layout and encoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from taskonomy.data import TaskDataset, TaskonomyFolderDataset
from taskonomy.errors import CorruptArtifactError, NotFoundError
from taskonomy.tasks import SEMANTIC_UNCERTAIN, get_task

N = 16  # fixture image side


def _write(root: Path, domain: str, building: str, p: int, v: int, img: Image.Image | np.ndarray) -> Path:
    folder = root / domain / building
    folder.mkdir(parents=True, exist_ok=True)
    ext = "npy" if isinstance(img, np.ndarray) else "png"
    path = folder / f"point_{p}_view_{v}_domain_{domain}.{ext}"
    if isinstance(img, np.ndarray):
        np.save(path, img)
    else:
        img.save(path)
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    for b, p, v in [("allensville", 0, 0), ("allensville", 0, 1), ("beechwood", 3, 2)]:
        rgb = np.zeros((N, N, 3), np.uint8)
        rgb[..., 0] = 255
        _write(tmp_path, "rgb", b, p, v, Image.fromarray(rgb))
        depth = np.full((N, N), 1024, np.uint16)  # 2 m
        depth[0, 0] = 65535  # missing
        _write(tmp_path, "depth_zbuffer", b, p, v, Image.fromarray(depth))
        normal = np.zeros((N, N, 3), np.uint8)
        normal[..., :] = (127, 127, 255)  # facing +z after 127-centred decoding
        _write(tmp_path, "normal", b, p, v, Image.fromarray(normal))
        curv = np.full((N, N, 3), 127, np.uint8)
        curv[..., 0] = 254
        _write(tmp_path, "principal_curvature", b, p, v, Image.fromarray(curv))
        edges = np.zeros((N, N), np.uint16)
        edges[:, 4] = 65535  # a 16-bit edge map
        _write(tmp_path, "edge_occlusion", b, p, v, Image.fromarray(edges))
        sem = np.full((N, N), 3, np.uint8)
        sem[0, :] = 0  # unlabelled
        _write(tmp_path, "segment_semantic", b, p, v, Image.fromarray(sem))
        _write(tmp_path, "class_object", b, p, v, np.array([1.0, 3.0], np.float32))
        _write(tmp_path, "class_scene", b, p, v, np.array([2.0, 6.0, 0.0], np.float32))
    # a partial domain (only one item) is skipped
    _write(tmp_path, "reshading", "allensville", 0, 0, Image.fromarray(np.zeros((N, N), np.uint8)))
    return tmp_path


def test_decodes_the_taskonomy_encodings(folder: Path) -> None:
    ds = TaskonomyFolderDataset(folder, size=N)
    assert len(ds) == 3
    assert ds.items[0] == ("allensville", 0, 0) and ds.items[2] == ("beechwood", 3, 2)
    assert "reshading" not in ds.domains
    s = ds.sample(0)
    assert np.allclose(s["rgb"][0], 1.0) and np.allclose(s["rgb"][1:], 0.0)
    assert s["depth_zbuffer"][0, 0, 0] == 0.0 and s["meta.valid_depth_zbuffer"][0, 0, 0] == 0.0
    assert np.allclose(s["depth_zbuffer"][0, 1:, 1:], 2.0)
    assert np.allclose(np.linalg.norm(s["normal"], axis=0), 1.0, atol=1e-5)
    assert np.allclose(s["normal"][2], 1.0, atol=1e-2)
    assert np.allclose(s["principal_curvature"][0], 1.0) and np.allclose(s["principal_curvature"][1], 0.0)
    # the edge column becomes the world's soft map: 1 on it, exp(-d^2 / 2) at distance d (sigma 1 px at 16 px)
    assert np.allclose(s["edge_occlusion"][0, :, 4], 1.0)
    assert np.allclose(s["edge_occlusion"][0, :, [3, 5]], np.exp(-0.5)) and s["edge_occlusion"][0, :, 0].max() < 1e-3
    # stored 0 (unlabelled) is uncertain, stored v >= 1 is class v - 1 (0 = background)
    assert s["segment_semantic"].dtype == np.int64 and (s["segment_semantic"][1:] == 2).all()
    assert (s["segment_semantic"][0] == SEMANTIC_UNCERTAIN).all()
    assert np.allclose(s["class_object"], [0.25, 0.75])
    assert np.allclose(s["class_scene"], [0.25, 0.75, 0.0])  # the Places distribution, renormalised


def test_resizes_and_serves_tasks(folder: Path) -> None:
    ds = TaskonomyFolderDataset(folder, size=8)
    assert set(ds.tasks()) >= {"autoencoding", "depth_zbuffer", "normal", "principal_curvature", "edge_occlusion"}
    arrays = ds.arrays()
    assert arrays["rgb"].shape == (3, 3, 8, 8) and arrays["depth_zbuffer"].shape == (3, 1, 8, 8)
    assert np.allclose(arrays["depth_zbuffer"][:, 0, 1:, 1:], 2.0)
    xs, y = TaskDataset(arrays, get_task("normal"))[2]
    assert tuple(y.shape) == (3, 8, 8)


def test_bad_folders(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        TaskonomyFolderDataset(tmp_path / "nowhere")
    (folder / "rgb" / "allensville" / "point_0_view_0_domain_rgb.png").write_bytes(b"not a png")
    with pytest.raises(CorruptArtifactError):
        TaskonomyFolderDataset(folder, size=N).sample(0)
    with pytest.raises(NotFoundError):
        TaskonomyFolderDataset(folder).arrays(keys=["keypoints3d"])


def test_the_real_datasets_17_semantic_classes_are_refused_by_the_worlds_9_class_task(folder: Path) -> None:
    """Stored 17 (the 16th COCO thing) is class 16: a network for the world's 9 classes cannot take it,
    and training says so instead of indexing out of range."""
    import torch

    from taskonomy.errors import InvalidInputError
    from taskonomy.training.arrays import target_tensor

    arrays = TaskonomyFolderDataset(folder, size=N).arrays()
    task = get_task("segment_semantic")
    ok = target_tensor(task, arrays, n=3, size=N, device=torch.device("cpu"))  # stored 3 -> 2, 0 -> uncertain
    assert int(ok.min()) == SEMANTIC_UNCERTAIN and int(ok.max()) == 2
    arrays["segment_semantic"][0, 1, 1] = 16
    with pytest.raises(InvalidInputError, match=r"class ids in \[0, 9\) or -1 \(uncertain\), got values in \[-1, 16\]"):
        target_tensor(task, arrays, n=3, size=N, device=torch.device("cpu"))
