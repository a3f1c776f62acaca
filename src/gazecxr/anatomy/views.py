"""Augmented training views: one affine (with an optional crop and flip) moves image and boxes together.

A view of a sample (:mod:`gazecxr.anatomy.sources`) is the image resampled by
:func:`gazecxr.data.augment.warp` and, for each region, its box moved by the same matrix
(:func:`gazecxr.data.augment.move_box`), a visibility target (is at least half of the moved box
still inside the image?) and masks saying which targets exist. A flip renames every right / left
box (:func:`gazecxr.data.augment.swap_sides`), so "right lung" stays the patient's right lung.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gazecxr.anatomy.boxes import visible_share
from gazecxr.anatomy.config import AnatomyAugmentConfig
from gazecxr.data.augment import HFLIP, compose, jitter_intensity, move_box, random_affine, swap_sides, warp

Box = tuple[float, float, float, float]
IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
FULL: Box = (0.0, 0.0, 1.0, 1.0)
MIN_VISIBLE = 0.5  # a region counts as in the image when this share of its box is


def crop_affine(window: Box) -> np.ndarray:
    """The forward affine that maps ``window`` (normalised) onto the whole image."""
    x0, y0, x1, y1 = window
    sx, sy = 1.0 / (x1 - x0), 1.0 / (y1 - y0)
    cx, cy = x0 + x1 - 1.0, y0 + y1 - 1.0  # window centre in [-1, 1] coordinates
    return np.array([[sx, 0.0, -cx * sx], [0.0, sy, -cy * sy]])


def random_view_affine(cfg: AnatomyAugmentConfig, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """A random forward affine (affine, then maybe a crop) and whether to flip."""
    forward = random_affine(cfg, torch.Generator().manual_seed(int(rng.integers(2**62))))
    if rng.random() < cfg.crop:
        w, h = rng.uniform(0.45, 0.8, size=2)
        x0, y0 = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
        forward = compose(crop_affine((x0, y0, x0 + w, y0 + h)), forward)
    flip = bool(rng.random() < cfg.flip)
    if flip:
        forward = compose(HFLIP, forward)
    return forward, flip


def move_targets(
    sample: dict[str, Any], forward: np.ndarray, flip: bool, regions: tuple[str, ...]
) -> dict[str, torch.Tensor]:
    """The box targets of ``sample`` after ``forward``.

    Returns:
        ``boxes (R, 4)`` (clipped; 0 where unknown), ``box_mask (R,)`` (known and in the view),
        ``known_mask (R,)`` (the source has the region), ``chest (4,)`` and
        ``chest_mask ()``.
    """
    named = swap_sides(sample["boxes"]) if flip else sample["boxes"]
    r = len(regions)
    boxes = torch.zeros(r, 4)
    box_mask, known_mask = torch.zeros(r, dtype=torch.bool), torch.zeros(r, dtype=torch.bool)
    for k, name in enumerate(regions):
        if name not in named:
            continue
        share = visible_share(move_box(forward, named[name], clip=False), FULL)
        known_mask[k] = True
        if share >= MIN_VISIBLE:
            boxes[k], box_mask[k] = torch.tensor(move_box(forward, named[name])), True
    chest, chest_mask = torch.zeros(4), torch.tensor(False)
    if sample.get("chest_box"):
        moved = move_box(forward, sample["chest_box"], clip=False)
        if visible_share(moved, FULL) >= MIN_VISIBLE:
            chest, chest_mask = torch.tensor(move_box(forward, sample["chest_box"])), torch.tensor(True)
    return {
        "boxes": boxes,
        "box_mask": box_mask,
        "known_mask": known_mask,
        "chest": chest,
        "chest_mask": chest_mask,
    }


def make_view(
    image: torch.Tensor,
    sample: dict[str, Any],
    cfg: AnatomyAugmentConfig,
    rng: np.random.Generator,
    regions: tuple[str, ...],
    plain: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One view ``(S, S)`` of an image in [0, 1] and its targets; ``plain`` keeps the image as it is."""
    if plain:
        return image, move_targets(sample, IDENTITY, False, regions)
    forward, flip = random_view_affine(cfg, rng)
    moved = warp(image[None], forward)[0]
    return jitter_intensity(moved, cfg), move_targets(sample, forward, flip, regions)
