"""Symmetric InfoNCE and masked multi-label BCE."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float | torch.Tensor = 0.07) -> torch.Tensor:
    """Symmetric CLIP-style InfoNCE between paired rows of ``a`` and ``b``.

    Args:
        a, b: ``(N, D)`` embeddings; row i of ``a`` pairs with row i of ``b`` (L2-normalised here).
        temperature: positive scalar (a tensor keeps it learnable).

    Returns:
        Scalar: mean of the a->b and b->a cross-entropies over cosine-similarity logits / T.
        With N < 2 there are no negatives: returns 0 (connected to the graph).
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(
            f"info_nce needs two (N, D) tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.shape[0] < 2:
        return (a.sum() + b.sum()) * 0.0
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


class LearnableTemperature(nn.Module):
    """Temperature ``T = exp(log_t)``, clamped to [0.01, 1] (CLIP keeps 1/T <= 100).

    Args:
        init: starting temperature.
        learnable: False keeps it fixed (a buffer, still saved).
    """

    def __init__(self, init: float = 0.07, learnable: bool = True) -> None:
        super().__init__()
        if not 0 < init:
            raise ValueError(f"loss.contrastive.temperature must be > 0, got {init}")
        value = torch.tensor(math.log(init))
        if learnable:
            self.log_t = nn.Parameter(value)
        else:
            self.register_buffer("log_t", value)

    def forward(self) -> torch.Tensor:
        return self.log_t.exp().clamp(0.01, 1.0)


def masked_bce_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor | None = None,
    denominator: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """Binary cross-entropy averaged over known labels only.

    Args:
        logits: ``(B, C)`` raw scores.
        labels: ``(B, C)`` in {0, 1}.
        mask: ``(B, C)``, 1 where the label is known, 0 where uncertain / missing (default all 1).
        denominator: what the summed loss is divided by (default: the number of known labels of
            this batch). Data-parallel training passes the count over all processes divided by
            their number, so the averaged gradient is the one of the whole batch.

    Returns:
        Scalar; 0 (connected to the graph) if no label is known.
    """
    if logits.shape != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} differ")
    loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), reduction="none")
    mask = torch.ones_like(loss) if mask is None else mask.to(logits.dtype)
    n = (
        mask.sum()
        if denominator is None
        else torch.as_tensor(denominator, dtype=loss.dtype, device=loss.device)
    )
    return (loss * mask).sum() / n.clamp_min(1.0)
