"""The lung-anchored layout: every region placed from the two lung boxes, and the check of a model's box.

Every EyeGaze region is defined relative to the lungs: the zones are thirds of a lung, the
costophrenic angle sits at its base, hila and clavicles beside and above it, the mediastinal
regions between the two. A region's **frame** is its own lung for the side regions ("right ..."
-> the right lung) and the union of both lungs for the central ones (cardiac silhouette, trachea,
upper mediastinum); its **geometry** is its box in that frame's coordinates (0..1 across the
frame, values outside for a box that sticks out, e.g. a clavicle above the lung).

:class:`LungLayout` holds the mean geometry of each region over the training boxes (the images
with both lungs and the region), the same definition as ``../shared/tools/anatomy_regions_check.py``
uses for its reference boxes, and :meth:`LungLayout.implausible` says when a model's box cannot be
the region for the lungs found: its centre too far from the anchored box (in units of the frame),
its width or height off by too large a factor, or a side's three zones out of order.

Boxes are ``(..., 4)`` ``(x0, y0, x1, y1)`` in [0, 1] of the image, regions in the order of
:data:`gazecxr.data.anatomy.REGIONS`; "right" / "left" are the patient's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gazecxr.anatomy.boxes import iou
from gazecxr.data.anatomy import REGIONS

LUNGS = ("right lung", "left lung")
RIGHT, LEFT = REGIONS.index(LUNGS[0]), REGIONS.index(LUNGS[1])
ANCHORED = torch.tensor([r not in LUNGS for r in REGIONS])  # the regions the layout places
ZONES = {
    side: [REGIONS.index(f"{side} {z} lung zone") for z in ("upper", "mid", "lower")]
    for side in ("right", "left")
}


def frame_index(region: str) -> int:
    """0: the right lung, 1: the left lung, 2: the union of both (the frame ``region`` is placed in)."""
    if region.startswith("right "):
        return 0
    if region.startswith("left "):
        return 1
    return 2


FRAME = torch.tensor([frame_index(r) for r in REGIONS])


def frames(boxes: torch.Tensor) -> torch.Tensor:
    """``boxes (B, R, 4)`` (only the two lungs are read) -> every region's frame ``(B, R, 4)``."""
    right, left = boxes[:, RIGHT], boxes[:, LEFT]
    union = torch.cat(
        [torch.minimum(right[:, :2], left[:, :2]), torch.maximum(right[:, 2:], left[:, 2:])], -1
    )
    return torch.stack([right, left, union], 1)[:, FRAME.to(boxes.device)]


def _size(frame: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` frames -> ``(..., 4)`` their ``(w, h, w, h)``."""
    return (frame[..., 2:] - frame[..., :2])[..., [0, 1, 0, 1]]


def _centre(boxes: torch.Tensor) -> torch.Tensor:
    """``(..., 4)`` -> ``(..., 2)`` box centres."""
    return (boxes[..., :2] + boxes[..., 2:]) / 2


def to_frame(box: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """Image coordinates -> frame coordinates (``(..., 4)`` each)."""
    return (box - frame[..., [0, 1, 0, 1]]) / _size(frame).clamp(min=1e-6)


def from_frame(geometry: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """Frame coordinates -> image coordinates (``(..., 4)`` each)."""
    return frame[..., [0, 1, 0, 1]] + geometry * _size(frame)


@dataclass
class LungLayout:
    """Mean geometry of every region relative to the lungs.

    Attributes:
        geometry: ``(R, 4)`` each region's mean box in its frame's coordinates (the lungs' rows are
            the identity ``(0, 0, 1, 1)``).
        fit: ``(R,)`` in [0, 1]: mean IoU of the placed box against the true one on the training
            boxes, placed from the *true* lungs (how much of a region the lungs determine; the
            confidence of an anchored box is this times its lungs' confidence).
        count: ``(R,)`` training images the geometry was averaged over.
            max_offset: a model's box is implausible when its centre is further than this share of its
            frame's width (or height) from the anchored box's centre (``AnatomyConfig``).
        max_scale: ... or its width or height is more than this factor off the anchored box's.
    """

    geometry: torch.Tensor
    fit: torch.Tensor
    count: torch.Tensor
    max_offset: float = 0.25
    max_scale: float = 2.0

    @classmethod
    def fit_boxes(
        cls, boxes: Sequence[dict[str, Sequence[float]]], max_offset: float = 0.25, max_scale: float = 2.0
    ) -> LungLayout:
        """The layout of the images among ``boxes`` (region -> normalised box, one dict per image)
        that have both lungs; each region averaged over the images that have it.

        Raises:
            ValueError: a region no image with both lungs has (the layout could not place it).
        """
        rows = [b for b in boxes if all(r in b for r in LUNGS)]
        truth = torch.zeros(len(rows), len(REGIONS), 4, dtype=torch.float64)
        known = torch.zeros(len(rows), len(REGIONS), dtype=torch.bool)
        for i, b in enumerate(rows):
            for k, r in enumerate(REGIONS):
                if r in b:
                    truth[i, k], known[i, k] = torch.tensor(b[r], dtype=torch.float64), True
        count = known.sum(0)
        missing = [r for r, n in zip(REGIONS, count.tolist(), strict=True) if n == 0]
        if missing:
            raise ValueError(
                f"no training image with both lungs has the box of {', '.join(missing)}: the lung-anchored "
                "layout needs every region at least once (give a source with the 17 EyeGaze boxes)"
            )
        rel = to_frame(truth, frames(truth))
        w = known[..., None].double()
        geometry = (rel * w).sum(0) / count[:, None]
        geometry[~ANCHORED] = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
        placed = from_frame(geometry.expand_as(truth), frames(truth)).clamp(0, 1)
        fit = (iou(placed, truth) * known).sum(0) / count
        return cls(geometry.float(), fit.float(), count, max_offset, max_scale)

    def place(self, boxes: torch.Tensor, clip: bool = True) -> torch.Tensor:
        """``boxes (B, R, 4)`` (the lungs are read) -> every region placed from them ``(B, R, 4)``,
        clipped to the image unless ``clip`` is False; the lungs' rows are the lungs given."""
        placed = from_frame(self.geometry.to(boxes), frames(boxes))
        placed = placed.clamp(0, 1) if clip else placed
        return torch.where(ANCHORED.to(boxes.device)[:, None], placed, boxes)

    def reference(self, truth: torch.Tensor, known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reference boxes for images with only the two lungs annotated (``truth (B, R, 4)``, ``known
        (B, R)``): each unknown region placed, unclipped, from the true lungs, on the images that
        have both (``../shared/tools/anatomy_regions_check.py``'s definition). Returns the completed
        ``(truth, known)``."""
        both = known[:, [RIGHT, LEFT]].all(1)
        fill = both[:, None] & ~known
        placed = self.place(truth, clip=False)
        return torch.where(fill[..., None], placed, truth), known | fill

    def implausible(self, boxes: torch.Tensor, anchored: torch.Tensor | None = None) -> torch.Tensor:
        """``boxes (B, R, 4)`` a model's boxes -> ``(B, R)`` True where a non-lung box cannot be the
        region for the model's own lungs: centre more than ``max_offset`` of the frame from the
        anchored box's, width or height off by more than ``max_scale``, or (all three zones of the
        side) the zones' centres not from top to bottom. The lungs are never flagged here (the
        localiser's image-level check judges them)."""
        anchored = self.place(boxes) if anchored is None else anchored
        frame = frames(boxes)
        fsize = (frame[..., 2:] - frame[..., :2]).clamp(min=1e-6)
        offset = ((_centre(boxes) - _centre(anchored)).abs() / fsize).amax(-1)
        size, expected = (
            (boxes[..., 2:] - boxes[..., :2]).clamp(min=1e-6),
            (anchored[..., 2:] - anchored[..., :2]).clamp(min=1e-6),
        )
        scale = torch.maximum(size / expected, expected / size).amax(-1)
        bad = (offset > self.max_offset) | (scale > self.max_scale)
        for zones in ZONES.values():
            y = _centre(boxes[:, zones])[..., 1]
            disordered = ~((y[:, 0] < y[:, 1]) & (y[:, 1] < y[:, 2]))
            bad[:, zones] |= disordered[:, None]
        return bad & ANCHORED.to(boxes.device)

    def state(self) -> dict[str, torch.Tensor]:
        return {"geometry": self.geometry, "fit": self.fit, "count": self.count}

    @classmethod
    def from_state(
        cls, state: dict[str, torch.Tensor], max_offset: float = 0.25, max_scale: float = 2.0
    ) -> LungLayout:
        geometry = state["geometry"].float()
        if geometry.shape != (len(REGIONS), 4):
            raise KeyError(f"layout geometry of shape {tuple(geometry.shape)}, expected {(len(REGIONS), 4)}")
        return cls(geometry, state["fit"].float(), state["count"], max_offset, max_scale)

    def describe(self) -> dict[str, Any]:
        """Per region: geometry, fit and count (for metrics.json and the model card)."""
        return {
            r: {"geometry": [round(float(v), 4) for v in g], "fit": round(float(f), 4), "n": int(n)}
            for r, g, f, n in zip(REGIONS, self.geometry, self.fit, self.count, strict=True)
            if r not in LUNGS
        }
