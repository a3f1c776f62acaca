"""Configuration of the training objective (terms: gazecxr.losses docstrings; defaults: docs/method-choices.md)."""

from __future__ import annotations

from typing import Literal

from gazecxr.schema import Section


class GazeLossConfig(Section):
    enabled: bool = True
    mse: float = 1.0
    kl: float = 1.0
    cc: float = 1.0
    com: float = 1.0
    shuffle: bool = False  # control: supervise with the gaze of another image of the batch
    # What the attention is compared with: `reading` = the whole reading's heatmap (the mixture of
    # the present labels' maps with per-label attention); `dictation` = each present label's own
    # map vs the fixations made while that label was dictated (needs gaze.dictation_maps=true and
    # per-label attention; readings where no present label was dictated fall back to `reading`).
    target: Literal["reading", "dictation"] = "reading"


class CurriculumConfig(Section):
    enabled: bool = True
    schedule: Literal["linear", "cosine"] = "linear"
    warmup_epochs: float = 1.0  # gaze weight 0 during warm-up
    ramp_epochs: float = 2.0  # then ramps to `weight`
    weight: float = 1.0  # plateau value of lambda_gaze (also the constant weight when disabled)


class TrustConfig(Section):
    enabled: bool = True  # False: every usable reading weighs 1
    min_fixations: int = 5  # readings with fewer fixations are not used for the gaze terms at all


class ContrastiveConfig(Section):
    image_text: float = 0.1
    image_gaze: float = 0.1
    temperature: float = 0.07
    learnable_temperature: bool = True


class LossConfig(Section):
    gaze: GazeLossConfig = GazeLossConfig()
    curriculum: CurriculumConfig = CurriculumConfig()
    trust: TrustConfig = TrustConfig()
    contrastive: ContrastiveConfig = ContrastiveConfig()
    ellipse_prior: float = 0.0  # optional attention prior from REFLACX ellipses (weight; 0 = off)
