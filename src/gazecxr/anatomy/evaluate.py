"""Localiser accuracy: per-region mean IoU and share of boxes at IoU >= 0.5, and patient-grouped CV."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from gazecxr.anatomy.config import AnatomyConfig
from gazecxr.anatomy.localiser import Localiser
from gazecxr.anatomy.scores import collect, score_views, summarise
from gazecxr.anatomy.train import ViewCache, build_views, fit, patient_folds
from gazecxr.data.anatomy import REGIONS
from gazecxr.data.images import ImageReadError, load_resized

log = logging.getLogger("gazecxr.anatomy")
Sample = dict[str, Any]


def evaluate(localiser: Localiser, samples: Sequence[Sample], batch_size: int = 16) -> dict[str, Any]:
    """IoU of the model's boxes against each sample's boxes (the regions it has), the images read at
    the model's size; also the number of images the atlas would replace (``fallback``) and of
    unreadable images (``failed``, with paths)."""
    s = localiser.cfg.image_size
    ious: dict[str, list[float]] = {}
    failed: list[dict[str, str]] = []
    fallback = 0
    for start in range(0, len(samples), batch_size):
        images, truth, mask = [], [], []
        for sample in samples[start : start + batch_size]:
            try:
                images.append(torch.from_numpy(load_resized(sample["image_path"], s)))
            except ImageReadError as exc:
                failed.append({"path": sample["image_path"], "reason": exc.reason})
                continue
            truth.append(torch.tensor([sample["boxes"].get(r, (0.0, 0.0, 0.0, 0.0)) for r in REGIONS]))
            mask.append(torch.tensor([r in sample["boxes"] for r in REGIONS]))
        if not images:
            continue
        boxes, conf, domain = localiser.predict(torch.stack(images)[:, None])
        fallback += int(localiser.untrusted(conf, domain).sum())
        collect(ious, boxes, torch.stack(truth), torch.stack(mask))
    return {**summarise(ious), "images": len(samples) - len(failed), "fallback": fallback, "failed": failed}


def cross_validate(
    evaluated: Sequence[Sample], extra: Sequence[Sample], cfg: AnatomyConfig, cache: ViewCache | None = None
) -> dict[str, Any]:
    """Patient-grouped ``cfg.folds``-fold CV: each fold trains on ``extra`` and the other folds of
    ``evaluated``, and is scored on its own held-out images (unaugmented).

    Returns:
        ``{"folds": [summary per fold], "pooled": summary of all held-out boxes, "folds_k", ...}``.
    """
    cache = cache or build_views([*evaluated, *extra], cfg)
    n_eval = int((cache.source_index < len(evaluated)).sum())  # the evaluated samples come first
    groups = [s["group"] for s in cache.samples[:n_eval]]
    fold = patient_folds(groups, cfg.folds, cfg.seed)
    owner_fold = np.where(cache.owner < n_eval, fold[np.minimum(cache.owner, n_eval - 1)], -1)
    folds, pooled = [], {}
    for f in range(cfg.folds):
        train = np.unique(cache.owner[owner_fold != f])
        head, _ = fit(cache, cfg, train)
        held = np.nonzero((owner_fold == f) & cache.plain)[0]
        ious = score_views(head, cache, held)
        for r, v in ious.items():
            pooled.setdefault(r, []).extend(v)
        folds.append(
            {
                "fold": f,
                "images": len(held),
                "patients": len({groups[i] for i in np.nonzero(fold == f)[0]}),
                **summarise(ious),
            }
        )
        log.info("fold %d: %s", f, folds[-1].get("lungs"))
    return {
        "folds_k": cfg.folds,
        "folds": folds,
        "pooled": summarise(pooled),
        "evaluated_images": n_eval,
        "extra_images": len(cache.samples) - n_eval,
    }
