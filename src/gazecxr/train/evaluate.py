"""Evaluation of a run: classification with patient-bootstrap CIs, attention versus gaze, localisation.

Attention maps (and Grad-CAM maps) are compared with gaze on the *image grid* of the dataset
(``data.image_size``): the model's ``(h, w)`` map is upsampled bilinearly and renormalised, the
gaze heatmap is the dataset's ``(S, S)`` density, and fixation pixels are the fixation positions
rounded to that grid. Readings without usable gaze are skipped by the gaze metrics and counted;
readings without ellipses of a positive label are skipped by the localisation metrics and counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from gazecxr.experiment import ExperimentConfig
from gazecxr.runinfo import write_json_atomic
from gazecxr.train.inference import Outputs, infer
from gazecxr.train.loader import SeededDataset, sample_cache
from gazecxr.train.predict import load_run_model
from gazecxr.train.rundir import RunDir


def summarise_maps(per_reading: list[dict[str, float]]) -> dict[str, Any]:
    """Mean, sd and count of every map metric over the readings that have it."""
    keys = sorted({k for r in per_reading for k in r})
    out = {}
    for k in keys:
        vals = np.array([r[k] for r in per_reading if k in r and np.isfinite(r[k])], dtype=np.float64)
        out[k] = {
            "mean": float(vals.mean()) if len(vals) else None,
            "sd": float(vals.std(ddof=1)) if len(vals) > 1 else None,
            "n": int(len(vals)),
        }
    return out


def classification_with_ci(
    out: Outputs, thresholds: np.ndarray, label_names: list[str], cfg: ExperimentConfig
) -> dict[str, Any]:
    from gazecxr.metrics.classification import bootstrap_ci, classification_metrics

    point = classification_metrics(out.targets, out.probs, out.mask, thresholds, label_names)
    ci = bootstrap_ci(
        out.targets,
        out.probs,
        out.mask,
        groups=np.asarray(out.subject_ids),
        thresholds=thresholds,
        labels=label_names,
        n_boot=cfg.eval.bootstrap,
        ci=cfg.eval.ci,
        seed=cfg.seed,
    )
    return {
        "point": point,
        "ci": ci,
        "ci_level": cfg.eval.ci,
        "bootstrap": cfg.eval.bootstrap,
        "bootstrap_unit": "patient (subject_id)",
    }


def save_predictions(path: Path, out: Outputs, label_names: list[str]) -> None:
    """Per-reading predictions (``.npz``, no pickled objects) for paired comparisons between runs."""
    np.savez_compressed(
        path,
        probs=out.probs,
        targets=out.targets,
        mask=out.mask,
        subject_ids=np.asarray(out.subject_ids, dtype=str),
        reading_ids=np.asarray(out.reading_ids, dtype=str),
        labels=np.asarray(label_names, dtype=str),
    )


def load_predictions(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def evaluate_run(
    run: str | Path,
    data_root: str | Path | None,
    split: str = "test",
    device: str = "cpu",
    gradcam: bool | None = None,
) -> dict[str, Any]:
    """Evaluate a finished run's best checkpoint on a split, at its saved thresholds.

    Writes ``eval_<split>.json`` and ``predictions_<split>.npz`` into the run directory, adds the
    summary under ``eval_<split>`` in ``metrics.json`` and returns the full result.
    """
    from gazecxr.data import build_datasets, collate

    run = Path(run)
    model, cfg, label_names, thresholds = load_run_model(run, device)
    # The run's own data (or --data); evaluation never augments (also not when scoring the train split).
    data = RunDir(run).located(cfg.data, data_root).model_copy(update={"augment": False})
    cfg = cfg.model_copy(update={"data": data})
    root = data.root
    datasets = build_datasets(cfg, root=root)
    if split not in datasets:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(datasets)}")
    dataset = datasets[split]
    if list(dataset.label_names) != label_names:
        raise ValueError(
            f"{run}: labels of the run {label_names} differ from the data's {list(dataset.label_names)}"
        )
    if len(dataset) == 0:
        raise ValueError(f"{root}: split {split!r} is empty")
    use_gradcam = cfg.eval.gradcam if gradcam is None else gradcam
    cached = SeededDataset(
        dataset, cfg.seed, cache=sample_cache(cfg, root, split) if cfg.train.cache else None
    )
    loader = DataLoader(
        cached, batch_size=cfg.train.batch_size, shuffle=False, num_workers=0, collate_fn=collate
    )
    out = infer(model, loader, torch.device(device), label_names, score_maps=True, gradcam=use_gradcam)
    result = {
        "run": str(run),
        "split": split,
        "data_root": str(root),
        "labels": label_names,
        "thresholds": {n: float(t) for n, t in zip(label_names, thresholds, strict=True)},
        "counts": out.counts,
        "skipped_readings": out.skipped_readings,  # unreadable images: not scored, never replaced
        "classification": classification_with_ci(out, thresholds, label_names, cfg),
        "maps": {kind: summarise_maps(rows) for kind, rows in out.maps.items()},
        "map_grid": f"{cfg.data.image_size}x{cfg.data.image_size} (attention upsampled bilinearly)",
    }
    rd = RunDir(run)
    write_json_atomic(rd.eval_result(split), result)
    save_predictions(rd.predictions(split), out, label_names)
    rd.update_metrics(f"eval_{split}", headline(result))
    return result


def headline(result: Mapping[str, Any]) -> dict[str, Any]:
    """Macro metrics and mean map scores of an evaluation result (the numbers tables quote)."""
    macro = result["classification"]["point"]["macro"]
    out = {f"macro_{k}": v for k, v in macro.items()}
    for kind, metrics in result["maps"].items():
        for k, v in metrics.items():
            out[f"{kind}_{k}"] = v["mean"]
    return out
