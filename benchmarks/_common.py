"""Helpers shared by the benchmark scripts (run as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import time
from pathlib import Path

from gazecxr.synth import SynthConfig, write_cohort


def ensure_synthetic_tree(tree: Path, studies: int, image_size: int, workers: int = 2) -> float | None:
    """Write a synthetic MIMIC-Eye tree (seed 0) at ``tree`` unless one is there already.

    Returns the generation time in seconds, or None when an existing tree was reused.
    """
    if tree.is_dir() and any(tree.glob("patient_*")):
        return None
    start = time.perf_counter()
    write_cohort(tree, SynthConfig(studies=studies, seed=0, image_size=image_size), workers=workers)
    return time.perf_counter() - start
