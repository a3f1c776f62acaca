"""Configuration of optimisation and evaluation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gazecxr.schema import Section


class TrainConfig(Section):
    epochs: int = 10
    batch_size: int = 32  # global batch: split evenly over DDP processes
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0  # linear warm-up, then cosine decay to 0 (per optimiser step)
    patience: int = 5  # early stopping on validation macro AUROC
    grad_clip: float = 1.0  # max gradient norm; 0 disables clipping
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # mixed precision, CUDA only
    deterministic: bool = True
    log_every: int = 10  # optimiser steps between CSV/TensorBoard rows
    checkpoint_every: int = 0  # also checkpoint every N optimiser steps inside an epoch (0: epoch ends only)
    cache: bool = True  # keep decoded samples in memory (train split only when data.augment is false)
    # with model.freeze_blocks and train.cache: memory bound of the frozen blocks' cached outputs
    frozen_cache_gb: float = Field(4.0, ge=0)
    num_threads: int = 0  # torch intra-op threads; 0 keeps torch's default


class EvalConfig(Section):
    bootstrap: int = 1000
    ci: float = 0.95
    threshold_metric: Literal["f1", "youden"] = "f1"
    gradcam: bool = True
