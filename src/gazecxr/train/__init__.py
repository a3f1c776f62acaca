"""gazecxr.train: training loop, checkpoints and resume, DDP, evaluation, ablations, prediction.

Members are imported lazily so that loading a config (which imports ``gazecxr.train.config``)
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "train_run": "gazecxr.train.trainer",
    "evaluate_run": "gazecxr.train.evaluate",
    "run_ablation": "gazecxr.train.ablate",
    "Predictor": "gazecxr.train.predict",
    "Prediction": "gazecxr.prediction",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gazecxr.train' has no attribute {name!r}")
