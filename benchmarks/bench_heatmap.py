"""Fixation heatmap benchmark: output-grid rendering versus the dataset authors' procedures at full
resolution.

For readings on 3056 x 2544 (height x width) images with 60-120 fixations, on a 224 x 224 grid:

REFLACX (sigma = 1 degree at 74-132 px/degree, duration weights, per-fixation crops, a few
fixations off the image or the crop):

- ours: ``gazecxr.gaze.fixations.reading_heatmap`` with the ``reflacx`` preset (separable erf
  cell integrals, no full-resolution map);
- reference A, REFLACX's ``generate_heatmaps.py`` procedure: per fixation the unit-mass density
  ``multivariate_normal(mu, diag(sy^2, sx^2)).pdf`` at the integer pixels of the rounded crop
  shown (computed as the equal separable product, which is faster than scipy's), times the
  duration, summed over the full image, divided by its sum, then area-resized (PIL BOX);
- reference B, a stronger baseline: the same but each density only inside a +-4 sigma window.

EGD-CXR (``egd`` preset): EGD's ``process_eye_gaze_table``: a count per fixation at its integer
pixel, ``scipy.ndimage.gaussian_filter(sigma=150)`` (default ``mode='reflect'``) at full
resolution, then area-resized (reference C).

All single-threaded. Reports mean time per map, speed-up ratios (measured in the same run) and
the Pearson r between maps. Writes ``benchmarks/results/heatmap.json``. Targets (issues 11, 23):
r >= 0.99999 against A and C, and >= 50x faster than B.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from threadpoolctl import threadpool_limits

from gazecxr.gaze import fixations as fx
from gazecxr.gaze.config import GazeConfig

OUT = Path(__file__).resolve().parent / "results" / "heatmap.json"
IMAGE = (3056, 2544)  # (height, width)
GRID = (224, 224)


def reading(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One simulated reading: positions mostly on the chest, a few off the image or crop."""
    n = int(rng.integers(60, 121))
    h, w = IMAGE
    x = rng.normal(w / 2, w / 5, n).round()
    y = rng.normal(h / 2, h / 5, n).round()
    sigma = rng.integers(74, 133, n).astype(np.float64)  # 1 degree in image pixels
    crop = np.tile([0.0, 0.0, float(w), float(h)], (n, 1))
    zoomed = rng.uniform(size=n) < 0.3  # a zoomed-in crop for part of the reading
    crop[zoomed] = [w * 0.2, h * 0.15, w * 0.8, h * 0.85]
    return {"x": x, "y": y, "w": rng.uniform(0.1, 0.8, n), "sigma": sigma, "crop": crop}


def reference_full(r: dict[str, np.ndarray], window: float | None) -> np.ndarray:
    """REFLACX's procedure at full resolution, then area resize; ``window`` limits each density
    to +-window*sigma around its centre (reference B)."""
    h, w = IMAGE
    full = np.zeros(IMAGE, dtype=np.float32)  # float32, as REFLACX accumulates
    for k in range(len(r["x"])):
        x0, y0, x1, y1 = (int(round(v)) for v in r["crop"][k])
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        s, cx, cy = r["sigma"][k], r["x"][k], r["y"][k]
        if window is not None:
            x0, x1 = max(x0, int(cx - window * s)), min(x1, int(cx + window * s) + 1)
            y0, y1 = max(y0, int(cy - window * s)), min(y1, int(cy + window * s) + 1)
        if x1 <= x0 or y1 <= y0:
            continue
        xs, ys = np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32)
        gx = np.exp(-((xs - cx) ** 2) / (2 * s * s)) / (np.sqrt(2 * np.pi) * s)
        gy = np.exp(-((ys - cy) ** 2) / (2 * s * s)) / (np.sqrt(2 * np.pi) * s)
        if window is None:  # the reference: one full-image array per fixation, zero outside the crop
            g = np.zeros(IMAGE, dtype=np.float32)
            g[y0:y1, x0:x1] = np.outer(gy, gx)
            full += r["w"][k] * g
        else:
            full[y0:y1, x0:x1] += r["w"][k] * np.outer(gy, gx)
    return area_resize(full / full.sum())


def area_resize(full: np.ndarray) -> np.ndarray:
    small = np.asarray(
        Image.fromarray(full.astype(np.float32), mode="F").resize(GRID[::-1], Image.Resampling.BOX),
        dtype=np.float64,
    )
    return small / small.sum()


def reference_egd(r: dict[str, np.ndarray]) -> np.ndarray:
    """EGD's procedure at full resolution (reference C): counts at the integer pixels of the
    fixations on the image, blurred with sigma 150 px, reflecting border, then area resize."""
    h, w = IMAGE  # even sides: no padding
    record = np.zeros(IMAGE)
    on = (r["x"] >= 0) & (r["x"] < w) & (r["y"] >= 1) & (r["y"] < h)
    np.add.at(record, (r["y"][on].astype(int), r["x"][on].astype(int)), 1.0)
    return area_resize(ndimage.gaussian_filter(record, 150))


RECIPES = {
    "reflacx": GazeConfig().for_source("reflacx"),
    "egd": GazeConfig(reference={"eyegaze": "egd"}).for_source("eyegaze"),
}


def ours(r: dict[str, np.ndarray], preset: str = "reflacx") -> np.ndarray:
    """The reading's map by the preset's recipe (``reading_heatmap`` on a fixation array)."""
    fix = np.zeros((len(r["x"]), fx.N_COLS))
    fix[:, fx.X], fix[:, fx.Y], fix[:, fx.T_END] = r["x"], r["y"], r["w"]  # duration = weight
    fix[:, fx.ANGRES] = r["sigma"][:, None]  # sigma_deg = 1: sigma = pixels per degree
    fix[:, fx.CROP] = r["crop"]
    selected, _ = fx.select_fixations(fix, IMAGE, RECIPES[preset], None)  # egd: off-image dropped
    return fx.reading_heatmap(selected, IMAGE, GRID, RECIPES[preset])


def timed(fn, items: list, repeats: int) -> tuple[float, list[np.ndarray]]:
    out = []
    t0 = time.perf_counter()
    for _ in range(repeats):
        out = [fn(r) for r in items]
    return (time.perf_counter() - t0) / (repeats * len(items)), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=6, help="readings rendered by the references")
    parser.add_argument("--quick", action="store_true", help="2 readings (smoke run)")
    args = parser.parse_args()
    n = 2 if args.quick else args.readings
    rng = np.random.default_rng(0)
    items = [reading(rng) for _ in range(n)]
    # One BLAS thread, as in a DataLoader worker (gazecxr.data.dataset pins it there); the
    # references use no BLAS. Everything here is single-threaded.
    with threadpool_limits(1, user_api="blas"):
        t_ours, maps = timed(ours, items, repeats=20)
        t_egd, maps_egd = timed(lambda r: ours(r, "egd"), items, repeats=20)
        t_a, ref_a = timed(lambda r: reference_full(r, None), items, repeats=1)
        t_b, ref_b = timed(lambda r: reference_full(r, 4.0), items, repeats=1)
        t_c, ref_c = timed(reference_egd, items, repeats=1)

    def pearson(ms: list[np.ndarray], refs: list[np.ndarray]) -> list[float]:
        return [float(np.corrcoef(m.ravel(), a.ravel())[0, 1]) for m, a in zip(ms, refs, strict=True)]

    r_a, r_b, r_c = pearson(maps, ref_a), pearson(maps, ref_b), pearson(maps_egd, ref_c)
    result = {
        "image_size_hw": IMAGE,
        "grid_hw": GRID,
        "readings": n,
        "fixations_per_reading": [int(len(r["x"])) for r in items],
        "ms_per_map_ours": 1e3 * t_ours,
        "ms_per_map_reference_full": 1e3 * t_a,
        "ms_per_map_reference_windowed": 1e3 * t_b,
        "speedup_vs_full": t_a / t_ours,
        "speedup_vs_windowed": t_b / t_ours,
        "pearson_r_vs_full_min": min(r_a),
        "pearson_r_vs_windowed_min": min(r_b),
        "max_abs_diff_vs_full": float(max(np.abs(m - a).max() for m, a in zip(maps, ref_a, strict=True))),
        "ms_per_map_ours_egd": 1e3 * t_egd,
        "ms_per_map_reference_egd": 1e3 * t_c,
        "speedup_egd_vs_reference": t_c / t_egd,
        "pearson_r_egd_vs_reference_min": min(r_c),
        "load_average_1min": os.getloadavg()[0],
        "targets": {"speedup_vs_windowed": 50, "pearson_r_vs_full": 0.99999, "pearson_r_egd": 0.99999},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    for k, v in result.items():
        print(f"{k:32s} {v:.4g}" if isinstance(v, float) else f"{k:32s} {v}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
