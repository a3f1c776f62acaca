"""Scores of predicted boxes: per-region mean IoU and the share at IoU >= 0.5."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gazecxr.anatomy.boxes import iou
from gazecxr.anatomy.network import BoxMaskHead, decode_boxes
from gazecxr.data.anatomy import REGIONS

if TYPE_CHECKING:
    from gazecxr.anatomy.train import ViewCache

HIT = 0.5


def summarise(ious: dict[str, list[float]]) -> dict[str, Any]:
    """region -> IoUs  ->  ``{"regions": {region: {n, mean_iou, hit_rate}}, "mean_iou"`` (mean of the
    region means), ``"lungs"`` (right and left lung pooled)}."""
    regions = {
        r: {"n": len(v), "mean_iou": float(np.mean(v)), "hit_rate": float(np.mean(np.asarray(v) >= HIT))}
        for r, v in ious.items()
        if v
    }
    lungs = [x for r in ("right lung", "left lung") for x in ious.get(r, [])]
    out: dict[str, Any] = {
        "regions": regions,
        "mean_iou": float(np.mean([m["mean_iou"] for m in regions.values()])) if regions else None,
    }
    if lungs:
        out["lungs"] = {
            "n": len(lungs),
            "mean_iou": float(np.mean(lungs)),
            "hit_rate": float(np.mean(np.asarray(lungs) >= HIT)),
        }
    return out


def collect(
    ious: dict[str, list[float]], pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor
) -> None:
    v = iou(pred, truth)
    for k, r in enumerate(REGIONS):
        ious.setdefault(r, []).extend(v[mask[:, k], k].tolist())


def score_views(head: BoxMaskHead, cache: ViewCache, views: np.ndarray) -> dict[str, list[float]]:
    ious: dict[str, list[float]] = {}
    with torch.no_grad():
        for s in range(0, len(views), 64):
            b = torch.from_numpy(views[s : s + 64])
            boxes, _ = decode_boxes(head(cache.f16[b], cache.f32[b]))
            collect(ious, boxes, cache.targets["boxes"][b], cache.targets["box_mask"][b])
    return ious
