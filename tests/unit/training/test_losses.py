from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from taskonomy.errors import InvalidInputError
from taskonomy.tasks import SEMANTIC_FREQUENCIES, SEMANTIC_UNCERTAIN, rebalance_weights
from taskonomy.training.losses import (
    DELTA_DIST,
    DELTA_VAR,
    GAMMA_REG,
    PER_IMAGE_LOSSES,
    metric_embedding_per_image,
    per_image_loss,
)


def _reference_discriminative(e: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Straight transcription of De Brabandere et al. (2017), one image and one segment at a time."""
    out = []
    for i in range(e.shape[0]):
        ee = e[i].reshape(e.shape[1], -1).T
        ss = s[i].reshape(-1)
        ids = ss.unique()
        mus = torch.stack([ee[ss == k].mean(0) for k in ids])
        var = torch.stack([(F.relu((ee[ss == k] - mus[j]).norm(dim=1) - DELTA_VAR) ** 2).mean()
                           for j, k in enumerate(ids)]).mean()
        dist = torch.zeros(())
        if len(ids) > 1:
            for a in range(len(ids)):
                for b in range(len(ids)):
                    if a != b:
                        dist = dist + F.relu(2 * DELTA_DIST - (mus[a] - mus[b]).norm()) ** 2
            dist = dist / (len(ids) * (len(ids) - 1))
        out.append(var + dist + GAMMA_REG * mus.norm(dim=1).mean())
    return torch.stack(out)


def test_metric_embedding_matches_reference_transcription() -> None:
    g = torch.Generator().manual_seed(0)
    seg = torch.randint(0, 5, (4, 6, 6), generator=g)
    seg[3] = 42  # a single segment: no distance term
    emb = torch.randn(4, 3, 6, 6, generator=g)
    ours = metric_embedding_per_image(emb, seg)
    assert ours.shape == (4,)
    torch.testing.assert_close(ours, _reference_discriminative(emb, seg), rtol=1e-5, atol=1e-6)


def test_metric_embedding_ignores_segment_id_values() -> None:
    g = torch.Generator().manual_seed(1)
    seg = torch.randint(0, 4, (2, 8, 8), generator=g)
    emb = torch.randn(2, 4, 8, 8, generator=g)
    relabelled = torch.tensor([900, -3, 17, 5])[seg]
    torch.testing.assert_close(metric_embedding_per_image(emb, seg), metric_embedding_per_image(emb, relabelled))


def test_metric_embedding_is_small_for_a_perfect_embedding() -> None:
    seg = torch.zeros(1, 4, 4, dtype=torch.long)
    seg[0, :, 2:] = 1
    emb = torch.zeros(1, 2, 4, 4)
    emb[0, 0, :, 2:] = 10.0  # two tight clusters 10 apart (> 2 * delta_d)
    loss = metric_embedding_per_image(emb, seg)
    torch.testing.assert_close(loss, torch.tensor([GAMMA_REG * 5.0]))


def test_metric_embedding_subsampling_is_seeded_and_differentiable() -> None:
    seg = torch.randint(0, 3, (2, 8, 8), generator=torch.Generator().manual_seed(2))
    emb = torch.randn(2, 4, 8, 8, requires_grad=True)
    a = metric_embedding_per_image(emb, seg, max_pixels=16, generator=torch.Generator().manual_seed(3))
    b = metric_embedding_per_image(emb, seg, max_pixels=16, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    a.sum().backward()
    assert emb.grad is not None and torch.isfinite(emb.grad).all()


def test_elementwise_losses_known_values() -> None:
    pred = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    tgt = torch.tensor([[0.0, 0.0], [0.0, 4.0]])
    torch.testing.assert_close(per_image_loss("l1", pred, tgt), torch.tensor([1.5, 2.0]))
    torch.testing.assert_close(per_image_loss("l2", pred, tgt), torch.tensor([2.5, 8.0]))


def test_cross_entropies_agree_with_torch() -> None:
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(3, 5, 4, 4, generator=g)
    labels = torch.randint(0, 5, (3, 4, 4), generator=g)
    dense = per_image_loss("cross_entropy", logits, labels)
    assert dense.shape == (3,)
    torch.testing.assert_close(dense.mean(), F.cross_entropy(logits, labels))
    glob = torch.randn(3, 5, generator=g)
    cls = torch.tensor([0, 4, 2])
    onehot = F.one_hot(cls, 5).float()
    torch.testing.assert_close(per_image_loss("soft_cross_entropy", glob, onehot),
                               per_image_loss("cross_entropy", glob, cls))
    bce = per_image_loss("bce", torch.zeros(2, 1), torch.tensor([[0.0], [1.0]]))
    torch.testing.assert_close(bce, torch.full((2,), float(torch.log(torch.tensor(2.0)))))


@pytest.mark.parametrize("name", sorted(PER_IMAGE_LOSSES))
def test_every_loss_is_per_image(name: str) -> None:
    n = 3
    if name in ("cross_entropy",):
        pred, tgt = torch.randn(n, 4, 8, 8), torch.randint(0, 4, (n, 8, 8))
    elif name == "rebalanced_cross_entropy":
        pred, tgt = torch.randn(n, 9, 8, 8), torch.randint(-1, 9, (n, 8, 8))
    elif name == "metric_embedding":
        pred, tgt = torch.randn(n, 4, 8, 8), torch.randint(0, 3, (n, 8, 8))
    elif name == "soft_cross_entropy":
        pred, tgt = torch.randn(n, 4), torch.softmax(torch.randn(n, 4), 1)
    elif name == "bce":
        pred, tgt = torch.randn(n, 1), torch.tensor([[0.0], [1.0], [1.0]])
    else:
        pred, tgt = torch.randn(n, 2, 8, 8), torch.randn(n, 2, 8, 8)
    out = per_image_loss(name, pred, tgt)
    assert out.shape == (n,) and torch.isfinite(out).all() and (out >= 0).all()


def test_rebalanced_cross_entropy_weighs_classes_and_leaves_uncertain_pixels_out() -> None:
    weights = torch.tensor(rebalance_weights(), dtype=torch.float64)
    p = torch.tensor(SEMANTIC_FREQUENCIES, dtype=torch.float64)
    assert torch.isclose((p / p.sum() * weights).sum(), torch.tensor(1.0, dtype=torch.float64))
    assert weights[0] < 1.0 < weights[1:].min()  # the frequent background counts less, rare objects more
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 9, 4, 4, generator=gen, dtype=torch.float64)
    target = torch.randint(0, 9, (2, 4, 4), generator=gen)
    target[0, 0] = SEMANTIC_UNCERTAIN
    target[1] = SEMANTIC_UNCERTAIN  # no certain pixel at all
    got = per_image_loss("rebalanced_cross_entropy", logits, target)
    certain = target[0] != SEMANTIC_UNCERTAIN
    ce = F.cross_entropy(logits[:1], target[:1].clamp(min=0), reduction="none")[0]
    w = weights[target[0].clamp(min=0)] * certain
    torch.testing.assert_close(got[0], (w * ce).sum() / w.sum())
    assert got[1] == 0.0
    # changing the logits of uncertain pixels changes nothing
    other = logits.clone()
    other[0, :, 0] += 5.0
    torch.testing.assert_close(per_image_loss("rebalanced_cross_entropy", other, target), got)


def test_unknown_loss_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="known: l1"):
        per_image_loss("hinge", torch.zeros(1), torch.zeros(1))
