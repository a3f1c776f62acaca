"""Tiny runs for the tests (helpers, not tests): a MIMIC-Eye tree in seconds, a demo-config run
shrunk to seconds, and a run directory holding an untrained model."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from data_fixtures import write_mimic_eye
from gazecxr.config import load_config, save_config
from gazecxr.data.labels import LABEL_SETS
from gazecxr.models import build_model
from gazecxr.train.checkpoint import save_checkpoint, unique_state
from gazecxr.train.rundir import BEST
from gazecxr.train.trainer import train_run

LABELS = list(LABEL_SETS["synthetic8"])
REPO = Path(__file__).resolve().parents[1]

# A demo-config run shrunk to seconds: 64 px, 2 epochs, batch 4, no ImageNet weights.
TINY = [
    "data.image_size=64",
    "data.split.mode=patient",
    "data.cache_images=false",
    "model.pretrained=false",
    "model.head_dim=32",
    "model.embed_dim=16",
    "model.text_buckets=256",
    "train.epochs=2",
    "train.batch_size=4",
    "train.log_every=2",
    "train.num_threads=1",
    "eval.bootstrap=20",
    "loss.curriculum.warmup_epochs=0",
    "loss.curriculum.ramp_epochs=1",
]


def write_tiny_tree(root: Path, n_patients: int = 24) -> Path:
    write_mimic_eye(root, n_patients=n_patients, height=96, width=80, seed=0)
    return root


def train_tiny(tree: Path, out: Path, *extra: str) -> Path:
    cfg = load_config(REPO / "configs" / "synthetic.yaml", [*TINY, *extra])
    return train_run(cfg, tree, out)


# Augmentation on: the resumed run must also redraw the same random affine per sample.
RESUME_EXTRA = ["data.augment=true", "train.checkpoint_every=2", "train.epochs=2", "train.batch_size=2"]


def train_tiny_resumable(tree: str, out: str, hook) -> None:  # noqa: ANN001 - called by KILL_SCRIPT
    cfg = load_config(REPO / "configs" / "synthetic.yaml", [*TINY, *RESUME_EXTRA])
    train_run(cfg, tree, out, resume=True, on_step=hook)


def write_untrained_run(out: Path, thresholds: dict[str, float]) -> Path:
    """A run directory holding an untrained model at 64 px (prediction and reports do not need a
    trained one), with ``thresholds`` per label of ``synthetic8``."""
    cfg = load_config(
        REPO / "configs" / "synthetic.yaml",
        ["data.image_size=64", "model.pretrained=false", "model.head_dim=32", "model.text_buckets=64"],
    )
    torch.manual_seed(0)
    save_config(cfg, out / "config.yaml")
    save_checkpoint(
        out, BEST, unique_state(build_model(cfg.model, len(LABELS), cfg.data.image_size)), None, tag="0"
    )
    (out / "thresholds.json").write_text(json.dumps({"labels": LABELS, "thresholds": thresholds}))
    return out
