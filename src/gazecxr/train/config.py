"""Configuration of optimisation and evaluation."""

from __future__ import annotations

from typing import Literal

from gazecxr.config import Section


class TrainConfig(Section):
    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    patience: int = 5  # early stopping on validation macro AUROC
    grad_clip: float = 1.0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # mixed precision, CUDA only
    deterministic: bool = True
    log_every: int = 10


class EvalConfig(Section):
    bootstrap: int = 1000
    ci: float = 0.95
    threshold_metric: Literal["f1", "youden"] = "f1"
    gradcam: bool = True
