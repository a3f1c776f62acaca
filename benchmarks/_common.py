"""Helpers shared by the benchmark scripts (run as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import time
from pathlib import Path

from gazecxr.synth import SynthConfig, write_cohort

LABELS = 8  # the synthetic label set's size


def matmul_peak_gflops(n: int = 1024, repeats: int = 12) -> float:
    """float32 peak of this machine and thread setting: best of ``repeats`` square ``torch.mm``."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def write_result(result: dict, out: Path) -> None:
    """Record the load average at the end (``result["machine"]``), write ``out`` as JSON, print it."""
    import json
    import os

    result["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def train_flops(model, image) -> float:  # noqa: ANN001 - a torch module and tensor
    """3 x the forward FLOPs of one batch (backward = 2 x forward, the usual convention; torch's
    counter overcounts grouped-conv backward, see bench_models.py)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(image)
    return 3.0 * float(counter.get_total_flops())


def training_batch(b: int, size: int, seed: int = 0, max_fixations: int = 256) -> dict:
    """A random Stage-1 training batch of ``b`` images of ``size`` px with every key the objective reads."""
    import torch

    g = torch.Generator().manual_seed(seed)
    heat = torch.rand(b, size, size, generator=g)
    return {
        "image": torch.rand(b, 1, size, size, generator=g),
        "labels": torch.randint(0, 2, (b, LABELS), generator=g).float(),
        "label_mask": torch.ones(b, LABELS),
        "gaze_heatmap": heat / heat.sum((1, 2), keepdim=True),
        "gaze_valid": torch.ones(b, dtype=torch.bool),
        "trust": torch.rand(b, generator=g),
        "fixations": torch.rand(b, max_fixations, 4, generator=g),
        "fixations_len": torch.randint(max_fixations // 5, max_fixations + 1, (b,), generator=g),
        "text": [f"finding {i % 5} in the {'left' if i % 2 else 'right'} lung" for i in range(b)],
        "ellipses": [[] for _ in range(b)],
    }


def ensure_synthetic_tree(tree: Path, studies: int, image_size: int, workers: int = 2) -> float | None:
    """Write a synthetic MIMIC-Eye tree (seed 0) at ``tree`` unless one is there already.

    Returns the generation time in seconds, or None when an existing tree was reused.
    """
    if tree.is_dir() and any(tree.glob("patient_*")):
        return None
    start = time.perf_counter()
    write_cohort(tree, SynthConfig(studies=studies, seed=0, image_size=image_size), workers=workers)
    return time.perf_counter() - start
