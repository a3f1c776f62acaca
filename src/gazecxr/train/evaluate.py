"""Evaluation of a run: classification with patient-bootstrap CIs, attention versus gaze, localisation.

Attention maps (and Grad-CAM maps) are compared with gaze on the *image grid* of the dataset
(``data.image_size``): the model's ``(h, w)`` map is upsampled bilinearly and renormalised, the
gaze heatmap is the dataset's ``(S, S)`` density, and fixation pixels are the fixation positions
rounded to that grid. Readings without usable gaze are skipped by the gaze metrics and counted;
readings without ellipses of a positive label are skipped by the localisation metrics and counted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from gazecxr.experiment import ExperimentConfig
from gazecxr.log import LOGGER_NAME, progress_disabled
from gazecxr.runinfo import write_json_atomic, write_metrics

log = logging.getLogger(f"{LOGGER_NAME}.evaluate")

SALIENCY = ("cc", "kld", "nss", "sim", "auc_judd", "spearman")


@dataclass
class Outputs:
    """Predictions of a model over one split (N readings, C labels)."""

    probs: np.ndarray  # (N, C)
    targets: np.ndarray  # (N, C) 0/1
    mask: np.ndarray  # (N, C) 1 where the label is known
    subject_ids: list[str] = field(default_factory=list)
    reading_ids: list[str] = field(default_factory=list)
    maps: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # map kind -> per-reading scores
    counts: dict[str, int] = field(default_factory=dict)


def upsample_maps(maps: torch.Tensor, size: int) -> torch.Tensor:
    """``(B, h, w)`` non-negative maps -> ``(B, S, S)`` bilinear, clamped, each summing to 1."""
    up = F.interpolate(maps[:, None].float(), size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    up = up.clamp_min(0)
    return up / up.flatten(1).sum(1).clamp_min(1e-12)[:, None, None]


def score_map(pred: np.ndarray, gaze: np.ndarray, fixations: np.ndarray) -> dict[str, float]:
    """Saliency metrics of one predicted ``(S, S)`` map against a gaze density and ``(n, 2)`` fixations (x, y)."""
    from gazecxr.metrics import saliency as S

    fix = S.fixation_map(fixations, pred.shape)
    return {
        "cc": S.cc(pred, gaze),
        "kld": S.kld(pred, gaze),
        "sim": S.sim(pred, gaze),
        "nss": S.nss(pred, fix),
        "auc_judd": S.auc_judd(pred, fix),
        "spearman": S.spearman(pred, gaze),
    }


def score_localisation(pred: np.ndarray, boxes: list) -> dict[str, float]:
    """Pointing game and attention mass inside the union of the given ellipses (on ``pred``'s grid)."""
    from gazecxr.metrics import localization as L

    mask = L.region_mask(boxes, pred.shape, kind="ellipse")
    return {"pointing_game": L.pointing_game(pred, mask), "mass_in_ellipses": L.attention_mass(pred, mask)}


@torch.no_grad()
def _forward(model: torch.nn.Module, image: torch.Tensor, amp_dtype: torch.dtype | None) -> Any:
    with torch.autocast(image.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        return model(image)


def infer(
    model: torch.nn.Module,
    loader: DataLoader,
    device: torch.device,
    label_names: list[str],
    amp_dtype: torch.dtype | None = None,
    score_maps: bool = False,
    gradcam: bool = False,
) -> Outputs:
    """Image-only inference over a loader; optionally scores attention / Grad-CAM maps per reading.

    Args:
        score_maps: compute saliency metrics (readings with gaze) and localisation metrics
            (readings with ellipses of a positive label) for the attention map.
        gradcam: also compute Grad-CAM of the top-scoring class and score it the same way.
    """
    from gazecxr.metrics.localization import ellipses_for_labels

    was_training = model.training
    model.eval()
    probs, targets, masks, subjects, readings = [], [], [], [], []
    kinds = ["attention"] + (["gradcam"] if gradcam else [])
    maps: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    counts = {"readings": 0, "with_gaze": 0, "without_gaze": 0, "with_positive_ellipses": 0}
    for batch in tqdm(loader, desc="evaluating", disable=progress_disabled(), leave=False):
        image = batch["image"].to(device)
        out = _forward(model, image, amp_dtype)
        p = torch.sigmoid(out.logits.float())
        probs.append(p.cpu().numpy())
        targets.append(batch["labels"].numpy())
        masks.append(batch["label_mask"].numpy())
        subjects += [str(m["subject_id"]) for m in batch["meta"]]
        readings += [str(m["reading_id"]) for m in batch["meta"]]
        counts["readings"] += len(image)
        if not score_maps:
            continue
        size = image.shape[-1]
        candidates = {"attention": upsample_maps(out.attention, size)}
        if gradcam:
            from gazecxr.models import gradcam as gradcam_fn

            with torch.enable_grad():
                cams = gradcam_fn(model, image, p.argmax(1))
            candidates["gradcam"] = upsample_maps(cams.detach(), size)
        for i in range(len(image)):
            valid = bool(batch["gaze_valid"][i])
            counts["with_gaze" if valid else "without_gaze"] += 1
            positives = {
                n
                for n, y, m in zip(
                    label_names, batch["labels"][i].tolist(), batch["label_mask"][i].tolist(), strict=True
                )
                if y > 0.5 and m > 0
            }
            boxes = ellipses_for_labels(batch["ellipses"][i], positives)
            counts["with_positive_ellipses"] += bool(boxes)
            fix_xy = (
                batch["fixations"][i, : int(batch["fixations_len"][i]), :2].cpu().numpy() if valid else None
            )
            gaze = batch["gaze_heatmap"][i].numpy() if valid else None
            for kind, tensor in candidates.items():
                pred = tensor[i].cpu().numpy()
                scores: dict[str, float] = {}
                if valid and len(fix_xy):
                    scores.update(score_map(pred, gaze, fix_xy))
                if boxes:
                    scores.update(score_localisation(pred, boxes))
                maps[kind].append(scores)
    if was_training:
        model.train()
    return Outputs(
        np.concatenate(probs),
        np.concatenate(targets),
        np.concatenate(masks),
        subjects,
        readings,
        maps if score_maps else {},
        counts,
    )


def macro_auroc(out: Outputs) -> float:
    from gazecxr.metrics.classification import classification_metrics

    return float(classification_metrics(out.targets, out.probs, out.mask)["macro"]["auroc"])


def masked_bce(out: Outputs) -> float:
    p = np.clip(out.probs, 1e-7, 1 - 1e-7)
    bce = -(out.targets * np.log(p) + (1 - out.targets) * np.log(1 - p))
    return float((bce * out.mask).sum() / max(out.mask.sum(), 1))


def choose_thresholds(out: Outputs, metric: str) -> np.ndarray:
    from gazecxr.metrics.classification import choose_thresholds as choose

    return np.asarray(choose(out.targets, out.probs, mask=out.mask, metric=metric), dtype=np.float64)


def write_thresholds(
    run_dir: Path, label_names: list[str], thresholds: np.ndarray, metric: str, epoch: int, out: Outputs
) -> None:
    write_json_atomic(
        run_dir / "thresholds.json",
        {
            "labels": label_names,
            "thresholds": {n: float(t) for n, t in zip(label_names, thresholds, strict=True)},
            "chosen_on": "validate",
            "metric": metric,
            "epoch": epoch + 1,
            "validation_readings": int(len(out.probs)),
        },
    )


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
    from gazecxr.train.loader import SeededDataset
    from gazecxr.train.predict import load_run_model
    from gazecxr.train.trainer import sample_cache

    run = Path(run)
    model, cfg, label_names, thresholds = load_run_model(run, device)
    root = data_root if data_root is not None else cfg.data.root
    # Evaluation never augments (also not when scoring the train split).
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"augment": False})})
    datasets = build_datasets(cfg, root=root)
    if split not in datasets:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(datasets)}")
    dataset = datasets[split]
    if list(dataset.label_names) != label_names:
        raise ValueError(
            f"{run}: labels of the run {label_names} differ from the data's {list(dataset.label_names)}"
        )
    if len(dataset) == 0:
        raise ValueError(f"{data_root}: split {split!r} is empty")
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
        "data_root": str(data_root),
        "labels": label_names,
        "thresholds": {n: float(t) for n, t in zip(label_names, thresholds, strict=True)},
        "counts": out.counts,
        "classification": classification_with_ci(out, thresholds, label_names, cfg),
        "maps": {kind: summarise_maps(rows) for kind, rows in out.maps.items()},
        "map_grid": f"{cfg.data.image_size}x{cfg.data.image_size} (attention upsampled bilinearly)",
    }
    write_json_atomic(run / f"eval_{split}.json", result)
    save_predictions(run / f"predictions_{split}.npz", out, label_names)
    metrics_path = run / "metrics.json"
    previous = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    write_metrics(run, {**previous, f"eval_{split}": headline(result)})
    return result


def headline(result: Mapping[str, Any]) -> dict[str, Any]:
    """Macro metrics and mean map scores of an evaluation result (the numbers tables quote)."""
    macro = result["classification"]["point"]["macro"]
    out = {f"macro_{k}": v for k, v in macro.items()}
    for kind, metrics in result["maps"].items():
        for k, v in metrics.items():
            out[f"{kind}_{k}"] = v["mean"]
    return out
