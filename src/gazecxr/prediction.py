"""The hand-over from Stage 1 (classifier) to Stage 2 (reports), viewer and demo."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

Box = tuple[float, float, float, float]  # (xmin, ymin, xmax, ymax), normalised to [0, 1]


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
        anatomy_boxes: region name -> normalised box (the reading's own boxes, the anatomy
            localiser's, or the atlas fallback).
        anatomy_source: "dataset", "model" (the localiser), "atlas" or "none".
        anatomy_confidence: region -> the localiser's confidence in [0, 1] (empty when it did not run).
        anatomy_note: why the atlas was used instead of the localiser ("" otherwise).
        image_path: where the image came from ("" for in-memory arrays).
        class_attention: ``(C, h, w)``, each map summing to 1: where the model looked for each label
            (models with ``model.attention = per_class``), or None.
    """

    labels: list[str]
    probabilities: np.ndarray
    thresholds: np.ndarray
    attention: np.ndarray
    image_size: tuple[int, int]
    anatomy_boxes: dict[str, Box] = field(default_factory=dict)
    anatomy_source: str = "none"
    anatomy_confidence: dict[str, float] = field(default_factory=dict)
    anatomy_note: str = ""
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
            "anatomy_source": self.anatomy_source,
            "anatomy_boxes": {k: [float(v) for v in b] for k, b in self.anatomy_boxes.items()},
            "anatomy_confidence": {k: round(float(v), 4) for k, v in self.anatomy_confidence.items()},
            "anatomy_note": self.anatomy_note or None,
        }
