"""Inference latency per image on CPU: file on disk -> probabilities + attention map.

Measures :meth:`gazecxr.train.predict.Predictor.predict_path` (JPEG decode with draft scaling,
resize, forward pass of the default backbone, sigmoid, attention normalisation) on a full-size
(3056 x 2544, MIMIC-CXR-like) grayscale JPEG, for the default config (``efficientnet_lite0``,
224 px) and the demo config (128 px). The model weights are random (latency does not depend on
them). Target: < 0.3 s per image for the default backbone.

Usage: ``python benchmarks/bench_inference.py [--repeats N]``; writes
``benchmarks/results/inference.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gazecxr.config import load_config, save_config
from gazecxr.data.labels import LABEL_SETS
from gazecxr.models import build_model
from gazecxr.train.checkpoint import save_checkpoint, unique_state
from gazecxr.train.predict import Predictor
from gazecxr.train.rundir import BEST

HERE = Path(__file__).resolve().parent
TARGET_S = 0.3


def make_run(run: Path, image_size: int) -> None:
    labels = list(LABEL_SETS["synthetic8"])
    cfg = load_config(
        None, [f"data.image_size={image_size}", "model.pretrained=false", "model.text_encoder=none"]
    )
    model = build_model(cfg.model, len(labels), image_size)
    run.mkdir(parents=True)
    save_config(cfg, run / "config.yaml")
    save_checkpoint(run, BEST, unique_state(model), None, tag="0")
    (run / "thresholds.json").write_text(
        json.dumps({"labels": labels, "thresholds": dict.fromkeys(labels, 0.5)})
    )


def measure(run: Path, image: Path, repeats: int) -> dict[str, float]:
    predictor = Predictor.from_run(run)
    predictor.predict_path(image)  # warm-up (allocator, lazy imports)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        pred = predictor.predict_path(image)
        times.append(time.perf_counter() - start)
    assert pred.attention.sum() > 0
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "repeats": repeats,
        "attention_grid": list(pred.attention.shape),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    results: dict[str, object] = {
        "what": "Predictor.predict_path latency: JPEG 3056x2544 on disk -> probabilities + attention (CPU)",
        "target_s": TARGET_S,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "load_average_1min_before": os.getloadavg()[0],  # other work on the machine inflates latency
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        image = tmp_path / "cxr.jpg"
        rng = np.random.default_rng(0)
        Image.fromarray((rng.random((3056, 2544)) * 255).astype(np.uint8)).save(image, quality=92)
        for name, size in (("efficientnet_lite0_224px_default", 224), ("efficientnet_lite0_128px_demo", 128)):
            make_run(tmp_path / name, size)
            results[name] = measure(tmp_path / name, image, args.repeats)
            print(f"{name}: median {results[name]['median_s'] * 1000:.1f} ms", flush=True)  # type: ignore[index]
    default = results["efficientnet_lite0_224px_default"]["median_s"]  # type: ignore[index]
    results["meets_target"] = bool(default < TARGET_S)
    results["load_average_1min_after"] = os.getloadavg()[0]
    out = HERE / "results" / "inference.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
