"""CPU training speed of the default backbone: today's path against the path before it, in one run.

"Before" is the Stage-1 EfficientNet-Lite0 as it trained until 2026-12-02: NCHW tensors and the
port's separate ``F.pad`` before every "same"-padded conv. "Now" is the default: channels-last
(NHWC) weights and feature maps (``model.memory_format``) and the stride-1 padding inside the
convolution (``gazecxr.models.cnn._static_same_padding``). The two models start from the same
weights; each round runs one optimiser step of each in a random order (so both see the same
machine state), at 128 px (the demo and ablation size) and 224 px, with 1 thread and with every
core, for classification only and for the full gaze objective. The ratio is of medians.

Also measured in the same run: the float32 matmul peak (square ``torch.mm``) and each path's FLOP
rate as a share of it (training FLOPs = 3 x forward FLOPs, as in bench_models.py), and the largest
difference of both paths' losses at the first step (same weights, same batch) and over the
timed steps.

Paths tried and not adopted (measured while choosing, 2 cores, 128 px, batch 32): channels-last
input only, weights NCHW: 1.65x; ``torch.compile``: slower than eager on this CPU (session 3).
bfloat16 autocast is not used: its results are not equal to float32 within float tolerance.

Then, at 128 px, the total images/s of one single-threaded process per core running at once (how
``gazecxr demo`` and ``ablate --jobs`` place runs) against the "before" path with every thread in
one process (how the demo trained before), both measured in this run.

Then the demo recipe (configs/demo.yaml: frozen early blocks, ``model.freeze_blocks``, and the
tiled depthwise backward, ``model.depthwise_grad``; 128 px, 1 thread, gaze objective) against
today's default, interleaved the same way: ``frozen_cached`` reads the frozen blocks' output from
the cache (every epoch after a run's first, and every run after the first of a process),
``frozen_computed`` computes it under ``no_grad`` at every step (a run's first epoch, or
``data.augment: true``). A run's training cost relative to today's is then
``((E - 1) * cached + computed) / (E * now)`` for ``E`` epochs with a cache of its own, and
``cached / now`` once the process's cache is filled. Each change alone is timed in the same
rounds: the frozen blocks with PyTorch's depthwise backward, and the default with the tiled one.

Writes ``benchmarks/results/train_speed.json``. ``--quick``: few steps, one size (smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from _common import (  # benchmarks/ is on sys.path
    LABELS,
    matmul_peak_gflops,
    train_flops,
    training_batch,
    write_result,
)
from gazecxr.config import load_config
from gazecxr.demo.profiles import config_dir
from gazecxr.losses import Objective
from gazecxr.losses.config import LossConfig
from gazecxr.models import build_model
from gazecxr.models.base import embed_pairs
from gazecxr.models.config import ModelConfig

OUT = Path(__file__).resolve().parent / "results" / "train_speed.json"
BATCH = 32


def before_path(model: nn.Module) -> nn.Module:
    """The model as it trained before: NCHW, and the port's dynamic padding on every folded conv."""
    from efficientnet_lite_pytorch.utils import Conv2dDynamicSamePadding

    model.to(memory_format=torch.contiguous_format)
    model._memory_format = torch.contiguous_format
    for m in model.backbone.modules():
        if type(m) is nn.Conv2d and any(p > 0 for p in m.padding):  # the port pads nothing itself
            m.__class__ = Conv2dDynamicSamePadding
            m.padding = (0, 0)
    return model


def objective(kind: str) -> Objective:
    gaze = kind == "gaze"
    cfg = LossConfig.model_validate(
        {
            "gaze": {"enabled": gaze},
            "contrastive": {"image_text": 0.0, "image_gaze": 0.1 if gaze else 0.0},
            "curriculum": {"enabled": False},
        }
    )
    return Objective(cfg, LABELS)


class Step:
    """One AdamW step of a model + objective on a fixed batch; returns (wall s, loss).

    ``seed`` reseeds torch before the step, so both paths draw the same dropout and drop-connect
    masks in a round whatever the order they run in."""

    def __init__(self, model: nn.Module, kind: str, batch: dict) -> None:
        torch.manual_seed(1)
        self.model, self.batch, self.obj = model.train(), batch, objective(kind)
        params = list(model.parameters()) + list(self.obj.parameters())
        self.opt = torch.optim.AdamW(params, lr=1e-4)

    def __call__(self, seed: int) -> tuple[float, float]:
        torch.manual_seed(seed)
        t = time.perf_counter()
        out = embed_pairs(
            self.model,
            self.model(self.batch["image"]),
            self.batch,
            self.obj.needs_texts,
            self.obj.needs_fixations,
        )
        loss, _ = self.obj(out, self.batch, epoch=10.0)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return time.perf_counter() - t, float(loss.detach())


def compare(size: int, kind: str, steps: int, peak: float) -> dict:
    def build() -> nn.Module:
        torch.manual_seed(0)
        return build_model(ModelConfig(text_encoder="none"), LABELS, size)

    models = {"before": before_path(build()), "now": build()}
    batch = training_batch(BATCH, size, max_fixations=128)
    flops = train_flops(models["now"], batch["image"]) / BATCH
    stepper = {k: Step(m, kind, batch) for k, m in models.items()}
    wall: dict[str, list[float]] = {k: [] for k in stepper}
    losses: dict[str, list[float]] = {k: [] for k in stepper}
    for k, s in stepper.items():  # warm-up; its loss is step 0 of the comparison
        losses[k].append(s(0)[1])
    order, rng = list(stepper), random.Random(0)
    for round_ in range(1, steps + 1):
        rng.shuffle(order)
        for k in order:
            w, loss = stepper[k](round_)
            wall[k].append(w)
            losses[k].append(loss)
    ips = {k: BATCH / statistics.median(v) for k, v in wall.items()}
    return {
        "images_per_s": {k: round(v, 2) for k, v in ips.items()},
        "speedup_now_vs_before": round(ips["now"] / ips["before"], 3),
        "share_of_matmul_peak": {k: round(v * flops / 1e9 / peak, 4) for k, v in ips.items()},
        # same weights and batch: float32 summation order only (tests/test_models.py shows the
        # two paths are the same function in float64)
        "first_step_loss_difference": abs(losses["now"][0] - losses["before"][0]),
        # AdamW's normalised updates let rounding differences grow step by step
        "max_loss_difference_over_steps": max(abs(a - b) for a, b in zip(*losses.values(), strict=True)),
    }


def demo_recipe(size: int, steps: int, blocks: int, depthwise_grad: str, epochs: int) -> dict:
    """Step time of the demo recipe (``model.freeze_blocks = blocks``, ``model.depthwise_grad``;
    cache warm, and computed every step) against today's default model, gaze objective,
    interleaved in one run; also each change alone; the per-run cost ratio (docstring)."""
    from gazecxr.models.frozen import PrefixCache

    def step(k: int, dw: str, cached: bool) -> Step:
        torch.manual_seed(0)
        model = build_model(
            ModelConfig(text_encoder="none", freeze_blocks=k, depthwise_grad=dw), LABELS, size
        )
        if cached:
            model.prefix_cache = PrefixCache(1 << 30)
        return Step(model, "gaze", batch)

    batch = training_batch(BATCH, size, max_fixations=128)
    stepper = {
        "now": step(0, "aten", False),
        "frozen_cached": step(blocks, depthwise_grad, True),
        "frozen_computed": step(blocks, depthwise_grad, False),
        "frozen_cached_aten_depthwise": step(blocks, "aten", True),
        "now_tiled_depthwise": step(0, "tiled", False),
    }
    for s in stepper.values():
        s(0)  # warm-up; fills the caches
    wall: dict[str, list[float]] = {k: [] for k in stepper}
    order, rng = list(stepper), random.Random(0)
    for round_ in range(1, steps + 1):
        rng.shuffle(order)
        for k in order:
            wall[k].append(stepper[k](round_)[0])
    med = {k: statistics.median(v) for k, v in wall.items()}
    per_run = ((epochs - 1) * med["frozen_cached"] + med["frozen_computed"]) / (epochs * med["now"])
    return {
        "freeze_blocks": blocks,
        "depthwise_grad": depthwise_grad,
        "epochs": epochs,
        "steps_each": steps,
        "images_per_s": {k: round(BATCH / v, 2) for k, v in med.items()},
        "step_ratio_cached_vs_now": round(med["frozen_cached"] / med["now"], 3),
        "step_ratio_computed_vs_now": round(med["frozen_computed"] / med["now"], 3),
        "step_ratio_cached_aten_depthwise_vs_now": round(med["frozen_cached_aten_depthwise"] / med["now"], 3),
        "step_ratio_now_tiled_depthwise_vs_now": round(med["now_tiled_depthwise"] / med["now"], 3),
        "run_cost_ratio_own_cache": round(per_run, 3),
        "target": "run cost of the demo recipe <= 0.45x of today's",
    }


def _worker(args: tuple[int, str, int, int]) -> float:
    """One single-threaded process: images/s of the current path (median step)."""
    size, kind, steps, batch_seed = args
    torch.set_num_threads(1)
    torch.manual_seed(0)
    step = Step(
        build_model(ModelConfig(text_encoder="none"), LABELS, size),
        kind,
        training_batch(BATCH, size, batch_seed, max_fixations=128),
    )
    step(0)
    return BATCH / statistics.median(step(r)[0] for r in range(1, steps + 1))


def processes(size: int, kind: str, steps: int, workers: int) -> dict:
    """Total images/s of ``workers`` single-threaded training processes running at once: how the
    demo and ``ablate --jobs`` use the cores (one run per core)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        rates = pool.map(_worker, [(size, kind, steps, w) for w in range(workers)])
    return {
        "workers": workers,
        "images_per_s_each": [round(r, 2) for r in rates],
        "images_per_s": round(sum(rates), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 steps at 128 px, 1 thread (smoke run)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    steps = 3 if args.quick else 8
    sizes = (128,) if args.quick else (128, 224)
    threads = (1,) if args.quick else sorted({1, os.cpu_count() or 1})
    result: dict = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        },
        "batch_size": BATCH,
        "steps_each": steps,
        "target": ">= 2x images/s against `before`, or >= 50 % of the matmul peak",
        "runs": {},
    }
    for n in threads:
        torch.set_num_threads(n)
        peak = matmul_peak_gflops()
        result["runs"][f"threads{n}"] = {"matmul_peak_gflops_fp32": round(peak, 1)}
        for size in sizes:
            for kind in ("baseline", "gaze"):
                r = compare(size, kind, steps, peak)
                result["runs"][f"threads{n}"][f"{size}px_{kind}"] = r
                print(n, size, kind, json.dumps(r), flush=True)
    torch.set_num_threads(1)  # the demo's placement: one single-threaded run per core
    demo = load_config(config_dir() / "demo.yaml")
    if demo.model.freeze_blocks:
        # 3x the rounds: five paths whose ratios are the target's (the step varies by +-10 % here)
        result["frozen_demo_recipe"] = r = demo_recipe(
            demo.data.image_size,
            3 * steps,
            demo.model.freeze_blocks,
            demo.model.depthwise_grad,
            demo.train.epochs,
        )
        print("frozen", json.dumps(r), flush=True)
    if not args.quick and (os.cpu_count() or 1) > 1:
        # The demo's placement (one 1-thread run per core) against the path before it with every
        # thread in one process, both from this run.
        cores = os.cpu_count() or 1
        before = result["runs"][f"threads{cores}"]
        result["one_run_per_core"] = {}
        for kind in ("baseline", "gaze"):
            r = processes(128, kind, steps, cores)
            r["speedup_vs_before_all_threads_one_process"] = round(
                r["images_per_s"] / before[f"128px_{kind}"]["images_per_s"]["before"], 3
            )
            result["one_run_per_core"][f"128px_{kind}"] = r
            print("processes", kind, json.dumps(r), flush=True)
    write_result(result, args.out)


if __name__ == "__main__":
    main()
