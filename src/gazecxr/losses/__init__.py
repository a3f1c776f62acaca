"""Stage-1 losses: gaze terms, curriculum, trust, InfoNCE, masked BCE, ellipse prior, the objective."""

from gazecxr.losses.contrastive import LearnableTemperature, info_nce, masked_bce
from gazecxr.losses.gaze import (
    GAZE_TERMS,
    GazeLoss,
    center_of_mass,
    curriculum_weight,
    gaze_cc,
    gaze_com,
    gaze_kl,
    gaze_mse,
    label_weighted_attention,
    resample_to_grid,
    trust_weights,
    usable_gaze,
)
from gazecxr.losses.objective import Objective, derangement, shuffle_gaze
from gazecxr.losses.prior import ellipse_masks, ellipse_prior

__all__ = [
    "GAZE_TERMS",
    "GazeLoss",
    "LearnableTemperature",
    "Objective",
    "center_of_mass",
    "curriculum_weight",
    "derangement",
    "ellipse_masks",
    "ellipse_prior",
    "gaze_cc",
    "gaze_com",
    "gaze_kl",
    "gaze_mse",
    "info_nce",
    "label_weighted_attention",
    "masked_bce",
    "resample_to_grid",
    "shuffle_gaze",
    "trust_weights",
    "usable_gaze",
]
