"""Geometric augmentation shared by every trainer: one affine moves an image, its maps, points and boxes.

Coordinates: an affine is a ``(2, 3)`` forward matrix in normalised ``[-1, 1]`` image coordinates
(``q = A @ [p, 1]``); points and boxes are in ``[0, 1]`` of the image (x right, y down); boxes are
``(x0, y0, x1, y1)``. Pixels move by :func:`warp` (one ``grid_sample``), points by
:func:`apply_affine_points`, boxes by :func:`move_box` (the bounding box of the moved corners), so the
three always agree (``tests/test_data_dataset.py``).

A horizontal flip is the affine :data:`HFLIP`; it mirrors the anatomy, so any right / left name must
swap with it (:func:`swap_sides`). The classifier never flips (laterality is part of a finding); the
anatomy localiser may (``anatomy.augment.flip``), renaming every box.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as tnf

from gazecxr.data.config import AugmentConfig

Box = tuple[float, float, float, float]
V = TypeVar("V")

HFLIP = np.array([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
"""Forward affine of a horizontal flip (x -> -x in [-1, 1] coordinates)."""


def random_affine(cfg: AugmentConfig, generator: torch.Generator | None = None) -> np.ndarray:
    """(2, 3) forward affine in normalised [-1, 1] coordinates: q = A @ [p, 1] (rotation, zoom, shift)."""
    r = torch.rand(4, generator=generator, dtype=torch.float64).numpy() * 2.0 - 1.0
    angle = math.radians(cfg.rotate_deg * r[0])
    scale = 1.0 + cfg.scale * r[1]
    c, s = math.cos(angle), math.sin(angle)
    return np.array(
        [
            [scale * c, -scale * s, 2.0 * cfg.translate * r[2]],
            [scale * s, scale * c, 2.0 * cfg.translate * r[3]],
        ]
    )


def compose(second: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The affine that applies ``first`` and then ``second`` (both ``(2, 3)``)."""
    a2, b2 = second[:, :2], second[:, 2:]
    return np.concatenate([a2 @ first[:, :2], a2 @ first[:, 2:] + b2], axis=1)


def apply_affine_points(forward: np.ndarray, xy01: np.ndarray) -> np.ndarray:
    """Move (N, 2) points in [0, 1] image coordinates by a forward affine (see :func:`random_affine`)."""
    u = xy01 * 2.0 - 1.0
    q = u @ forward[:, :2].T + forward[:, 2]
    return (q + 1.0) / 2.0


def corners(box: Box) -> np.ndarray:
    """The four corners ``(4, 2)`` of a box."""
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], dtype=np.float64)


def move_box(forward: np.ndarray, box: Box, clip: bool = True) -> Box:
    """The axis-aligned box around a box's moved corners (clipped to [0, 1] unless ``clip=False``)."""
    q = apply_affine_points(forward, corners(box))
    if clip:
        q = np.clip(q, 0.0, 1.0)
    return (float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max()))


def warp(maps: torch.Tensor, forward: np.ndarray) -> torch.Tensor:
    """Resample (C, S, S) maps so that content at p moves to ``forward(p)`` (bilinear, zero fill)."""
    a = forward[:, :2]
    inv = np.linalg.inv(a)
    theta = np.concatenate([inv, -(inv @ forward[:, 2:])], axis=1)  # output -> input coordinates
    t = torch.as_tensor(theta, dtype=torch.float32)[None]
    grid = tnf.affine_grid(t, [1, *maps.shape], align_corners=False)
    return tnf.grid_sample(maps[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]


def other_side(name: str) -> str:
    """The same name on the other side ("right lung" -> "left lung"); a name without a side is unchanged."""
    for a, b in (("right ", "left "), ("left ", "right ")):
        if name.startswith(a):
            return b + name[len(a) :]
    return name


def swap_sides(named: dict[str, V]) -> dict[str, V]:
    """Rename every right / left key to the other side (what a horizontal flip does to anatomy)."""
    return {other_side(k): v for k, v in named.items()}


def jitter_intensity(image: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
    """Random contrast (about the mean) and brightness from ``cfg``, clamped to [0, 1]."""
    jitter = torch.rand(2, dtype=torch.float64).numpy() * 2.0 - 1.0
    mean = image.mean()
    return ((image - mean) * (1.0 + cfg.contrast * jitter[0]) + mean + cfg.brightness * jitter[1]).clamp(0, 1)
