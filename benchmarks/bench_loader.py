"""Data loader throughput versus the training step of the default model (CPU, 224 px).

On a synthetic tree at full radiograph resolution (``gazecxr synth --image-size 3000``; written
once, or ``--tree``), measures in one run:

- loader images/s, 2 workers, batch 32, training split with augmentation, image cache off
  (every item decodes its JPEG: the first epoch / a cohort too large to cache);
- the same with the shared image cache warm (later epochs of a cached cohort);
- training images/s of the default backbone (``ModelConfig()``: efficientnet_lite0) at 224 px,
  batch 32: forward + masked BCE + backward + AdamW step on pre-built batches (no loader).

The loader is not the bottleneck when its images/s exceed the training images/s. Both share the
same (2-core, shared) CPU, so in a real run they compete; the ratio says how much headroom the
loader has. Writes ``benchmarks/results/loader.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from _common import ensure_synthetic_tree  # benchmarks/ is on sys.path when run as a script
from gazecxr.config import load_config
from gazecxr.data import build_datasets, collate

OUT = Path(__file__).resolve().parent / "results" / "loader.json"


def loader_rate(dataset, workers: int, batch: int, epochs: int) -> tuple[float, int]:
    loader = DataLoader(
        dataset,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        collate_fn=collate,
        persistent_workers=workers > 0,
    )
    next(iter(loader))  # start the workers before timing
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for b in loader:
            n += int(b["image"].shape[0])
    return n / (time.perf_counter() - t0), n


def train_rate(size: int, labels: int, batch: int, steps: int) -> float | None:
    try:
        from gazecxr.models import build_model
        from gazecxr.models.config import ModelConfig
    except ImportError:
        return None
    model = build_model(ModelConfig(), labels, size)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, y = torch.rand(batch, 1, size, size), (torch.rand(batch, labels) > 0.7).float()

    def step() -> None:
        out = model(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out.logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tree", type=Path, default=Path(tempfile.gettempdir()) / "gazecxr-bench-tree-fullres"
    )
    parser.add_argument("--studies", type=int, default=120)
    parser.add_argument("--image-size", type=int, default=3000, help="long side of the synthetic radiographs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4, help="timed training steps")
    args = parser.parse_args()
    ensure_synthetic_tree(args.tree, args.studies, args.image_size)
    common = [
        f"data.root={args.tree}",
        "data.image_size=224",
        "data.split.test_fraction=0.05",
        "data.split.val_fraction=0.05",
    ]
    cold = build_datasets(load_config(None, [*common, "data.cache_images=false"]))["train"]
    rate_cold, n_cold = loader_rate(cold, args.workers, args.batch, epochs=1)
    cached = build_datasets(load_config(None, [*common, "data.cache_images=true"]))["train"]
    loader_rate(cached, args.workers, args.batch, epochs=1)  # fills the shared cache
    rate_warm, n_warm = loader_rate(cached, args.workers, args.batch, epochs=2)
    rate_train = train_rate(224, len(cold.label_names), args.batch, args.steps)
    h, w = int(cold.index["height"].median()), int(cold.index["width"].median())
    result = {
        "tree": str(args.tree),
        "image_hw_median": [h, w],
        "train_readings": len(cold),
        "workers": args.workers,
        "batch": args.batch,
        "loader_images_per_s_cache_off": rate_cold,
        "loader_images_per_s_cache_warm": rate_warm,
        "items_timed": [n_cold, n_warm],
        "train_images_per_s_default_model": rate_train,
        "loader_over_train_cache_off": rate_cold / rate_train if rate_train else None,
        "loader_over_train_cache_warm": rate_warm / rate_train if rate_train else None,
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": os.getloadavg()[0],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    for k, v in result.items():
        print(f"{k:34s} {v:.4g}" if isinstance(v, float) else f"{k:34s} {v}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
