"""Scores of located boxes: per-region mean IoU, share at IoU >= 0.5, large boxes, anchored share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gazecxr.anatomy.boxes import area, iou
from gazecxr.anatomy.layout import ANCHORED
from gazecxr.data.anatomy import REGIONS

HIT = 0.5
LARGE = 0.6  # a non-lung box covering more than this share of the image cannot be that region


@dataclass
class Scores:
    """Accumulates, per region, the IoU of located boxes against the truth.

    Attributes:
        ious: region -> IoUs of the boxes scored.
        anchored: region -> how many of them the lung-anchored layout placed.
        large: non-lung boxes over :data:`LARGE` of the image; ``non_lung``: non-lung boxes scored.
    """

    ious: dict[str, list[float]] = field(default_factory=dict)
    anchored: dict[str, int] = field(default_factory=dict)
    large: int = 0
    non_lung: int = 0

    def add(
        self,
        pred: torch.Tensor,
        truth: torch.Tensor,
        mask: torch.Tensor,
        anchored: torch.Tensor | None = None,
    ) -> None:
        """``pred``, ``truth`` ``(B, R, 4)``; ``mask (B, R)`` the regions the truth has; ``anchored
        (B, R)`` where the layout placed the box (None: none)."""
        v = iou(pred, truth)
        big = (area(pred) > LARGE) & mask & ANCHORED
        self.large += int(big.sum())
        self.non_lung += int((mask & ANCHORED).sum())
        for k, r in enumerate(REGIONS):
            self.ious.setdefault(r, []).extend(v[mask[:, k], k].tolist())
            if anchored is not None:
                self.anchored[r] = self.anchored.get(r, 0) + int((anchored[:, k] & mask[:, k]).sum())

    def extend(self, other: Scores) -> None:
        for r, v in other.ious.items():
            self.ious.setdefault(r, []).extend(v)
        for r, n in other.anchored.items():
            self.anchored[r] = self.anchored.get(r, 0) + n
        self.large += other.large
        self.non_lung += other.non_lung

    def summary(self) -> dict[str, Any]:
        """``{"regions": {region: {n, mean_iou, hit_rate, anchored}}, "mean_iou"`` (mean of the region
        means), ``"lungs"`` (both lungs pooled), ``"non_lung"`` (mean of the other regions' means,
        the lowest region, boxes over 60 % of the image)}``."""
        regions = {
            r: {
                "n": len(v),
                "mean_iou": float(np.mean(v)),
                "hit_rate": float(np.mean(np.asarray(v) >= HIT)),
                "anchored": self.anchored.get(r, 0),
            }
            for r, v in self.ious.items()
            if v
        }
        out: dict[str, Any] = {
            "regions": regions,
            "mean_iou": float(np.mean([m["mean_iou"] for m in regions.values()])) if regions else None,
        }
        lungs = [x for r in ("right lung", "left lung") for x in self.ious.get(r, [])]
        if lungs:
            out["lungs"] = {
                "n": len(lungs),
                "mean_iou": float(np.mean(lungs)),
                "hit_rate": float(np.mean(np.asarray(lungs) >= HIT)),
            }
        others = {r: m for r, m in regions.items() if r not in ("right lung", "left lung")}
        if others:
            low = min(others, key=lambda r: others[r]["mean_iou"])
            out["non_lung"] = {
                "mean_iou": float(np.mean([m["mean_iou"] for m in others.values()])),
                "lowest_region": low,
                "lowest_iou": others[low]["mean_iou"],
                "large_boxes": self.large,
                "boxes": self.non_lung,
            }
        return out
