"""Training and per-image test losses, by the names in :data:`taskonomy.tasks.LOSS_NAMES`.

Every loss is defined per image, returning ``(N,)``; the training loss is the batch mean of
it (all images of a split have the same size, so this equals the mean over every output
element for the element-wise losses). Win rates compare candidates image by image with the
per-image version.

==================  ==============================================================  ========
name                per-image loss                                                  target
==================  ==============================================================  ========
l1                  mean |ŷ - y| over the output                                    float
l2                  mean (ŷ - y)² over the output                                   float
cross_entropy       mean over pixels (dense) of -log softmax(ŷ)[y]                  int64
rebalanced_cross_entropy  Σ w_y CE / Σ w_y over the certain pixels (below)          int64
soft_cross_entropy  -Σ_c p_c log softmax(ŷ)_c                                       float
bce                 mean binary cross-entropy of sigmoid(ŷ) against y ∈ {0, 1}      float
metric_embedding    discriminative loss (below)                                     int64
==================  ==============================================================  ========

Rebalanced cross-entropy (Taskonomy's ``segmentsemantic_rb``, the class rebalancing of Zhang et
al.'s colorization): pixel ``i`` of class ``y_i`` weighs ``w_{y_i}`` with
``w_c ∝ 1 / ((1 - λ) p_c + λ / C)``, λ = 0.5, normalised so that ``Σ_c p_c w_c = 1``
(:func:`taskonomy.tasks.rebalance_weights` of the world's class frequencies
:data:`taskonomy.tasks.SEMANTIC_FREQUENCIES`), so rare object classes count about as much as the
background. Pixels labelled :data:`taskonomy.tasks.SEMANTIC_UNCERTAIN` are left out; an image
without a certain pixel has loss 0. With as many logits as there are weights it uses them; a
network with another class count (the real dataset's 17 classes) gets uniform weights.

Metric embedding (De Brabandere et al. 2017, "Semantic Instance Segmentation with a
Discriminative Loss Function", arXiv:1708.02551). For one image with segments k = 1..K of
pixel sets S_k, embeddings e_i and segment means μ_k:

    L_var  = 1/K Σ_k 1/|S_k| Σ_{i∈S_k} [‖μ_k − e_i‖ − δ_v]_+²
    L_dist = 1/(K(K−1)) Σ_{k≠l} [2δ_d − ‖μ_k − μ_l‖]_+²
    L_reg  = 1/K Σ_k ‖μ_k‖
    L      = L_var + L_dist + γ L_reg,      δ_v = 0.5, δ_d = 1.5, γ = 0.001 (the paper's values).

Segment ids may be any integers; they are only compared within an image. During training
a random subset of pixels may be used (``max_pixels``) to keep it cheap; test losses use all.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from taskonomy.errors import InvalidInputError
from taskonomy.tasks import SEMANTIC_UNCERTAIN, rebalance_weights

DELTA_VAR = 0.5
DELTA_DIST = 1.5
GAMMA_REG = 0.001

PerImageLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _flat_mean(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1).mean(dim=1)


def l1_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per image, (N,)."""
    return _flat_mean((pred - target).abs())


def l2_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image, (N,)."""
    return _flat_mean((pred - target) ** 2)


def cross_entropy_per_image(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per image: logits (N, C[, H, W]), integer target (N[, H, W]); mean over pixels."""
    ce = F.cross_entropy(logits, target.long(), reduction="none")
    return _flat_mean(ce) if ce.dim() > 1 else ce


_REBALANCE = torch.tensor(rebalance_weights(), dtype=torch.float32)


def rebalanced_cross_entropy_per_image(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Class-rebalanced cross-entropy per image over the certain pixels (see the module docstring):
    logits (N, C, H, W), integer target (N, H, W) with ``SEMANTIC_UNCERTAIN`` left out, (N,)."""
    y = target.long()
    certain = y != SEMANTIC_UNCERTAIN
    safe = torch.where(certain, y, torch.zeros_like(y))
    ce = F.cross_entropy(logits, safe, reduction="none")
    c = logits.shape[1]
    weights = _REBALANCE.to(logits.device) if c == len(_REBALANCE) else torch.ones(c, device=logits.device)
    w = weights[safe] * certain
    n = y.shape[0]
    num = (w * ce).reshape(n, -1).sum(dim=1)
    den = w.reshape(n, -1).sum(dim=1)
    return torch.where(den > 0, num / den.clamp(min=1e-12), torch.zeros_like(num))


def soft_cross_entropy_per_image(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a target distribution: -Σ_c p_c log softmax(logits)_c, (N,)."""
    return -(target * F.log_softmax(logits, dim=1)).sum(dim=1)


def bce_per_image(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits, averaged over the output, (N,)."""
    return _flat_mean(F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), reduction="none"))


def metric_embedding_per_image(
    emb: torch.Tensor,
    segments: torch.Tensor,
    *,
    max_pixels: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Discriminative embedding loss per image (see module docstring).

    Args:
        emb: embeddings (N, D, H, W).
        segments: segment ids (N, H, W), any integers.
        max_pixels: if > 0, use this many randomly chosen pixels per image (the same positions
            in every image of the batch), drawn from ``generator``.

    Returns:
        (N,) losses. Images with a single segment have no distance term.
    """
    n, d = emb.shape[:2]
    e = emb.reshape(n, d, -1).transpose(1, 2).float()  # (N, P, D)
    s = segments.reshape(n, -1).long()  # (N, P)
    p = e.shape[1]
    if 0 < max_pixels < p:
        idx = torch.randperm(p, generator=generator)[:max_pixels].to(e.device)
        e, s = e[:, idx], s[:, idx]
        p = max_pixels
    # Dense segment index per image: unique over (image, id) pairs, sorted by image first.
    s = s - s.min(dim=1, keepdim=True).values
    span = int(s.max().item()) + 1
    img = torch.arange(n, device=e.device).unsqueeze(1)
    keys = (img * span + s).reshape(-1)
    uniq, inv = torch.unique(keys, sorted=True, return_inverse=True)
    n_seg = uniq.shape[0]
    seg_img = torch.div(uniq, span, rounding_mode="floor")  # image of each segment
    flat_e = e.reshape(-1, d)
    counts = torch.zeros(n_seg, device=e.device).index_add_(0, inv, torch.ones_like(inv, dtype=e.dtype))
    sums = torch.zeros(n_seg, d, device=e.device, dtype=e.dtype).index_add_(0, inv, flat_e)
    mu = sums / counts.unsqueeze(1)
    # Variance (pull) term: mean over the pixels of a segment, then over the segments of an image.
    dist = (flat_e - mu[inv]).norm(dim=1)
    pull = F.relu(dist - DELTA_VAR) ** 2
    pull_seg = torch.zeros(n_seg, device=e.device, dtype=e.dtype).index_add_(0, inv, pull) / counts
    k = torch.zeros(n, device=e.device, dtype=e.dtype).index_add_(0, seg_img, torch.ones_like(pull_seg))
    l_var = torch.zeros(n, device=e.device, dtype=e.dtype).index_add_(0, seg_img, pull_seg) / k
    l_reg = torch.zeros(n, device=e.device, dtype=e.dtype).index_add_(0, seg_img, mu.norm(dim=1)) / k
    # Distance (push) term over pairs of segment means of the same image, padded to (N, Kmax, D).
    first = torch.zeros(n, dtype=torch.long, device=e.device)
    first[1:] = torch.cumsum(k.long(), 0)[:-1]
    rank = torch.arange(n_seg, device=e.device) - first[seg_img]
    kmax = int(k.max().item())
    padded = torch.zeros(n, kmax, d, device=e.device, dtype=e.dtype)
    padded[seg_img, rank] = mu
    valid = torch.zeros(n, kmax, dtype=torch.bool, device=e.device)
    valid[seg_img, rank] = True
    pair = valid.unsqueeze(2) & valid.unsqueeze(1) & ~torch.eye(kmax, dtype=torch.bool, device=e.device)
    # Pairwise distances from the Gram matrix: (N, Kmax, Kmax) memory, not (N, Kmax, Kmax, D).
    sq = padded.pow(2).sum(-1)
    pdist = (sq.unsqueeze(2) + sq.unsqueeze(1) - 2 * torch.bmm(padded, padded.transpose(1, 2))).clamp(min=1e-12).sqrt()
    push = (F.relu(2 * DELTA_DIST - pdist) ** 2) * pair
    n_pairs = pair.sum(dim=(1, 2)).clamp(min=1)
    l_dist = push.sum(dim=(1, 2)) / n_pairs
    return l_var + l_dist + GAMMA_REG * l_reg


def _embedding(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return metric_embedding_per_image(pred, target)


PER_IMAGE_LOSSES: dict[str, PerImageLoss] = {
    "l1": l1_per_image,
    "l2": l2_per_image,
    "cross_entropy": cross_entropy_per_image,
    "rebalanced_cross_entropy": rebalanced_cross_entropy_per_image,
    "soft_cross_entropy": soft_cross_entropy_per_image,
    "bce": bce_per_image,
    "metric_embedding": _embedding,
}

#: Losses computed in the standardised target space during training and in target units at test.
REGRESSION_LOSSES: frozenset[str] = frozenset({"l1", "l2"})


def per_image_loss(name: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The named loss per image, shape (N,)."""
    if name not in PER_IMAGE_LOSSES:
        raise InvalidInputError(f"unknown loss {name!r}; known: {', '.join(PER_IMAGE_LOSSES)}")
    return PER_IMAGE_LOSSES[name](pred, target)
