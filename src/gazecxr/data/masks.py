"""Box and ellipse masks on a map grid (the geometry the gaze losses and the localisation metrics share).

Boxes are normalised ``(xmin, ymin, xmax, ymax)`` in [0, 1] of the image; masks are ``(h, w)``
booleans on any grid. A pixel belongs to a region when its centre lies inside; a region smaller
than a pixel still covers the pixel containing its centre (it is never empty).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

Box = Sequence[float]


def _centres(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    return (np.arange(w) + 0.5)[None, :] / w, (np.arange(h) + 0.5)[:, None] / h


def _ensure_centre(mask: np.ndarray, box: Box) -> np.ndarray:
    if not mask.any():
        h, w = mask.shape
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        mask[min(max(int(cy * h), 0), h - 1), min(max(int(cx * w), 0), w - 1)] = True
    return mask


def box_mask(box: Box, shape: tuple[int, int]) -> np.ndarray:
    """Boolean ``(h, w)`` mask of the pixels whose centre lies in the box."""
    xs, ys = _centres(shape)
    m = (xs >= box[0]) & (xs <= box[2]) & (ys >= box[1]) & (ys <= box[3])
    return _ensure_centre(np.asarray(m), box)


def ellipse_mask(box: Box, shape: tuple[int, int]) -> np.ndarray:
    """Boolean ``(h, w)`` mask of the ellipse inscribed in ``box`` (REFLACX ellipses are stored as boxes)."""
    xs, ys = _centres(shape)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    rx, ry = max((box[2] - box[0]) / 2, 1e-9), max((box[3] - box[1]) / 2, 1e-9)
    m = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0
    return _ensure_centre(np.asarray(m), box)


def region_mask(boxes: Iterable[Box], shape: tuple[int, int], kind: str = "ellipse") -> np.ndarray:
    """Union of ellipse (``kind="ellipse"``) or box masks; all False when ``boxes`` is empty."""
    fn = ellipse_mask if kind == "ellipse" else box_mask
    out = np.zeros(shape, dtype=bool)
    for b in boxes:
        out |= fn(b, shape)
    return out


def ellipses_for_labels(ellipses: Iterable[dict], labels: Iterable[str]) -> list[Box]:
    """Boxes of the ellipses that carry at least one of ``labels`` (each ellipse: ``box``, ``labels``)."""
    wanted = set(labels)
    return [e["box"] for e in ellipses if wanted & set(e.get("labels", ()))]
