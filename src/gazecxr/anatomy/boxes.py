"""Box geometry of the localiser.

Boxes are ``(..., 4)`` ``(x0, y0, x1, y1)`` in [0, 1] of the image.
"""

from __future__ import annotations

import torch

Box = tuple[float, float, float, float]


def area(b: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` -> ``(...)``; 0 for an inverted box."""
    return (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of matching boxes ``(..., 4)`` -> ``(...)`` in [0, 1]."""
    ix = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    iy = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = ix * iy
    return inter / (area(a) + area(b) - inter).clamp(min=1e-9)


def visible_share(box: Box, window: Box) -> float:
    """Share of ``box``'s area inside ``window`` (both normalised); 0 for an empty box."""
    ix = max(0.0, min(box[2], window[2]) - max(box[0], window[0]))
    iy = max(0.0, min(box[3], window[3]) - max(box[1], window[1]))
    a = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
    return ix * iy / a if a > 0 else 0.0
