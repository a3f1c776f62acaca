"""Training the localiser: augmented views through the frozen trunk once, then the head over them.

The trunk is frozen, so the features of ``anatomy.views`` augmented views per image
(:mod:`gazecxr.anatomy.views`) are computed once and kept (float16) in a :class:`ViewCache`; the
head then trains for ``anatomy.epochs`` over the cache. Cross-validation reuses one cache for every
fold (:func:`cross_validate`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gazecxr.anatomy.config import AnatomyConfig
from gazecxr.anatomy.domain import DomainModel
from gazecxr.anatomy.layout import LUNGS, LungLayout
from gazecxr.anatomy.localiser import Localiser
from gazecxr.anatomy.network import BoxMaskHead, box_cover, load_trunk, trunk_features
from gazecxr.anatomy.scores import Scores
from gazecxr.anatomy.views import make_view
from gazecxr.data.anatomy import REGIONS
from gazecxr.data.images import ImageReadError, load_resized
from gazecxr.errors import InputError
from gazecxr.prediction import Box

log = logging.getLogger("gazecxr.anatomy")
Sample = dict[str, Any]


class BoxSourceError(InputError):
    """No usable anatomy boxes in the sources given."""


TARGETS = ("boxes", "box_mask", "known_mask", "chest", "chest_mask")


@dataclass
class ViewCache:
    """Trunk features and targets of every view.

    Attributes:
        f8, f16, f32: ``(N, 40, 2g, 2g)`` / ``(N, 112, g, g)`` / ``(N, 1280, g/2, g/2)`` float16
            features (:func:`gazecxr.anatomy.network.trunk_features`); ``f8`` only for a
            ``fine_map`` head (None otherwise: 485 MB the shipped recipe's stride-16 head never reads).
        targets: name -> stacked target (:func:`gazecxr.anatomy.views.move_targets`, ``N`` first).
        owner: ``(N,)`` the sample each view is of; ``plain``: ``(N,)`` the unaugmented view.
        samples: the samples that could be read (``owner`` indexes these).
        source_index: ``(len(samples),)`` position of each kept sample in the list given.
        failed: ``(image_path, reason)`` of the samples whose image could not be read.
    """

    f8: torch.Tensor | None
    f16: torch.Tensor
    f32: torch.Tensor
    targets: dict[str, torch.Tensor]
    owner: np.ndarray
    plain: np.ndarray
    samples: list[Sample]
    source_index: np.ndarray
    failed: list[tuple[str, str]]

    def features(self, views: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """The head's inputs for the cached ``views`` (indices)."""
        return None if self.f8 is None else self.f8[views], self.f16[views], self.f32[views]


def annotated(sample: Sample) -> dict[str, Box]:
    """The boxes a sample's source drew (without those :func:`anchor_targets` placed)."""
    drawn = sample.get("annotated", sample["boxes"])
    return {r: b for r, b in sample["boxes"].items() if r in drawn}


def anchor_targets(samples: Sequence[Sample]) -> list[Sample]:
    """``samples`` with, on every image whose source has only the lungs (real COCO lung boxes), the
    other regions' boxes placed from its true lungs by the layout of the samples that have all 17
    (``AnatomyConfig.anchor_targets``): the region maps then learn real films, not only phantoms.
    ``sample["annotated"]`` names the regions the source drew. Unchanged when no sample has the 17."""
    try:
        layout = LungLayout.fit_boxes([s["boxes"] for s in samples])
    except ValueError:
        return list(samples)
    out = []
    for s in samples:
        boxes = s["boxes"]
        if all(r in boxes for r in LUNGS) and len(boxes) < len(REGIONS):
            truth = torch.tensor([[boxes.get(r, (0.0, 0.0, 0.0, 0.0)) for r in REGIONS]], dtype=torch.float64)
            placed = layout.place(truth)[0].tolist()
            completed = {r: boxes.get(r, tuple(placed[k])) for k, r in enumerate(REGIONS)}
            s = {**s, "boxes": completed, "annotated": tuple(boxes)}
        out.append(s)
    return out


def build_views(
    samples: Sequence[Sample], cfg: AnatomyConfig, trunk: torch.nn.Module | None = None
) -> ViewCache:
    """Read every image once, make ``cfg.views`` views of it and run them through the frozen trunk.

    An image that cannot be read is skipped, counted and logged with its path and reason.
    """
    trunk = trunk or load_trunk()
    if cfg.anchor_targets:
        samples = anchor_targets(samples)
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)  # intensity jitter draws from torch's generator
    f8s, f16s, f32s, owner, plain, kept, kept_at, failed = [], [], [], [], [], [], [], []
    targets: dict[str, list[torch.Tensor]] = {k: [] for k in TARGETS}
    t0 = time.perf_counter()
    for at, sample in enumerate(samples):
        try:
            image = torch.from_numpy(load_resized(sample["image_path"], cfg.image_size))
        except ImageReadError as exc:
            failed.append((sample["image_path"], exc.reason))
            continue
        batch = []
        for v in range(cfg.views):
            view, t = make_view(image, sample, cfg.augment, rng, REGIONS, plain=v == 0)
            batch.append(view)
            for k in TARGETS:
                targets[k].append(t[k])
            owner.append(len(kept))
            plain.append(v == 0)
        f8, f16, f32 = trunk_features(trunk, torch.stack(batch)[:, None])
        if cfg.fine_map:
            f8s.append(f8.half())
        f16s.append(f16.half())
        f32s.append(f32.half())
        kept.append(sample)
        kept_at.append(at)
    if failed:
        log.warning(
            "%d image(s) could not be read and were skipped: %s",
            len(failed),
            "; ".join(f"{p}: {r}" for p, r in failed[:5]),
        )
    if not kept:
        raise ValueError("no image of the given sources could be read")
    log.info(
        "%d views of %d images through the trunk in %.0f s", len(owner), len(kept), time.perf_counter() - t0
    )
    return ViewCache(
        torch.cat(f8s) if f8s else None,
        torch.cat(f16s),
        torch.cat(f32s),
        {k: torch.stack(v) for k, v in targets.items()},
        np.asarray(owner),
        np.asarray(plain),
        kept,
        np.asarray(kept_at),
        failed,
    )


def mask_loss(logits: torch.Tensor, t: dict[str, torch.Tensor], chest_weight: float) -> torch.Tensor:
    """Per-cell BCE of the region maps.

    Args:
        logits: ``(B, R, g, g)``.
        t: targets of the batch (``boxes (B, R, 4)``, ``box_mask``, ``known_mask`` ``(B, R)``,
            ``chest (B, 4)``, ``chest_mask (B,)``).
        chest_weight: weight of the chest-box term: cells outside a REFLACX chest box are outside
            both lungs (the box is drawn around the lungs), a constraint valid whatever its margin.

    Returns:
        scalar: mean BCE over the regions a source has (a known region out of the view has an
        all-zero target: "not in this image"); regions a source lacks contribute nothing.
    """
    n = logits.shape[-1]
    cover = box_cover(t["boxes"], n) * t["box_mask"][..., None, None]
    bce = F.binary_cross_entropy_with_logits(logits, cover, reduction="none").mean((-2, -1))
    m = t["known_mask"].float()  # known but out of the view: an all-zero target
    loss = (bce * m).sum() / m.sum().clamp(min=1.0)
    if chest_weight > 0 and bool(t["chest_mask"].any()):
        lungs = [REGIONS.index("right lung"), REGIONS.index("left lung")]
        outside = 1.0 - box_cover(t["chest"], n)  # (B, g, g)
        neg = (
            F.binary_cross_entropy_with_logits(
                logits[:, lungs], torch.zeros_like(logits[:, lungs]), reduction="none"
            )
            * outside[:, None]
        )
        c = t["chest_mask"].float()
        loss = loss + chest_weight * (neg.mean((1, 2, 3)) * c).sum() / c.sum().clamp(min=1.0)
    return loss


def epoch_views(
    views: np.ndarray, sources: np.ndarray, balance: bool, rng: np.random.Generator
) -> np.ndarray:
    """The views of one epoch: ``views`` shuffled, or with ``balance`` as many drawn with
    replacement, each source (``sample["source"]``: all synthetic cohorts together, each real dataset
    root, each COCO file) with the same total probability, so that 84 real radiographs weigh as much
    as synthetic cohorts of any size.

    Args:
        views: indices into the cache; sources: ``(len(views),)`` source label of each.
    """
    if not balance:
        return rng.permutation(views)
    _, inverse, counts = np.unique(sources, return_inverse=True, return_counts=True)
    p = 1.0 / counts[inverse]
    return rng.choice(views, size=len(views), replace=True, p=p / p.sum())


def fit_head(cache: ViewCache, views: np.ndarray, cfg: AnatomyConfig) -> BoxMaskHead:
    """Train a :class:`BoxMaskHead` over the cached ``views`` (indices into the cache)."""
    if len(views) == 0:
        raise ValueError("no training view")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    sources = np.array([cache.samples[o]["source"] for o in cache.owner[views]])
    head = BoxMaskHead(cfg.head_dim, fine=cfg.fine_map)
    steps = cfg.epochs * math.ceil(len(views) / cfg.batch_size)
    opt = torch.optim.AdamW(head.parameters(), cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=steps)
    head.train()
    for _ in range(cfg.epochs):
        order = epoch_views(views, sources, cfg.balance_sources, rng)
        for s in range(0, len(order), cfg.batch_size):
            b = torch.from_numpy(order[s : s + cfg.batch_size])
            logits = head(*cache.features(b))
            loss = mask_loss(logits, {k: v[b] for k, v in cache.targets.items()}, cfg.chest_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return head.eval()


def fit(cache: ViewCache, cfg: AnatomyConfig, samples: np.ndarray | None = None) -> Localiser:
    """Head, in-domain model and lung-anchored layout from the views of ``samples`` (indices into
    ``cache.samples``; None: all).

    Raises:
        BoxSourceError: no sample with both lungs has some region's box (no layout can place it).
    """
    keep = np.ones(len(cache.owner), bool) if samples is None else np.isin(cache.owner, samples)
    chosen = range(len(cache.samples)) if samples is None else samples
    try:
        layout = LungLayout.fit_boxes(
            [annotated(cache.samples[i]) for i in chosen], cfg.max_offset, cfg.max_scale
        )
    except ValueError as exc:
        raise BoxSourceError(str(exc)) from None
    head = fit_head(cache, np.nonzero(keep)[0], cfg)
    plain = torch.from_numpy(np.nonzero(keep & cache.plain)[0])
    domain = DomainModel.fit(cache.f32[plain].float().mean((2, 3)), cfg.domain_dims)
    return Localiser(head, domain, layout, cfg)


def score_boxes(
    localiser: Localiser,
    raw: torch.Tensor,
    confidence: torch.Tensor,
    truth: torch.Tensor,
    known: torch.Tensor,
    scores: Scores,
    reference: LungLayout | None = None,
) -> None:
    """Add to ``scores`` the boxes ``localiser`` uses (:meth:`Localiser.resolve` of the head's ``raw
    (B, R, 4)`` boxes and ``confidence (B, R)``) against ``truth (B, R, 4)`` where ``known (B, R)``;
    with ``reference``, the regions not known are scored against the boxes it places from the true
    lungs (:meth:`LungLayout.reference`)."""
    boxes, anchored, _ = localiser.resolve(raw, confidence)
    truth = truth.double()
    if reference is not None:
        truth, known = reference.reference(truth, known)
    scores.add(boxes.double(), truth, known, anchored)


def score_views(
    localiser: Localiser, cache: ViewCache, views: np.ndarray, reference: LungLayout | None = None
) -> Scores:
    """:func:`score_boxes` of the cached ``views`` against their targets (with ``reference``, only
    the regions the source drew count as known: :func:`annotated`)."""
    scores = Scores()
    for start in range(0, len(views), 64):
        batch = views[start : start + 64]
        b = torch.from_numpy(batch)
        raw, conf, _ = localiser.from_features(*cache.features(b))
        known = cache.targets["box_mask"][b]
        if reference is not None:
            drawn = [annotated(cache.samples[o]) for o in cache.owner[batch]]
            known = known & torch.tensor([[r in d for r in REGIONS] for d in drawn])
        score_boxes(localiser, raw, conf, cache.targets["boxes"][b], known, scores, reference)
    return scores


def patient_folds(groups: Sequence[str], k: int, seed: int = 0) -> np.ndarray:
    """Fold ``0..k-1`` per item, every patient (group) in one fold, patients shuffled with ``seed``."""
    unique = sorted(set(groups))
    if len(unique) < k:
        raise ValueError(f"{k}-fold cross-validation needs at least {k} patients, got {len(unique)}")
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {unique[i]: f % k for f, i in enumerate(order)}
    return np.asarray([fold_of[g] for g in groups])


def read_sources(data: Sequence[str | Path] = (), coco: Sequence[str | Path] = ()) -> list[Sample]:
    """The samples of dataset roots and COCO box files (:mod:`gazecxr.anatomy.sources`)."""
    from gazecxr.anatomy.sources import read_coco, read_dataset

    samples = [s for root in data for s in read_dataset(root)]
    samples += [s for path in coco for s in read_coco(path)]
    if not samples:
        raise BoxSourceError("no anatomy boxes in the given sources (give --data ROOT and/or --coco FILE)")
    return samples


def train_localiser(
    samples: Sequence[Sample], cfg: AnatomyConfig, out: str | Path, extra: dict[str, Any] | None = None
) -> Path:
    """Train on every sample and write the model directory ``out`` (weights, config, provenance).

    ``metrics.json`` records the training images per source, the reading failures and the
    training-set IoU (a sanity check, not an accuracy claim: use ``anatomy cv`` / ``anatomy eval``).
    """
    from gazecxr.runinfo import init_run_dir, write_metrics

    out = init_run_dir(out, cfg, cfg.seed, extra=extra)
    cache = build_views(samples, cfg)
    localiser = fit(cache, cfg)
    localiser.save(out)
    sources: dict[str, int] = {}
    for s in cache.samples:
        sources[s["source"]] = sources.get(s["source"], 0) + 1
    fit_iou = score_views(localiser, cache, np.nonzero(cache.plain)[0]).summary()
    write_metrics(
        out,
        {
            "training_images": sources,
            "failed": cache.failed,
            "training_set": fit_iou,
            "layout": localiser.layout.describe(),
        },
    )
    return out
