"""GazeCXR: gaze-supervised multimodal chest X-ray classification and region-aware reports.

Stage 1 (``gazecxr.models``, ``gazecxr.losses``, ``gazecxr.train``) trains an image classifier whose
spatial attention is pulled toward radiologists' fixation heatmaps (``gazecxr.gaze``) on MIMIC-Eye
(``gazecxr.data``) or the synthetic MIMIC-Eye-format cohort (``gazecxr.synth``). Stage 2
(``gazecxr.report``) turns its predictions and attention into region-aligned reports.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gazecxr")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
