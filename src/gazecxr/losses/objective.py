"""The Stage-1 training objective: L_cls + lambda_nce * L_nce + lambda_gaze(t) * mean_i(trust_i * L_gaze,i)."""

from __future__ import annotations

from collections.abc import Callable
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


def _f(x: torch.Tensor) -> float:
    return float(x.detach())


SHUFFLED = "gaze_source"  # batch key set by Objective.prepare: index of the sample whose gaze is used
GAZE_KEYS = (
    "gaze_heatmap",
    "fixations",
    "fixations_len",
    "trust",
    "gaze_valid",
    "gaze_label_heatmaps",
    "gaze_label_valid",
)


def derangement(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random permutation of ``range(n)`` without fixed points (a random n-cycle), ``n >= 2``."""
    if n < 2:
        raise ValueError("a derangement needs at least 2 elements")
    order = torch.randperm(n, generator=generator)
    perm = torch.empty(n, dtype=torch.long)
    perm[order] = order.roll(-1)
    return perm


def shuffle_gaze(batch: dict[str, Any], generator: torch.Generator | None = None) -> dict[str, Any]:
    """Shuffled-gaze control: each sample with valid gaze gets another valid sample's gaze.

    Heatmap, fixations, fixation count and trust move together (trust belongs to the reading whose
    gaze it is). With a single valid sample in the batch there is no other gaze: it is marked
    invalid (weight 0) rather than keeping its own. Returns a new dict with ``gaze_source (B,)``
    (the source index; -1 where no gaze) added; the input is not modified.
    """
    valid = batch["gaze_valid"].bool().cpu()
    idx = valid.nonzero().flatten()
    source = torch.full((valid.numel(),), -1, dtype=torch.long)
    out = dict(batch)
    if idx.numel() >= 2:
        source[idx] = idx[derangement(idx.numel(), generator)]
        src = source.clamp_min(0)
        for key in GAZE_KEYS:
            if key in batch:
                value = batch[key]
                out[key] = torch.where(
                    valid.to(value.device).view(-1, *([1] * (value.ndim - 1))),
                    value[src.to(value.device)],
                    value,
                )
    elif idx.numel() == 1:
        i = int(idx[0])
        out["gaze_valid"] = batch["gaze_valid"].clone()
        out["gaze_valid"][i] = False
        for key in ("trust", "fixations_len", "gaze_heatmap", "gaze_label_valid"):
            if key in batch:
                out[key] = batch[key].clone()
                out[key][i] = 0
    out[SHUFFLED] = source
    return out


class Objective(nn.Module):
    """The full Stage-1 loss; an ``nn.Module`` because it may hold the learnable InfoNCE temperature.

    Add ``objective.parameters()`` to the optimiser and save ``objective.state_dict()`` with the
    model. For the shuffled-gaze control call :meth:`prepare` on the batch *before* the model
    forward so a ViT's gaze token sees the same shuffled fixations (forward applies it otherwise).

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

    def prepare(self, batch: dict[str, Any], generator: torch.Generator | None = None) -> dict[str, Any]:
        """Apply the shuffled-gaze control if configured (idempotent); otherwise return ``batch``."""
        if self.cfg.gaze.shuffle and SHUFFLED not in batch:
            return shuffle_gaze(batch, generator)
        return batch

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
        model: nn.Module,
        epoch: float,
        count: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Compute the loss of one batch.

        Args:
            out: model output for ``batch["image"]``.
            batch: collated sample dict (docs/architecture.md); keys used: ``labels``,
                ``label_mask``, and as configured ``gaze_heatmap (B,S,S)``, ``gaze_valid (B,)``,
                ``trust (B,)``, ``fixations (B,T,4)``, ``fixations_len (B,)``, ``text``, ``ellipses``.
            model: the network (for ``encode_text`` / ``encode_fixations``).
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
        batch = self.prepare(batch)
        # Losses in float32 even under autocast (eps = 1e-8 underflows in float16).
        logits, attention, embedding = out.logits.float(), out.attention.float(), out.embedding.float()
        dev = logits.device
        if logits.shape[-1] != self.num_labels:
            raise ValueError(
                f"model gives {logits.shape[-1]} logits, the objective was built for {self.num_labels} labels"
            )
        count = count or (lambda n: n)
        known = batch.get("label_mask", torch.ones_like(logits)).to(dev)
        cls = masked_bce_loss(logits, batch["labels"].to(dev), known, denominator=count(known.sum()))
        terms: dict[str, float] = {"cls": _f(cls)}
        parts = [self._gaze(out, batch, epoch, terms, count)]
        if self.temperature is not None:
            t = self.temperature()
            terms["temperature"] = _f(t)
            parts += [self._image_text(embedding, batch, model, t, terms)]
            parts += [self._image_gaze(embedding, batch, model, t, terms)]
        parts += [self._ellipse(attention, batch, terms, count)]
        total = cls + sum(p for p in parts if p is not None)
        terms["loss"] = _f(total)
        return total, terms

    def _gaze(
        self,
        out: ModelOutput,
        batch: dict[str, Any],
        epoch: float,
        terms: dict[str, float],
        count: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor | None:
        """``lambda_gaze(t) * sum_i w_i L_gaze,i / n_usable`` (None when off or no usable gaze).

        ``L_gaze,i`` compares reading i's attention with its gaze: the shared map, or with per-label
        maps the mixture of the present labels' maps (:func:`label_weighted_attention`) with the
        reading's heatmap; with ``target = dictation`` the mean over the present, dictated labels
        of (label's map vs the heatmap of the fixations made while it was dictated), falling back
        to the mixture where no present label was dictated.
        """
        if self.gaze_loss is None:
            return None
        cfg, dev = self.cfg, out.attention.device
        lam = curriculum_weight(cfg.curriculum, epoch)
        usable = usable_gaze(batch["gaze_valid"].to(dev), batch.get("fixations_len"), cfg.trust.min_fixations)
        w = trust_weights(cfg.trust, usable, batch.get("trust"))
        n = int(usable.sum())
        denominator = count(usable.sum().to(out.attention.dtype))  # on every process, before any return
        terms.update(lambda_gaze=lam, gaze_usable=float(n))
        if cfg.gaze.target == "dictation":
            terms["gaze_dictated"] = 0.0
        if not n:
            terms.update(gaze=NAN, trust_mean=NAN, **{f"gaze_{k}": NAN for k in self.gaze_loss.weights})
            return None
        # During warm-up (lambda = 0) the terms are logged but kept out of the graph.
        with torch.set_grad_enabled(torch.is_grad_enabled() and lam > 0):
            per_sample, parts = self._gaze_per_sample(out, batch, usable, terms)
            loss = (w[usable] * per_sample[usable]).sum() / denominator.clamp_min(1.0)
        terms["gaze"] = _f(loss)
        terms["trust_mean"] = _f(w[usable].mean())
        terms.update({f"gaze_{k}": _f(v[usable].mean()) for k, v in parts.items()})
        return lam * loss if lam > 0 else None

    def _gaze_per_sample(
        self, out: ModelOutput, batch: dict[str, Any], usable: torch.Tensor, terms: dict[str, float]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Weighted gaze loss and its terms per reading, ``(B,)`` each (see :meth:`_gaze`)."""
        attention = out.attention.float()
        dev, grid = attention.device, tuple(attention.shape[-2:])
        labels = batch["labels"].to(dev)
        mask = batch.get("label_mask")
        mask = torch.ones_like(labels) if mask is None else mask.to(dev)
        supervised = attention
        if out.class_attention is not None:  # per-label maps: supervise the labels present
            supervised = label_weighted_attention(out.class_attention.float(), labels, mask)
        gaze = resample_to_grid(batch["gaze_heatmap"].to(dev, attention.dtype), grid)
        per_sample, parts = self.gaze_loss(supervised, gaze)  # type: ignore[misc]
        if self.cfg.gaze.target != "dictation":
            return per_sample, parts
        if out.class_attention is None or "gaze_label_heatmaps" not in batch:
            raise ValueError(
                "loss.gaze.target=dictation needs per-label attention (model.attention=per_class, a CNN "
                "backbone) and per-label gaze maps (gaze.dictation_maps=true)"
            )
        pairs = (
            batch["gaze_label_valid"].to(dev).bool() & (labels > 0.5) & (mask > 0) & usable[:, None]
        )  # (B, C): present labels with a dictation map
        b, c = pairs.nonzero(as_tuple=True)
        terms["gaze_dictated"] = float(b.numel())
        if not b.numel():
            return per_sample, parts
        label_gaze = resample_to_grid(batch["gaze_label_heatmaps"].to(dev, attention.dtype)[b, c], grid)
        pair_loss, pair_parts = self.gaze_loss(out.class_attention.float()[b, c], label_gaze)  # type: ignore[misc]
        count = pairs.sum(1)
        dictated = count > 0

        def per_reading(values: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
            mean = torch.zeros_like(fallback).index_add(0, b, values) / count.clamp_min(1)
            return torch.where(dictated, mean, fallback)

        return per_reading(pair_loss, per_sample), {
            k: per_reading(pair_parts[k], v) for k, v in parts.items()
        }

    def _image_text(
        self,
        embedding: torch.Tensor,
        batch: dict[str, Any],
        model: nn.Module,
        t: torch.Tensor,
        terms: dict[str, float],
    ) -> torch.Tensor | None:
        """Image-text InfoNCE over the samples with a non-blank text (None with fewer than 2)."""
        weight = self.cfg.contrastive.image_text
        if weight <= 0:
            return None
        texts = batch.get("text") or [""] * embedding.shape[0]
        keep = [i for i, s in enumerate(texts) if s and s.strip()]
        if len(keep) < 2:
            terms["nce_text"] = NAN
            return None
        loss = info_nce(embedding[keep], model.encode_text([texts[i] for i in keep]).float(), t)
        terms["nce_text"] = _f(loss)
        return weight * loss

    def _image_gaze(
        self,
        embedding: torch.Tensor,
        batch: dict[str, Any],
        model: nn.Module,
        t: torch.Tensor,
        terms: dict[str, float],
    ) -> torch.Tensor | None:
        """Image-gaze InfoNCE over the samples with valid gaze and >= 1 fixation (None with fewer than 2)."""
        weight = self.cfg.contrastive.image_gaze
        if weight <= 0:
            return None
        dev, lengths = embedding.device, batch.get("fixations_len")
        keep = torch.zeros(0, dtype=torch.long, device=dev)
        if lengths is not None:
            keep = (batch["gaze_valid"].to(dev).bool() & (lengths.to(dev) > 0)).nonzero().flatten()
        if keep.numel() < 2:
            terms["nce_gaze"] = NAN
            return None
        fix = model.encode_fixations(batch["fixations"].to(dev)[keep], lengths.to(dev)[keep]).float()
        loss = info_nce(embedding[keep], fix, t)
        terms["nce_gaze"] = _f(loss)
        return weight * loss

    def _ellipse(
        self,
        attention: torch.Tensor,
        batch: dict[str, Any],
        terms: dict[str, float],
        count: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor | None:
        """Ellipse prior over the samples with at least one ellipse (None when off or none)."""
        weight = self.cfg.ellipse_prior
        if weight <= 0:
            return None
        ellipses = batch.get("ellipses") or [[] for _ in range(attention.shape[0])]
        masks = ellipse_masks(ellipses, tuple(attention.shape[-2:])).to(attention.device)
        has = masks.flatten(1).amax(1) > 0
        denominator = count(has.sum().to(attention.dtype))  # on every process, before any return
        if not bool(has.any()):
            terms["ellipse"] = NAN
            return None
        loss = ellipse_prior(attention, masks)[has].sum() / denominator.clamp_min(1.0)
        terms["ellipse"] = _f(loss)
        return weight * loss
