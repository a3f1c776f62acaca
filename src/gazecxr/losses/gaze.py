"""Attention-versus-gaze loss terms (per sample), their weighted sum, curriculum and trust.

Every term takes an attention map ``A (B, h, w)`` and a gaze map ``G (B, h, w)`` on the same grid,
both non-negative, and returns one value per sample, ``(B,)``. All-zero maps (no gaze) give finite
values (never NaN) so that callers can weight them by 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gazecxr.gaze.maps import normalise_maps
from gazecxr.losses.config import CurriculumConfig, GazeLossConfig, TrustConfig

EPS = 1e-8


def _check(att: torch.Tensor, gaze: torch.Tensor) -> None:
    if att.ndim != 3 or att.shape != gaze.shape:
        raise ValueError(
            f"attention and gaze must both be (B, h, w) on the same grid, got {tuple(att.shape)} and {tuple(gaze.shape)}"
        )


def _prob(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Normalise each ``(B, h, w)`` map to sum 1 (an all-zero map stays zero)."""
    return normalise_maps(x, eps)


def gaze_mse(att: torch.Tensor, gaze: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Mean over pixels of ``(A/max A - G/max G)^2``; in [0, 1]. Returns ``(B,)``."""
    _check(att, gaze)

    def peak(x: torch.Tensor) -> torch.Tensor:
        return x / x.amax(dim=(1, 2), keepdim=True).clamp_min(eps)

    return (peak(att) - peak(gaze)).pow(2).mean(dim=(1, 2))


def gaze_kl(att: torch.Tensor, gaze: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``KL(g || a) = sum g log((g + eps) / (a + eps))`` of the sum-1 maps; >= 0 (0 for no gaze). Returns ``(B,)``."""
    _check(att, gaze)
    a, g = _prob(att, eps), _prob(gaze, eps)
    return (g * torch.log((g + eps) / (a + eps))).sum(dim=(1, 2))


def gaze_cc(att: torch.Tensor, gaze: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``1 - CC(A, G)``, Pearson over pixels, CC = 0 when either map is constant; in [0, 2]. Returns ``(B,)``."""
    _check(att, gaze)
    a = att.flatten(1) - att.flatten(1).mean(1, keepdim=True)
    g = gaze.flatten(1) - gaze.flatten(1).mean(1, keepdim=True)
    var = a.pow(2).sum(1) * g.pow(2).sum(1)
    ok = var > eps**2
    # The safe denominator keeps gradients finite where the map is constant.
    cc = torch.where(
        ok, (a * g).sum(1) / torch.where(ok, var, torch.ones_like(var)).sqrt(), torch.zeros_like(var)
    )
    return 1.0 - cc


def center_of_mass(p: torch.Tensor) -> torch.Tensor:
    """``(B, h, w)`` sum-1 maps -> ``(B, 2)`` centres ``(x, y)`` in image-normalised coordinates (pixel centres)."""
    _, h, w = p.shape
    xs = (torch.arange(w, device=p.device, dtype=p.dtype) + 0.5) / w
    ys = (torch.arange(h, device=p.device, dtype=p.dtype) + 0.5) / h
    return torch.stack([(p.sum(1) * xs).sum(1), (p.sum(2) * ys).sum(1)], dim=1)


def gaze_com(att: torch.Tensor, gaze: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``|| c(a) - c(g) ||_2``, centres of mass in [0, 1] image coordinates; in [0, sqrt 2]. Returns ``(B,)``.

    The pixel-centre offset (``(x + 0.5) / w`` rather than ``x / w``) cancels in the difference.
    """
    _check(att, gaze)
    d = center_of_mass(_prob(att, eps)) - center_of_mass(_prob(gaze, eps))
    # clamp keeps the gradient of sqrt finite when both centres coincide.
    return d.pow(2).sum(1).clamp_min(1e-12).sqrt()


GAZE_TERMS = {"mse": gaze_mse, "kl": gaze_kl, "cc": gaze_cc, "com": gaze_com}


class GazeLoss(nn.Module):
    """Weighted sum of the gaze terms; a term with weight 0 is not computed.

    Args:
        cfg: weights ``mse``, ``kl``, ``cc``, ``com``.
    """

    def __init__(self, cfg: GazeLossConfig) -> None:
        super().__init__()
        self.weights = {name: float(getattr(cfg, name)) for name in GAZE_TERMS if getattr(cfg, name) != 0}
        if not self.weights and cfg.enabled:
            raise ValueError(
                "loss.gaze is enabled but every term weight (mse, kl, cc, com) is 0; set loss.gaze.enabled=false"
            )

    def forward(self, att: torch.Tensor, gaze: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``att, gaze (B, h, w)`` -> (weighted per-sample total ``(B,)``, per-term per-sample values)."""
        terms = {name: GAZE_TERMS[name](att, gaze) for name in self.weights}
        total = sum(self.weights[n] * v for n, v in terms.items())
        return total, terms  # type: ignore[return-value]


def label_weighted_attention(
    class_attention: torch.Tensor, labels: torch.Tensor, label_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mixture of per-label attention maps weighted by the labels present: the map to compare with gaze.

    A radiologist's gaze dwells on the findings present, so for a reading with positive labels the
    supervised map is the mean of those labels' maps; for a reading with none (a normal study,
    searched but with nothing to dwell on) it is the mean of all maps. Uncertain or masked labels
    do not count as present.

    Args:
        class_attention: ``(B, C, h, w)``, each map non-negative and summing to 1.
        labels: ``(B, C)`` in {0, 1} (other values: anything > 0.5 counts as present).
        label_mask: ``(B, C)``, 0 where the label is unknown; None = all known.

    Returns:
        ``(B, h, w)``, each map summing to 1.
    """
    if class_attention.ndim != 4 or class_attention.shape[:2] != labels.shape:
        raise ValueError(
            f"class_attention must be (B, C, h, w) matching labels (B, C), got "
            f"{tuple(class_attention.shape)} and {tuple(labels.shape)}"
        )
    present = (labels > 0.5).to(class_attention.dtype)
    if label_mask is not None:
        present = present * (label_mask > 0).to(class_attention.dtype)
    weights = torch.where(present.sum(1, keepdim=True) > 0, present, torch.ones_like(present))
    weights = weights / weights.sum(1, keepdim=True)
    return torch.einsum("bc,bchw->bhw", weights, class_attention)


def resample_to_grid(heatmap: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Image-grid gaze heatmaps ``(B, S, S)`` -> ``(B, h, w)`` by area pooling, renormalised to sum 1.

    All-zero maps stay all zero.
    """
    if heatmap.ndim != 3:
        raise ValueError(f"gaze heatmap must be (B, S, S), got {tuple(heatmap.shape)}")
    if tuple(heatmap.shape[-2:]) != tuple(grid):
        heatmap = F.adaptive_avg_pool2d(heatmap[:, None], grid)[:, 0]
    return _prob(heatmap.clamp_min(0))


def curriculum_weight(cfg: CurriculumConfig, epoch: float) -> float:
    """``lambda_gaze(t)`` at fractional epoch ``t``.

    Disabled: constant ``cfg.weight``. Enabled: 0 during ``warmup_epochs``, then a linear or
    half-cosine ramp over ``ramp_epochs`` to ``cfg.weight``, then constant.
    """
    if not cfg.enabled:
        return float(cfg.weight)
    t = epoch - cfg.warmup_epochs
    if t < 0:
        return 0.0
    if cfg.ramp_epochs <= 0 or t >= cfg.ramp_epochs:
        return float(cfg.weight)
    r = t / cfg.ramp_epochs
    if cfg.schedule == "cosine":
        r = 0.5 * (1.0 - math.cos(math.pi * r))
    return float(cfg.weight * r)


def usable_gaze(valid: torch.Tensor, fixations_len: torch.Tensor | None, min_fixations: int) -> torch.Tensor:
    """``(B,)`` bool: gaze is valid and (if lengths are given) has at least ``min_fixations`` fixations."""
    usable = valid.bool()
    if fixations_len is not None:
        usable = usable & (fixations_len.to(usable.device) >= min_fixations)
    return usable


def trust_weights(cfg: TrustConfig, usable: torch.Tensor, trust: torch.Tensor | None) -> torch.Tensor:
    """Per-sample gaze-loss weights in [0, 1], ``(B,)``.

    Unusable samples (see :func:`usable_gaze`) weigh 0; usable ones weigh ``trust`` clamped to
    [0, 1] when ``cfg.enabled``, else 1.
    """
    w = usable.float()
    if cfg.enabled:
        if trust is None:
            raise ValueError(
                "loss.trust.enabled needs batch['trust'] (B,); disable it with loss.trust.enabled=false"
            )
        w = w * trust.float().to(w.device).clamp(0, 1)
    return w
