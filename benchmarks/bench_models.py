"""Stage-1 model benchmark on CPU: training throughput, FLOP-rate share of matmul peak, gaze overhead.

Measures in one run (so the ratios share the machine's state):
- the machine's float32 matrix-multiply peak (GFLOP/s, square ``torch.mm``, best of several);
- per backbone at 224 px: training images/s (image-only forward + classification loss + backward
  + AdamW step) and its FLOP rate as a share of that peak. Training FLOPs = 3 x the forward FLOPs
  counted by ``torch.utils.flop_counter`` (the usual backward = 2 x forward convention): the
  counter's own backward count is unusable here, it overcounts grouped (depthwise) convolution
  backward by the group count (measured: 119 vs 7 MFLOP for one 32-group 3x3 conv);
- the per-step time (wall and process CPU time) of full gaze supervision (four gaze terms + image-gaze InfoNCE through the
  fixation bi-GRU, and additionally image-text InfoNCE) against classification only, for the
  default backbone, with the variants interleaved step by step (target <= 1.15x);
- image-only inference latency (batch 1, model forward -> probabilities + attention).

Runs single-threaded by default (``--threads``): on a shared, oversubscribed CPU, OpenMP
threads spin at every parallel region's barrier while a sibling thread is descheduled, which made
2-thread steps 10-40x slower and bimodal (measured here: 9.6 s vs 0.21 s of CPU per step of
EfficientNet-Lite0 at 128 px, batch 8), so only single-thread figures are comparable.

Writes ``benchmarks/results/models.json``. ``--quick`` for a smoke run. The load average is
recorded: on a shared machine the absolute numbers move, the interleaved ratios much less.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from pathlib import Path

import torch

from _common import (  # benchmarks/ is on sys.path
    LABELS,
    matmul_peak_gflops,
    train_flops,
    training_batch,
    write_result,
)
from gazecxr.losses import Objective
from gazecxr.losses.config import LossConfig
from gazecxr.models import build_model
from gazecxr.models.base import embed_pairs
from gazecxr.models.config import ModelConfig

OUT = Path(__file__).resolve().parent / "results" / "models.json"
SIZE = 224


def loss_cfg(kind: str) -> LossConfig:
    c = {"baseline": (False, 0.0, 0.0), "gaze": (True, 0.0, 0.1), "full": (True, 0.1, 0.1)}[kind]
    return LossConfig.model_validate(
        {
            "gaze": {"enabled": c[0]},
            "contrastive": {"image_text": c[1], "image_gaze": c[2]},
            "curriculum": {"enabled": False},
        }
    )


class Stepper:
    """One optimiser step of a model + objective on a fixed batch."""

    def __init__(self, model: torch.nn.Module, kind: str, batch: dict) -> None:
        self.model, self.batch, self.kind = model, batch, kind
        self.objective = Objective(loss_cfg(kind), LABELS)
        self.opt = torch.optim.AdamW(list(model.parameters()) + list(self.objective.parameters()), lr=1e-4)

    def __call__(self) -> tuple[float, float]:
        """One step; returns (wall seconds, process CPU seconds summed over threads)."""
        t, c = time.perf_counter(), time.process_time()
        b = self.batch
        # Classification only is image-only; with gaze terms a ViT's gaze token also gets fixations.
        fix = (b["fixations"], b["fixations_len"]) if self.kind != "baseline" else (None, None)
        obj = self.objective
        out = embed_pairs(self.model, self.model(b["image"], *fix), b, obj.needs_texts, obj.needs_fixations)
        loss, _ = obj(out, self.batch, epoch=10.0)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return time.perf_counter() - t, time.process_time() - c


def throughput(backbone: str, batch_size: int, steps: int, peak: float) -> dict:
    torch.manual_seed(0)
    cfg = ModelConfig(backbone=backbone, text_encoder="none", pretrained=backbone == "efficientnet_lite0")
    model = build_model(cfg, LABELS, SIZE).train()
    batch = training_batch(batch_size, SIZE)
    flops = train_flops(model, batch["image"])
    step = Stepper(model, "baseline", batch)
    step()  # warm-up
    times = [step() for _ in range(steps)]
    sec = statistics.median(w for w, _ in times)
    cpu = statistics.median(c for _, c in times)
    rate = flops / sec / 1e9
    return {
        "batch_size": batch_size,
        "steps": steps,
        "step_s_median": round(sec, 4),
        "images_per_s": round(batch_size / sec, 2),
        "images_per_cpu_s": round(batch_size / cpu, 2),
        "train_gflop_per_image_3x_forward": round(flops / batch_size / 1e9, 3),
        "gflops_per_s": round(rate, 2),
        "share_of_matmul_peak": round(rate / peak, 4),
        "attention_grid": list(model.attention_grid),
    }


def gaze_overhead(batch_size: int, steps: int) -> dict:
    """Per-step time of each objective relative to classification only.

    One model and optimiser serve all three objectives (so no instance-to-instance difference
    enters the ratio); each round runs the three in a random order.
    """
    batch = training_batch(batch_size, SIZE, seed=1)
    torch.manual_seed(0)
    model = build_model(ModelConfig(text_encoder="minilm"), LABELS, SIZE).train()
    steppers = {kind: Stepper(model, kind, batch) for kind in ("baseline", "gaze", "full")}
    for step in steppers.values():
        step()  # warm-up (fills the MiniLM cache, as after the first epoch)
    order = list(steppers)
    rng = random.Random(0)
    wall: dict[str, list[float]] = {k: [] for k in steppers}
    cpu: dict[str, list[float]] = {k: [] for k in steppers}
    for _ in range(steps):
        rng.shuffle(order)
        for kind in order:
            w, c = steppers[kind]()
            wall[kind].append(w)
            cpu[kind].append(c)
    mw = {k: statistics.median(v) for k, v in wall.items()}
    mc = {k: statistics.median(v) for k, v in cpu.items()}
    return {
        "batch_size": batch_size,
        "steps_each": steps,
        "fixations_per_sample": "50-256 (padded to 256)",
        "step_wall_s_median": {k: round(v, 4) for k, v in mw.items()},
        "step_cpu_s_median": {k: round(v, 4) for k, v in mc.items()},
        # CPU time (all threads of this process) is the work done; on a shared, oversubscribed
        # machine it is far less sensitive to other processes than wall time.
        "ratio_gaze_vs_baseline_cpu": round(mc["gaze"] / mc["baseline"], 3),
        "ratio_full_vs_baseline_cpu": round(mc["full"] / mc["baseline"], 3),
        "ratio_gaze_vs_baseline_wall": round(mw["gaze"] / mw["baseline"], 3),
        "ratio_full_vs_baseline_wall": round(mw["full"] / mw["baseline"], 3),
        "variants": {
            "baseline": "classification (masked BCE) only",
            "gaze": "+ four gaze terms (trust-weighted) + image-gaze InfoNCE through the fixation bi-GRU",
            "full": "gaze + image-text InfoNCE (frozen MiniLM, cache warm) : the default objective",
        },
        "target": "<= 1.15",
    }


@torch.no_grad()
def inference_latency(repeats: int) -> dict:
    model = build_model(ModelConfig(text_encoder="none"), LABELS, SIZE).eval()
    image = torch.rand(1, 1, SIZE, SIZE)
    model(image)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = model(image)
        _ = torch.sigmoid(out.logits), out.attention
        times.append(time.perf_counter() - t)
    return {
        "batch_size": 1,
        "repeats": repeats,
        "latency_s_median": round(statistics.median(times), 4),
        "target_s": 0.3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps (smoke run; numbers are noisy)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1: see the module docstring)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps = 2 if args.quick else 8
    load_before = os.getloadavg()
    peak = matmul_peak_gflops()
    result = {
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "load_average_1m_at_start": round(load_before[0], 2),
            "note": "CPU shared with other processes while measured; ratios are interleaved in one run",
        },
        "image_size": SIZE,
        "matmul_peak_gflops_fp32": round(peak, 1),
        "training": {},
    }
    for backbone, bs in (("efficientnet_lite0", 16), ("vit", 16), ("densenet121", 8)):
        result["training"][backbone] = throughput(backbone, bs, steps, peak)
        print(backbone, result["training"][backbone], flush=True)
    result["gaze_overhead_efficientnet_lite0"] = gaze_overhead(16, steps)
    print("overhead", result["gaze_overhead_efficientnet_lite0"], flush=True)
    result["inference_efficientnet_lite0"] = inference_latency(5 if args.quick else 20)
    write_result(result, args.out)


if __name__ == "__main__":
    main()
