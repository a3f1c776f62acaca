"""gazecxr.train: training loop, checkpoints and resume, DDP, evaluation, ablations, prediction.

Members are imported on first access, so loading a config (which imports ``gazecxr.train.config``)
does not import torch.
"""

from gazecxr._lazy import lazy_members

__getattr__, __dir__, __all__ = lazy_members(
    __name__,
    {
        "train_run": "gazecxr.train.trainer",
        "evaluate_run": "gazecxr.train.evaluate",
        "run_ablation": "gazecxr.train.ablate",
        "Predictor": "gazecxr.train.predict",
        "Prediction": "gazecxr.prediction",
    },
)
