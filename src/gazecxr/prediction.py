"""The hand-over from Stage 1 (classifier) to Stage 2 (reports), viewer and demo."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

Box = tuple[float, float, float, float]  # (xmin, ymin, xmax, ymax), normalised to [0, 1]

# Where a region's box came from: the reading's own EyeGaze boxes, the localiser's box for that
# region, a box placed from the localiser's lungs (its own box was implausible for them), the atlas.
REGION_SOURCES = ("dataset", "model", "lung-anchored", "atlas")


@dataclass
class Anatomy:
    """The 17 region boxes of one image and where each came from.

    Attributes:
        boxes: region -> normalised ``(x0, y0, x1, y1)`` in [0, 1] of the image.
        sources: region -> one of :data:`REGION_SOURCES`.
        confidence: region -> confidence in [0, 1] (the localiser's: its map's peak x the in-domain
            score for a ``model`` box, the lungs' confidence x the layout's fit for a
            ``lung-anchored`` one); empty for dataset boxes and when no localiser ran.
        source: image level: ``"dataset"``, ``"model"`` (the localiser was trusted; single regions
            may still be ``lung-anchored``), ``"atlas"`` or ``"none"`` (no boxes).
        note: why the atlas was used, or which regions were placed from the lungs ("" otherwise).
        domain: the localiser's in-domain score in [0, 1] (None when it did not run).
    """

    boxes: dict[str, Box] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)
    source: str = "none"
    note: str = ""
    domain: float | None = None

    @classmethod
    def from_dataset(cls, boxes: dict[str, Box]) -> Anatomy:
        """The reading's own boxes (EyeGaze's ``bounding_boxes.csv``)."""
        return cls(dict(boxes), dict.fromkeys(boxes, "dataset"), {}, "dataset" if boxes else "none")

    @property
    def anchored(self) -> list[str]:
        """Regions whose box was placed from the lungs because the model's was implausible."""
        return [r for r, s in self.sources.items() if s == "lung-anchored"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "boxes": {k: [round(float(v), 4) for v in b] for k, b in self.boxes.items()},
            "region_source": dict(self.sources),
            "confidence": {k: round(float(v), 4) for k, v in self.confidence.items()},
            "domain_score": None if self.domain is None else round(self.domain, 4),
            "note": self.note or None,
        }


@dataclass
class Prediction:
    """Image-only prediction for one radiograph.

    Attributes:
        labels: label names of the run's label set, length C.
        probabilities: ``(C,)`` float in [0, 1].
        thresholds: ``(C,)`` decision thresholds chosen on validation data.
        attention: ``(h, w)`` float, non-negative, sums to 1 (model attention grid); with per-label
            maps, their mixture weighted by the probabilities.
        image_size: original image (height, width) in pixels.
        anatomy: the region boxes (the reading's own, the localiser's, placed from its lungs, or the
            atlas), where each came from and how confident; empty until they are located.
        image_path: where the image came from ("" for in-memory arrays).
        class_attention: ``(C, h, w)``, each map summing to 1: where the model looked for each label
            (models with ``model.attention = per_class``), or None.
    """

    labels: list[str]
    probabilities: np.ndarray
    thresholds: np.ndarray
    attention: np.ndarray
    image_size: tuple[int, int]
    anatomy: Anatomy = field(default_factory=Anatomy)
    image_path: str = ""
    class_attention: np.ndarray | None = None

    def attention_for(self, label: str) -> np.ndarray:
        """``(h, w)`` map of where the model looked for ``label``: its own map when the model has
        per-label maps, else the shared :attr:`attention`."""
        if self.class_attention is None:
            return self.attention
        return self.class_attention[self.labels.index(label)]

    @property
    def positive(self) -> list[str]:
        return [n for n, p, t in zip(self.labels, self.probabilities, self.thresholds, strict=True) if p >= t]

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_path": self.image_path,
            "image_size": list(self.image_size),
            "probabilities": {n: float(p) for n, p in zip(self.labels, self.probabilities, strict=True)},
            "thresholds": {n: float(t) for n, t in zip(self.labels, self.thresholds, strict=True)},
            "positive": self.positive,
            "anatomy": self.anatomy.to_dict(),
        }
