"""Optional attention prior from REFLACX abnormality ellipses."""

from __future__ import annotations

import numpy as np
import torch

from gazecxr.data.masks import region_mask


def ellipse_masks(ellipses: list[list[dict]], grid: tuple[int, int]) -> torch.Tensor:
    """Per-sample union of ellipse masks on the attention grid, ``(B, h, w)`` float in {0, 1}."""
    return torch.from_numpy(
        np.stack([region_mask([e["box"] for e in sample], grid) for sample in ellipses]).astype(np.float32)
    )


def ellipse_prior(att: torch.Tensor, masks: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``-log(attention mass inside the ellipses + eps)`` per sample, ``(B,)``; 0 where a mask is empty.

    Args:
        att: ``(B, h, w)`` sum-1 attention.
        masks: ``(B, h, w)`` in {0, 1}.
    """
    masks = masks.to(att)
    has = masks.flatten(1).amax(1) > 0
    loss = -torch.log((att * masks).sum(dim=(1, 2)) + eps)
    return torch.where(has, loss, torch.zeros_like(loss))
