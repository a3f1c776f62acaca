"""The Stage-1 training objective: L_cls + lambda_nce * L_nce + lambda_gaze(t) * mean_i(trust_i * L_gaze,i)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gazecxr.losses.config import LossConfig
from gazecxr.losses.contrastive import LearnableTemperature, info_nce, masked_bce_loss
from gazecxr.losses.gaze import (
    GazeLoss,
    curriculum_weight,
    label_weighted_attention,
    resample_to_grid,
    trust_weights,
    usable_gaze,
)
from gazecxr.losses.prior import ellipse_masks, ellipse_prior
from gazecxr.models.output import ModelOutput

NAN = float("nan")


def _float(x: torch.Tensor) -> float:
    return float(x.detach())


@dataclass
class Step:
    """What every term of the objective is computed from: the model's output, the batch's targets
    (collated sample dict), the fractional epoch (curriculum) and the denominator map ``count``
    (:meth:`Objective.forward`), plus the InfoNCE temperature (None without contrastive terms)."""

    out: ModelOutput
    batch: dict[str, Any]
    epoch: float
    count: Callable[[torch.Tensor], torch.Tensor]
    temperature: torch.Tensor | None = None


TermResult = tuple[torch.Tensor | None, dict[str, float]]
Term = Callable[["Objective", Step], TermResult]
TERMS: dict[str, Term] = {}  # name -> term, in the order they are added to the loss


def register_term(name: str) -> Callable[[Term], Term]:
    """Register a term of the objective: ``term(objective, step) -> (weighted loss or None,
    {term name: float})``; None when the term is off or has no eligible sample (then it adds
    nothing; its logged values are NaN). A term that divides by ``step.count(n)`` calls it on
    every step, before any return (data-parallel processes call it the same number of times)."""

    def add(term: Term) -> Term:
        if name in TERMS:
            raise ValueError(f"objective term {name!r} is already registered")
        TERMS[name] = term
        return term

    return add


class Objective(nn.Module):
    """The full Stage-1 loss; an ``nn.Module`` because it may hold the learnable InfoNCE temperature.

    Add ``objective.parameters()`` to the optimiser and save ``objective.state_dict()`` with the
    model. Computed from the model's output and the batch's targets only: the model embeds the
    texts and fixations (:meth:`gazecxr.models.base.GazeCXRNet.forward_batch`), the trainer applies
    the shuffled-gaze control to the batch before the forward (:func:`gazecxr.data.shuffle.shuffle_gaze`).

    Args:
        cfg: ``loss`` section.
        num_labels: ``C``, checked against the logits.
    """

    def __init__(self, cfg: LossConfig, num_labels: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_labels = num_labels
        self.gaze_loss = GazeLoss(cfg.gaze) if cfg.gaze.enabled else None
        c = cfg.contrastive
        self.temperature = (
            LearnableTemperature(c.temperature, c.learnable_temperature)
            if c.image_text > 0 or c.image_gaze > 0
            else None
        )

    @property
    def needs_texts(self) -> bool:
        """Whether the model must embed the batch's texts (``forward_batch(texts=...)``)."""
        return self.cfg.contrastive.image_text > 0

    @property
    def needs_fixations(self) -> bool:
        """Whether the model must embed the batch's fixation sequences."""
        return self.cfg.contrastive.image_gaze > 0

    def term_names(self) -> list[str]:
        """Keys of the ``terms`` dict for this configuration (stable across steps, for CSV columns)."""
        names = ["loss", "cls"]
        if self.gaze_loss is not None:
            names += [
                "gaze",
                *(f"gaze_{n}" for n in self.gaze_loss.weights),
                "lambda_gaze",
                "trust_mean",
                "gaze_usable",
            ]
            if self.cfg.gaze.target == "dictation":
                names.append("gaze_dictated")
        if self.cfg.contrastive.image_text > 0:
            names.append("nce_text")
        if self.cfg.contrastive.image_gaze > 0:
            names.append("nce_gaze")
        if self.temperature is not None:
            names.append("temperature")
        if self.cfg.ellipse_prior > 0:
            names.append("ellipse")
        return names

    def forward(
        self,
        out: ModelOutput,
        batch: dict[str, Any],
        epoch: float,
        count: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Compute the loss of one batch.

        Args:
            out: the model's output for ``batch`` (``forward_batch``, with the text / fixation
                embeddings the contrastive terms need).
            batch: collated sample dict (docs/architecture.md); keys used: ``labels``,
                ``label_mask``, and as configured ``gaze_heatmap (B,S,S)``, ``gaze_valid (B,)``,
                ``trust (B,)``, ``fixations_len (B,)``, ``gaze_label_heatmaps``, ``ellipses``.
            epoch: fractional epoch (curriculum).
            count: maps a count of this batch (known labels, usable gaze readings, readings with
                ellipses) to the denominator of its mean (default: itself). Data-parallel
                training gives the count over all processes divided by their number, so that
                the averaged gradients equal one process's on the whole batch. It is called the
                same number of times on every process (once per enabled term).

        Returns:
            ``total`` (scalar tensor) and ``terms``: float per name of :meth:`term_names`; a term
            with no eligible sample in this batch is NaN (average with nanmean). ``gaze_<term>`` are
            unweighted means over usable samples; ``gaze`` is ``sum_i w_i L_gaze,i / n_usable``.
        """
        # Losses in float32 even under autocast (eps = 1e-8 underflows in float16).
        logits = out.logits.float()
        dev = logits.device
        if logits.shape[-1] != self.num_labels:
            raise ValueError(
                f"model gives {logits.shape[-1]} logits, the objective was built for {self.num_labels} labels"
            )
        count = count or (lambda n: n)
        known = batch.get("label_mask", torch.ones_like(logits)).to(dev)
        cls = masked_bce_loss(logits, batch["labels"].to(dev), known, denominator=count(known.sum()))
        terms: dict[str, float] = {"cls": _float(cls)}
        step = Step(out, batch, epoch, count, self.temperature() if self.temperature is not None else None)
        parts = []
        for name, term in TERMS.items():
            if name == "nce_text" and step.temperature is not None:  # logged where it was first
                terms["temperature"] = _float(step.temperature)
            loss, logged = term(self, step)
            terms.update(logged)
            parts.append(loss)
        total = cls + sum(p for p in parts if p is not None)
        terms["loss"] = _float(total)
        return total, terms


@register_term("gaze")
def gaze_term(objective: Objective, step: Step) -> TermResult:
    """``lambda_gaze(t) * sum_i w_i L_gaze,i / n_usable`` (None when off or no usable gaze).

    ``L_gaze,i`` compares reading i's attention with its gaze: the shared map, or with per-label
    maps the mixture of the present labels' maps (:func:`label_weighted_attention`) with the
    reading's heatmap; with ``target = dictation`` the mean over the present, dictated labels
    of (label's map vs the heatmap of the fixations made while it was dictated), falling back
    to the mixture where no present label was dictated.
    """
    if objective.gaze_loss is None:
        return None, {}
    cfg, out, batch = objective.cfg, step.out, step.batch
    dev = out.attention.device
    lam = curriculum_weight(cfg.curriculum, step.epoch)
    usable = usable_gaze(batch["gaze_valid"].to(dev), batch.get("fixations_len"), cfg.trust.min_fixations)
    w = trust_weights(cfg.trust, usable, batch.get("trust"))
    n = int(usable.sum())
    denominator = step.count(usable.sum().to(out.attention.dtype))  # on every process, before any return
    terms: dict[str, float] = {"lambda_gaze": lam, "gaze_usable": float(n)}
    if cfg.gaze.target == "dictation":
        terms["gaze_dictated"] = 0.0
    if not n:
        terms.update(gaze=NAN, trust_mean=NAN, **{f"gaze_{k}": NAN for k in objective.gaze_loss.weights})
        return None, terms
    # During warm-up (lambda = 0) the terms are logged but kept out of the graph.
    with torch.set_grad_enabled(torch.is_grad_enabled() and lam > 0):
        per_sample, parts, dictated = gaze_per_sample(objective.gaze_loss, cfg, out, batch, usable)
        loss = (w[usable] * per_sample[usable]).sum() / denominator.clamp_min(1.0)
    if dictated is not None:
        terms["gaze_dictated"] = dictated
    terms["gaze"] = _float(loss)
    terms["trust_mean"] = _float(w[usable].mean())
    terms.update({f"gaze_{k}": _float(v[usable].mean()) for k, v in parts.items()})
    return (lam * loss if lam > 0 else None), terms


def gaze_per_sample(
    gaze_loss: GazeLoss, cfg: LossConfig, out: ModelOutput, batch: dict[str, Any], usable: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor], float | None]:
    """Weighted gaze loss and its terms per reading, ``(B,)`` each (see :func:`gaze_term`), and the
    number of dictated (reading, label) pairs (None unless ``target = dictation``)."""
    attention = out.attention.float()
    dev, grid = attention.device, tuple(attention.shape[-2:])
    labels = batch["labels"].to(dev)
    mask = batch.get("label_mask")
    mask = torch.ones_like(labels) if mask is None else mask.to(dev)
    supervised = attention
    if out.class_attention is not None:  # per-label maps: supervise the labels present
        supervised = label_weighted_attention(out.class_attention.float(), labels, mask)
    gaze = resample_to_grid(batch["gaze_heatmap"].to(dev, attention.dtype), grid)
    per_sample, parts = gaze_loss(supervised, gaze)
    if cfg.gaze.target != "dictation":
        return per_sample, parts, None
    if out.class_attention is None or "gaze_label_heatmaps" not in batch:
        raise ValueError(
            "loss.gaze.target=dictation needs per-label attention (model.attention=per_class, a CNN "
            "backbone) and per-label gaze maps (gaze.dictation_maps=true)"
        )
    pairs = (
        batch["gaze_label_valid"].to(dev).bool() & (labels > 0.5) & (mask > 0) & usable[:, None]
    )  # (B, C): present labels with a dictation map
    b, c = pairs.nonzero(as_tuple=True)
    if not b.numel():
        return per_sample, parts, 0.0
    label_gaze = resample_to_grid(batch["gaze_label_heatmaps"].to(dev, attention.dtype)[b, c], grid)
    pair_loss, pair_parts = gaze_loss(out.class_attention.float()[b, c], label_gaze)
    count = pairs.sum(1)
    dictated = count > 0

    def per_reading(values: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
        mean = torch.zeros_like(fallback).index_add(0, b, values) / count.clamp_min(1)
        return torch.where(dictated, mean, fallback)

    return (
        per_reading(pair_loss, per_sample),
        {k: per_reading(pair_parts[k], v) for k, v in parts.items()},
        float(b.numel()),
    )


def _pair_term(
    name: str, weight: float, step: Step, pairs: torch.Tensor | None, rows: torch.Tensor | None
) -> TermResult:
    """``weight`` x InfoNCE of the image embeddings of ``rows`` against their ``pairs`` (the text or
    fixation embeddings the model computed; None when fewer than 2: NaN logged, nothing added)."""
    if weight <= 0:
        return None, {}
    if pairs is None or rows is None:
        return None, {name: NAN}
    loss = info_nce(step.out.embedding.float()[rows], pairs.float(), step.temperature)
    return weight * loss, {name: _float(loss)}


@register_term("nce_text")
def image_text_term(objective: Objective, step: Step) -> TermResult:
    """Image-text InfoNCE over the samples with a non-blank text (None with fewer than 2)."""
    out = step.out
    return _pair_term(
        "nce_text", objective.cfg.contrastive.image_text, step, out.text_embedding, out.text_rows
    )


@register_term("nce_gaze")
def image_gaze_term(objective: Objective, step: Step) -> TermResult:
    """Image-gaze InfoNCE over the samples with valid gaze and >= 1 fixation (None with fewer than 2)."""
    out = step.out
    return _pair_term(
        "nce_gaze", objective.cfg.contrastive.image_gaze, step, out.gaze_embedding, out.gaze_rows
    )


@register_term("ellipse")
def ellipse_term(objective: Objective, step: Step) -> TermResult:
    """Ellipse prior over the samples with at least one ellipse (None when off or none)."""
    weight = objective.cfg.ellipse_prior
    if weight <= 0:
        return None, {}
    attention = step.out.attention.float()
    ellipses = step.batch.get("ellipses") or [[] for _ in range(attention.shape[0])]
    masks = ellipse_masks(ellipses, tuple(attention.shape[-2:])).to(attention.device)
    has = masks.flatten(1).amax(1) > 0
    denominator = step.count(has.sum().to(attention.dtype))  # on every process, before any return
    if not bool(has.any()):
        return None, {"ellipse": NAN}
    loss = ellipse_prior(attention, masks)[has].sum() / denominator.clamp_min(1.0)
    return weight * loss, {"ellipse": _float(loss)}
