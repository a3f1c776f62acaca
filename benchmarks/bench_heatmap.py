"""Fixation heatmap benchmark: output-grid rendering versus full resolution + resize.

For readings on 3056 x 2544 (height x width) images with 60-120 fixations (sigma = 1 degree at
74-132 px/degree, duration weights, per-fixation crops), compares on a 224 x 224 grid:

- ``gazecxr.gaze.fixation_heatmap`` (separable erf cell integrals, no full-resolution map);
- reference A, the straightforward implementation: per fixation a unit-peak Gaussian over the
  full image, cut to its crop, summed, then area-resized (PIL BOX) and normalised;
- reference B, a stronger baseline: the same but each Gaussian only inside a +-4 sigma window.

All single-threaded. Reports mean time per map, speed-up ratios (measured in the same run) and the Pearson r between
maps. Writes ``benchmarks/results/heatmap.json``. Targets (issue 3): r >= 0.99 and >= 50x over A.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

from gazecxr.gaze import fixation_heatmap

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
    crop = np.tile([0.0, 0.0, w - 1.0, h - 1.0], (n, 1))
    zoomed = rng.uniform(size=n) < 0.3  # a zoomed-in crop for part of the reading
    crop[zoomed] = [w * 0.2, h * 0.15, w * 0.8, h * 0.85]
    return {"x": x, "y": y, "w": rng.uniform(0.1, 0.8, n), "sigma": sigma, "crop": crop}


def _usable(r: dict[str, np.ndarray]) -> np.ndarray:
    x, y, c = r["x"], r["y"], r["crop"]
    return (x >= c[:, 0]) & (x <= c[:, 2]) & (y >= c[:, 1]) & (y <= c[:, 3])


def reference_full(r: dict[str, np.ndarray], window: float | None) -> np.ndarray:
    """Full-resolution rendering then area resize; ``window`` limits each Gaussian to +-window*sigma."""
    h, w = IMAGE
    full = np.zeros(IMAGE, dtype=np.float32)
    xs, ys = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)
    for k in np.flatnonzero(_usable(r)):
        x0, y0, x1, y1 = r["crop"][k].astype(int)
        s = r["sigma"][k]
        if window is not None:
            x0, x1 = max(x0, int(r["x"][k] - window * s)), min(x1, int(r["x"][k] + window * s))
            y0, y1 = max(y0, int(r["y"][k] - window * s)), min(y1, int(r["y"][k] + window * s))
        gx = np.exp(-((xs[x0 : x1 + 1] - r["x"][k]) ** 2) / (2 * s * s))
        gy = np.exp(-((ys[y0 : y1 + 1] - r["y"][k]) ** 2) / (2 * s * s))
        if window is None:  # the straightforward way: a full 2-D Gaussian per fixation
            g = np.zeros(IMAGE, dtype=np.float32)
            g[y0 : y1 + 1, x0 : x1 + 1] = np.outer(gy, gx)
            full += r["w"][k] * g
        else:
            full[y0 : y1 + 1, x0 : x1 + 1] += r["w"][k] * np.outer(gy, gx)
    small = np.asarray(
        Image.fromarray(full, mode="F").resize(GRID[::-1], Image.Resampling.BOX), dtype=np.float64
    )
    return small / small.sum()


def ours(r: dict[str, np.ndarray]) -> np.ndarray:
    return fixation_heatmap(r["x"], r["y"], r["w"], IMAGE, GRID, r["sigma"], crop=r["crop"])


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
    t_a, ref_a = timed(lambda r: reference_full(r, None), items, repeats=1)
    t_b, ref_b = timed(lambda r: reference_full(r, 4.0), items, repeats=1)
    r_a = [float(np.corrcoef(m.ravel(), a.ravel())[0, 1]) for m, a in zip(maps, ref_a, strict=True)]
    r_b = [float(np.corrcoef(m.ravel(), b.ravel())[0, 1]) for m, b in zip(maps, ref_b, strict=True)]
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
        "load_average_1min": os.getloadavg()[0],
        "targets": {"speedup_vs_full": 50, "pearson_r": 0.99},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    for k, v in result.items():
        print(f"{k:32s} {v:.4g}" if isinstance(v, float) else f"{k:32s} {v}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
