"""Configuration of gaze heatmaps, fixation sequences and per-reading trust weights."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gazecxr.schema import Section


class GazeConfig(Section):
    sigma_deg: float | None = 1.0  # REFLACX: sigma in degrees of visual angle (angular-resolution columns)
    sigma_px: float = 150.0  # used when sigma_deg is None or no angular resolution is known
    # EyeGaze records no angular resolution: screen pixels per degree of the 1920 x 1080 display
    # (ours: a 24-inch 16:9 monitor at about 60 cm), scaled by the displayed image size. None: sigma_px.
    eyegaze_screen_px_per_deg: float | None = Field(38.0, gt=0)
    phase: Literal["all", "silent", "reporting"] = "all"
    weights: Literal["duration", "uniform"] = "duration"
    use_crop: bool = True  # clip each fixation's Gaussian to the crop shown at that moment
    # Fixations whose centre is outside the image (or, with use_crop, the crop shown); always counted.
    # keep: the REFLACX reference (the part of each density inside the crop counts); drop: removed;
    # clip: moved to the nearest pixel inside.
    outside: Literal["keep", "clip", "drop"] = "keep"
    max_fixations: int = 256  # fixation sequence length fed to the sequence encoder
    # Trust weight (gazecxr.gaze.trust): each factor saturates at 1 at these values.
    trust_full_fixations: int = Field(20, ge=1)  # usable fixations for full trust
    trust_full_dwell_s: float = Field(5.0, gt=0)  # total fixation dwell (s) for full trust
    # Per-label maps from the fixations made while each label was dictated (gazecxr.gaze.dictation);
    # needed by loss.gaze.target = dictation. The eye-voice span opens a window this long before
    # each sentence; a label needs this many fixations in its windows to get a map.
    dictation_maps: bool = False
    dictation_lead_s: float = Field(1.0, ge=0.0)
    dictation_min_fixations: int = Field(2, ge=1)
