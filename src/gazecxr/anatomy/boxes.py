"""Box geometry and the box losses of the localiser.

Boxes are ``(..., 4)`` ``(x0, y0, x1, y1)`` in [0, 1] of the image. Every function is usable on its
own; the masked losses take a ``(B, R)`` mask so that a region a source does not have contributes
nothing (not zero, not a guess).
"""

from __future__ import annotations

import numpy as np
import torch

Box = tuple[float, float, float, float]


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of matching boxes ``(..., 4)`` -> ``(...)`` in [0, 1]."""
    ix = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    iy = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = ix * iy
    union = area(a) + area(b) - inter
    return inter / union.clamp(min=1e-9)


def area(b: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` -> ``(...)``; 0 for an inverted box."""
    return (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)


def giou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Generalised IoU (Rezatofighi et al. 2019) ``(..., 4)`` -> ``(...)`` in [-1, 1]: IoU minus the
    share of the enclosing box that neither covers, so that disjoint boxes still get a gradient."""
    enclose = torch.cat([torch.minimum(a[..., :2], b[..., :2]), torch.maximum(a[..., 2:], b[..., 2:])], -1)
    ix = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    iy = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = ix * iy
    union = (area(a) + area(b) - inter).clamp(min=1e-9)
    c = area(enclose).clamp(min=1e-9)
    return inter / union - (c - union) / c


def box_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked L1 + (1 - GIoU), averaged over the present boxes.

    Args:
        pred, target: ``(B, R, 4)`` boxes in [0, 1] (target values under a False mask are ignored).
        mask: ``(B, R)`` bool, True where the target exists.

    Returns:
        scalar; 0 (with a gradient path) when no box is present.
    """
    m = mask.to(pred.dtype)
    n = m.sum().clamp(min=1.0)
    target = torch.where(mask[..., None], target, pred.detach())
    l1 = ((pred - target).abs().mean(-1) * m).sum() / n
    return l1 + ((1.0 - giou(pred, target)) * m).sum() / n


def lung_union(right: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
    """The box around both lungs ``(..., 4)``: what REFLACX's chest bounding box is drawn around."""
    return torch.cat(
        [torch.minimum(right[..., :2], left[..., :2]), torch.maximum(right[..., 2:], left[..., 2:])], -1
    )


def iou_np(a: Box | np.ndarray, b: Box | np.ndarray) -> float:
    """IoU of two boxes as floats (evaluation)."""
    return float(
        iou(
            torch.as_tensor(np.asarray(a, dtype=np.float64)), torch.as_tensor(np.asarray(b, dtype=np.float64))
        )
    )


def visible_share(box: Box, window: Box) -> float:
    """Share of ``box``'s area inside ``window`` (both normalised); 0 for an empty box."""
    ix = max(0.0, min(box[2], window[2]) - max(box[0], window[0]))
    iy = max(0.0, min(box[3], window[3]) - max(box[1], window[1]))
    a = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
    return ix * iy / a if a > 0 else 0.0
