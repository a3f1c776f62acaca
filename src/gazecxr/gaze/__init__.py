"""gazecxr.gaze: fixation arrays, heatmaps on the model grid, and per-reading trust weights.

Imported lazily so that loading a config (which imports ``gazecxr.gaze.config``) stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["fixation_heatmap", "trust_weight"]


def __getattr__(name: str) -> Any:
    if name == "fixation_heatmap":
        from gazecxr.gaze.heatmap import fixation_heatmap

        return fixation_heatmap
    if name == "trust_weight":
        from gazecxr.gaze.trust import trust_weight

        return trust_weight
    raise AttributeError(f"module 'gazecxr.gaze' has no attribute {name!r}")
