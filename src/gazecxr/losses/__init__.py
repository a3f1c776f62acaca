"""Stage-1 losses: gaze terms, curriculum, trust, InfoNCE, masked BCE, ellipse prior, the objective.

Members are imported on first access (each term also works on its own: ``gazecxr.losses.gaze``...).
"""

from gazecxr._lazy import lazy_members

__getattr__, __dir__, __all__ = lazy_members(
    __name__,
    {
        "LearnableTemperature": "gazecxr.losses.contrastive",
        "info_nce": "gazecxr.losses.contrastive",
        "masked_bce_loss": "gazecxr.losses.contrastive",
        "GAZE_TERMS": "gazecxr.losses.gaze",
        "GazeLoss": "gazecxr.losses.gaze",
        "center_of_mass": "gazecxr.losses.gaze",
        "curriculum_weight": "gazecxr.losses.gaze",
        "gaze_cc": "gazecxr.losses.gaze",
        "gaze_com": "gazecxr.losses.gaze",
        "gaze_kl": "gazecxr.losses.gaze",
        "gaze_mse": "gazecxr.losses.gaze",
        "label_weighted_attention": "gazecxr.losses.gaze",
        "resample_to_grid": "gazecxr.losses.gaze",
        "trust_weights": "gazecxr.losses.gaze",
        "usable_gaze": "gazecxr.losses.gaze",
        "Objective": "gazecxr.losses.objective",
        "ellipse_masks": "gazecxr.losses.prior",
        "ellipse_prior": "gazecxr.losses.prior",
    },
)
