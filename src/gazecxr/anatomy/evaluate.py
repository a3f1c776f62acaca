"""Localiser accuracy: per-region mean IoU and share of boxes at IoU >= 0.5, and patient-grouped CV.

Scored are the boxes the localiser *uses* (:meth:`Localiser.resolve`: the model's, or the
lung-anchored layout's where the model's is implausible). Real radiographs here have only the
lungs annotated; with a ``reference`` layout (fitted on a cohort with the 17 EyeGaze boxes,
:func:`reference_layout`) every other region is scored against the box that layout places from the
*true* lungs, the definition of ``../shared/tools/anatomy_regions_check.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gazecxr.anatomy.config import AnatomyConfig
from gazecxr.anatomy.layout import LEFT, LUNGS, RIGHT, LungLayout
from gazecxr.anatomy.localiser import Localiser
from gazecxr.anatomy.scores import Scores
from gazecxr.anatomy.train import (
    BoxSourceError,
    ViewCache,
    build_views,
    fit,
    patient_folds,
    score_boxes,
    score_views,
)
from gazecxr.data.anatomy import REGIONS
from gazecxr.data.images import ImageReadError, load_resized

log = logging.getLogger("gazecxr.anatomy")
Sample = dict[str, Any]


def reference_layout(cohort: str | Path) -> LungLayout:
    """The mean geometry relative to the lungs of a dataset root's EyeGaze boxes (e.g. a ``gazecxr
    synth`` cohort), for :func:`evaluate` / :func:`cross_validate` ``reference``.

    Raises:
        BoxSourceError: the root has no image with the 17 boxes.
    """
    from gazecxr.anatomy.sources import read_dataset

    samples = read_dataset(cohort)  # its errors name the root already
    try:
        return LungLayout.fit_boxes([s["boxes"] for s in samples])
    except ValueError as exc:
        raise BoxSourceError(f"{cohort}: {exc}") from None


def evaluate(
    localiser: Localiser, samples: Sequence[Sample], batch_size: int = 16, reference: LungLayout | None = None
) -> dict[str, Any]:
    """IoU of the boxes the localiser uses against each sample's boxes (the regions it has, and with
    ``reference`` the regions placed from its true lungs), the images read at the model's size; also
    the number of images the atlas would replace (``fallback``) and of unreadable images
    (``failed``, with paths)."""
    s = localiser.cfg.image_size
    scores = Scores()
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
        raw, conf, domain = localiser.predict(torch.stack(images)[:, None])
        fallback += int(localiser.untrusted(conf, domain).sum())
        score_boxes(localiser, raw, conf, torch.stack(truth), torch.stack(mask), scores, reference)
    return {**scores.summary(), "images": len(samples) - len(failed), "fallback": fallback, "failed": failed}


def cross_validate(
    evaluated: Sequence[Sample],
    extra: Sequence[Sample],
    cfg: AnatomyConfig,
    cache: ViewCache | None = None,
    reference: LungLayout | None = None,
) -> dict[str, Any]:
    """Patient-grouped ``cfg.folds``-fold CV: each fold trains on ``extra`` and the other folds of
    ``evaluated``, and is scored on its own held-out images (unaugmented; with ``reference`` as in
    :func:`evaluate`).

    Returns:
        ``{"folds": [summary per fold], "pooled": summary of all held-out boxes, "folds_k", ...}``.
    """
    cache = cache or build_views([*evaluated, *extra], cfg)
    n_eval = int((cache.source_index < len(evaluated)).sum())  # the evaluated samples come first
    groups = [s["group"] for s in cache.samples[:n_eval]]
    fold = patient_folds(groups, cfg.folds, cfg.seed)
    owner_fold = np.where(cache.owner < n_eval, fold[np.minimum(cache.owner, n_eval - 1)], -1)
    folds, pooled = [], Scores()
    for f in range(cfg.folds):
        localiser = fit(cache, cfg, np.unique(cache.owner[owner_fold != f]))
        held = np.nonzero((owner_fold == f) & cache.plain)[0]
        scores = score_views(localiser, cache, held, reference)
        pooled.extend(scores)
        folds.append(
            {
                "fold": f,
                "images": len(held),
                "patients": len({groups[i] for i in np.nonzero(fold == f)[0]}),
                **scores.summary(),
            }
        )
        log.info("fold %d: %s", f, folds[-1].get("lungs"))
    return {
        "folds_k": cfg.folds,
        "folds": folds,
        "pooled": pooled.summary(),
        "evaluated_images": n_eval,
        "extra_images": len(cache.samples) - n_eval,
    }


def lung_error_sensitivity(
    samples: Sequence[Sample], reference: LungLayout, sds: Sequence[float], repeats: int = 5, seed: int = 0
) -> list[dict[str, Any]]:
    """How accurate the lungs must be for the regions placed from them: every lung edge of every
    sample with both lungs moved by Gaussian noise (sd ``sd`` x that lung's width or height, each
    edge independently), the other regions placed from the moved lungs by ``reference`` and scored
    against the boxes it places from the true lungs (the definition of :func:`evaluate` with
    ``reference``), ``repeats`` draws per sample.

    Returns:
        one :meth:`Scores.summary` per ``sd``, with ``"sd"`` added.

    Raises:
        ValueError: no sample has both lungs.
    """
    lungs = [RIGHT, LEFT]
    rows = [s["boxes"] for s in samples if all(r in s["boxes"] for r in LUNGS)]
    if not rows:
        raise ValueError("no sample has both lung boxes")
    truth = torch.tensor(
        [[b.get(r, (0.0, 0.0, 0.0, 0.0)) for r in REGIONS] for b in rows], dtype=torch.float64
    ).repeat(repeats, 1, 1)
    known = torch.zeros(truth.shape[:2], dtype=torch.bool)
    known[:, lungs] = True
    ref, ref_known = reference.reference(truth, known)
    size = (truth[:, lungs, 2:] - truth[:, lungs, :2]).repeat(1, 1, 2)  # (N, 2, 4): w, h, w, h
    gen = torch.Generator().manual_seed(seed)
    out = []
    for sd in sds:
        moved = truth.clone()
        noise = torch.randn(size.shape, generator=gen, dtype=torch.float64)
        moved[:, lungs] = truth[:, lungs] + sd * size * noise
        scores = Scores()
        scores.add(reference.place(moved, clip=False), ref, ref_known)
        out.append({"sd": float(sd), **scores.summary()})
    return out
