"""Fixation density maps computed directly on the output grid: REFLACX's reference heatmap.

Each fixation ``i`` contributes ``w_i * N(u, v; (x_i, y_i), diag(sx_i^2, sy_i^2))``: a *unit-mass*
2-D Gaussian density (its own sigma, e.g. 1 degree of visual angle from that fixation's angular
resolution, so zooming changes its sigma but not its mass), weighted by ``w_i`` (the fixation's
duration), restricted to the crop of the image shown at that moment. The sum is divided by its
total. This is the procedure of REFLACX's ``generate_heatmaps.py`` (``multivariate_normal(mu,
sigma).pdf`` over the shown crop, times duration, then ``img / img.sum()``); see docs/data.md.

The value of an output cell is the *integral* of that density over the cell's footprint in the
original image, so the result equals a full-resolution rendering followed by area resizing,
without ever building the full-resolution map. The Gaussian is separable and the crop is a
rectangle, so every cell integral is a product of two 1-D integrals (differences of ``erf``) and
the map is one ``(h, N) @ (N, w)`` product.

Coordinates are continuous image pixels: the image spans ``[0, W) x [0, H)`` (pixel ``i`` covers
``[i, i + 1)``, its centre at ``i + 0.5``) and a crop ``(xmin, ymin, xmax, ymax)`` spans
``[xmin, xmax) x [ymin, ymax)`` (the whole image shown is ``(0, 0, W, H)``). The dataset authors'
conventions (REFLACX samples pixel ``i`` at coordinate ``i``; EGD-CXR counts a fixation at its
integer pixel) are mapped onto this frame by the caller (:func:`gazecxr.gaze.fixations.heatmap_positions`).

With ``reflect`` the density is mirrored at the edges of a ``(0, 0, W', H')`` extent, as
``scipy.ndimage.gaussian_filter``'s default ``mode='reflect'`` does to a blurred count map
(EGD-CXR's heatmap): every fixation gets mirror copies at ``-c``, ``2W' - c``, ``c + 2W'``, ...
until the copies are more than 8 sigma from the image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import erf

_SQRT2 = math.sqrt(2.0)


def _per_fixation(
    value: float | Sequence[float] | np.ndarray, n: int, width: int, name: str, row_vector: bool
) -> np.ndarray:
    """Broadcast a scalar / 1-D / (N, width) argument to shape (N, width) float64.

    A 1-D argument is one row shared by all fixations when ``row_vector`` (crop boxes), else
    one value per fixation repeated across the row (sigma).
    """
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full((n, width), float(arr))
    if arr.ndim == 1 and row_vector and arr.shape[0] == width:
        return np.tile(arr, (n, 1))
    if arr.ndim == 1 and not row_vector and arr.shape[0] == n:
        return np.repeat(arr[:, None], width, axis=1)
    if arr.ndim == 2 and arr.shape == (n, width):
        return arr.copy()
    expected = f"({width},) or ({n}, {width})" if row_vector else f"a scalar, ({n},) or ({n}, {width})"
    raise ValueError(f"{name}: expected {expected} values, got shape {arr.shape}")


def _cell_integrals(
    centre: np.ndarray,
    sigma: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    extent: float,
    cells: int,
    mirror: float | None = None,
) -> np.ndarray:
    """1-D integrals of unit-mass Gaussian densities over each output cell, restricted to [lo, hi].

    Clipping the cell edges to [lo, hi] and differencing the Gaussian CDF at the clipped edges
    gives exactly the integral over each cell's intersection with [lo, hi] (zero for cells
    outside), with one ``erf`` per edge instead of two per cell.

    Args:
        centre, sigma, lo, hi: (N,) continuous image coordinates / widths (pixels).
        extent: image length along this axis (pixels); cells: output cells along it.
        mirror: reflecting extent ``L`` (pixels): the density of each centre ``c`` is summed with
            that of its mirror copies ``2kL + c`` and ``2kL - c`` (``lo``/``hi`` must then be the
            image edges). None: no copies.
    Returns:
        (N, cells) float64, non-negative; without ``mirror`` a row sums to the mass of its
        Gaussian inside [lo, hi].
    """
    edges = np.clip(np.linspace(0.0, extent, cells + 1)[None, None, :], lo[:, None, None], hi[:, None, None])
    copies = centre[:, None]  # (N, K): the centre, and with a mirror its copies
    if mirror is not None:
        # Copies further than 8 sigma from [0, extent] add < 1e-15 of a unit mass to any cell.
        k = int(np.ceil((extent + 8.0 * float(sigma.max())) / (2.0 * mirror)))
        shifts = 2.0 * mirror * np.arange(-k, k + 1)
        copies = np.concatenate([centre[:, None] + shifts, -centre[:, None] + shifts], axis=1)
    cdf = erf((edges - copies[:, :, None]) * (1.0 / (_SQRT2 * sigma[:, None, None])))
    return 0.5 * np.diff(cdf, axis=2).sum(axis=1)


def fixation_heatmap(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    weights: Sequence[float] | np.ndarray | None,
    image_size: tuple[int, int],
    out_size: tuple[int, int],
    sigma: float | Sequence[float] | np.ndarray,
    crop: Sequence[float] | np.ndarray | None = None,
    reflect: tuple[float, float] | None = None,
) -> np.ndarray:
    """Gaussian fixation density of one reading on an ``out_size`` grid covering the whole image.

    Args:
        x, y: (N,) fixation positions in original-image pixels (column, row).
        weights: (N,) non-negative weights (e.g. durations in s), or ``None`` for uniform.
        image_size: original image (height, width) in pixels.
        out_size: output grid (height, width).
        sigma: Gaussian standard deviation in original-image pixels: a scalar, (N,) per fixation
            (e.g. 1 degree of visual angle times each fixation's angular resolution), or (N, 2)
            per fixation as (sigma_x, sigma_y).
        crop: optional shown region (xmin, ymin, xmax, ymax) in image pixels (max exclusive),
            either one (4,) box or (N, 4) per fixation; each Gaussian is cut to its crop (NaN
            bounds: image edge). A fixation whose centre lies outside its crop (or the image)
            still adds the part of its density inside, as in the reference.
        reflect: optional (height, width) extent, at least the image's, at whose edges the
            density is mirrored instead of lost (``scipy.ndimage`` ``mode='reflect'``); not
            combined with ``crop``.

    Returns:
        float32 (h, w) map, non-negative, summing to 1; all zeros when no fixation is usable or
        no mass falls inside the crops. A fixation is unusable when its position, weight or sigma
        is not finite, or its weight or sigma is not positive. Callers that want off-image
        fixations dropped or clamped instead do so beforehand
        (:func:`gazecxr.gaze.fixations.select_fixations`, ``GazeConfig.outside``).
    """
    height, width = int(image_size[0]), int(image_size[1])
    out_h, out_w = int(out_size[0]), int(out_size[1])
    if height <= 0 or width <= 0 or out_h <= 0 or out_w <= 0:
        raise ValueError(f"image_size {image_size} and out_size {out_size} must be positive")
    xs = np.asarray(x, dtype=np.float64).reshape(-1)
    ys = np.asarray(y, dtype=np.float64).reshape(-1)
    n = xs.shape[0]
    if ys.shape[0] != n:
        raise ValueError(f"x and y differ in length ({n} vs {ys.shape[0]})")
    out = np.zeros((out_h, out_w), dtype=np.float32)
    if n == 0:
        return out
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != n:
        raise ValueError(f"weights have {w.shape[0]} values for {n} fixations")
    if reflect is not None and crop is not None:
        raise ValueError("reflect and crop cannot be combined: a reflected density fills the whole image")
    if reflect is not None and (reflect[0] < height or reflect[1] < width):
        raise ValueError(f"reflect extent {reflect} is smaller than the image {image_size}")
    sig = _per_fixation(sigma, n, 2, "sigma", row_vector=False)
    full = np.tile([0.0, 0.0, float(width), float(height)], (n, 1))
    # An unknown (NaN) crop bound means the image edge.
    box = (
        full
        if crop is None
        else np.where(np.isnan(b := _per_fixation(crop, n, 4, "crop", row_vector=True)), full, b)
    )
    # The crop intersected with the image.
    x0, x1 = np.clip(box[:, 0], 0, width), np.clip(box[:, 2], 0, width)
    y0, y1 = np.clip(box[:, 1], 0, height), np.clip(box[:, 3], 0, height)
    cx, cy = xs, ys
    with np.errstate(invalid="ignore"):
        usable = (
            np.isfinite(cx)
            & np.isfinite(cy)
            & np.isfinite(w)
            & (w > 0)
            & np.all(np.isfinite(sig), axis=1)
            & np.all(sig > 0, axis=1)
            & (x1 > x0)
            & (y1 > y0)
        )
    if not usable.any():
        return out
    mirror_y, mirror_x = (None, None) if reflect is None else (float(reflect[0]), float(reflect[1]))
    gx = _cell_integrals(cx[usable], sig[usable, 0], x0[usable], x1[usable], width, out_w, mirror_x)
    gy = _cell_integrals(cy[usable], sig[usable, 1], y0[usable], y1[usable], height, out_h, mirror_y)
    dense = (gy * w[usable, None]).T @ gx
    total = float(dense.sum())
    if not np.isfinite(total) or total <= 0.0:
        return out
    return (dense / total).astype(np.float32)
