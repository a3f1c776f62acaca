"""configs/mimic-eye-paper.yaml (ViT gaze token, rollout, patient split, augmentation, loader
workers, MiniLM text encoder) trained end to end on a tiny synthetic cohort with tiny overrides,
then evaluated and used for prediction. Sizes are overridden, the code paths are the paper's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gazecxr.config import load_config
from gazecxr.synth.config import SynthConfig
from gazecxr.synth.writer import write_cohort
from gazecxr.train.evaluate import evaluate_run
from gazecxr.train.predict import Predictor
from gazecxr.train.trainer import train_run

REPO = Path(__file__).resolve().parents[1]
TINY_PAPER = [
    "data.image_size=64",
    "data.num_workers=2",
    "model.vit.patch_size=16",
    "model.vit.dim=32",
    "model.vit.depth=2",
    "model.vit.heads=2",
    "model.embed_dim=16",
    "train.epochs=1",
    "train.batch_size=4",
    "train.checkpoint_every=2",
    "train.num_threads=1",
    "eval.bootstrap=20",
]


@pytest.mark.slow
def test_paper_config_runs_on_a_tiny_synthetic_cohort(tmp_path: Path) -> None:
    root = tmp_path / "cohort"
    write_cohort(root, SynthConfig(studies=40, seed=3, image_size=128, render_size=128), workers=1)
    cfg = load_config(REPO / "configs" / "mimic-eye-paper.yaml", TINY_PAPER)
    assert cfg.model.backbone == "vit" and cfg.model.vit.attention_map == "rollout"
    assert cfg.data.label_set == "paper8" and cfg.data.split.mode == "patient" and cfg.data.augment
    run = train_run(cfg, root, tmp_path / "run")
    thresholds = json.loads((run / "thresholds.json").read_text())
    assert len(thresholds["labels"]) == 8
    result = evaluate_run(run, root, "test")
    assert result["counts"]["readings"] > 0
    assert result["maps"]["attention"]["cc"]["n"] == result["counts"]["with_gaze"]
    image = next(root.glob("patient_*/CXR-JPG/s*/*.jpg"))
    pred = Predictor.from_run(run).predict_path(image)
    assert pred.attention.shape == (4, 4) and pred.labels == thresholds["labels"]
