"""gazecxr.gaze: fixation arrays, heatmaps on the model grid, dictation maps and per-reading trust.

Members are imported on first access, so loading a config (which imports ``gazecxr.gaze.config``)
stays light.
"""

from gazecxr._lazy import lazy_members

__getattr__, __dir__, __all__ = lazy_members(
    __name__,
    {
        "fixation_heatmap": "gazecxr.gaze.heatmap",
        "trust_weight": "gazecxr.gaze.trust",
    },
)
