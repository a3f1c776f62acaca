"""Configuration of gaze heatmaps, fixation sequences and per-reading trust weights.

A heatmap *recipe* is the group of fields that decide how fixations become a map (``sigma_deg``,
``sigma_px``, ``weights``, ``use_crop``, ``outside``, ``positions``, ``border``). ``reference``
picks one per source: a name of :data:`HEATMAP_PRESETS` (the procedure of a dataset's authors,
reproduced; docs/data.md, "Reference heatmaps") or ``custom`` (the recipe fields as set).
:meth:`GazeConfig.for_source` gives the config a reading of that source is mapped with.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from gazecxr.schema import Section

Preset = Literal["reflacx", "egd", "custom"]

# The dataset authors' heatmap procedures as values of the recipe fields.
HEATMAP_PRESETS: dict[str, dict[str, Any]] = {
    # REFLACX, examples_and_paper_numbers/generate_heatmaps.py (create_heatmap / get_gaussian):
    # a unit-mass Gaussian of 1 degree (angular resolution) per fixation, sampled at the integer
    # pixel indices, cut to the shown crop rounded to whole pixels, times the fixation's duration.
    "reflacx": {
        "sigma_deg": 1.0,
        "weights": "duration",
        "use_crop": True,
        "outside": "keep",
        "positions": "reflacx",
        "border": "zero",
    },
    # EGD-CXR, DataProcessing/DataPostProcessing/create_heatmap_images_and_or_videos.py
    # (process_eye_gaze_table, default sigma 150): each fixation on the image counts 1 at its
    # integer pixel; scipy.ndimage.gaussian_filter(sigma 150, mode 'reflect') of the count map,
    # whose odd sides were first padded to even.
    "egd": {
        "sigma_deg": None,
        "sigma_px": 150.0,
        "weights": "uniform",
        "use_crop": False,
        "outside": "drop",
        "positions": "egd",
        "border": "egd",
    },
}


RECIPE_FIELDS = ("sigma_deg", "sigma_px", "weights", "use_crop", "outside", "positions", "border")
CUSTOM = {"reflacx": "custom", "eyegaze": "custom"}  # reference: every source by the recipe fields


class ReferenceConfig(Section):
    """Heatmap recipe of each reading source: a name of HEATMAP_PRESETS, or "custom" (the recipe
    fields of GazeConfig as set). EyeGaze defaults to REFLACX's 1-degree recipe (its angular
    resolution from the display geometry): EGD's own map blurs with 150 px, a size meant for its
    full-resolution images (about 3000 px wide), so the egd preset is for reproducing that map."""

    reflacx: Preset = "reflacx"
    eyegaze: Preset = "reflacx"


class GazeConfig(Section):
    reference: ReferenceConfig = ReferenceConfig()
    # --- recipe fields (used as set only by sources whose reference is "custom") ---
    sigma_deg: float | None = 1.0  # sigma in degrees of visual angle (angular-resolution columns)
    sigma_px: float = Field(150.0, gt=0)  # used when sigma_deg is None or no angular resolution is known
    weights: Literal["duration", "uniform"] = "duration"
    use_crop: bool = True  # clip each fixation's Gaussian to the crop shown at that moment
    # Fixations whose centre is outside the image (or, with use_crop, the crop shown); always counted.
    # keep: the REFLACX reference (the part of each density inside the crop counts); drop: removed;
    # clip: moved to the nearest pixel inside.
    outside: Literal["keep", "clip", "drop"] = "keep"
    # Where a fixation's density is centred (gazecxr.gaze.fixations.heatmap_positions): continuous =
    # at its position; reflacx = REFLACX's convention (pixel i sampled at coordinate i, crop bounds
    # rounded); egd = EGD's (counted at its integer pixel of the image padded to even sides).
    positions: Literal["continuous", "reflacx", "egd"] = "continuous"
    # Density beyond the image edge: zero = lost; reflect = mirrored at the image edge; egd =
    # mirrored at the edge of the image padded to even sides (EGD's script).
    border: Literal["zero", "reflect", "egd"] = "zero"
    # --- not part of a recipe ---
    # EyeGaze records no angular resolution: screen pixels per degree of the 1920 x 1080 display
    # (ours: a 24-inch 16:9 monitor at about 60 cm), scaled by the displayed image size. None: sigma_px.
    eyegaze_screen_px_per_deg: float | None = Field(38.0, gt=0)
    phase: Literal["all", "silent", "reporting"] = "all"
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

    @model_validator(mode="after")
    def _recipe_fields_apply(self) -> GazeConfig:
        # A recipe field changed while a source maps by a preset would be ignored for that source.
        presets = {s: p for s, p in self.reference.model_dump().items() if p != "custom"}
        changed = [f for f in RECIPE_FIELDS if getattr(self, f) != type(self).model_fields[f].default]
        if presets and changed:
            raise ValueError(
                f"{', '.join(f'gaze.{f}' for f in changed)}: heatmap recipe field(s) used only by sources whose "
                f"gaze.reference is 'custom', but {presets} map by a preset; set "
                + " and ".join(f"gaze.reference.{s}=custom" for s in presets)
                + " (or leave the field at its default)"
            )
        if self.border != "zero" and self.use_crop:
            raise ValueError(
                f"gaze.border={self.border} mirrors the density at the image edge and cannot be "
                "combined with gaze.use_crop=true; set use_crop=false or border=zero"
            )
        return self

    def for_source(self, source: str) -> GazeConfig:
        """This config with the recipe fields of ``source``'s reference preset (unchanged for
        ``custom`` or a source without an entry)."""
        preset = getattr(self.reference, source, "custom")
        if preset == "custom":
            return self
        # The copy is a custom recipe equal to the preset, so it validates as it stands.
        return self.model_copy(update={**HEATMAP_PRESETS[preset], "reference": ReferenceConfig(**CUSTOM)})
