"""``locate`` latency on CPU: one radiograph at the default size (224 px), through the whole
localiser (resize, frozen trunk, head, decoding, in-domain score), against the 50 ms target of
issue 12. Also the atlas it replaces (Otsu lung finder), measured in the same run.

    python benchmarks/bench_anatomy.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from gazecxr.anatomy.atlas import atlas_boxes
from gazecxr.anatomy.localiser import Localiser

TARGET_MS = 50.0
OUT = Path(__file__).resolve().parent / "results" / "anatomy.json"


def main() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((1024, 1024), dtype=np.float32)  # a display-size radiograph (512-1024 px)
    localiser = Localiser.load()
    for _ in range(3):  # warm-up: first calls allocate
        localiser.locate(image)
    times, atlas = [], []
    for _ in range(30):
        t = time.perf_counter()
        localiser.locate(image)
        times.append(time.perf_counter() - t)
    for _ in range(10):
        t = time.perf_counter()
        atlas_boxes(image)
        atlas.append(time.perf_counter() - t)
    result = {
        "threads": torch.get_num_threads(),
        "image": list(image.shape),
        "model_size": localiser.cfg.image_size,
        "locate_ms_median": 1000 * float(np.median(times)),
        "locate_ms_p90": 1000 * float(np.percentile(times, 90)),
        "atlas_ms_median": 1000 * float(np.median(atlas)),
        "target_ms": TARGET_MS,
    }
    result["meets_target"] = result["locate_ms_median"] <= TARGET_MS
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"locate: {result['locate_ms_median']:.1f} ms median, {result['locate_ms_p90']:.1f} ms p90 "
        f"(target {TARGET_MS:.0f} ms); atlas alone {result['atlas_ms_median']:.1f} ms"
    )


if __name__ == "__main__":
    main()
