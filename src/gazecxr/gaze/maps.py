"""Renormalising maps: the one home of "each map sums to 1" for heatmaps, attention and CAMs."""

from __future__ import annotations

import torch


def normalise_maps(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``(..., h, w)`` non-negative maps -> each ``(h, w)`` map divided by its sum.

    A map whose sum is below ``eps`` is divided by ``eps`` instead, so an all-zero map stays all
    zero and gradients stay finite.
    """
    return maps / maps.sum(dim=(-2, -1), keepdim=True).clamp_min(eps)
