"""Localisation of attention maps: pointing game and attention mass in boxes / ellipses.

Maps are ``(h, w)`` numpy arrays on any grid; the region masks come from
:mod:`gazecxr.data.masks` (re-exported here for the metrics' users).
"""

from __future__ import annotations

import numpy as np

from gazecxr.data.masks import Box, box_mask, ellipse_mask, ellipses_for_labels, region_mask

__all__ = [
    "Box",
    "attention_mass",
    "box_mask",
    "ellipse_mask",
    "ellipses_for_labels",
    "pointing_game",
    "region_mask",
]


def attention_mass(attention: np.ndarray, mask: np.ndarray) -> float:
    """Share of the attention inside ``mask``, in [0, 1]; NaN if the mask is empty or the map sums to 0."""
    attention = np.asarray(attention, dtype=np.float64)
    total = attention.sum()
    if not mask.any() or total <= 0:
        return float("nan")
    return float(attention[mask].sum() / total)


def pointing_game(attention: np.ndarray, mask: np.ndarray) -> float:
    """1.0 if the attention maximum (first one in row-major order) lies in ``mask``, else 0.0; NaN if the mask is empty."""
    if not mask.any():
        return float("nan")
    return float(mask.flat[int(np.argmax(np.asarray(attention)))])
