"""Stacked readouts: K transfers of one architecture as one grouped module equal separate training."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from taskonomy.errors import InvalidInputError
from taskonomy.nets import ModelConfig, TransferNetwork, build_transfer, seeded
from taskonomy.tasks import get_task
from taskonomy.training import TrainConfig, train_transfer
from taskonomy.training.artifacts import TrainedNetwork
from taskonomy.training.device import place
from taskonomy.training.fused import FusedTransferTrainer, Readout
from taskonomy.training.stacked import StackedTransfer, stack_signature, write_back
from taskonomy.training.synthetic import synthetic_split

MODEL = ModelConfig(width=4, rep_channels=4, blocks=0, transfer_width=8, hidden=16)
SIZE = 16
CPU = torch.device("cpu")
# Four 1-channel dense maps (one stackable architecture), a metric embedding (stochastic loss:
# never stacked), a global target, and a multi-view target (never stacked).
SAME_ARCH = ("depth_zbuffer", "depth_euclidean", "reshading", "edge_texture")
TARGETS = (*SAME_ARCH, "segment_unsup2d", "class_object", "nonfixated_pose")


def _members(target: str, model: ModelConfig, k: int = 3) -> list[TransferNetwork]:
    nets = []
    for s in range(k):
        with seeded(s):
            net = build_transfer(get_task(target), 1, model, size=SIZE)
            net.transfer.mean.normal_()
            net.transfer.std.uniform_(0.5, 2.0)
            for t in [*net.parameters(), *(b for n, b in net.named_buffers() if n.endswith("running_mean"))]:
                t.data.add_(0.1 * torch.randn_like(t))
        nets.append(place(net, CPU))
    return nets


def _split(out: torch.Tensor, k: int) -> list[torch.Tensor]:
    return list(out.chunk(k, dim=1))


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
@pytest.mark.parametrize("target", ["depth_zbuffer", "class_object"])
def test_stack_and_write_back_are_exact(norm: str, target: str) -> None:
    model = MODEL.replace(norm=norm)
    nets = _members(target, model)
    stacked = StackedTransfer(nets)
    gen = torch.Generator().manual_seed(0)
    xs = [torch.randn(5, model.rep_channels, SIZE // 8, SIZE // 8, generator=gen).contiguous(
        memory_format=torch.channels_last) for _ in nets]
    for training in (True, False):
        stacked.train(training)
        for n in nets:
            n.train(training)
        out = stacked(torch.cat(xs, dim=1))
        assert out.shape[:2] == (5, 3 * get_task(target).output.channels)
        for part, net, x in zip(_split(out, 3), nets, xs, strict=True):
            torch.testing.assert_close(part, net([x]), rtol=1e-5, atol=1e-5)
    # The train-mode forward updated the batch statistics of both: they still agree after write_back.
    with torch.no_grad():
        for p in stacked.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    write_back(stacked, nets)
    again = StackedTransfer(nets).state_dict()
    mine = stacked.state_dict()
    assert again.keys() == mine.keys()
    for k in mine:
        assert torch.equal(again[k], mine[k]), k
    stacked.eval()
    out = stacked(torch.cat(xs, dim=1))
    for part, net, x in zip(_split(out, 3), nets, xs, strict=True):
        torch.testing.assert_close(part, net.eval()([x]), rtol=1e-5, atol=1e-5)


def test_signatures() -> None:
    def sig(target: str, n_sources: int = 1, model: ModelConfig = MODEL) -> tuple[object, ...] | None:
        with seeded(0):
            return stack_signature(build_transfer(get_task(target), n_sources, model, size=SIZE))

    assert sig("depth_zbuffer") is not None
    assert all(sig(t) == sig("depth_zbuffer") for t in SAME_ARCH)
    assert sig("normal") != sig("depth_zbuffer")  # 3 output channels
    assert sig("depth_zbuffer", 2) != sig("depth_zbuffer")
    assert sig("depth_zbuffer", model=MODEL.replace(norm="group")) != sig("depth_zbuffer")
    assert sig("class_object") is not None and sig("class_object") != sig("class_scene")
    assert sig("nonfixated_pose") is None  # two views
    with pytest.raises(InvalidInputError, match="one architecture"):
        StackedTransfer([*_members("depth_zbuffer", MODEL, 1), *_members("normal", MODEL, 1)])


def _features(n: int, seed: int, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal((n, MODEL.rep_channels, SIZE // 8, SIZE // 8)).astype(np.float32) for k in keys}


@pytest.fixture(scope="module")
def setup() -> tuple[list[Readout], TrainConfig]:
    tasks = [get_task(t) for t in TARGETS]
    keys = tuple(dict.fromkeys(k for t in tasks for k in t.inputs))
    src_a, src_b = _features(32, 1, keys), _features(32, 3, keys)
    data = synthetic_split(tasks, 32, SIZE, 5)
    readouts = [Readout(t, [src], data) for src in (src_a, src_b) for t in tasks]
    cfg = TrainConfig(epochs=3, batch_size=16, lr=3e-3, weight_decay=0.01, device="cpu", seed=7, embed_pixels=32)
    return readouts, cfg


def _close(a: list[TrainedNetwork], b: list[TrainedNetwork]) -> None:
    for x, y in zip(a, b, strict=True):
        assert x.metrics["steps"] == y.metrics["steps"]
        assert x.metrics["train_loss"] == pytest.approx(y.metrics["train_loss"], rel=1e-4)
        assert x.state.keys() == y.state.keys()
        for k in x.state:
            torch.testing.assert_close(x.state[k], y.state[k], rtol=1e-4, atol=1e-5)


def _run(readouts: list[Readout], cfg: TrainConfig, *, stack: bool, workers: int = 1,
         max_stack: int | None = None) -> list[TrainedNetwork]:
    tr = FusedTransferTrainer(readouts, model=MODEL, train=cfg, workers=workers, stack=stack, max_stack=max_stack)
    try:
        return tr.run()
    finally:
        tr.close()


def test_stacks_are_formed(setup: tuple[list[Readout], TrainConfig]) -> None:
    readouts, cfg = setup
    # Stacking by default only where it pays (CUDA, bf16): this fp32 CPU trainer runs readouts alone.
    assert not FusedTransferTrainer(readouts, model=MODEL, train=cfg).stack
    assert FusedTransferTrainer(readouts, model=MODEL, train=cfg.replace(precision="bf16")).stack
    tr = FusedTransferTrainer(readouts, model=MODEL, train=cfg, stack=True)
    groups, singles = tr._partition(list(range(len(readouts))))
    names = [[readouts[i].target.name for i in g] for g in groups]
    # The 8 one-channel dense readouts (2 sources x 4 targets), the 2 global ones; the rest alone.
    assert sorted(len(g) for g in groups) == [2, 8]
    assert sorted(n for g in names for n in g) == sorted(2 * [*SAME_ARCH, "class_object"])
    assert sorted(readouts[i].target.name for i in singles) == sorted(2 * ["segment_unsup2d", "nonfixated_pose"])
    assert FusedTransferTrainer(readouts, model=MODEL, train=cfg, stack=False)._partition([0, 1]) == ([], [0, 1])
    # Capped: balanced stacks of at most max_stack; a lone remainder trains on its own.
    dense = [i for i, r in enumerate(readouts) if r.target.name in SAME_ARCH]
    capped = FusedTransferTrainer(readouts, model=MODEL, train=cfg, stack=True, max_stack=3)._partition(dense)
    assert sorted(map(len, capped[0])) == [2, 3, 3] and capped[1] == []
    assert sorted(i for g in capped[0] for i in g) == dense
    one = FusedTransferTrainer(readouts, model=MODEL, train=cfg, stack=True, max_stack=1)
    assert one._partition(dense) == ([], dense)
    threaded = FusedTransferTrainer(readouts, model=MODEL, train=cfg, stack=True, max_stack=3,
                                    workers=2)._partition(dense)
    assert sorted(map(len, threaded[0])) == [2, 2, 2, 2]  # 3 stacks rounded up to fill 2 workers evenly
    with pytest.raises(InvalidInputError, match="max_stack"):
        FusedTransferTrainer(readouts, model=MODEL, train=cfg, max_stack=0)


@pytest.mark.parametrize("workers", [1, 2])
def test_stacked_equals_unstacked_and_separate(setup: tuple[list[Readout], TrainConfig], workers: int) -> None:
    readouts, cfg = setup
    stacked = _run(readouts, cfg, stack=True, workers=workers, max_stack=3 if workers > 1 else None)
    assert all(n.metrics["steps"] == 6 for n in stacked)
    _close(stacked, _run(readouts, cfg, stack=False))
    if workers == 1:
        _close(stacked, [train_transfer(r.target, r.features, r.data, model=MODEL, train=cfg) for r in readouts])


def test_group_norm_and_bf16_stacks_follow(setup: tuple[list[Readout], TrainConfig]) -> None:
    readouts, cfg = setup
    model = MODEL.replace(norm="group")
    dense = [r for r in readouts if r.target.name in SAME_ARCH]
    for c, tol in ((cfg, 1e-5), (cfg.replace(precision="bf16"), 2e-2)):
        a = FusedTransferTrainer(dense, model=model, train=c, stack=True).run()
        b = FusedTransferTrainer(dense, model=model, train=c, stack=False).run()
        for x, y in zip(a, b, strict=True):
            for k in x.state:
                torch.testing.assert_close(x.state[k], y.state[k], rtol=tol, atol=tol)


def test_masked_advance_leaves_others_alone_and_continues(setup: tuple[list[Readout], TrainConfig]) -> None:
    readouts, cfg = setup
    trainers = [FusedTransferTrainer(readouts, model=MODEL, train=cfg, stack=s) for s in (True, False)]
    # Stack members, a global pair, a metric embedding and a multi-view readout, stopped at different times.
    plan = [(2, None), (2, [0, 1, 2, 4, 5, 6, 7, 9]), (100, [0, 1, 3, 5, 8])]
    for tr in trainers:
        before = tr.results()
        for steps, active in plan:
            tr.advance(steps, active=active)
            after = tr.results()
            for i in range(len(readouts)):
                if active is not None and i not in active:
                    for k in before[i].state:
                        assert torch.equal(before[i].state[k], after[i].state[k]), (i, k)
                    for m in ("train_loss", "steps"):  # (epochs is the trainer's, not the readout's)
                        assert before[i].metrics[m] == after[i].metrics[m]
            before = after
    stacked, plain = (tr.results() for tr in trainers)
    assert [n.metrics["steps"] for n in stacked] == [6, 6, 4, 4, 4, 6, 4, 4, 4, 4, 2, 2, 2, 2]
    _close(stacked, plain)
    # The survivors' AdamW state went back into the shared optimiser: it equals the unstacked run's.
    opt_s, opt_p = (tr.opt for tr in trainers)
    for ps, pp in zip((p for g in opt_s.param_groups for p in g["params"]),
                      (p for g in opt_p.param_groups for p in g["params"]), strict=True):
        ss, sp = opt_s.state.get(ps, {}), opt_p.state.get(pp, {})
        assert ss.keys() == sp.keys()
        for k in ss:
            torch.testing.assert_close(ss[k], sp[k], rtol=1e-4, atol=1e-6)


def test_stacks_of_every_loss_equal_separate_training() -> None:
    """One loss call per stack: class labels per pixel (cross-entropy), one class per image,
    global vectors of two targets in one stack (l2) and 3-channel maps (l1) train as they do
    alone; readouts of one target on one label array share one target tensor."""
    layout = get_task("room_layout")
    twin = replace(layout, name="room_box", alias="room_box", target="room_box")  # another 9-d l2 vector target
    tasks = [get_task("segment_semantic"), get_task("class_scene"), layout, twin, get_task("normal")]
    data = synthetic_split(tasks, 24, SIZE, 11)
    sources = [_features(24, seed, ("rgb",)) for seed in (2, 4, 6)]
    readouts = [Readout(t, [src], data) for src in sources for t in tasks]
    cfg = TrainConfig(epochs=2, batch_size=8, lr=3e-3, weight_decay=0.01, device="cpu", seed=3)
    tr = FusedTransferTrainer(readouts, model=MODEL, train=cfg, stack=True)
    groups, singles = tr._partition(list(range(len(readouts))))
    assert singles == []
    by_target = sorted(sorted({readouts[i].target.name for i in g}) for g in groups)
    assert by_target == [["class_scene"], ["normal"], ["room_box", "room_layout"], ["segment_semantic"]]
    assert tr.states[0].y is tr.states[len(tasks)].y  # segment_semantic's labels, once for all sources
    stacked = tr.run()
    _close(stacked, [train_transfer(r.target, r.features, r.data, model=MODEL, train=cfg) for r in readouts])
