"""Inference over a loader and what the training loop needs from it: probabilities, map scores,
validation macro AUROC and BCE, and the decision thresholds chosen on validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from gazecxr.gaze.maps import normalise_maps
from gazecxr.log import progress_disabled
from gazecxr.runinfo import write_json_atomic
from gazecxr.train.rundir import RunDir


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
    skipped_readings: list[str] = field(default_factory=list)  # unreadable images, not in the N rows


def upsample_maps(maps: torch.Tensor, size: int) -> torch.Tensor:
    """``(B, h, w)`` non-negative maps -> ``(B, S, S)`` bilinear, clamped, each summing to 1."""
    up = F.interpolate(maps[:, None].float(), size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    return normalise_maps(up.clamp_min(0))


def score_map(pred: np.ndarray, gaze: np.ndarray, fixations: np.ndarray) -> dict[str, float]:
    """Saliency metrics (:func:`gazecxr.metrics.saliency.saliency_metrics`) of one predicted
    ``(S, S)`` map against a gaze density and ``(n, 2)`` fixations (x, y in [0, 1])."""
    from gazecxr.metrics.saliency import fixation_map, saliency_metrics

    return saliency_metrics(pred, gaze, fixation_map(fixations, pred.shape))


def score_localisation(pred: np.ndarray, boxes: list) -> dict[str, float]:
    """Pointing game and attention mass inside the union of the given ellipses (on ``pred``'s grid)."""
    from gazecxr.data.masks import region_mask
    from gazecxr.metrics.localization import attention_mass, pointing_game

    mask = region_mask(boxes, pred.shape, kind="ellipse")
    return {"pointing_game": pointing_game(pred, mask), "mass_in_ellipses": attention_mass(pred, mask)}


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
    skipped: list[str] = []
    for batch in tqdm(loader, desc="evaluating", disable=progress_disabled(), leave=False):
        skipped += batch["skipped"]  # unreadable images: not scored, never replaced
        if "image" not in batch:
            continue
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
    if not probs:
        raise ValueError(f"no reading of this split could be read ({len(skipped)} unreadable images)")
    return Outputs(
        np.concatenate(probs),
        np.concatenate(targets),
        np.concatenate(masks),
        subjects,
        readings,
        maps if score_maps else {},
        {**counts, "skipped_unreadable": len(skipped)},
        skipped,
    )


def macro_auroc(out: Outputs) -> float:
    from gazecxr.metrics.classification import classification_metrics

    return float(classification_metrics(out.targets, out.probs, out.mask)["macro"]["auroc"])


def validation_bce(out: Outputs) -> float:
    """Mean binary cross-entropy over the known labels of ``out`` (a NumPy metric; the loss is
    :func:`gazecxr.losses.contrastive.masked_bce_loss`)."""
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
        RunDir(run_dir).thresholds,
        {
            "labels": label_names,
            "thresholds": {n: float(t) for n, t in zip(label_names, thresholds, strict=True)},
            "chosen_on": "validate",
            "metric": metric,
            "epoch": epoch + 1,
            "validation_readings": int(len(out.probs)),
        },
    )
