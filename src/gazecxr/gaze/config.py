"""Configuration of gaze heatmaps and fixation sequences."""

from __future__ import annotations

from typing import Literal

from gazecxr.config import Section


class GazeConfig(Section):
    sigma_deg: float | None = 1.0  # REFLACX: sigma in degrees of visual angle (angular-resolution columns)
    sigma_px: float = 150.0  # used when sigma_deg is None or no angular resolution is known
    phase: Literal["all", "silent", "reporting"] = "all"
    weights: Literal["duration", "uniform"] = "duration"
    use_crop: bool = True  # clip each fixation's Gaussian to the crop shown at that moment
    outside: Literal["clip", "drop"] = "drop"  # fixations outside the image (always counted)
    max_fixations: int = 256  # fixation sequence length fed to the sequence encoder
