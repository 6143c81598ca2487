from __future__ import annotations

import pytest
import torch

from taskonomy.errors import InvalidInputError, NotFoundError
from taskonomy.nets import (
    STRIDES,
    ModelConfig,
    build_decoder,
    build_encoder,
    build_task_network,
    build_transfer,
    decoder_family,
    seeded,
)
from taskonomy.tasks import BUILTIN_TASKS, TaskSpec, get_task

TRAINABLE = [t for t in BUILTIN_TASKS if t.trainable]
SMALL = ModelConfig(width=8, rep_channels=4, blocks=1, hidden=16, transfer_width=8)


def expected_shape(task: TaskSpec, b: int, size: int) -> tuple[int, ...]:
    if task.output.dense:
        return (b, task.output.channels, size, size)
    return (b, task.output.channels)


def test_model_config_roundtrip_and_validation() -> None:
    cfg = ModelConfig(width=12, rep_channels=6, blocks=3, norm="batch")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert ModelConfig.from_dict({}) == ModelConfig()
    with pytest.raises(InvalidInputError, match="model config: widht: unknown key; allowed: blocks, encoder"):
        ModelConfig.from_dict({"widht": 3})
    with pytest.raises(InvalidInputError, match="width"):
        ModelConfig(width=0)
    with pytest.raises(InvalidInputError, match="norm"):
        ModelConfig(norm="layer")


def test_26_tasks_25_trainable() -> None:
    assert len(BUILTIN_TASKS) == 26
    assert {t.name for t in BUILTIN_TASKS} - {t.name for t in TRAINABLE} == {"random"}


@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("size", [16, 32])
def test_encoder_representation_shape(size: int, stride: int) -> None:
    cfg = ModelConfig(stride=stride)
    enc = build_encoder(cfg)
    rep = enc(torch.rand(2, 3, size, size))
    assert rep.shape == (2, cfg.rep_channels, size // stride, size // stride)
    # Fully convolutional: no pooling over space, so different positions give different features.
    assert torch.isfinite(rep).all()


@pytest.mark.parametrize("stride", STRIDES)
def test_every_stride_decodes_to_full_resolution(stride: int) -> None:
    cfg = ModelConfig(width=8, rep_channels=4, blocks=1, hidden=16, transfer_width=8, stride=stride)
    for name in ("normal", "segment_semantic", "room_layout", "egomotion"):
        task = get_task(name)
        net = build_task_network(task, cfg, size=32)
        out = net([torch.rand(2, 3, 32, 32) for _ in task.inputs])
        assert out.shape == expected_shape(task, 2, 32)
    with pytest.raises(InvalidInputError, match="multiple of the encoder stride 16"):
        build_task_network(get_task("normal"), ModelConfig(stride=16), size=24)
    with pytest.raises(InvalidInputError, match="stride"):
        ModelConfig(stride=3)


def test_stride_8_keeps_the_layer_names_of_earlier_networks() -> None:
    """Stride 8 builds the same modules as before strides were configurable (saved weights load)."""
    names = set(build_task_network(get_task("normal"), ModelConfig(), size=32).state_dict())
    assert not any(n.startswith("encoder.down4") for n in names)
    assert {"decoder.body.0.0.weight", "decoder.body.2.0.weight", "decoder.body.4.0.weight"} <= names
    assert not any(n.startswith("decoder.body.6") for n in names)


def test_encoder_has_no_global_pooling() -> None:
    enc = build_encoder(SMALL)
    assert not any(isinstance(m, torch.nn.AdaptiveAvgPool2d | torch.nn.AdaptiveMaxPool2d) for m in enc.modules())


@pytest.mark.parametrize("task", TRAINABLE, ids=lambda t: t.name)
def test_task_network_shapes_every_task(task: TaskSpec) -> None:
    size = 16
    with seeded(0):
        net = build_task_network(task, SMALL, size=size)
    views = [torch.rand(3, 3, size, size) for _ in task.inputs]
    out = net(views)
    assert out.shape == expected_shape(task, 3, size)
    assert torch.isfinite(out).all()
    assert set(k.split(".")[0] for k in net.state_dict()) == {"encoder", "decoder", "target"}


@pytest.mark.parametrize("task", TRAINABLE, ids=lambda t: t.name)
def test_decoder_takes_list_of_views(task: TaskSpec) -> None:
    dec = build_decoder(task, SMALL, size=16).eval()
    reps = [torch.randn(2, SMALL.rep_channels, 2, 2) for _ in task.inputs]
    assert dec(reps).shape == expected_shape(task, 2, 16)
    if not task.multiview:
        assert torch.equal(dec(reps[0]), dec(reps))


def test_siamese_encoder_is_shared_and_view_order_matters() -> None:
    task = get_task("egomotion")
    with seeded(1):
        net = build_task_network(task, SMALL, size=16).eval()  # BatchNorm: per-sample outputs in eval mode
    a, b, c = (torch.rand(2, 3, 16, 16) for _ in range(3))
    reps = net.encode([a, b, c])
    assert torch.allclose(reps[1], net.encoder(b), atol=1e-6)
    assert not torch.allclose(net([a, b, c]), net([b, a, c]))


@pytest.mark.parametrize("name", ["normal", "class_scene", "egomotion", "segment_unsup2d", "point_matching"])
@pytest.mark.parametrize("n_sources", [1, 3])
def test_transfer_shapes_multi_source(name: str, n_sources: int) -> None:
    task = get_task(name)
    net = build_transfer(task, n_sources, SMALL, size=16)
    feats = [torch.randn(2, n_sources * SMALL.rep_channels, 2, 2) for _ in task.inputs]
    out = net(feats)
    assert out.shape == expected_shape(task, 2, 16)
    assert net.transfer.conv1[0].in_channels == n_sources * SMALL.rep_channels
    # Exactly two conv layers in the transfer function.
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.transfer.modules()) == 2


def test_seeded_is_reproducible_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    with seeded(5):
        a = build_encoder(SMALL).state_dict()
    after = torch.rand(1)
    assert torch.equal(before, after)
    with seeded(5):
        b = build_encoder(SMALL).state_dict()
    with seeded(6):
        c = build_encoder(SMALL).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="no target"):
        build_task_network(get_task("random"), SMALL, size=16)
    with pytest.raises(InvalidInputError, match="multiple of the encoder stride 8"):
        build_task_network(get_task("normal"), SMALL, size=20)
    with pytest.raises(InvalidInputError, match="at least one source"):
        build_transfer(get_task("normal"), 0, SMALL, size=16)
    with pytest.raises(NotFoundError, match="resnet"):
        build_encoder(ModelConfig(encoder="vit"))
    with pytest.raises(InvalidInputError, match="no decoder"):
        decoder_family("none")
    net = build_task_network(get_task("fixated_pose"), SMALL, size=16)
    with pytest.raises(InvalidInputError, match="2 view"):
        net([torch.rand(1, 3, 16, 16)])


@pytest.mark.parametrize("norm", ["group", "batch", "none"])
def test_every_norm_builds_and_runs(norm: str) -> None:
    cfg = ModelConfig(width=8, rep_channels=4, blocks=1, hidden=16, norm=norm)
    net = build_task_network(get_task("depth_zbuffer"), cfg, size=16)
    assert net([torch.rand(2, 3, 16, 16)]).shape == (2, 1, 16, 16)
